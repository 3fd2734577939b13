# The whole SIPE pipeline on MS COCO 2014, reference route: dense-CRF labels
# are the pseudo labels (no IRN, "due to the large computation cost").
#   python tools/run_pipeline.py configs/pipeline/coco.py --gpus 8
data_root = 'data/coco2014'
stage1_config = 'configs/sipe/coco_r50.py'
irn_config = 'configs/sipe/irn_coco_r50.py'
stage2_config = \
    'configs/sipe/deeplabv2_r101-d8_4xb4-80k_coco-pseudo-512x512.py'
use_irn = False  # set True to refine with IRN as on VOC
cam = dict(
    split=None, eval_split=None, scales=[1.0, 0.5, 1.5, 2.0],
    dtype='float16', num_workers=4)
crf = dict(num_workers=8)
vis_num = 8
