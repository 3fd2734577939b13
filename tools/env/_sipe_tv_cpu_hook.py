"""Start-up hook: let a CUDA build of torchvision import on a CPU-only torch.

Why: the only torchvision wheel on PyPI for torch 2.13 is a CUDA build. On a
CPU torch its ``_C`` extension cannot load (it links ``libtorch_cuda.so``), so
``torchvision/_meta_registrations.py`` fails at import with
``RuntimeError: operator torchvision::nms does not exist``.  That breaks
mmpretrain (which imports torchvision at module level) and also mmengine's
``Runner`` (its ``collect_env`` imports torchvision and only catches
``ModuleNotFoundError``).

What: ``tools/setup_env.sh`` copies this file into the venv's site-packages
together with a one-line ``.pth`` file (``import _sipe_tv_cpu_hook``).  At
interpreter start-up it only installs a meta-path finder -- torch is *not*
imported.  The first ``import torchvision`` then:

1. removes the finder (it acts once);
2. returns at once on a CUDA torch (the real ops load there);
3. tries to load torchvision's own ``_C`` library; if that works (a CPU
   torchvision), nothing else is done;
4. otherwise defines the two operator schemas the import needs
   (``torchvision::nms`` and ``torchvision::qnms``) with no kernels.

Afterwards ``torchvision.transforms`` and ``torchvision.ops.boxes.box_iou``
work; ``torchvision.ops.nms`` raises torchvision's own "Couldn't load custom
C++ ops" error, as it should.  The hook never raises: any failure inside it
is reported as a warning and the normal import goes on.
"""
import importlib.abc
import sys

_SCHEMAS = (
    'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
)
_library = None  # keeps the torch.library.Library (and its schemas) alive


def _extension_path(name='_C'):
    """Path of torchvision's compiled extension, or None (no import)."""
    import importlib.machinery
    import importlib.util
    import os

    spec = importlib.util.find_spec('torchvision')
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, name + suffix)
            if os.path.exists(path):
                return path
    return None


def define_missing_schemas():
    """Define the nms/qnms schemas iff torchvision's ``_C`` cannot load.

    Returns:
        str: what was done -- ``'cuda-torch'`` (nothing needed),
        ``'no-extension'`` (no torchvision ``_C`` found: nothing to do),
        ``'native-ops'`` (its ``_C`` loaded: real ops) or ``'defined'``.
    """
    global _library
    import torch

    if torch.version.cuda is not None:
        return 'cuda-torch'
    path = _extension_path()
    if path is None:
        return 'no-extension'
    try:
        torch.ops.load_library(path)
        return 'native-ops'
    except OSError:
        pass
    if _library is None:
        _library = torch.library.Library('torchvision', 'DEF')
        for schema in _SCHEMAS:
            _library.define(schema)
    return 'defined'


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    """Runs :func:`define_missing_schemas` before torchvision is imported."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'torchvision':
            return None
        uninstall()
        try:
            define_missing_schemas()
        except Exception as exc:  # never break the import itself
            import warnings
            warnings.warn(f'_sipe_tv_cpu_hook: {type(exc).__name__}: {exc}')
        return None  # the normal finders import torchvision


def install():
    if 'torchvision' in sys.modules:
        return
    if not any(isinstance(f, _TorchvisionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())


def uninstall():
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, _TorchvisionFinder)
    ]


install()
