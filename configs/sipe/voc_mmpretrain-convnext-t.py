# SIPE stage one with an mmpretrain ConvNeXt-T backbone (ImageNet-1k), swapped
# in by config only -- an example of a non-ResNet classifier family.
#
# ConvNeXt cannot dilate, so its last stage is at output stride 32;
# SIPEClassifier.extract_feat upsamples it bilinearly to the stride-16 grid
# of stage 3 (a no-op for the reference ResNet-50).  The SIPE optimiser and
# schedule are inherited unchanged: this config shows the swap, it is not a
# tuned recipe (no result for it is claimed in the model zoo).
_base_ = ['./voc_r50.py']

checkpoint_file = ('https://download.openmmlab.com/mmclassification/v0/'
                   'convnext/convnext-tiny_32xb128_in1k_20221207-998cf3e9.pth')
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,  # per-stage normed maps, not pooled
        frozen_stages=2,  # stem + stages 1-2 get no gradient, as the reference
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    head=dict(in_channels=(96, 192, 384, 768)))
