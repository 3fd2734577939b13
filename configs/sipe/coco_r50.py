# SIPE stage one on MS COCO 2014 (train2014, 80 classes, image-level labels).
# Reference schedule: total batch 16, 5 epochs (25,650 iterations), lr 0.1,
# no in-training validation (the reference disables it for COCO).
_base_ = ['./voc_r50.py']

num_classes = 80
data_root = 'data/coco2014'
model = dict(head=dict(num_classes=num_classes))
dataset_type = 'SIPECOCODataset'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2014.json',
        data_prefix=dict(img_path='train2014'),
        with_seg_map=False,
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        train_dataloader['dataset'],
        data_prefix=dict(
            img_path='train2014', seg_map_path='SegmentationClass/train2014'),
        with_seg_map=True,
        pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader
train_cfg = dict(val_interval=100)  # i.e. never during the 5 epochs
