# SIPE stage two on the built-in demo dataset: the VOC SegFormer config (same
# model, runtime and schedule bases) shrunk for a CPU -- MiT-B0 from random
# init (no download), BN in the head, on the demo data (160 crop, batch 8),
# 300 iterations; lr 6e-4 (10x the pretrained recipe) with a 30-iteration
# warm-up because nothing is pretrained.
_base_ = [
    '../_base_/models/segformer_mit-b2.py',
    '../_base_/datasets/demo_pseudo.py', '../_base_/default_runtime.py',
    '../_base_/schedules/segformer_adamw_20k.py'
]

data_preprocessor = dict(size=(160, 160))
norm_cfg = dict(type='BN', requires_grad=True)  # in the head
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=None,
        embed_dims=32,
        num_heads=[1, 2, 5, 8],
        num_layers=[2, 2, 2, 2]),
    decode_head=dict(
        in_channels=[32, 64, 160, 256], channels=128, norm_cfg=norm_cfg))

# ---- demo schedule: 300 iterations, one validation at the end
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False)
optim_wrapper = dict(optimizer=dict(lr=6e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(
        type='PolyLR', eta_min=0.0, power=1.0, begin=30, end=max_iters,
        by_epoch=False)
]
