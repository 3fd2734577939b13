"""mmseg_sipe: SIPE (CVPR 2022) weakly supervised semantic segmentation as an
OpenMMLab (mmsegmentation 1.x) plugin.

``import mmseg_sipe`` (or ``custom_imports=dict(imports=['mmseg_sipe'])`` in a
config) registers every component into mmseg's registries.  It runs on the
maintained OneDL fork of the OpenMMLab packages (default) or on the official
ones; :data:`STACK` says which was found.
"""
import mmseg_sipe_scopes

from .utils.quiet import silence_stack_warnings, without_noise_lines
from .utils.version_gate import check_versions
from .version import __version__, version_info

STACK = check_versions()
mmseg_sipe_scopes.install()  # `mmseg::` config scopes on the fork
silence_stack_warnings()

with without_noise_lines():
    from . import (cam, datasets, engine, evaluation,  # noqa: E402,F401
                   models, refine)

__all__ = ['__version__', 'version_info', 'STACK']
