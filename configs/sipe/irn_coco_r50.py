# IRN on MS COCO 2014 train, trained on SIPE's IR labels.
# Note: SIPE itself skips IRN on COCO ("we replace IRN with denseCRF due to the
# large computation cost", run_coco.sh): its COCO pseudo labels are the
# dense-CRF output of tools/cam2ir.py. This config is provided to run IRN on
# COCO anyway; the schedule is IRN's VOC schedule.
# Image list: `train_split` (one file stem per line, relative to data_root),
# or '' for every IR label PNG found in `ir_label_dir`.
_base_ = ['./irn_voc_r50.py']

num_classes = 81  # including background
data_root = 'data/coco2014'
ir_label_dir = 'work_dirs/sipe_coco/ir_label'
train_split = ''

model = dict(num_classes=num_classes)
train_dataloader = dict(
    dataset=dict(
        type='IRLabelCOCODataset',
        data_root=data_root,
        ann_file=train_split,
        data_prefix=dict(img_path='train2014'),
        ir_label_dir=ir_label_dir))
