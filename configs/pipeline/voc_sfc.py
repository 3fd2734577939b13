# The VOC pipeline with SFC as stage one (everything after make_cam is
# SIPE's: dense CRF, IRN, stage two):
#   python tools/run_pipeline.py configs/pipeline/voc_sfc.py --gpus 4
_base_ = ['./voc.py']

stage1_config = 'configs/sfc/voc_r50.py'
stage2_config = \
    'configs/sfc/deeplabv2_r101-d8_4xb4-20k_voc12aug-sfc-pseudo-512x512.py'
