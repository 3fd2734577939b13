# SIPE stage two on COCO 2014: DeepLab-v3+ (ResNetV1c-101, D8) on SIPE pseudo
# labels of train2014 with mmseg's DeepLab-v3+ recipe (SGD 0.01, poly, 80k
# iterations, batch 4 x 4, 512 crop), validated on val2014 ground truth.
#   tools/dist_train.sh configs/sipe/deeplabv3plus_r101-d8_4xb4-80k_coco-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/ir_label
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/coco_pseudo.py', '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py'
]
model = dict(
    decode_head=dict(num_classes=_base_.num_classes),
    auxiliary_head=dict(num_classes=_base_.num_classes))
