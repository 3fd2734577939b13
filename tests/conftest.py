"""Shared fixtures: a small demo dataset and how to run the tools."""
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests', 'helpers'))


@pytest.fixture(scope='session', autouse=True)
def _mmseg_scope():
    """Build mmseg components outside a Runner, as the tools do."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def tiny_demo(tmp_path_factory):
    """A small demo dataset (VOC layout) for tool-level tests."""
    from mmseg_sipe.datasets.demo import generate_demo_dataset
    root = tmp_path_factory.mktemp('tiny_demo') / 'demo'
    generate_demo_dataset(
        str(root), num_train=8, num_val=4, num_aug=8, size=(64, 96), seed=0)
    return str(root)


