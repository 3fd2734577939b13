# SIPE stage one on PASCAL VOC 2012 (train_aug, image-level labels).
# Reproduces the reference training (chenqi1126/SIPE train_resnet50_SIPE.py):
#   total batch 16, 5 epochs, SGD lr 0.1 (backbone) / 1.0 (new layers),
#   poly 0.9 per iteration, weight decay 1e-4, effective momentum 1e-4,
#   global gradient clipping 1.0, seed 15.
# Paper reproduction (4 GPUs, 4 images each):
#   tools/dist_train.sh configs/sipe/voc_r50.py 4
# The total batch is 16 whatever the number of processes and whatever starts
# the run (tools/dist_train.sh, mmseg's tools/train.py, mim train):
# `TotalBatchSampler` takes train_dataloader.batch_size as the total and gives
# each of N processes 16 / N images.
# The ResNet-50 (torchvision weights, output stride 16, frozen BN and first
# stages) and the training loop (SGD, poly lr, total batch, hooks) are the
# bases shared with IRN.
_base_ = [
    '../_base_/models/stage1_r50.py',
    '../_base_/schedules/stage1_reference.py'
]

num_classes = 20  # foreground classes; outputs have num_classes + 1 channels
data_root = 'data/VOCdevkit/VOC2012'
crop_size = 512

# training crops; test images kept as-is
data_preprocessor = dict(size=(crop_size, crop_size))
model = dict(
    type='SIPEClassifier',
    data_preprocessor=data_preprocessor,
    head=dict(
        type='IPEHead',
        in_channels=(256, 512, 1024, 2048),
        side_channels=(128, 128, 256, 256),
        num_classes=num_classes),
    loss_cls=dict(type='MultiLabelSoftMarginLoss', loss_weight=1.0),
    loss_gsc=dict(type='GSCLoss', loss_weight=1.0),
    # --- reference behaviour (switch to the paper's version here) ---
    train_seed_feature='x4',  # paper: 'hie'
    bg_weight=0.5,
    prototype_denominator='area',  # paper: 'count' (same IS-CAM)
    bg_from_all_classes=True,
    test_cfg=dict(seed_feature='x4'))  # in-training validation protocol

train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='RandomResizeLong', min_size=320, max_size=640),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCropWithValidMask', crop_size=crop_size),
    dict(type='PackSIPEInputs'),
]
val_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),
    dict(type='PackSIPEInputs'),
]
dataset_type = 'SIPEVOCDataset'
train_dataloader = dict(
    batch_size=16,  # total over all processes (TotalBatchSampler)
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        label_source='xml',
        with_seg_map=False,
        pipeline=train_pipeline))
# In-training validation: single-scale IS-CAM mIoU on VOC `train` (1,464).
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        with_seg_map=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CAMIoUMetric', mode='argmax')
test_evaluator = val_evaluator

# SGD lr 0.1 and 5 epochs of poly lr come from the base; the head (new
# layers) gets 10x the lr, gradients are clipped.
optim_wrapper = dict(
    clip_grad=dict(max_norm=1.0, norm_type=2),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
train_cfg = dict(val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=15)
