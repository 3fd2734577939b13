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
_base_ = ['../sipe/voc_r50.py', '../_base_/models/sfc.py']

class_stats_file = 'configs/sfc/class_stats/voc_train_aug.json'
model = dict(_base_.sfc_model, class_stats_file=class_stats_file)
max_epochs = 6
param_scheduler = [dict(_base_.param_scheduler[0], end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs)
randomness = dict(seed=10)
