# SFC stage one on the built-in demo dataset (data/demo): SIPE's demo shrink
# (configs/sipe/demo_r18.py: half-width ResNet-18 from random init, 128 crops,
# batch 8, 32 epochs) with the SFC changes of configs/sfc/voc_r50.py.
# Demo-only: the class weights come from the demo's own statistics
# (tools/analysis_tools/class_stats.py configs/sfc/demo_r18.py), and the bank
# draws only filled slots -- the demo uses 4 of VOC's 20 classes, so the
# reference's draw over all 20 slots would append mostly blank images.
_base_ = ['../sipe/demo_r18.py', '../_base_/models/sfc.py']

class_stats_file = 'configs/sfc/class_stats/demo_train_aug.json'
model = dict(_base_.sfc_model, class_stats_file=class_stats_file)
custom_hooks = [
    dict(
        type='ImageBankHook',
        num_samples=4,
        share='global',
        skip_empty_slots=True)
]
randomness = dict(seed=10)
