# The whole SIPE pipeline on the built-in demo dataset (data/demo).
#   python tools/run_pipeline.py configs/pipeline/demo.py
# Each entry names the config of a step; the step configs inherit the real
# VOC configs and shrink only what a 2-core CPU needs.
data_root = 'data/demo'
stage1_config = 'configs/sipe/demo_r18.py'
irn_config = 'configs/sipe/irn_demo.py'
stage2_config = 'configs/sipe/deeplabv2_r18-d8_1xb8-200i_demo-pseudo-128x128.py'
use_irn = True  # VOC route; COCO uses the CRF labels as pseudo labels
cam = dict(
    split='train_aug',  # pseudo labels for every training image
    eval_split='train',  # CAM mIoU on the split with ground truth
    scales=[1.0, 0.5, 1.5, 2.0],
    dtype='float16',
    num_workers=1)
crf = dict(num_workers=2)
random_walk = dict(beta=10, exp_times=8, radius=5)
vis_num = 4
# No ImageNet weights offline: IRN's frozen backbone starts from stage one's.
irn_init_from_stage1 = True
