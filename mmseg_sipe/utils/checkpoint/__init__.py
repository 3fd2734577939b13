"""Checkpoint loading and saving that never goes silently wrong.

Loading (:func:`install_safe_loading`, done by ``import mmseg_sipe``): every
scheme of mmengine's ``CheckpointLoader`` -- local files, ``http(s)://``,
``torchvision://``, ``open-mmlab://``, ``mmcls://``, ... -- reads with
``weights_only=True``.  The allowlist adds only what mmengine Runner
checkpoints hold besides tensors (numpy arrays/scalars, the message hub's
``HistoryBuffer``), so ``tools/test.py``, ``make_cam`` and ``--resume`` read
them without unpickling.  A full (pickle) load, which can run code, happens
only for files inside trusted directories: the run's own work dir
(:func:`trust_checkpoints`, called by ``tools/train.py``) and the directories
in ``SIPE_TRUSTED_CHECKPOINT_DIRS``; elsewhere it is refused with one line
saying how to opt in.  Naming a file on the command line does not trust it.

Downloads (``torchvision://``, URLs) happen on rank 0 first; a failure is one
line from rank 0 naming the URL and the config key to change, and the other
ranks stop quietly.

Strictness: :func:`check_checkpoint_fits` (test time, ``make_cam``,
``make_seg_labels``) and :class:`SIPEPretrainedInit` (``init_cfg=Pretrained``)
turn key or shape mismatches into one line with counts and the first keys.

Saving: :class:`AtomicLocalBackend` writes a checkpoint to a temporary file in
the same directory, fsyncs and renames it, so a full disk or a killed process
never leaves a truncated ``epoch_N.pth``.  :func:`resolve_last_checkpoint`
finds the checkpoint to resume in a copied or moved work dir.

One concept per module, all re-exported here:

* :mod:`.errors` -- the one-line errors and :func:`rank0_reports`;
* :mod:`.trust` -- the trust list and the :func:`torch.load` wrapper;
* :mod:`.safe_load` -- ``weights_only`` loading of one file;
* :mod:`.schemes` -- the ``CheckpointLoader`` schemes and downloads;
* :mod:`.fit` -- strict key and shape matching;
* :mod:`.pretrained` -- the strict ``init_cfg=Pretrained``;
* :mod:`.saving` -- atomic checkpoint writes and the file backend;
* :mod:`.resume` -- the checkpoint ``--resume`` continues from.
"""
from . import pretrained as _pretrained
from . import saving as _saving
from .errors import (CheckpointDownloadError, CheckpointError,
                     CheckpointMismatchError, CheckpointReadError,
                     CheckpointWriteError, UntrustedCheckpointError,
                     rank0_reports)
from .fit import (build_and_load, check_checkpoint_fits, compare_state_dict,
                  describe_mismatch, state_dict_of)
from .resume import resolve_last_checkpoint
from .safe_load import _history_buffer_getattr  # noqa: F401  (tests)
from .safe_load import load_checkpoint_file, safe_globals
from .saving import (ATOMIC_BACKEND, register_atomic_backend,
                     write_checkpoint_bytes)
from .schemes import (download_checkpoint, install_safe_loading,
                      load_from_http, load_from_local, load_from_mmcls,
                      load_from_openmmlab, load_from_torchvision,
                      register_config_checkpoints)
from .trust import (is_trusted, trust_checkpoints, trusted_checkpoints,
                    untrust_all)

#: classes built on first registration (they subclass mmengine classes)
_BUILT_LATER = {'SIPEPretrainedInit': _pretrained,
                'AtomicLocalBackend': _saving}


def __getattr__(name):
    if name in _BUILT_LATER:
        return getattr(_BUILT_LATER[name], name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'CheckpointDownloadError',
    'CheckpointError', 'CheckpointMismatchError', 'CheckpointReadError',
    'CheckpointWriteError', 'SIPEPretrainedInit', 'UntrustedCheckpointError',
    'build_and_load', 'check_checkpoint_fits', 'compare_state_dict',
    'describe_mismatch', 'download_checkpoint', 'install_safe_loading',
    'is_trusted', 'load_checkpoint_file', 'load_from_http', 'load_from_local',
    'load_from_mmcls', 'load_from_openmmlab', 'load_from_torchvision',
    'rank0_reports', 'register_atomic_backend', 'register_config_checkpoints',
    'resolve_last_checkpoint', 'safe_globals', 'state_dict_of',
    'trust_checkpoints', 'trusted_checkpoints', 'untrust_all',
    'write_checkpoint_bytes'
]
