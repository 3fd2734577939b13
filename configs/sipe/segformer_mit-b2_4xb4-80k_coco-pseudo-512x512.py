# SIPE stage two on COCO 2014: SegFormer MiT-B2 (mmseg's recipe: ImageNet-1k
# MiT-B2 weights, AdamW 6e-5, head lr x10, warm-up 1500 then linear decay)
# on SIPE pseudo labels of train2014, 80k iterations, batch 4 x 4.
#   tools/dist_train.sh configs/sipe/segformer_mit-b2_4xb4-80k_coco-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/ir_label
_base_ = [
    '../_base_/models/segformer_mit-b2.py',
    '../_base_/datasets/coco_pseudo.py', '../_base_/default_runtime.py',
    '../_base_/schedules/segformer_adamw_80k.py'
]
model = dict(decode_head=dict(num_classes=_base_.num_classes))
