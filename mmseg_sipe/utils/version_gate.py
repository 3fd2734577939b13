"""Import-time version gate.

Runs before mmcv/mmseg are imported so that an incompatible stack fails with
one actionable line instead of an AssertionError deep inside mmseg.
"""
from importlib import metadata
from typing import Dict, Optional, Tuple

from packaging.version import Version

# distribution name -> (minimum inclusive, maximum exclusive)
REQUIREMENTS: Dict[str, Tuple[str, str]] = {
    'torch': ('1.12.0', '3.0.0'),
    'mmengine': ('0.10.0', '1.0.0'),
    'mmcv': ('2.0.0', '2.2.0'),
    'mmsegmentation': ('1.2.0', '1.3.0'),
}

FIX_HINT = ('run `bash tools/setup_env.sh` (pinned set in '
            'requirements/constraints.txt)')


class IncompatibleVersionError(ImportError):
    """Raised when an installed dependency is outside the supported range."""


def installed_version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_versions(versions: Optional[Dict[str, Optional[str]]] = None) -> None:
    """Raise :class:`IncompatibleVersionError` for the first bad dependency.

    Args:
        versions: ``{dist: version or None}``; defaults to what is installed.
            (Injectable for tests.)
    """
    if versions is None:
        versions = {name: installed_version(name) for name in REQUIREMENTS}
        if versions.get('mmcv') is None and installed_version('mmcv-lite'):
            versions['mmcv'] = 'lite-' + installed_version('mmcv-lite')
    for name, (low, high) in REQUIREMENTS.items():
        found = versions.get(name)
        if found is None:
            raise IncompatibleVersionError(
                f'mmseg_sipe needs {name}>={low},<{high} but it is not '
                f'installed; {FIX_HINT}.')
        if found.startswith('lite-'):
            raise IncompatibleVersionError(
                f'mmseg_sipe needs full mmcv with compiled ops (mmcv>={low},'
                f'<{high}); found mmcv-lite {found[5:]}; {FIX_HINT}.')
        v = Version(found.split('+')[0])
        if not (Version(low) <= v < Version(high)):
            raise IncompatibleVersionError(
                f'mmseg_sipe needs {name}>={low},<{high} but found {name}=='
                f'{found}; {FIX_HINT}.')
