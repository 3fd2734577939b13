"""Config scopes (``mmseg::``, ``mmpretrain::``) on the OneDL fork.

Why: configs inherit mmseg's bases with ``_base_ = ['mmseg::...']``.  mmengine
resolves the scope ``mmseg`` to the *distribution* ``mmsegmentation``
(``mmengine.config.utils.MODULE2PACKAGE``) and refuses the config when no
distribution of that name is installed.  The maintained OneDL fork installs
the same import name (``mmseg``) under the distribution name
``onedl-mmsegmentation``, and its mmengine keeps the official mapping, so
every ``mmseg::`` config stops with ``mmsegmentation is not installed``.

What: :func:`alias_scopes` points each scope whose official distribution is
missing at the fork's distribution, when that one is installed.  On the
official stack it changes nothing.  It runs

* on ``import mmseg_sipe`` (our tools import the package before they read a
  config), and
* at interpreter start-up through ``mmseg_sipe_scopes.pth``, which a wheel of
  this package installs next to this module (``tools/setup_env.sh`` also
  installs it for editable installs): mmseg's own ``tools/train.py`` and
  ``mim train`` read the config before importing any plugin.  At start-up it
  only adds a meta-path finder that waits for ``mmengine.config.utils``; it
  imports nothing itself.

This module is the only place that knows about the fork's distribution names
besides the version gate.
"""
import importlib.abc
import sys

# scope -> (official distribution, fork distribution)
SCOPES = {
    'mmseg': ('mmsegmentation', 'onedl-mmsegmentation'),
    'mmpretrain': ('mmpretrain', 'onedl-mmpretrain'),
    'mmdet': ('mmdet', 'onedl-mmdetection'),
}
TARGET = 'mmengine.config.utils'


def _installed(dist):
    from importlib import metadata
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def alias_scopes(module2package=None):
    """Point scopes at the fork's distributions where only those exist.

    Args:
        module2package (dict, optional): the mapping to update; default
            ``mmengine.config.utils.MODULE2PACKAGE``.

    Returns:
        dict: ``{scope: distribution}`` of the entries changed (empty on the
        official stack).
    """
    if module2package is None:
        from mmengine.config import utils
        module2package = utils.MODULE2PACKAGE
    changed = {}
    for scope, (official, fork) in SCOPES.items():
        if module2package.get(scope) != official:
            continue  # already aliased, or mapped by mmengine differently
        if not _installed(official) and _installed(fork):
            module2package[scope] = fork
            changed[scope] = fork
    return changed


class _Loader(importlib.abc.Loader):
    """Wraps the real loader of ``mmengine.config.utils``; aliases after it
    has executed."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            alias_scopes(module.MODULE2PACKAGE)
        except Exception as exc:  # never break the import itself
            import warnings
            warnings.warn(f'mmseg_sipe_scopes: {type(exc).__name__}: {exc}')


class _Finder(importlib.abc.MetaPathFinder):

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        uninstall()
        import importlib.util
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install():
    """Alias now if mmengine's config utils are loaded, else when they are."""
    module = sys.modules.get(TARGET)
    if module is not None:
        alias_scopes(module.MODULE2PACKAGE)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def uninstall():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


PTH_NAME = 'mmseg_sipe_scopes.pth'
PTH_LINE = 'import mmseg_sipe_scopes; mmseg_sipe_scopes.install()\n'


def main(argv=None):
    """``--install``: write ``mmseg_sipe_scopes.pth`` into site-packages (for
    editable installs; a wheel ships it); ``--uninstall``: remove it."""
    import argparse
    import os
    import sysconfig
    p = argparse.ArgumentParser(description=main.__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--install', action='store_true')
    g.add_argument('--uninstall', action='store_true')
    p.add_argument('--site', help='site-packages directory (default: this '
                   "interpreter's purelib)")
    args = p.parse_args(argv)
    pth = os.path.join(args.site or sysconfig.get_paths()['purelib'],
                       PTH_NAME)
    if args.install:
        with open(pth + '.tmp', 'w') as f:
            f.write(PTH_LINE)
        os.replace(pth + '.tmp', pth)
        print(f'config scope aliases installed: {pth}')
    elif os.path.exists(pth):
        os.remove(pth)
        print(f'removed {pth}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
