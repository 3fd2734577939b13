# mmseg's PASCAL VOC 2012 dataset config with the plugin's loaders: the
# stage-two dataset bases (voc12aug_pseudo.py, coco_pseudo.py) inherit its
# pipelines, tta_pipeline and IoU evaluator and replace only the datasets.
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py']

# One decoder rule for every step (docs/faq.md): images are decoded on their
# stored pixel grid, EXIF orientation ignored, as the labels are drawn; an
# unreadable image or label map stops with one line naming it.
train_pipeline = [
    dict(type='SIPELoadImageFromFile'),
    dict(type='SIPELoadAnnotations'), *_base_.train_pipeline[2:]
]
test_pipeline = [
    dict(type='SIPELoadImageFromFile'), *_base_.test_pipeline[1:2],
    dict(type='SIPELoadAnnotations'), *_base_.test_pipeline[3:]
]
tta_pipeline = [
    dict(type='SIPELoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            *_base_.tta_pipeline[1]['transforms'][:2],
            [dict(type='SIPELoadAnnotations')],
            *_base_.tta_pipeline[1]['transforms'][3:]
        ])
]
