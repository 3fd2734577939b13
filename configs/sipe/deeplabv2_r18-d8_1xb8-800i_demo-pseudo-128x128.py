# SIPE stage two on the built-in demo dataset (CI and the demo pipeline,
# configs/pipeline/demo.py): the VOC DeepLab-v2 config (same model, runtime
# and schedule bases) shrunk to what trains in minutes on a CPU without
# downloads -- a half-width ResNet-18 (D8; stem 64, base 32 channels, plain
# BN) on the demo data at 128 crop, batch 8, 800 iterations. The backbone
# is the demo stage one's (configs/sipe/demo_r18.py: torchvision-style
# stem, not V1c), so that the demo pipeline can start it from stage one's
# weights (`stage2_init_from_stage1 = True`), as VOC's stage two starts from
# ImageNet weights; on its own it starts from random weights. Because
# nothing is pretrained on a large dataset, the base lr is 0.01 (ASPP x10 /
# x20 as in the real config) instead of deeplab-pytorch's 2.5e-4. From
# random weights on pseudo labels it needs the 800 iterations (val mIoU
# 38.8 / 45.6 / 40.8 / 56.7 after 100 / 200 / 400 / 800; 69.4 after 200 on
# ground-truth labels): docs/pipeline.md, "Stage two on the demo".
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/demo_pseudo.py', '../_base_/default_runtime.py',
    '../_base_/schedules/deeplabv2_sgd_20k.py'
]

# ---- demo data at 128 crops (resize scale 256x128)
crop_size = (128, 128)
train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(_base_.train_pipeline[2], scale=(256, 128)),
    dict(_base_.train_pipeline[3], crop_size=crop_size),
    *_base_.train_pipeline[4:6],
    dict(_base_.train_pipeline[6], size=crop_size),
    _base_.train_pipeline[7]
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=64,
        base_channels=32,
        norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(
        type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=800,
        by_epoch=False)
]

# ---- demo schedule: 800 iterations, one validation at the end
max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False)
# the demo's seed (stage one's): reproducible demo numbers from run to run
randomness = dict(seed=15)
