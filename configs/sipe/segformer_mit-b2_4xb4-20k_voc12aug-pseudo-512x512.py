# SIPE stage two: SegFormer MiT-B2 on SIPE pseudo labels of VOC train_aug.
# Model and optimiser are mmseg's segformer_mit-b2 recipe (ImageNet-1k MiT-B2
# weights, AdamW 6e-5, head lr x10, 1500-iteration linear warm-up, then
# linear (poly 1.0) decay), on a 20k-iteration VOC schedule with batch 4 x 4.
#   tools/dist_train.sh configs/sipe/segformer_mit-b2_4xb4-20k_voc12aug-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/pseudo_label
_base_ = [
    '../_base_/models/segformer_mit-b2.py',
    '../_base_/datasets/voc12aug_pseudo.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/segformer_adamw_20k.py'
]
