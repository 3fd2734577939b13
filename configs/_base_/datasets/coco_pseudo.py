# MS COCO 2014 (80 things + background) with SIPE pseudo labels for stage
# two. Pipelines, tta_pipeline and the IoU evaluator are mmseg's (inherited
# from its VOC dataset config: 512 crop, scale (2048, 512), ratio 0.5-2.0);
# only the datasets change:
#   train: train2014 images + the pseudo-label folder (COCO's route uses the
#          dense-CRF labels of tools/cam2ir.py --mode label), the folder
#          itself lists the images;
#   val/test: val2014 images + converted ground truth
#          SegmentationClass/val2014 (class-index PNGs, 0 = background).
# Point training at your labels with
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
_base_ = ['./pascal_voc12_sipe.py']

num_classes = 81  # 80 things + background
dataset_type = 'COCOPseudoLabelDataset'
data_root = 'data/coco2014'
pseudo_label_dir = 'work_dirs/coco/ir_label'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train2014', seg_map_path=pseudo_label_dir),
        ann_file='',
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='COCO2014SegDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='val2014', seg_map_path='SegmentationClass/val2014'),
        ann_file='',
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
