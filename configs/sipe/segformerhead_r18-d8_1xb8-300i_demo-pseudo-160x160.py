# Head swap on the demo: the DeepLab-v3+ demo config with SegFormer's
# all-MLP decode head over the four ResNet-18 stages (64/128/256/512
# channels; strides 4/8/8/8 with the D8 backbone). Only model.decode_head
# changes; `_delete_=True` keeps the ASPP head's arguments out of it.
_base_ = ['./deeplabv3plus_r18-d8_1xb8-300i_demo-pseudo-160x160.py']

model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[64, 128, 256, 512],
        in_index=[0, 1, 2, 3],
        channels=128,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
