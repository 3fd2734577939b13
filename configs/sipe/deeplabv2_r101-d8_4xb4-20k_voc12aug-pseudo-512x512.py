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
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/voc12aug_pseudo.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/deeplabv2_sgd_20k.py'
]
