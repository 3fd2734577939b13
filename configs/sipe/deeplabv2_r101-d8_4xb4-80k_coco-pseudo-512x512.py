# SIPE stage two on COCO 2014: DeepLab-v2 (ResNetV1c-101, D8, ASPP 6/12/18/24)
# trained on SIPE pseudo labels of train2014, validated on val2014 ground
# truth. Same recipe as the VOC config (deeplab-pytorch optimisation: SGD
# lr 2.5e-4, ASPP weights x10 / biases x20 without decay, poly 0.9 to 0) on
# an 80k-iteration schedule (SIPE's own COCO schedule is unpublished).
#   tools/dist_train.sh configs/sipe/deeplabv2_r101-d8_4xb4-80k_coco-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/ir_label
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/coco_pseudo.py', '../_base_/default_runtime.py',
    '../_base_/schedules/deeplabv2_sgd_80k.py'
]
model = dict(decode_head=dict(num_classes=_base_.num_classes))
