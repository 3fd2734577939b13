# IRN on the built-in demo dataset (VOC layout at data/demo, written by
# `python tools/dataset_converters/make_demo_dataset.py data/demo`), with the
# IR labels of the demo pipeline. A CPU-sized schedule: ResNet-18 at half
# width, crop 128, batch 4, 200 iterations (under a minute on 2 CPU cores).
# The backbone is the demo stage one's (configs/sipe/demo_r18.py: ResNet-18,
# stem 64 channels, base_channels=32), so that its weights load completely;
# the demo pipeline loads them (`irn_init_from_stage1 = True`), e.g.
#   --cfg-options model.backbone.init_cfg.type=Pretrained \
#     model.backbone.init_cfg.checkpoint=<stage-one ckpt> \
#     model.backbone.init_cfg.prefix=backbone.
# IRN freezes an ImageNet backbone. The demo's was trained from scratch on
# 200 images to classify, and its frozen features mark a class part's
# boundary inside an object as an edge; here the backbone trains with the
# branches at a tenth of their learning rate (BatchNorm statistics fixed).
# +IRN on the demo's default run: frozen 100 iterations 57.53, trained at
# x0.1 100 iterations 59.26, 200 iterations 60.69 (docs/pipeline.md, "IRN on
# the demo").
_base_ = ['./irn_voc_r50.py']

data_root = 'data/demo'
ir_label_dir = 'work_dirs/sipe_demo/ir_label'
crop_size = 128
max_iters = 200

model = dict(
    freeze_backbone=False,
    backbone=dict(
        depth=18, base_channels=32, frozen_stages=-1, init_cfg=None),
    # stem, layer1..4 of that backbone
    in_channels=(64, 32, 64, 128, 256),
    test_cfg=dict(pad_to=None))

# IRN's pipeline with the demo crop
train_pipeline = [
    *_base_.train_pipeline[:4],
    dict(_base_.train_pipeline[4], crop_size=crop_size),
    *_base_.train_pipeline[5:],
]
train_dataloader = dict(
    batch_size=4,  # total over all processes (TotalBatchSampler)
    num_workers=2,
    # InfiniteSampler: an iteration-based loop without epoch-wrap pauses
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        ir_label_dir=ir_label_dir,
        pipeline=train_pipeline))

# the backbone at 0.1x the edge branch's lr (the base keeps the displacement
# branch's 10x: custom_keys merge)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(
        type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=5, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
# the demo's seed (stage one's, configs/sipe/voc_r50.py): without it the
# sampler and the augmentation draw a new seed every run, and +IRN moves by
# points between identical runs
randomness = dict(seed=15)
