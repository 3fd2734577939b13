"""tools/model_converters/sipe2mmseg.py on a checkpoint laid out exactly as
the reference training script writes it: ``torch.save({'net':
model.module.state_dict()}, path)`` of the reference ``Net``, whose state dict
lists every tensor under its ``nn.ModuleList`` aliases too (964 keys)."""
import copy
import os.path as osp
import sys

import pytest
import torch
import torch.nn as nn

import mmseg_sipe  # noqa: F401
from mmseg_sipe.registry import MODELS
from mmseg_sipe.utils.checkpoint import build_and_load
from mmseg_sipe.utils.config import load_config
from mmseg_sipe.utils.model_converters import drop_aliases

from sipe_testing import run_tool

torchvision = pytest.importorskip('torchvision')


class ReferenceNet(nn.Module):
    """The module tree of the reference stage-one ``Net`` (ResNet-50, VOC):

    * ``resnet50``: a torchvision-named ResNet-50 without ``fc``/``avgpool``
      (conv1, bn1, layer1..4; its BN layers keep running statistics);
    * ``stage0`` = Sequential(conv1, bn1, relu, maxpool), ``stage1..4`` =
      Sequential(layer1..4): the same modules registered again;
    * ``side1..4`` (1x1 convs 256->128, 512->128, 1024->256, 2048->256, no
      bias) and ``classifier`` (1x1 conv 2048->20, no bias);
    * ``backbone`` = ModuleList([stage0, stage1, stage2, stage3, stage4]) and
      ``newly_added`` = ModuleList([classifier, side1, side2, side3, side4])
      (the optimiser's two parameter groups).
    """

    def __init__(self, num_cls=21):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        del r.fc
        del r.avgpool
        self.resnet50 = r
        self.stage0 = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool)
        self.stage1 = nn.Sequential(r.layer1)
        self.stage2 = nn.Sequential(r.layer2)
        self.stage3 = nn.Sequential(r.layer3)
        self.stage4 = nn.Sequential(r.layer4)
        self.side1 = nn.Conv2d(256, 128, 1, bias=False)
        self.side2 = nn.Conv2d(512, 128, 1, bias=False)
        self.side3 = nn.Conv2d(1024, 256, 1, bias=False)
        self.side4 = nn.Conv2d(2048, 256, 1, bias=False)
        self.classifier = nn.Conv2d(2048, num_cls - 1, 1, bias=False)
        self.backbone = nn.ModuleList(
            [self.stage0, self.stage1, self.stage2, self.stage3, self.stage4])
        self.newly_added = nn.ModuleList([
            self.classifier, self.side1, self.side2, self.side3, self.side4
        ])


def _voc_model_cfg(repo_root):
    cfg = load_config(osp.join(repo_root, 'configs/sipe/voc_r50.py'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg', None)
    return model_cfg


@pytest.fixture(scope='module')
def source_and_reference(repo_root):
    """Our VOC model with random weights (BN statistics included) and the
    reference Net holding the very same tensors."""
    torch.manual_seed(0)
    src = MODELS.build(_voc_model_cfg(repo_root)).eval()
    with torch.no_grad():
        for name, t in src.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if 'running_var' in name
                        else torch.randn_like(t) * 0.05)
    ref = ReferenceNet()
    backbone = {k[len('backbone.'):]: v
                for k, v in src.state_dict().items()
                if k.startswith('backbone.')}
    ref.resnet50.load_state_dict(backbone, strict=True)
    with torch.no_grad():
        for i in range(4):
            getattr(ref, f'side{i + 1}').weight.copy_(src.head.sides[i].weight)
        ref.classifier.weight.copy_(src.head.classifier.weight)
    return src, ref


def test_reference_state_dict_has_aliases(source_and_reference):
    _, ref = source_and_reference
    sd = ref.state_dict()
    assert len(sd) == 964
    aliases = [k for k in sd if k.startswith(('backbone.', 'newly_added.'))]
    assert len(aliases) == 323
    assert 'backbone.3.0.5.conv2.weight' in sd  # stage3 = layer3
    assert 'newly_added.4.weight' in sd  # side4
    kept = drop_aliases(sd)
    assert not any(k.startswith(('backbone.', 'newly_added.', 'stage'))
                   for k in kept)


@pytest.mark.integration
def test_converts_reference_checkpoint_and_loads_strictly(
        source_and_reference, repo_root, tmp_path):
    src, ref = source_and_reference
    ckpt = tmp_path / 'final.pth'
    torch.save({'net': ref.state_dict()}, ckpt)  # as train_resnet50_SIPE.py
    dst = tmp_path / 'converted.pth'
    proc = run_tool([sys.executable, 'tools/model_converters/sipe2mmseg.py',
                     str(ckpt), str(dst)])
    assert 'converted' in proc.stdout
    # the loader of make_cam: weights_only, strict keys and shapes
    new = build_and_load(_voc_model_cfg(repo_root), str(dst), 'cpu')
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = src.forward_features(x), new.forward_features(x)
    assert torch.equal(a['cam'], b['cam'])
    assert torch.equal(a['hie'], b['hie'])


@pytest.mark.integration
def test_alias_that_differs_is_one_line_error(source_and_reference, tmp_path):
    _, ref = source_and_reference
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    sd['backbone.3.0.1.conv1.weight'] += 1.0
    ckpt = tmp_path / 'tampered.pth'
    torch.save({'net': sd}, ckpt)
    dst = tmp_path / 'converted.pth'
    proc = run_tool([sys.executable, 'tools/model_converters/sipe2mmseg.py',
                     str(ckpt), str(dst)], check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(ckpt) in lines[0]
    assert 'backbone.3.0.1.conv1.weight differs from stage3.0.1.conv1.weight' \
        in lines[0]
    assert not dst.exists()
    assert not list(tmp_path.glob('converted.pth*'))
