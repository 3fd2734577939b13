# SIPE stage two on the built-in demo dataset (CI and the demo pipeline,
# configs/pipeline/demo.py): the VOC DeepLab-v2 config shrunk to what trains
# in minutes on a CPU without downloads -- ResNetV1c-18 (D8) at half width
# (stem/base channels 32) from random init with plain BN, 128 crop, batch 8,
# 200 iterations. Because nothing is
# pretrained, the base lr is 0.01 (ASPP x10 / x20 as in the real config)
# instead of deeplab-pytorch's 2.5e-4 for a pretrained backbone.
_base_ = ['./deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py']

norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=(128, 128))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(
        type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=200,
        by_epoch=False)
]

# ---- demo data: data/demo (VOC layout), pseudo labels of the demo pipeline
data_root = 'data/demo'
pseudo_label_dir = 'work_dirs/demo/pseudo_label'
crop_size = (128, 128)
train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(256, 128),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [  # demo images are small (160-256 px): test at full size
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# ---- demo schedule: 200 iterations, one validation at the end
max_iters = 200
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False)

