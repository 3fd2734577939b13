# Test-time dense CRF of the stage-two models, off by default: switch it on
# with --cfg-options model.crf.enabled=True (needs pydensecrf2). Keys left
# out take deeplab-pytorch's settings (iterations=10, pos_w=3, pos_xy_std=1,
# bi_w=4, bi_xy_std=67, bi_rgb_std=3), owned by
# mmseg_sipe.models.postprocess.crf_encoder_decoder.DEFAULT_CRF_CFG; set any
# of them here or with --cfg-options model.crf.<key>=...
test_crf = dict(enabled=False)
