# DeepLab-v2 as SIPE's stage two: ResNetV1c-101, output stride 8, ASPP = sum
# of four dilated 3x3 classifiers (rates 6/12/18/24), test-time CRF available.
# Built on the DeepLab-v3+ model config (backbone, data preprocessor, CRF),
# with its decode head replaced and no auxiliary head.
_base_ = ['./deeplabv3plus_r101-d8.py']

model = dict(
    decode_head=dict(
        _delete_=True,
        type='DeepLabV2Head',
        dilations=(6, 12, 18, 24),  # on the last stage
        in_channels=2048,
        in_index=3,
        dropout_ratio=0.0,
        num_classes=21,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
