# IRN (Ahn et al., CVPR 2019) on PASCAL VOC 2012 train_aug, trained on SIPE's
# IR labels (tools/cam2ir.py output). Reproduces SIPE's train_irn.py (= IRN's):
#   frozen ResNet-50 (strides 4/4/8/16/16), edge + displacement branches,
#   pair radius 10 on labels reduced x0.25, random scale 0.5-1.5, flip,
#   crop 512, total batch 32, 3 epochs, SGD lr 0.1 (edge) / 1.0
#   (displacement), weight decay 1e-4, effective momentum 1e-4 (the
#   reference PolyOptimizerSGD quirk), poly 0.9 per iteration.
# Where the IR labels are: `ir_label_dir` (relative to the working directory,
# not to data_root). To point it elsewhere on the command line:
#   --cfg-options train_dataloader.dataset.ir_label_dir=<dir>
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)
default_scope = 'mmseg'

num_classes = 21  # including background
data_root = 'data/VOCdevkit/VOC2012'
ir_label_dir = 'work_dirs/sipe_voc/ir_label'
train_split = 'ImageSets/Segmentation/train_aug.txt'
crop_size = 512
# The reference trains with batch 32 on one DataParallel model; the
# TotalBatchSampler splits that total over the processes.
max_epochs = 3

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet mean/std (RGB, x255)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # crops all have the same size: batch them as they are (mmseg needs
    # one of size / size_divisor; the x0.25 labels must not be padded)
    size_divisor=1)
model = dict(
    type='IRNet',
    data_preprocessor=data_preprocessor,
    num_classes=num_classes,
    radius=10,
    ignore_index=255,
    edge_channels=32,
    backbone=dict(
        type='ResNet',  # torchvision-style stem, output stride 16
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        frozen_stages=4,  # IRN detaches every backbone level
        contract_dilation=False,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    in_channels=(64, 256, 512, 1024, 2048),
    strides=(4, 4, 8, 16, 16),
    # Edge maps for the random walk: flip-averaged, padded to 512 like the
    # reference (larger images are padded to their own size, never cropped).
    test_cfg=dict(flip=True, pad_to=512))

train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),  # the IR label PNG (255 = uncertain)
    dict(type='IRNRandomRescale', scale_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='IRNRandomCrop', crop_size=crop_size, seg_pad_val=255),
    dict(type='IRNReduceLabel', scale=0.25),
    dict(type='PackSegInputs'),
]
dataset_type = 'IRLabelDataset'
train_dataloader = dict(
    batch_size=32,  # total over all processes (TotalBatchSampler)
    batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=train_split,
        data_prefix=dict(img_path='JPEGImages'),
        ir_label_dir=ir_label_dir,
        pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

optim_wrapper = dict(
    type='OptimWrapper',
    # only the two branches go to the optimizer (the backbone is frozen)
    constructor='TrainableOnlyOptimWrapperConstructor',
    # PolyOptimizerSGD passes weight decay into SGD's momentum slot.
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4),
    # displacement layers get 10x the edge layers' lr
    paramwise_cfg=dict(custom_keys={'disp_branch': dict(lr_mult=10.0)}))
param_scheduler = [
    # lr_t = lr_0 (1 - t / T)^0.9 with t the iteration (from 0) and
    # T = max_epochs * iterations per epoch, as the reference.
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SIPECheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=1,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))
log_processor = dict(by_epoch=True)
