# The built-in demo dataset (data/demo, VOC layout) with the pseudo labels
# of the demo pipeline (configs/pipeline/demo.py), for the stage-two demo
# configs: voc12aug_pseudo.py with the demo's folders, 160 crops (resize
# scale 320x160), batch 8 and testing at full size.
_base_ = ['./voc12aug_pseudo.py']

data_root = 'data/demo'
pseudo_label_dir = 'work_dirs/demo/pseudo_label'
crop_size = (160, 160)
train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(320, 160),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [  # demo images are small (160-256 px): test at full size
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
