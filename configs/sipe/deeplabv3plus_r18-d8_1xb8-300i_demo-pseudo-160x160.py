# SIPE stage two on the built-in demo dataset: the VOC DeepLab-v3+ config
# (same model, runtime and schedule bases) shrunk for a CPU -- ResNetV1c-18
# (D8, mmseg's r18 channel settings) from random init with plain BN, on the
# demo data (160 crop, batch 8), 300 iterations.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/demo_pseudo.py', '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]

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

# ---- demo schedule: 300 iterations, one validation at the end
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False)
param_scheduler = [
    dict(
        type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
        by_epoch=False)
]
