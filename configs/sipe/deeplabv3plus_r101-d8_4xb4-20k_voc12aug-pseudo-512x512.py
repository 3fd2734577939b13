# SIPE stage two: DeepLab-v3+ (ResNetV1c-101, D8) on SIPE pseudo labels of
# VOC train_aug; everything else is mmseg's
# deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512 recipe (SGD lr 0.01, poly,
# 20k iterations, batch 4 x 4 GPUs, 512 crop, FCN auxiliary head).
#   tools/dist_train.sh configs/sipe/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/pseudo_label
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
    # test-time dense CRF; switch on with --cfg-options model.crf.enabled=True
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
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))
tta_model = dict(type='CRFSegTTAModel')
