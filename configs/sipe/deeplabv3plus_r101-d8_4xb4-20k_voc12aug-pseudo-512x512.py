# SIPE stage two: DeepLab-v3+ (ResNetV1c-101, D8) on SIPE pseudo labels of
# VOC train_aug; everything else is mmseg's
# deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512 recipe (SGD lr 0.01, poly,
# 20k iterations, batch 4 x 4 GPUs, 512 crop, FCN auxiliary head).
#   tools/dist_train.sh configs/sipe/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/pseudo_label
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8.py',
    '../_base_/datasets/voc12aug_pseudo.py',
    '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
