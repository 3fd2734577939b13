# PASCAL VOC 2012 + SBD aug (train_aug, 10582 images) with SIPE pseudo labels
# for stage two. Inherits mmseg's own VOC aug dataset config (pipelines,
# val/test on real SegmentationClass ground truth, IoUMetric, tta_pipeline)
# and only replaces the training set: images from JPEGImages, labels from the
# pseudo-label folder written by tools/make_seg_labels.py. Point it at your
# folder with
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
# (absolute, or relative to data_root).
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py']

# One decoder rule for every step (docs/faq.md): images are decoded on their
# stored pixel grid, EXIF orientation ignored, as the labels are drawn; an
# unreadable image or label map stops with one line naming it.
train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'), *_base_.train_pipeline[2:]
]
test_pipeline = [
    dict(type='SIPELoadImageFromFile'), *_base_.test_pipeline[1:2],
    dict(type='SIPELoadAnnotations'), *_base_.test_pipeline[3:]
]
tta_pipeline = [
    dict(type='SIPELoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            *_base_.tta_pipeline[1]['transforms'][:2],
            [dict(type='SIPELoadAnnotations')],
            *_base_.tta_pipeline[1]['transforms'][3:]
        ])
]

num_classes = 21  # 20 classes + background
pseudo_label_dir = 'work_dirs/voc/pseudo_label'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='VOCPseudoLabelDataset',
        data_root=_base_.data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        ann_file='ImageSets/Segmentation/train_aug.txt',
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
