# The demo pipeline with SFC as stage one (everything after make_cam is
# SIPE's: dense CRF, IRN, stage two).
#   python tools/run_pipeline.py configs/pipeline/demo_sfc.py
_base_ = ['./demo.py']

stage1_config = 'configs/sfc/demo_r18.py'
