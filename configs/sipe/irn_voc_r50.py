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
# The ResNet-50 and the training loop (SGD quirk, total batch, hooks) are
# the bases of the stage-one classifier (configs/sipe/voc_r50.py).
_base_ = [
    '../_base_/models/stage1_r50.py',
    '../_base_/schedules/stage1_reference.py'
]
default_scope = 'mmseg'

num_classes = 21  # including background
data_root = 'data/VOCdevkit/VOC2012'
ir_label_dir = 'work_dirs/sipe_voc/ir_label'
train_split = 'ImageSets/Segmentation/train_aug.txt'
dataset_type = 'IRLabelDataset'
crop_size = 512
# The reference trains with batch 32 on one DataParallel model; the
# TotalBatchSampler splits that total over the processes.
max_epochs = 3

data_preprocessor = dict(
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
        norm_cfg=dict(requires_grad=False),
        frozen_stages=4),  # IRN detaches every backbone level
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
train_dataloader = dict(
    batch_size=32,  # total over all processes (TotalBatchSampler)
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
    # only the two branches go to the optimizer (the backbone is frozen)
    constructor='TrainableOnlyOptimWrapperConstructor',
    # displacement layers get 10x the edge layers' lr
    paramwise_cfg=dict(custom_keys={'disp_branch': dict(lr_mult=10.0)}))
# The base's poly lr with mmengine's PolyLR: lr_t = lr_0 (1 - t / T)^0.9
# with t the iteration (from 0) and T = max_epochs * iterations per epoch,
# as the reference.
param_scheduler = [
    dict(_base_.param_scheduler[0], type='PolyLR', end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(max_keep_ckpts=1))
