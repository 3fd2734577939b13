# SIPE stage one with a backbone from mmpretrain, swapped in by config only:
# mmpretrain's ResNet-50 and its ImageNet-1k checkpoint instead of mmseg's
# ResNet-50 + torchvision weights.  Everything else (IPE head, losses,
# optimiser, schedule, data) is inherited from voc_r50.py unchanged.
#
# mmpretrain is installed by `bash tools/setup_env.sh` (with torchvision and,
# on a CPU-only torch, the start-up hook described in docs/get_started.md).
# `type='mmpretrain.ResNet'` is looked up in mmpretrain's registry; nothing
# else needs importing.  Any mmpretrain backbone that returns 4 stages works
# the same way -- see voc_mmpretrain-convnext-t.py and docs/config_guide.md.
_base_ = ['./voc_r50.py']

checkpoint_file = ('https://download.openmmlab.com/mmclassification/v0/'
                   'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth')
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 1),  # output stride 16, as the reference
        dilations=(1, 1, 1, 1),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,  # frozen BN statistics (reference FixedBatchNorm)
        frozen_stages=2,  # stem + layer1 + layer2 get no gradient
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')))
