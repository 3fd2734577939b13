# mmseg's SegFormer MiT-B2 (ImageNet-1k MiT-B2 weights) with the test-time
# CRF available.
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py', './test_crf.py']
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

data_preprocessor = dict(size=(512, 512))  # training crops
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b2_20220624-66e8bf70.pth'  # noqa
model = dict(
    type='CRFEncoderDecoder',
    crf=_base_.test_crf,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
        embed_dims=64,
        num_heads=[1, 2, 5, 8],
        num_layers=[3, 4, 6, 3]),
    decode_head=dict(in_channels=[64, 128, 320, 512], num_classes=21))
