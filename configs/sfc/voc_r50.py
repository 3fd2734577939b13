# SFC stage one on PASCAL VOC 2012 (train_aug, image-level labels).
# Reproduces the reference training (Barrett-python/SFC
# train_resnet50_SFC.py), which is SIPE's (configs/sipe/voc_r50.py: batch 16,
# SGD lr 0.1 / 1.0, poly 0.9, effective momentum 1e-4, clipping at norm 1)
# with, per docs/method.md §17:
#   * SFCClassifier: pixel-correlation module, arg-max seeds (background
#     x0.3), a second pass at 0.5x, class-weighted GSC loss (x1.6) and
#     cross-scale consistency loss (x0.8), class weights from
#     class_stats_file (VOC's numbers as the reference hard-codes them);
#   * ImageBankHook: 4 bank images appended to every batch of 16;
#   * 6 epochs, seed 10.
#   tools/dist_train.sh configs/sfc/voc_r50.py 4
_base_ = ['../sipe/voc_r50.py']

class_stats_file = 'configs/sfc/class_stats/voc_train_aug.json'
model = dict(
    type='SFCClassifier',
    head=dict(type='SFCHead'),
    loss_gsc=dict(type='ClassWeightedGSCLoss', loss_weight=1.6),
    loss_consistency=dict(type='CrossScaleConsistencyLoss', loss_weight=0.8),
    class_stats_file=class_stats_file,
    seed_bg_scale=0.3,
    scale_factor=0.5,
    # val_map: in-training validation map; the rest: the map make_cam writes
    # (refined CAM + 0.7 x prototype CAM, what the reference cam2ir reads)
    test_cfg=dict(
        val_map='prototype', cam_weight=1.0, prototype_weight=0.7,
        bg_offset=0.4))
custom_hooks = [dict(type='ImageBankHook', num_samples=4, share='global')]
max_epochs = 6
param_scheduler = [dict(_base_.param_scheduler[0], end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs)
randomness = dict(seed=10)
