# The whole SIPE pipeline on PASCAL VOC 2012 (paper reproduction):
#   python tools/run_pipeline.py configs/pipeline/voc.py --gpus 4
data_root = 'data/VOCdevkit/VOC2012'
stage1_config = 'configs/sipe/voc_r50.py'
irn_config = 'configs/sipe/irn_voc_r50.py'
stage2_config = \
    'configs/sipe/deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'
use_irn = True
cam = dict(
    split='train_aug', eval_split='train', scales=[1.0, 0.5, 1.5, 2.0],
    dtype='float16', num_workers=4)
# CRF processes per rank; `bg_scale` (default 0.5, the reference's) is the
# background factor of cam2ir's confident-background CRF
crf = dict(num_workers=8)
random_walk = dict(beta=10, exp_times=8, radius=5)
vis_num = 8
