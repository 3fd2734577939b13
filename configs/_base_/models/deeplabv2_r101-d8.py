# DeepLab-v2 as SIPE's stage two: ResNetV1c-101, output stride 8, ASPP = sum
# of four dilated 3x3 classifiers (rates 6/12/18/24), test-time CRF available.
# Built on mmseg's DeepLab-v3+ model config (backbone, data preprocessor),
# with its decode head replaced and no auxiliary head.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py', './test_crf.py']
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

data_preprocessor = dict(size=(512, 512))  # training crops
model = dict(
    type='CRFEncoderDecoder',
    crf=_base_.test_crf,
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101),
    decode_head=dict(
        _delete_=True,
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=3,
        dilations=(6, 12, 18, 24),
        dropout_ratio=0.0,
        num_classes=21,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
