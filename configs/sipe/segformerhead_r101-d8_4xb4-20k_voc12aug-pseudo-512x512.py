# Head swap by inheritance: the DeepLab-v3+ VOC config with its decode head
# replaced by SegFormer's all-MLP head, and nothing else changed. The head
# fuses all four ResNet stages (in_index 0-3; with the D8 backbone they are
# at strides 4, 8, 8, 8). `_delete_=True` drops every DepthwiseSeparableASPP
# argument so that none leaks into the new head. The FCN auxiliary head,
# backbone, data and schedule are inherited unchanged.
_base_ = ['./deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py']

model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
