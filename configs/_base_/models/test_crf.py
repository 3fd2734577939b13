# Test-time dense CRF of the stage-two models (deeplab-pytorch's settings),
# off by default: switch it on with --cfg-options model.crf.enabled=True
# (needs pydensecrf2).
test_crf = dict(
    enabled=False,
    iterations=10,
    pos_w=3,
    pos_xy_std=1,
    bi_w=4,
    bi_xy_std=67,
    bi_rgb_std=3)
