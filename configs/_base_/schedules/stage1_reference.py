# The training loop of the reference stage-one scripts (SIPE's
# train_resnet50_SIPE.py and train_irn.py), shared by the CAM classifiers
# (configs/sipe/voc_r50.py and its children, SFC's) and IRN
# (configs/sipe/irn_voc_r50.py): epochs over a total batch, SGD lr 0.1 with
# the reference momentum quirk, poly 0.9 per iteration, one checkpoint per
# epoch. The children set the batch, the epochs and the parameter groups.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

# train_dataloader.batch_size is the total over all processes, split by
# `TotalBatchSampler` (see configs/sipe/voc_r50.py).
train_dataloader = dict(
    batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True))

optim_wrapper = dict(
    type='OptimWrapper',
    # Reference PolyOptimizerSGD passes weight decay positionally into
    # SGD's momentum slot: the effective momentum is 1e-4.
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4))
max_epochs = 5
param_scheduler = [  # lr_t = lr_0 (1 - t/T)^0.9 per iteration
    dict(
        type='SIPEPolyLR', power=0.9, eta_min=0.0, begin=0, end=max_epochs,
        by_epoch=True, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SIPECheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=2,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))
log_processor = dict(by_epoch=True)
