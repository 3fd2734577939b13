# SFC stage two: SIPE's DeepLab-v2 recipe
# (configs/sipe/deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py)
# trained on pseudo labels made with SFC as stage one
# (python tools/run_pipeline.py configs/pipeline/voc_sfc.py, or
#   tools/dist_train.sh configs/sfc/deeplabv2_r101-d8_4xb4-20k_voc12aug-sfc-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/pseudo_label).
# Only the default pseudo-label folder differs from SIPE's config.
_base_ = ['../sipe/deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py']

pseudo_label_dir = 'work_dirs/voc_sfc/pseudo_label'
train_dataloader = dict(
    dataset=dict(data_prefix=dict(seg_map_path=pseudo_label_dir)))
