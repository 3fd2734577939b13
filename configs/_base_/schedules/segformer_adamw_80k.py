# mmseg's SegFormer optimisation on an 80k-iteration schedule (COCO).
_base_ = ['./segformer_adamw_20k.py']

max_iters = 80000
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
param_scheduler = [
    _base_.param_scheduler[0],  # the same 1500-iteration warm-up
    dict(_base_.param_scheduler[1], end=max_iters)
]
