"""Start-up hook: let a CUDA build of torchvision import on a CPU-only torch.

Why: the only torchvision wheel on PyPI for torch 2.13 is a CUDA build. On a
CPU torch its ``_C`` extension cannot load (it links ``libtorch_cuda.so``), so
``torchvision/_meta_registrations.py`` fails at import with
``RuntimeError: operator torchvision::nms does not exist``.  That breaks
mmpretrain (which imports torchvision at module level) and also mmengine's
``Runner`` (its ``collect_env`` imports torchvision and only catches
``ModuleNotFoundError``).

What: ``tools/setup_env.sh`` runs ``python tools/env/_sipe_tv_cpu_hook.py
--install``, which copies this file into the interpreter's site-packages
together with a one-line ``.pth`` file (``import _sipe_tv_cpu_hook``) -- on
a CPU-only torch only; on a CUDA torch it removes them.  Use the same
command in your own environment after ``pip install -e .[mmpretrain]``;
``--uninstall`` removes the hook.  At
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
    """Put the finder first on ``sys.meta_path`` (what the ``.pth`` does)."""
    if 'torchvision' in sys.modules:
        return
    if not any(isinstance(f, _TorchvisionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())


def uninstall():
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, _TorchvisionFinder)
    ]


PTH_LINE = 'import _sipe_tv_cpu_hook\n'


def _site_files(site=None):
    import os
    import sysconfig
    site = site or sysconfig.get_paths()['purelib']
    return (os.path.join(site, '_sipe_tv_cpu_hook.py'),
            os.path.join(site, '_sipe_tv_cpu_hook.pth'))


def main(argv=None):
    """``--install``: copy this file + ``.pth`` into site-packages when torch
    is a CPU build (else remove them); ``--uninstall``: remove them."""
    import argparse
    import os
    import shutil

    import torch
    p = argparse.ArgumentParser(description=main.__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--install', action='store_true')
    g.add_argument('--uninstall', action='store_true')
    p.add_argument('--site', help='site-packages directory (default: this '
                   "interpreter's purelib)")
    args = p.parse_args(argv)
    module, pth = _site_files(args.site)
    if args.install and torch.version.cuda is None:
        tmp = module + '.tmp'
        shutil.copyfile(os.path.abspath(__file__), tmp)
        os.replace(tmp, module)
        with open(pth + '.tmp', 'w') as f:
            f.write(PTH_LINE)
        os.replace(pth + '.tmp', pth)
        print(f'torchvision CPU hook installed in {os.path.dirname(module)}')
        return 0
    for path in (pth, module):
        if os.path.exists(path):
            os.remove(path)
    print('torchvision CPU hook ' + (
        'not needed (CUDA torch): removed if present'
        if args.install else 'removed'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
else:
    install()
