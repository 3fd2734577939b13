# PASCAL VOC 2012 + SBD aug (train_aug, 10582 images) with SIPE pseudo labels
# for stage two. Inherits mmseg's own VOC aug dataset config (pipelines,
# val/test on real SegmentationClass ground truth, IoUMetric, tta_pipeline)
# and only replaces the training set: images from JPEGImages, labels from the
# pseudo-label folder written by tools/make_seg_labels.py. Point it at your
# folder with
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
# (absolute, or relative to data_root).
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py']

pseudo_label_dir = 'work_dirs/voc/pseudo_label'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='VOCPseudoLabelDataset',
        data_root=_base_.data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        ann_file='ImageSets/Segmentation/train_aug.txt',
        pipeline=_base_.train_pipeline))
