# deeplab-pytorch's optimisation (the stage-two code SIPE refers to): SGD lr
# 2.5e-4, momentum 0.9, weight decay 5e-4, ASPP weights x10, ASPP biases x20
# without weight decay, poly 0.9 down to 0; 20k iterations.
_base_ = ['mmseg::_base_/schedules/schedule_20k.py']

max_iters = 20000
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={
            'decode_head': dict(lr_mult=10.),
            'decode_head.conv_seg.convs.0.bias': dict(
                lr_mult=20., decay_mult=0.),
            'decode_head.conv_seg.convs.1.bias': dict(
                lr_mult=20., decay_mult=0.),
            'decode_head.conv_seg.convs.2.bias': dict(
                lr_mult=20., decay_mult=0.),
            'decode_head.conv_seg.convs.3.bias': dict(
                lr_mult=20., decay_mult=0.),
        }))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
