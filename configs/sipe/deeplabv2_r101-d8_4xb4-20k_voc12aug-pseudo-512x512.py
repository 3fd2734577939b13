# SIPE stage two: DeepLab-v2 (ResNetV1c-101, output stride 8, ASPP = sum of
# four dilated 3x3 classifiers, rates 6/12/18/24) trained on SIPE pseudo
# labels of VOC train_aug, validated on VOC val ground truth.
#   tools/dist_train.sh configs/sipe/deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/pseudo_label
# Optimisation follows deeplab-pytorch (the stage-two code SIPE refers to):
# SGD lr 2.5e-4, momentum 0.9, wd 5e-4, ASPP weights x10, ASPP biases x20
# without weight decay, poly 0.9 down to 0, 20k iterations. Differences to
# deeplab-pytorch (documented in configs/sipe/README.md): total batch 16
# (4 GPUs x 4) instead of 5 x iter_size 2, crop 512 and mmseg's VOC
# augmentation instead of crop 321, ImageNet-pretrained ResNetV1c (mmseg's
# deep stem) instead of the COCO-pretrained Caffe ResNet-101, and (Sync)BN
# trained as in mmseg instead of frozen.
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/datasets/voc12aug_pseudo.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

num_classes = 21
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    type='CRFEncoderDecoder',
    # test-time dense CRF (deeplab-pytorch settings); switch on with
    # --cfg-options model.crf.enabled=True (needs pydensecrf2)
    crf=dict(
        enabled=False,
        iterations=10,
        pos_w=3,
        pos_xy_std=1,
        bi_w=4,
        bi_xy_std=67,
        bi_rgb_std=3),
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
        num_classes=num_classes,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
# multi-scale + flip TTA (tools/test.py --tta); the CRF, if enabled, runs
# once on the merged probabilities
tta_model = dict(type='CRFSegTTAModel')

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
        end=20000,
        by_epoch=False)
]
