# SIPE stage one on the built-in demo dataset (VOC layout, written by
# `python tools/dataset_converters/make_demo_dataset.py data/demo`).
# Inherits the VOC reproduction config and shrinks only what must shrink to
# train in minutes on 2 CPU cores without downloads:
#   * ResNet-18 at half width (base_channels=32) from random init (no
#     pretrained weights can be fetched), so BN is trained and no stage is
#     frozen (the frozen, pretrained stem of the real config would be random
#     noise here);
#   * small images: resize-long 128..256, 128 crop; batch 8; 32 epochs;
#     side channels scaled down with the backbone.
# Everything else (losses, seeds, prototypes, optimiser quirks, poly lr,
# clipping, validation protocol) is the reference setting.
_base_ = ['./voc_r50.py']

data_root = 'data/demo'
crop_size = 128
max_epochs = 32

model = dict(
    data_preprocessor=dict(size=(crop_size, crop_size)),
    backbone=dict(
        depth=18,
        base_channels=32,
        norm_eval=False,
        frozen_stages=-1,
        init_cfg=None),
    head=dict(
        in_channels=(32, 64, 128, 256),
        side_channels=(16, 16, 32, 32)))

# VOC's pipeline with smaller images and crops
train_pipeline = [
    _base_.train_pipeline[0],
    dict(type='RandomResizeLong', min_size=128, max_size=256),
    _base_.train_pipeline[2],
    dict(_base_.train_pipeline[3], crop_size=crop_size),
    _base_.train_pipeline[4],
]
train_dataloader = dict(
    batch_size=8,  # total over all processes (TotalBatchSampler)
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

# the reference poly lr over the demo's 32 epochs
param_scheduler = [dict(_base_.param_scheduler[0], end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=8)
default_hooks = dict(logger=dict(interval=10))
