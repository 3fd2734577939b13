# The ResNet-50 of the reference stage-one scripts, shared by the CAM
# classifier (configs/sipe/voc_r50.py) and IRN (configs/sipe/irn_voc_r50.py):
# torchvision's ImageNet weights, output stride 16, frozen BN statistics
# (the reference FixedBatchNorm), stem + layer1 + layer2 frozen. The children
# set the model type, the crop handling and what else IRN freezes.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet mean/std (RGB, x255)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',  # torchvision-style stem (not V1c), output stride 16
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,  # FixedBatchNorm: running statistics never change
        frozen_stages=2,  # stem + layer1 + layer2 get no gradient (reference)
        contract_dilation=False,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
