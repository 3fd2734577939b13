# SIPE stage two: SegFormer MiT-B2 on SIPE pseudo labels of VOC train_aug.
# Model and optimiser are mmseg's segformer_mit-b2 recipe (ImageNet-1k MiT-B2
# weights, AdamW 6e-5, head lr x10, 1500-iteration linear warm-up, then
# linear (poly 1.0) decay), on a 20k-iteration VOC schedule with batch 4 x 4.
#   tools/dist_train.sh configs/sipe/segformer_mit-b2_4xb4-20k_voc12aug-pseudo-512x512.py 4 \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=WORK/pseudo_label
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    '../_base_/datasets/voc12aug_pseudo.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
custom_imports = dict(imports=['mmseg_sipe'], allow_failed_imports=False)

num_classes = 21
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b2_20220624-66e8bf70.pth'  # noqa
model = dict(
    type='CRFEncoderDecoder',
    # test-time dense CRF; switch on with --cfg-options model.crf.enabled=True
    crf=dict(
        enabled=False,
        iterations=10,
        pos_w=3,
        pos_xy_std=1,
        bi_w=4,
        bi_xy_std=67,
        bi_rgb_std=3),
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
        embed_dims=64,
        num_heads=[1, 2, 5, 8],
        num_layers=[3, 4, 6, 3]),
    decode_head=dict(
        in_channels=[64, 128, 320, 512], num_classes=num_classes))
tta_model = dict(type='CRFSegTTAModel')

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_block': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'head': dict(lr_mult=10.)
        }))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=20000,
        by_epoch=False,
    )
]
