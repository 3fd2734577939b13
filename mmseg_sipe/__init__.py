"""mmseg_sipe: SIPE (CVPR 2022) weakly supervised semantic segmentation as an
OpenMMLab (mmsegmentation 1.x) plugin.

``import mmseg_sipe`` (or ``custom_imports=dict(imports=['mmseg_sipe'])`` in a
config) registers every component into mmseg's registries.
"""
from .utils.version_gate import check_versions
from .version import __version__, version_info

check_versions()

from . import (cam, datasets, engine, evaluation, models,  # noqa: E402,F401
               refine)

__all__ = ['__version__', 'version_info']
