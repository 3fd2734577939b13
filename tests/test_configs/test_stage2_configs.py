"""Stage-two configs: they inherit mmseg's bases, load, build, carry the
intended recipe, and the demo ones train + evaluate through the Runner."""
import copy
import functools
import glob
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper

import mmseg_sipe  # noqa: F401
import mmseg_sipe.datasets.pseudo_label  # noqa: F401
import mmseg_sipe.models.postprocess  # noqa: F401
from mmseg_sipe.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(ROOT, 'configs', 'sipe')
VOC = {
    'deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py',
    'deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py',
    'segformer_mit-b2_4xb4-20k_voc12aug-pseudo-512x512.py',
    'segformerhead_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py',
}
COCO = {
    'deeplabv2_r101-d8_4xb4-80k_coco-pseudo-512x512.py',
    'deeplabv3plus_r101-d8_4xb4-80k_coco-pseudo-512x512.py',
    'segformer_mit-b2_4xb4-80k_coco-pseudo-512x512.py',
}
DEMO = {
    'deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py',
    'deeplabv3plus_r18-d8_1xb8-300i_demo-pseudo-160x160.py',
    'segformer_mit-b0_1xb8-300i_demo-pseudo-160x160.py',
    'segformerhead_r18-d8_1xb8-300i_demo-pseudo-160x160.py',
}
ALL = sorted(VOC | COCO | DEMO)


@functools.lru_cache(maxsize=None)
def _load(name):
    return Config.fromfile(osp.join(CFG_DIR, name))


def _cfg(name):
    """A fresh copy of a config (each is parsed once per test session)."""
    return copy.deepcopy(_load(name))


def _build(cfg, device=None):
    """Build ``cfg.model`` with no pretrained weights and SyncBN -> BN.

    ``device='meta'`` builds without allocating or initialising weights (the
    ResNet-101 models take seconds to initialise on a CPU); a forward pass
    on meta tensors still checks every shape.
    """
    m = copy.deepcopy(cfg.model)
    m.pretrained = None
    if m.backbone.get('init_cfg'):
        m.backbone.init_cfg = None
    if device is None:
        return revert_sync_batchnorm(MODELS.build(m))
    with torch.device(device):
        return revert_sync_batchnorm(MODELS.build(m))


def test_config_set_is_complete():
    found = {
        osp.basename(p)
        for p in glob.glob(osp.join(CFG_DIR, '*pseudo*.py'))
    }
    assert found == set(ALL)


@pytest.mark.parametrize('name', ALL)
def test_config_loads_and_builds(name):
    cfg = _cfg(name)
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports == dict(
        imports=['mmseg_sipe'], allow_failed_imports=False)
    text = open(osp.join(CFG_DIR, name)).read()
    assert 'mmseg::_base_/' in text or '../_base_/' in text or \
        "_base_ = ['./" in text
    # multi-scale + flip TTA is inherited from mmseg's dataset config
    assert cfg.tta_model.type == 'CRFSegTTAModel'
    assert cfg.tta_pipeline[1].type == 'TestTimeAug'
    assert cfg.model.type == 'CRFEncoderDecoder'
    assert cfg.model.crf.enabled is False
    num_classes = 81 if name in COCO else 21
    # ResNet models on the meta device (shapes only); MiT calls .item() at
    # build time, so it is built for real (it is small)
    device = 'meta' if 'mit' not in name and name not in DEMO else 'cpu'
    model = _build(cfg, device).eval()
    assert not any(
        isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    with torch.no_grad(), torch.device(device):
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape[:2] == (1, num_classes)
    if name in DEMO:  # CPU-ready: BN, nothing to download
        text = json.dumps(cfg.model.to_dict())
        assert 'SyncBN' not in text
        assert cfg.model.get('pretrained') is None
        assert 'Pretrained' not in text
        assert cfg.train_dataloader.dataset.type == 'VOCPseudoLabelDataset'
        assert cfg.data_root == 'data/demo'


@pytest.mark.parametrize('name', sorted(VOC | COCO))
def test_real_configs_name_real_weights_and_data(name):
    cfg = _cfg(name)
    if 'mit-b2' in name:
        ckpt = cfg.model.backbone.init_cfg.checkpoint
        assert ckpt.startswith('https://download.openmmlab.com/')
        assert 'mit_b2' in ckpt
        assert cfg.model.backbone.embed_dims == 64
        assert cfg.model.backbone.num_layers == [3, 4, 6, 3]
    else:
        assert cfg.model.pretrained == 'open-mmlab://resnet101_v1c'
        assert cfg.model.backbone.depth == 101
    train = cfg.train_dataloader
    assert train.batch_size == 4  # 4xb4
    if name in VOC:
        assert train.dataset.type == 'VOCPseudoLabelDataset'
        assert train.dataset.ann_file == 'ImageSets/Segmentation/train_aug.txt'
        assert train.dataset.data_prefix.img_path == 'JPEGImages'
        assert cfg.val_dataloader.dataset.type == 'PascalVOCDataset'
        assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == \
            'SegmentationClass'
        assert cfg.train_cfg.max_iters == 20000
    else:
        assert train.dataset.type == 'COCOPseudoLabelDataset'
        assert cfg.val_dataloader.dataset.type == 'COCO2014SegDataset'
        assert cfg.train_cfg.max_iters == 80000
    assert cfg.model.data_preprocessor.size == (512, 512)


def test_deeplabv2_recipe_and_param_groups():
    cfg = _cfg('deeplabv2_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py')
    head = cfg.model.decode_head
    assert head.type == 'DeepLabV2Head'
    assert head.dilations == (6, 12, 18, 24)
    assert 'c1_in_channels' not in head and 'channels' not in head
    assert cfg.model.auxiliary_head is None
    assert cfg.model.backbone.dilations == (1, 1, 2, 4)  # output stride 8
    assert cfg.param_scheduler[0].eta_min == 0.0
    assert cfg.param_scheduler[0].power == 0.9

    small = _cfg('deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py')
    model = _build(small)
    opt = build_optim_wrapper(model, small.optim_wrapper).optimizer
    base = small.optim_wrapper.optimizer.lr
    aspp_w = {id(c.weight) for c in model.decode_head.conv_seg.convs}
    aspp_b = {id(c.bias) for c in model.decode_head.conv_seg.convs}
    seen = set()
    for g in opt.param_groups:
        p = g['params'][0]
        if id(p) in aspp_w:
            assert g['lr'] == pytest.approx(10 * base)
            assert g['weight_decay'] == pytest.approx(5e-4)
        elif id(p) in aspp_b:
            assert g['lr'] == pytest.approx(20 * base)
            assert g['weight_decay'] == 0
        else:
            assert g['lr'] == pytest.approx(base)
        seen.add(id(p))
    assert aspp_w | aspp_b <= seen


@pytest.mark.parametrize('child,parent', [
    ('segformerhead_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py',
     'deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'),
    ('segformerhead_r18-d8_1xb8-300i_demo-pseudo-160x160.py',
     'deeplabv3plus_r18-d8_1xb8-300i_demo-pseudo-160x160.py'),
])
def test_head_swap_changes_only_decode_head(child, parent):
    c, p = _cfg(child), _cfg(parent)
    head = c.model.decode_head
    assert head.type == 'SegformerHead'
    # nothing of the ASPP head leaks into the new head
    for key in ('dilations', 'c1_in_channels', 'c1_channels'):
        assert key not in head
    cd, pd = c.to_dict(), p.to_dict()
    cd['model'].pop('decode_head')
    pd['model'].pop('decode_head')
    assert cd['model'] == pd['model']
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg'):
        assert cd[key] == pd[key]


def test_head_swap_demo_trains_one_step():
    cfg = _cfg('segformerhead_r18-d8_1xb8-300i_demo-pseudo-160x160.py')
    model = _build(cfg)
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        ds = SegDataSample()
        ds.gt_sem_seg = PixelData(data=torch.randint(0, 21, (1, 64, 64)))
        ds.set_metainfo(dict(img_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(ds)
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.decode_head.fusion_conv.conv.weight.grad is not None


# ---------------------------------------------------------------- Runner
@pytest.fixture(scope='module')
def demo_with_pseudo(tmp_path_factory):
    """Tiny demo dataset + a pseudo-label folder (copies of the aug GT)."""
    from mmseg_sipe.datasets.demo import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('stage2') / 'demo')
    generate_demo_dataset(
        root, num_train=3, num_val=2, num_aug=2, size=(64, 96), seed=1)
    pseudo = osp.join(osp.dirname(root), 'pseudo_label')
    shutil.copytree(osp.join(root, 'SegmentationClassAug'), pseudo)
    return root, pseudo


def _train_two_iterations(cfg, tmp_path, root, pseudo):
    """Train ``cfg`` for 2 iterations (validating at 2) on the data at
    ``root`` with pseudo labels ``pseudo``; return the scalar log lines."""
    from mmengine.runner import Runner
    cfg.work_dir = str(tmp_path / 'work')
    # a visualiser of the same name from an earlier Runner would be reused
    # (and write into that Runner's work dir)
    cfg.visualizer.name = f'vis_{tmp_path.name}'
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 2
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[loader]
        dl.num_workers = 0
        dl.persistent_workers = False
        dl.dataset.data_root = root
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.data_prefix.seg_map_path = pseudo
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    scalars = glob.glob(
        osp.join(cfg.work_dir, '*', 'vis_data', 'scalars.json'))
    assert scalars
    with open(scalars[0]) as f:
        return [json.loads(x) for x in f]


def _shrink_crop(cfg, size=64):
    """Train the demo config on a ``size`` crop (speed only)."""
    cfg.model.data_preprocessor.size = (size, size)
    for t in cfg.train_dataloader.dataset.pipeline:
        if t.type == 'RandomResize':
            t.scale = (2 * size, size)
        elif t.type == 'RandomCrop':
            t.crop_size = (size, size)
        elif t.type == 'Pad':
            t.size = (size, size)


@pytest.mark.parametrize('name', sorted(DEMO))
def test_demo_config_trains_and_evaluates(name, demo_with_pseudo, tmp_path,
                                          monkeypatch):
    # The Runner formats the whole config with yapf several times (dump,
    # log, visualiser, checkpoint meta): seconds per run on this CPU, and
    # irrelevant here.
    monkeypatch.setattr(Config, 'pretty_text', property(lambda c: c.text))
    root, pseudo = demo_with_pseudo
    cfg = _cfg(name)
    _shrink_crop(cfg)
    lines = _train_two_iterations(cfg, tmp_path, root, pseudo)
    assert any('loss' in x for x in lines)
    val = [x for x in lines if 'mIoU' in x]  # validation after iteration 2
    assert len(val) == 1 and val[0]['step'] == 2
    assert 0.0 <= val[0]['mIoU'] <= 100.0


def test_demo_config_reports_missing_pseudo_labels(demo_with_pseudo,
                                                   tmp_path):
    from mmseg_sipe.registry import DATASETS
    root, _ = demo_with_pseudo
    cfg = _cfg('deeplabv2_r18-d8_1xb8-800i_demo-pseudo-128x128.py')
    ds = cfg.train_dataloader.dataset
    ds.data_root = root
    ds.data_prefix.seg_map_path = str(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='5 of 5 images'):
        DATASETS.build(ds)


# ------------------------------------------- real configs: 2 iterations each
@pytest.fixture(scope='module')
def coco_with_pseudo(demo_with_pseudo, tmp_path_factory):
    """A tiny COCO-2014-layout copy of the demo (train2014 + pseudo labels,
    val2014 + SegmentationClass/val2014); demo class ids are valid COCO ids
    (< 81)."""
    root, pseudo = demo_with_pseudo
    coco = tmp_path_factory.mktemp('coco') / 'coco2014'
    names = sorted(osp.splitext(f)[0] for f in os.listdir(pseudo))
    for split, sub in (('train2014', 'pseudo'),
                       ('val2014', 'SegmentationClass/val2014')):
        os.makedirs(coco / split)
        os.makedirs(coco / sub, exist_ok=True)
        for i, n in enumerate(names):
            new = f'COCO_{split}_{i + 1:012d}'
            shutil.copy(osp.join(root, 'JPEGImages', n + '.jpg'),
                        coco / split / (new + '.jpg'))
            shutil.copy(osp.join(pseudo, n + '.png'), coco / sub /
                        (new + '.png'))
    return str(coco), str(coco / 'pseudo')


def _shrink_test(cfg, size=64):
    for t in cfg.val_dataloader.dataset.pipeline:
        if t.type == 'Resize':
            t.scale = (2 * size, size)


@pytest.mark.parametrize('name', sorted(VOC | COCO))
def test_real_config_trains_two_iterations(name, demo_with_pseudo,
                                           coco_with_pseudo, tmp_path,
                                           monkeypatch):
    """Every model-zoo config (ResNet-101 / MiT-B2, random init instead of
    the pretrained weights, 64 crop) trains 2 iterations on pseudo labels and
    evaluates through the Runner."""
    monkeypatch.setattr(Config, 'pretty_text', property(lambda c: c.text))
    root, pseudo = coco_with_pseudo if 'coco' in name else demo_with_pseudo
    cfg = _cfg(name)
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    _shrink_crop(cfg)
    _shrink_test(cfg)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    lines = _train_two_iterations(cfg, tmp_path, root, pseudo)
    val = [x for x in lines if 'mIoU' in x]
    assert len(val) == 1 and 0.0 <= val[0]['mIoU'] <= 100.0
