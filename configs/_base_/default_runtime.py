# mmseg's runtime, with the multi-scale + flip TTA model (tools/test.py --tta)
# that runs the stage-two test-time CRF, if enabled, once on the merged
# probabilities.
_base_ = ['mmseg::_base_/default_runtime.py']

tta_model = dict(type='CRFSegTTAModel')
