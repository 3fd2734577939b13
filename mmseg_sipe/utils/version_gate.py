"""Import-time version gate.

Runs before mmcv/mmseg are imported so that an incompatible stack fails with
one actionable line instead of an AssertionError deep inside mmseg.

Two stacks are supported; they install the same import names (``mmengine``,
``mmcv``, ``mmseg``) under different distribution names:

* ``onedl`` (default): the maintained OneDL fork -- ``onedl-mmengine``,
  ``onedl-mmcv`` (built without ops), ``onedl-mmsegmentation``;
* ``openmmlab``: the official packages -- ``mmengine``, ``mmcv`` with
  compiled ops, ``mmsegmentation`` 1.2.
"""
from importlib import metadata
from typing import Dict, Optional, Tuple

from packaging.version import Version

# stack -> {role: (distribution name, minimum inclusive, maximum exclusive)}
STACKS: Dict[str, Dict[str, Tuple[str, str, str]]] = {
    'onedl': {
        'mmengine': ('onedl-mmengine', '0.10.8', '1.0.0'),
        'mmcv': ('onedl-mmcv', '2.3.0', '3.0.0'),
        'mmseg': ('onedl-mmsegmentation', '1.3.0', '2.0.0'),
    },
    'openmmlab': {
        'mmengine': ('mmengine', '0.10.0', '1.0.0'),
        'mmcv': ('mmcv', '2.0.0', '2.2.0'),
        'mmseg': ('mmsegmentation', '1.2.0', '1.3.0'),
    },
}
TORCH = ('torch', '1.12.0', '3.0.0')

FIX_HINT = ('fix: `bash tools/setup_env.sh` (default, the maintained OneDL '
            'fork, no compiler) or `SIPE_STACK=openmmlab bash '
            'tools/setup_env.sh` (official mmcv 2.1 + mmseg 1.2); see '
            'docs/get_started.md')


class IncompatibleVersionError(ImportError):
    """Raised when an installed dependency is outside the supported range."""


def installed_version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def installed_versions() -> Dict[str, Optional[str]]:
    """``{distribution: version or None}`` for every name the gate reads."""
    names = {TORCH[0], 'mmcv-lite'}
    for stack in STACKS.values():
        names.update(d for d, _, _ in stack.values())
    return {n: installed_version(n) for n in sorted(names)}


def detect_stack(versions: Optional[Dict[str, Optional[str]]] = None
                 ) -> Optional[str]:
    """``'onedl'`` or ``'openmmlab'`` by which mmsegmentation distribution is
    installed (the fork wins when both are), else None."""
    versions = installed_versions() if versions is None else versions
    for name, stack in STACKS.items():
        if versions.get(stack['mmseg'][0]):
            return name
    return None


def _in_range(found: str, low: str, high: str) -> bool:
    return Version(low) <= Version(found.split('+')[0]) < Version(high)


def check_versions(versions: Optional[Dict[str, Optional[str]]] = None) -> str:
    """Raise :class:`IncompatibleVersionError` for the first bad dependency.

    Args:
        versions: ``{distribution: version or None}``; defaults to what is
            installed (injectable for tests).

    Returns:
        str: the stack found, ``'onedl'`` or ``'openmmlab'``.
    """
    versions = installed_versions() if versions is None else versions
    name, low, high = TORCH
    if not versions.get(name) or not _in_range(versions[name], low, high):
        raise IncompatibleVersionError(
            f'mmseg_sipe needs {name}>={low},<{high}, found '
            f'{versions.get(name) or "none"}; {FIX_HINT}.')
    stack = detect_stack(versions)
    if stack is None:
        raise IncompatibleVersionError(
            'mmseg_sipe needs mmsegmentation 1.x: neither '
            'onedl-mmsegmentation>=1.3 nor mmsegmentation>=1.2,<1.3 is '
            f'installed; {FIX_HINT}.')
    for role, (dist, low, high) in STACKS[stack].items():
        found = versions.get(dist)
        if found is None and stack == 'openmmlab' and role == 'mmcv' and \
                versions.get('mmcv-lite'):
            raise IncompatibleVersionError(
                'mmseg_sipe on the official stack needs mmcv with compiled '
                f'ops (mmcv>={low},<{high}); found mmcv-lite '
                f'{versions["mmcv-lite"]}; {FIX_HINT}.')
        if found is None:
            raise IncompatibleVersionError(
                f'mmseg_sipe on the {stack} stack needs {dist}>={low},<{high}'
                f' but it is not installed; {FIX_HINT}.')
        if not _in_range(found, low, high):
            raise IncompatibleVersionError(
                f'mmseg_sipe on the {stack} stack needs {dist}>={low},<{high}'
                f' but found {dist}=={found}; {FIX_HINT}.')
    return stack
