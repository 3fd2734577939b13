# Kept import-light: ``version_gate`` must run before mmengine/mmcv/mmseg are
# imported.  Use ``mmseg_sipe.utils.checkpoint`` / ``mmseg_sipe.utils.dist``.
from .version_gate import IncompatibleVersionError, check_versions

__all__ = ['check_versions', 'IncompatibleVersionError']
