# deeplab-pytorch's optimisation on mmseg's 80k-iteration schedule (COCO).
_base_ = ['./deeplabv2_sgd_20k.py']

max_iters = 80000
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
param_scheduler = [dict(_base_.param_scheduler[0], end=max_iters)]
