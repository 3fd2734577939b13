# SIPE stage two on the built-in demo dataset: the VOC DeepLab-v3+ config
# shrunk for a CPU -- ResNetV1c-18 (D8, mmseg's r18 channel settings) from
# random init with plain BN, 160 crop, batch 8, 300 iterations.
_base_ = ['./deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py']

norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=(160, 160))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(
        c1_in_channels=64,
        c1_channels=12,
        in_channels=512,
        channels=128,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=64, norm_cfg=norm_cfg))
param_scheduler = [
    dict(
        type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=300,
        by_epoch=False)
]

# ---- demo data: data/demo (VOC layout), pseudo labels of the demo pipeline
data_root = 'data/demo'
pseudo_label_dir = 'work_dirs/demo/pseudo_label'
crop_size = (160, 160)
train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(320, 160),
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

# ---- demo schedule: 300 iterations, one validation at the end
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False)

