# SIPE stage two on the built-in demo dataset: the VOC SegFormer config
# shrunk for a CPU -- MiT-B0 from random init (no download), BN in the head,
# 160 crop, batch 8, 300 iterations; lr 6e-4 (10x the pretrained recipe)
# with a 30-iteration warm-up because nothing is pretrained.
_base_ = ['./segformer_mit-b2_4xb4-20k_voc12aug-pseudo-512x512.py']

norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=(160, 160))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=None,
        embed_dims=32,
        num_heads=[1, 2, 5, 8],
        num_layers=[2, 2, 2, 2]),
    decode_head=dict(
        in_channels=[32, 64, 160, 256], channels=128, norm_cfg=norm_cfg))
optim_wrapper = dict(optimizer=dict(lr=6e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(
        type='PolyLR', eta_min=0.0, power=1.0, begin=30, end=300,
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

