# The whole SIPE pipeline on the built-in demo dataset (data/demo).
#   python tools/run_pipeline.py configs/pipeline/demo.py
# Each entry names the config of a step; the step configs inherit the real
# VOC configs and shrink only what a 2-core CPU needs.
data_root = 'data/demo'
stage1_config = 'configs/sipe/demo_r18.py'
irn_config = 'configs/sipe/irn_demo.py'
stage2_config = 'configs/sipe/deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py'
use_irn = True  # VOC route; COCO uses the CRF labels as pseudo labels
cam = dict(
    split='train_aug',  # pseudo labels for every training image
    eval_split='train',  # CAM mIoU on the split with ground truth
    scales=[1.0, 0.5, 1.5, 2.0],
    dtype='float16',
    num_workers=1)
crf = dict(num_workers=2)
# 2^4 random-walk steps instead of VOC's 2^8: a demo edge map (40-64 cells
# a side) is ~2.5x smaller than a VOC one, and 2^8 steps diffuse over whole
# demo images. With closed boundaries the number of steps does not change
# the labels; edges that leak let fewer steps leak less background into
# objects (the demo IRN, 200 iterations: 2^3 steps 59.20 mIoU, 2^4 60.69,
# 2^5 60.74; a frozen-backbone IRN: 2^3 59.08, 2^4 59.36, 2^5 58.07, 2^8
# 50.62 -- docs/pipeline.md, "IRN on the demo").
random_walk = dict(beta=10, exp_times=4, radius=5)
# Stage two in mixed precision where the device has fast kernels for it
# (bf16 on a CPU with native bf16, e.g. AVX512-BF16: 211 s instead of 261 s
# for the 800 iterations on 2 cores; fp16 on CUDA), float32 elsewhere.
stage2_amp = True
vis_num = 4
# No ImageNet weights offline: IRN's and stage two's backbones start from
# stage one's (strict load: the demo configs build stage one's backbone).
# Stage two from stage one's weights instead of random ones: val 57.45 ->
# 58.32 (seeds 0, 1, 2: 55.63 / 56.15 / 48.35 -> 54.91 / 58.73 / 50.66;
# docs/pipeline.md, "Stage two on the demo").
irn_init_from_stage1 = True
stage2_init_from_stage1 = True
