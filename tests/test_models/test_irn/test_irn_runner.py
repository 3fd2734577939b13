"""IRN configs load, and the Runner trains IRNet on generated IR labels."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CFG_DIR = osp.join(ROOT, 'configs', 'sipe')


def _write_data(root, n=6, seed=0):
    rng = np.random.RandomState(seed)
    img_dir = osp.join(root, 'JPEGImages')
    ir_dir = osp.join(root, 'ir_label')
    split_dir = osp.join(root, 'ImageSets', 'Segmentation')
    for d in (img_dir, ir_dir, split_dir):
        os.makedirs(d, exist_ok=True)
    names = [f'img{i}' for i in range(n)]
    for name in names:
        h, w = rng.randint(60, 110, size=2)
        img = np.full((h, w, 3), 60, np.uint8)
        lab = np.zeros((h, w), np.uint8)
        y0, x0 = rng.randint(5, h // 2), rng.randint(5, w // 2)
        img[y0:y0 + h // 3, x0:x0 + w // 3] = (200, 40, 40)
        lab[y0:y0 + h // 3, x0:x0 + w // 3] = rng.choice([1, 3, 8])
        lab[y0 - 3:y0, :] = 255  # an uncertain band
        img = np.clip(img + rng.randint(0, 25, img.shape), 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(
            osp.join(img_dir, name + '.jpg'))
        Image.fromarray(lab).save(osp.join(ir_dir, name + '.png'))
    with open(osp.join(split_dir, 'train_aug.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    return ir_dir


def test_irn_configs_load():
    voc = Config.fromfile(osp.join(CFG_DIR, 'irn_voc_r50.py'))
    assert voc.model.type == 'IRNet' and voc.model.backbone.depth == 50
    assert voc.model.backbone.strides == (1, 2, 2, 1)
    assert voc.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert voc.model.radius == 10 and voc.model.num_classes == 21
    assert voc.train_dataloader.batch_size == 32 and voc.train_dataloader.batch_sampler.type == 'TotalBatchSampler' and voc.train_cfg.max_epochs == 3
    opt = voc.optim_wrapper.optimizer
    assert (opt.lr, opt.momentum, opt.weight_decay) == (0.1, 1e-4, 1e-4)
    assert voc.optim_wrapper.paramwise_cfg.custom_keys[
        'disp_branch'].lr_mult == 10.0
    poly = voc.param_scheduler[0]
    assert poly.type == 'PolyLR' and poly.power == 0.9 and poly.eta_min == 0
    assert poly.convert_to_iter_based
    ds = voc.train_dataloader.dataset
    assert ds.type == 'IRLabelDataset' and ds.ir_label_dir == voc.ir_label_dir
    assert voc.custom_imports.imports == ['mmseg_sipe']
    assert voc.default_scope == 'mmseg'
    crop = [t for t in voc.train_dataloader.dataset.pipeline
            if t.type == 'IRNRandomCrop'][0]
    assert crop.crop_size == 512
    coco = Config.fromfile(osp.join(CFG_DIR, 'irn_coco_r50.py'))
    assert coco.model.num_classes == 81
    assert coco.train_dataloader.dataset.type == 'IRLabelCOCODataset'
    demo = Config.fromfile(osp.join(CFG_DIR, 'irn_demo.py'))
    assert demo.model.backbone.depth == 18
    assert demo.train_cfg.type == 'IterBasedTrainLoop'
    assert demo.train_dataloader.dataset.data_root == 'data/demo'


@pytest.mark.parametrize('frozen', [True, False],
                         ids=['frozen-backbone-as-IRN', 'demo-backbone-trains'])
def test_runner_trains_two_iterations(tmp_path, frozen):
    from mmengine.runner import Runner

    data_root = str(tmp_path / 'demo')
    ir_dir = _write_data(data_root)
    cfg = Config.fromfile(osp.join(CFG_DIR, 'irn_demo.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.dataset.ir_label_dir = ir_dir
    cfg.train_dataloader.dataset.pipeline[4].crop_size = 96  # 24x24 labels
    cfg.train_cfg.max_iters = 2
    cfg.param_scheduler[0].end = 2
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    if frozen:  # IRN's recipe (the VOC and COCO configs)
        cfg.model.freeze_backbone = True
        cfg.model.backbone.frozen_stages = 4
        cfg.optim_wrapper.paramwise_cfg.custom_keys.pop('backbone')
    # a known backbone through init_cfg (as a pretrained one would be)
    from mmseg_sipe.registry import MODELS
    backbone = MODELS.build(cfg.model.backbone)
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save(backbone.state_dict(), ckpt)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=ckpt)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    before = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    before.update({k: v.clone() for k, v in model.state_dict().items()
                   if not k.startswith('backbone.')})
    runner.train()
    after = model.state_dict()
    trains = {k for k, p in model.named_parameters() if p.requires_grad}
    assert any('downsample.0' in k for k in trains) != frozen
    for k, v in before.items():
        if k.startswith('backbone.') and k not in trains:
            assert torch.equal(v, after[k]), k  # frozen (incl. BN stats)
        elif k.startswith('backbone.'):
            assert not torch.equal(v, after[k]), k  # the demo's convs train
    assert not torch.equal(before['edge_branch.fuse.weight'],
                           after['edge_branch.fuse.weight'])
    assert not torch.equal(before['disp_branch.out.weight'],
                           after['disp_branch.out.weight'])
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    # displacement layers get 10x the edge layers' lr, the demo's
    # backbone 0.1x
    groups = runner.optim_wrapper.param_groups
    init = sorted({round(g['initial_lr'], 9) for g in groups})
    assert init == ([0.1, 1.0] if frozen else [0.01, 0.1, 1.0])
    # a frozen backbone is not in the optimizer at all
    opt_params = {id(p) for g in groups for p in g['params']}
    in_opt = [id(p) in opt_params for p in model.backbone.parameters()]
    assert not any(in_opt) if frozen else any(in_opt)
    assert all(id(p) in opt_params for n, p in model.named_parameters()
               if not n.startswith('backbone.'))
