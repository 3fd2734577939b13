import shutil

import pytest

from mmseg_sipe.datasets.demo import generate_demo_dataset

SMALL = dict(num_train=6, num_val=4, num_aug=6, size=(64, 112), seed=0)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A small demo dataset shared read-only by the tests."""
    root = tmp_path_factory.mktemp('demo') / 'voc'
    generate_demo_dataset(str(root), **SMALL)
    return root


@pytest.fixture(scope='session')
def demo_params():
    """The generator arguments of ``demo_root``."""
    return dict(SMALL)


@pytest.fixture
def demo_copy(demo_root, tmp_path):
    """A private copy of the demo dataset that a test may break."""
    dst = tmp_path / 'voc'
    shutil.copytree(demo_root, dst)
    return dst
