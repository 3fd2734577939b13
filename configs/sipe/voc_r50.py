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
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

num_classes = 20  # foreground classes; outputs have num_classes + 1 channels
data_root = 'data/VOCdevkit/VOC2012'
crop_size = 512

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet mean/std (RGB, x255)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size=(crop_size, crop_size),  # training crops; test images kept as-is
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='SIPEClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',  # torchvision-style stem (not V1c), output stride 16
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,  # FixedBatchNorm: running statistics never change
        frozen_stages=2,  # stem + layer1 + layer2 get no gradient (reference)
        contract_dilation=False,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
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
    batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
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
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='xml',
        with_seg_map=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CAMIoUMetric', mode='argmax')
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    # Reference PolyOptimizerSGD passes weight decay positionally into
    # SGD's momentum slot: the effective momentum is 1e-4.
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0, norm_type=2),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
max_epochs = 5
param_scheduler = [
    dict(
        type='SIPEPolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)  # lr_t = lr_0 (1 - t/T)^0.9 per iter
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SIPECheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=2,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
randomness = dict(seed=15)
