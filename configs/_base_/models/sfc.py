# SFC's changes to a SIPE stage-one model (docs/method.md §17): the
# pixel-correlation module (SFCHead), arg-max seeds with the background
# x0.3, a second pass at 0.5x, the class-weighted GSC loss (x1.6) and the
# cross-scale consistency loss (x0.8). `val_map` is the in-training
# validation map; the rest is the map make_cam writes (refined CAM + 0.7 x
# prototype CAM, what the reference cam2ir reads). The SFC configs apply it
# to their SIPE parent's model with their class statistics:
#   model = dict(_base_.sfc_model, class_stats_file=...)
# The image bank: 4 bank images appended to every batch (docs/method.md
# §17.5), the same bank on every process.
sfc_model = dict(
    type='SFCClassifier',
    head=dict(type='SFCHead'),
    loss_gsc=dict(type='ClassWeightedGSCLoss', loss_weight=1.6),
    loss_consistency=dict(type='CrossScaleConsistencyLoss', loss_weight=0.8),
    seed_bg_scale=0.3,
    scale_factor=0.5,
    test_cfg=dict(
        val_map='prototype', cam_weight=1.0, prototype_weight=0.7,
        bg_offset=0.4))
custom_hooks = [dict(type='ImageBankHook', num_samples=4, share='global')]
