# SFC stage one on MS COCO 2014 (train2014, 80 classes): SIPE's COCO config
# (configs/sipe/coco_r50.py) with the SFC changes of configs/sfc/voc_r50.py.
# The reference trains SFC on VOC only (its COCO script trains SIPE), so the
# VOC recipe is applied unchanged. The class weights need COCO's statistics:
#   python tools/analysis_tools/class_stats.py configs/sfc/coco_r50.py \
#       --seg-dir SegmentationClass/train2014
# writes class_stats_file below (image counts from the image-level labels,
# pixel counts from the class-index PNGs).
_base_ = ['../sipe/coco_r50.py', '../_base_/models/sfc.py']

class_stats_file = 'data/coco2014/sfc_class_stats.json'
model = dict(_base_.sfc_model, class_stats_file=class_stats_file)
max_epochs = 6
param_scheduler = [dict(_base_.param_scheduler[0], end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs)
randomness = dict(seed=10)
