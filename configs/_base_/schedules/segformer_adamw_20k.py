# mmseg's SegFormer optimisation: AdamW 6e-5, head lr x10, no decay on norms
# and position blocks, 1500-iteration linear warm-up, then linear (poly 1.0)
# decay; 20k iterations.
_base_ = ['mmseg::_base_/schedules/schedule_20k.py']

max_iters = 20000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_block': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'head': dict(lr_mult=10.)
        }))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=max_iters,
        by_epoch=False,
    )
]
