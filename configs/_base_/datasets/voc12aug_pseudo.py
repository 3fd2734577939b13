# PASCAL VOC 2012 + SBD aug (train_aug, 10582 images) with SIPE pseudo labels
# for stage two. Inherits mmseg's own VOC dataset config with the plugin's
# loaders (pascal_voc12_sipe.py: pipelines, val/test on real
# SegmentationClass ground truth, IoUMetric, tta_pipeline), pads training
# crops as mmseg's VOC aug config does, and only replaces the training set:
# images from JPEGImages, labels from the pseudo-label folder written by
# tools/make_seg_labels.py. Point it at your folder with
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
# (absolute, or relative to data_root).
_base_ = ['./pascal_voc12_sipe.py']

# mmseg's VOC aug pipeline: the VOC one with the crop padded to its size
train_pipeline = [
    *_base_.train_pipeline[:-1],
    dict(type='Pad', size=_base_.crop_size), _base_.train_pipeline[-1]
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
val_dataloader = dict(dataset=dict(pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
