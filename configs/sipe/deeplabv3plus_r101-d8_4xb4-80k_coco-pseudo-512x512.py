# SIPE stage two on COCO 2014: DeepLab-v3+ (ResNetV1c-101, D8) on SIPE pseudo
# labels of train2014 with mmseg's DeepLab-v3+ recipe (SGD 0.01, poly, 80k
# iterations, batch 4 x 4, 512 crop), validated on val2014 ground truth.
#   tools/dist_train.sh configs/sipe/deeplabv3plus_r101-d8_4xb4-80k_coco-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/ir_label
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/datasets/coco_pseudo.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

num_classes = 81
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
