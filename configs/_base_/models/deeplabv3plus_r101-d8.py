# mmseg's DeepLab-v3+ (ResNetV1c-101, D8, FCN auxiliary head) with the
# test-time CRF available.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py', './test_crf.py']
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

data_preprocessor = dict(size=(512, 512))  # training crops
model = dict(
    type='CRFEncoderDecoder',
    crf=_base_.test_crf,
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101),
    decode_head=dict(num_classes=21),
    auxiliary_head=dict(num_classes=21))
