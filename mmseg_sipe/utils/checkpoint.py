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
"""
import contextlib
import errno
import os
import os.path as osp
import pickle
import re
import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from .errors import PeerFailedError, UserError

_lock = threading.Lock()
_trusted: List[str] = []
_original_load = torch.load
_installed = False


def _real(path: str) -> str:
    return osp.realpath(osp.abspath(osp.expanduser(path)))


def is_trusted(path) -> bool:
    """Whether ``path`` lies inside a trusted directory (or is a trusted file)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = _real(os.fspath(path))
    for t in list(_trusted) + _env_dirs():
        if p == t or p.startswith(t.rstrip(os.sep) + os.sep):
            return True
    return False


def _env_dirs() -> List[str]:
    raw = os.environ.get('SIPE_TRUSTED_CHECKPOINT_DIRS', '')
    return [_real(d) for d in raw.split(os.pathsep) if d]


def _patched_load(f, *args, **kwargs):
    if 'weights_only' not in kwargs and is_trusted(f):
        kwargs['weights_only'] = False
    return _original_load(f, *args, **kwargs)


def trust_checkpoints(paths: Iterable[Optional[str]]) -> None:
    """Trust checkpoints below the directories ``paths`` for full (pickle)
    loading.

    Installs, once, a thin wrapper around :func:`torch.load` that passes
    ``weights_only=False`` only for trusted paths.  ``None`` entries are
    ignored.  Directories need not exist yet (a work dir before the first
    checkpoint).  An existing *file* is ignored: naming a checkpoint on the
    command line is no opt-in to unpickling it (use
    ``SIPE_TRUSTED_CHECKPOINT_DIRS`` for that).
    """
    global _installed
    with _lock:
        for p in paths:
            if p and not osp.isfile(_real(p)):
                rp = _real(p)
                if rp not in _trusted:
                    _trusted.append(rp)
        if not _installed:
            torch.load = _patched_load
            _installed = True


def untrust_all() -> None:
    """Forget every trusted path and restore :func:`torch.load`."""
    global _installed
    with _lock:
        _trusted.clear()
        torch.load = _original_load
        _installed = False


@contextlib.contextmanager
def trusted_checkpoints(paths: Iterable[Optional[str]]):
    """Context-manager form of :func:`trust_checkpoints`."""
    trust_checkpoints(paths)
    try:
        yield
    finally:
        untrust_all()


def build_and_load(model_cfg: dict, checkpoint: str, device) -> 'torch.nn.Module':
    """Build ``model_cfg`` from ``MODELS`` (backbone ``init_cfg`` dropped: the
    weights come from ``checkpoint``), load ``checkpoint`` (``weights_only``,
    see :func:`load_checkpoint_file`) with strict key and shape matching and
    return the model in eval mode on ``device``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointMismatchError: one line with counts and the first keys.
    """
    import copy

    from mmengine.runner.checkpoint import load_state_dict

    from mmseg_sipe.registry import MODELS
    cfg = copy.deepcopy(model_cfg)
    if isinstance(cfg.get('backbone'), dict):
        cfg['backbone'].pop('init_cfg', None)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model = MODELS.build(cfg)
    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    state_dict = check_checkpoint_fits(model, ckpt, checkpoint)
    load_state_dict(model, state_dict, strict=True, logger='silent')
    return model.to(device).eval()


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
class CheckpointError(UserError):
    """A checkpoint cannot be used; the message names the file."""


class UntrustedCheckpointError(CheckpointError):
    """The file needs a full unpickle and lies outside trusted directories."""


class CheckpointReadError(CheckpointError):
    """Not a readable PyTorch checkpoint (truncated, corrupt, other format)."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint's keys or shapes do not fit the model."""


class CheckpointDownloadError(CheckpointError):
    """Pretrained weights (a URL or ``torchvision://``) could not be
    downloaded."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, permissions)."""


def rank0_reports(exc: CheckpointError) -> CheckpointError:
    """``exc`` on rank 0; a quiet :class:`PeerFailedError` on the other
    ranks of a distributed run, which hit the same file and the same error
    (one line per failure, from rank 0)."""
    from mmengine.dist import get_rank
    if get_rank() != 0:
        return PeerFailedError(str(exc))
    return exc


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _first_keys(keys: Sequence[str], n: int = 5) -> str:
    keys = list(keys)
    more = f', +{len(keys) - n} more' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


# ---------------------------------------------------------------------------
# weights_only loading
# ---------------------------------------------------------------------------
_HB_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as a Runner checkpoint's message hub needs it: only the
    statistics methods of mmengine's ``HistoryBuffer`` (a general ``getattr``
    in the allowlist would let a file reach arbitrary attributes)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    owner = obj if isinstance(obj, type) else type(obj)
    allowed = set(_HB_METHODS) | set(
        getattr(HistoryBuffer, '_statistics_methods', {}))
    if issubclass(owner, HistoryBuffer) and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({owner.__name__}, {name!r}) is not allowed')


def safe_globals() -> List[Any]:
    """Globals allowed besides torch's own in ``weights_only`` loading: what
    mmengine Runner checkpoints hold (numpy arrays, scalars and dtypes; the
    message hub's ``HistoryBuffer`` and its statistics methods)."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    reconstruct = core.multiarray._reconstruct
    scalar = core.multiarray.scalar
    out: List[Any] = [reconstruct, scalar, np.ndarray, np.dtype, HistoryBuffer]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        # written by numpy 1.x or 2.x: either name, the same functions
        out += [(reconstruct, f'{mod}._reconstruct'),
                (scalar, f'{mod}.scalar')]
    kinds = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
             'uint32', 'uint64', 'float16', 'float32', 'float64',
             'complex64', 'complex128', 'str', 'bytes', 'object')
    seen = set()
    for k in kinds:
        t = type(np.dtype(k))
        if t is not np.dtype and t not in seen:
            seen.add(t)
            out.append(t)
    out.append((_history_buffer_getattr, 'builtins.getattr'))
    return out


def _safe_globals_context():
    ctx = getattr(torch.serialization, 'safe_globals', None)
    return ctx(safe_globals()) if ctx else contextlib.nullcontext()


_TRUST_HINT = 'SIPE_TRUSTED_CHECKPOINT_DIRS'


def _refused_global(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r'Unsupported global: GLOBAL (\S+)', text)
    if m:
        return m.group(1)
    m = re.search(r'WeightsUnpickler error: ([^\n]+)', text)
    return (m.group(1) if m else _first_line(exc)).strip()


def load_checkpoint_file(f: Any,
                         map_location: Any = None,
                         source: Optional[str] = None) -> Any:
    """:func:`torch.load` with ``weights_only=True`` (plus
    :func:`safe_globals`); a full unpickle only for a file inside a trusted
    directory (:func:`is_trusted`).

    Args:
        f: a path or a binary file object.
        map_location: as for :func:`torch.load`.
        source: how to name the checkpoint in errors (default: the path).

    Raises:
        UntrustedCheckpointError: the file needs a full unpickle and is not
            trusted -- one line naming it and ``SIPE_TRUSTED_CHECKPOINT_DIRS``.
        CheckpointReadError: truncated, corrupt or not a PyTorch file.
    """
    is_path = isinstance(f, (str, os.PathLike))
    name = source or (os.fspath(f) if is_path else '<checkpoint stream>')
    try:
        with _safe_globals_context():
            return _original_load(
                f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not (is_path and is_trusted(f)):
            where = (f'SIPE_TRUSTED_CHECKPOINT_DIRS={_real(osp.dirname(os.fspath(f)))}'  # noqa: E501
                     if is_path else f'{_TRUST_HINT}=<its directory>')
            raise UntrustedCheckpointError(
                f'refusing to unpickle {name}: it is not a plain weights '
                f'file (it needs {_refused_global(exc)}, and unpickling can '
                "run code) and it lies outside the run's work dir. If you "
                f'trust it, rerun with {where} (or save its state_dict as '
                'plain tensors)') from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001  (zip/EOF/format errors)
        raise CheckpointReadError(
            f'cannot read checkpoint {name}: {_first_line(exc)}. Truncated by '
            'an interrupted save or download, or not a PyTorch checkpoint? '
            'Delete it and rerun (or point to another file)') from None
    # trusted (the run's own work dir or SIPE_TRUSTED_CHECKPOINT_DIRS)
    if hasattr(f, 'seek'):
        f.seek(0)
    try:
        return _original_load(f, map_location=map_location,
                              weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointReadError(
            f'cannot read checkpoint {name}: {_first_line(exc)}') from None


@contextlib.contextmanager
def _weights_only_torch_load():
    """Within the block, :func:`torch.load` of an untrusted source is
    ``weights_only`` whatever the caller asks (schemes we do not re-implement,
    e.g. ``s3://``, ``pavi://``)."""
    outer = torch.load

    def guarded(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and is_trusted(f):
            return outer(f, *args, **kwargs)
        kwargs['weights_only'] = True
        with _safe_globals_context():
            return outer(f, *args, **kwargs)

    torch.load = guarded
    try:
        yield
    finally:
        torch.load = outer


def _guarded_scheme(loader):

    def guarded(filename, map_location=None):
        try:
            with _weights_only_torch_load():
                return loader(filename, map_location)
        except pickle.UnpicklingError as exc:
            raise UntrustedCheckpointError(
                f'refusing to unpickle {filename}: it is not a plain weights '
                f'file (it needs {_refused_global(exc)}, and unpickling can '
                'run code); save its state_dict as plain tensors') from None

    guarded.__name__ = getattr(loader, '__name__', 'load_from_guarded')
    return guarded


# ---------------------------------------------------------------------------
# Where a checkpoint comes from in the config (for actionable messages)
# ---------------------------------------------------------------------------
_config_keys: Dict[str, str] = {}
_CKPT_KEYS = ('checkpoint', 'load_from', 'pretrained')


def register_config_checkpoints(cfg: Any) -> None:
    """Remember which config key names each checkpoint string (e.g.
    ``torchvision://resnet50`` -> ``model.backbone.init_cfg.checkpoint``),
    so that a failed download or load can say what to change."""
    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                key = f'{prefix}.{k}' if prefix else str(k)
                if isinstance(v, str) and k in _CKPT_KEYS:
                    _config_keys.setdefault(v, key)
                else:
                    walk(v, key)
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{prefix}.{i}')

    raw = getattr(cfg, '_cfg_dict', cfg)
    walk(raw.to_dict() if hasattr(raw, 'to_dict') else dict(raw), '')


def _how_to_change(*names: Optional[str]) -> str:
    key = next((_config_keys[n] for n in names if n in _config_keys), None)
    if key is None:
        return ('set the config key that names it (e.g. '
                'model.backbone.init_cfg.checkpoint) to a local copy, or '
                'train without it, e.g. --cfg-options '
                'model.backbone.init_cfg=None')
    off = (key[:-len('.checkpoint')] if key.endswith('.checkpoint')
           else key) + '=None'
    return (f'point {key} at a local copy (--cfg-options {key}=<file>), or '
            f'go without it: --cfg-options {off}')


# ---------------------------------------------------------------------------
# CheckpointLoader schemes (names follow mmengine's: its log line prints
# the part after ``load_from_``)
# ---------------------------------------------------------------------------
def load_from_local(filename: str, map_location: Any = None) -> Any:
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    return load_checkpoint_file(filename, map_location)


def download_checkpoint(url: str, model_dir: Optional[str] = None,
                        origin: Optional[str] = None,
                        progress: Optional[bool] = None) -> str:
    """Download ``url`` into torch's hub cache (``$TORCH_HOME/hub/
    checkpoints``) unless it is there; return the cached path.

    Distributed: rank 0 downloads first and tells the others whether it
    succeeded; on failure rank 0 raises :class:`CheckpointDownloadError`
    (one line: the URL, the cache path, the config key to change) and the
    other ranks :class:`~mmseg_sipe.utils.errors.PeerFailedError` (quiet).
    """
    from urllib.parse import urlparse

    from mmengine.dist import broadcast, get_dist_info
    from torch.hub import download_url_to_file, get_dir
    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if progress is None:
        progress = os.isatty(2)
    rank, world = get_dist_info()

    def fetch():
        if osp.isfile(cached):
            return None
        try:
            os.makedirs(model_dir, exist_ok=True)
            download_url_to_file(url, cached, None, progress=progress)
            return None
        except Exception as exc:  # noqa: BLE001  (URLError, HTTPError, ...)
            return exc

    err = fetch() if rank == 0 else None
    if world > 1:
        flag = torch.tensor([0 if err is not None else 1], dtype=torch.int32)
        broadcast(flag, src=0)
        if rank != 0:
            if int(flag.item()) == 0:
                raise PeerFailedError(f'rank 0 could not download {url}')
            err = fetch()  # another node without a shared cache
    if err is not None:
        what = f'{origin} ({url})' if origin and origin != url else url
        raise CheckpointDownloadError(
            f'cannot download {what}: {_first_line(err)}. No network? Put '
            f'the file at {cached}, or {_how_to_change(origin, url)}')
    return cached


def load_from_http(filename: str, map_location: Any = None,
                   model_dir: Optional[str] = None,
                   origin: Optional[str] = None) -> Any:
    cached = download_checkpoint(filename, model_dir, origin=origin)
    return load_checkpoint_file(
        cached, map_location, source=f'{origin or filename} (cached as '
        f'{cached})')


def _unknown_model(filename: str, name: str, known: Iterable[str]):
    import difflib
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f' (did you mean {", ".join(close)}?)' if close else ''
    return UserError(f'unknown pretrained model {filename!r}{hint}; '
                     f'{_how_to_change(filename)}')


def load_from_torchvision(filename: str, map_location: Any = None) -> Any:
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    urls = get_torchvision_models()
    if name not in urls:
        raise _unknown_model(filename, name, urls)
    return load_from_http(urls[name], map_location, origin=filename)


def load_from_openmmlab(filename: str, map_location: Any = None) -> Any:
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    prefix, name = filename.split('://', 1)
    deprecated = get_deprecated_model_names()
    if name in deprecated:
        print_log(f'{prefix}://{name} is deprecated in favor of '
                  f'{prefix}://{deprecated[name]}', logger='current',
                  level=30)
        name = deprecated[name]
    urls = get_external_models()
    if name not in urls:
        raise _unknown_model(filename, name, urls)
    url = urls[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location, origin=filename)
    path = osp.join(_get_mmengine_home(), url)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path} ({filename})')
    return load_checkpoint_file(path, map_location)


def load_from_mmcls(filename: str, map_location: Any = None) -> Any:
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    name = filename.split('://', 1)[1]
    urls = get_mmcls_models()
    if name not in urls:
        raise _unknown_model(filename, name, urls)
    return _process_mmcls_checkpoint(
        load_from_http(urls[name], map_location, origin=filename))


def _reported_by_rank0(loader):
    """Errors about the file itself (refused, unreadable) are the same on
    every rank: only rank 0 prints them (:func:`rank0_reports`)."""

    def load(filename, map_location=None):
        try:
            return loader(filename, map_location)
        except (UntrustedCheckpointError, CheckpointReadError) as exc:
            raise rank0_reports(exc) from None

    load.__name__ = loader.__name__
    return load


_OWN_SCHEMES = {
    '': load_from_local,
    'http://': load_from_http,
    'https://': load_from_http,
    'torchvision://': load_from_torchvision,
    'modelzoo://': load_from_torchvision,
    'open-mmlab://': load_from_openmmlab,
    'openmmlab://': load_from_openmmlab,
    'mmcls://': load_from_mmcls,
}
_safe_installed = False


def install_safe_loading() -> None:
    """Route every ``CheckpointLoader`` scheme through ``weights_only``
    loading (idempotent), and make ``init_cfg=Pretrained`` strict in the
    ``mmseg`` scope (:class:`SIPEPretrainedInit`)."""
    global _safe_installed
    with _lock:
        if _safe_installed:
            return
        from mmengine.runner.checkpoint import CheckpointLoader
        schemes = dict(CheckpointLoader._schemes)
        for prefix, loader in schemes.items():
            own = _OWN_SCHEMES.get(prefix) or _guarded_scheme(loader)
            CheckpointLoader.register_scheme(
                prefix, _reported_by_rank0(own), force=True)
        for prefix, own in _OWN_SCHEMES.items():
            if prefix not in schemes:
                CheckpointLoader.register_scheme(
                    prefix, _reported_by_rank0(own), force=True)
        _register_pretrained_init()
        _safe_installed = True


# ---------------------------------------------------------------------------
# Strict key matching
# ---------------------------------------------------------------------------
def _unwrap(model):
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def state_dict_of(checkpoint: Any) -> Dict[str, Any]:
    """The weights of a checkpoint (``state_dict`` of a Runner checkpoint, or
    a bare state dict), ``module.`` prefixes stripped as mmengine does."""
    sd = checkpoint
    if isinstance(sd, dict) and isinstance(sd.get('state_dict'), dict):
        sd = sd['state_dict']
    if not isinstance(sd, dict):
        raise CheckpointMismatchError(
            f'expected a state dict, got {type(sd).__name__}')
    from collections import OrderedDict
    out = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in sd.items())
    metadata = getattr(sd, '_metadata', None)
    if metadata is not None:  # module versions, as mmengine keeps them
        out._metadata = metadata
    return out


def compare_state_dict(model: torch.nn.Module, state_dict: Dict[str, Any]
                       ) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, shape mismatches)``; a missing BN
    ``num_batches_tracked`` does not count (mmengine ignores it too)."""
    own = _unwrap(model).state_dict()
    missing = [k for k in own if k not in state_dict
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = []
    for k, v in state_dict.items():
        if k in own and hasattr(v, 'shape') and \
                tuple(v.shape) != tuple(own[k].shape):
            mismatched.append(f'{k} {list(v.shape)} vs model '
                              f'{list(own[k].shape)}')
    return missing, unexpected, mismatched


def describe_mismatch(missing: Sequence[str], unexpected: Sequence[str],
                      mismatched: Sequence[str], n: int = 5) -> str:
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing key(s): '
                     f'{_first_keys(missing, n)}')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected key(s): '
                     f'{_first_keys(unexpected, n)}')
    if mismatched:
        parts.append(f'{len(mismatched)} shape mismatch(es): '
                     f'{_first_keys(mismatched, n)}')
    return '; '.join(parts)


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: Any,
                          source: str) -> Dict[str, Any]:
    """Return the checkpoint's state dict if its keys and shapes match
    ``model`` exactly, else raise :class:`CheckpointMismatchError` (one line:
    counts and the first 5 keys of each kind)."""
    try:
        sd = state_dict_of(checkpoint)
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(f'{source}: {exc}') from None
    missing, unexpected, mismatched = compare_state_dict(model, sd)
    if missing or unexpected or mismatched:
        total = len(_unwrap(model).state_dict())
        raise CheckpointMismatchError(
            f'checkpoint {source} does not fit the model of this config '
            f'({total} tensors): '
            f'{describe_mismatch(missing, unexpected, mismatched)}. Is it a '
            'checkpoint of this config (same model type, depth and widths)?')
    return sd


# ---------------------------------------------------------------------------
# init_cfg=Pretrained, strict where we load on purpose
# ---------------------------------------------------------------------------
def _whole_norm_layers(module: torch.nn.Module, missing: Sequence[str],
                       state_dict: Dict[str, Any]) -> List[str]:
    """Missing keys of normalisation layers the checkpoint has no key of at
    all: output norms a backbone adds for extra ``out_indices`` (an ImageNet
    classifier has only the last one)."""
    from torch.nn.modules.batchnorm import _NormBase
    norms = {name for name, m in module.named_modules()
             if name and isinstance(m, (_NormBase, torch.nn.LayerNorm,
                                        torch.nn.GroupNorm))}
    out = []
    for k in missing:
        layer = k.rsplit('.', 1)[0]
        if layer in norms and not any(
                s.startswith(layer + '.') for s in state_dict):
            out.append(k)
    return out


def _build_pretrained_init():
    from mmengine.logging import print_log
    from mmengine.model.weight_init import PretrainedInit, update_init_info
    from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict

    class SIPEPretrainedInit(PretrainedInit):
        """``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``
        that fails loudly instead of leaving layers at random init.

        * no tensor of the checkpoint fits the module -> error;
        * a shape mismatch (e.g. another width) -> error;
        * with ``prefix`` (a part of one of our own checkpoints loaded on
          purpose, e.g. IRN's backbone from stage one): a missing key ->
          error, except whole output norm layers the checkpoint lacks;
        * otherwise (ImageNet weights without ``prefix``) missing or extra
          keys are logged as warnings, as mmengine does (``fc.*``).

        Errors are one line naming the checkpoint, the counts and the first
        keys (:class:`CheckpointMismatchError`).
        """

        def __call__(self, module):
            where = (f'{self.checkpoint} (prefix {self.prefix!r})'
                     if self.prefix else str(self.checkpoint))
            print_log(f'load {self.prefix or "model"} from: '
                      f'{self.checkpoint}', logger='current')
            ckpt = CheckpointLoader.load_checkpoint(
                self.checkpoint, map_location=self.map_location,
                logger='current')
            try:
                sd = state_dict_of(ckpt)
            except CheckpointMismatchError as exc:
                raise CheckpointMismatchError(f'{where}: {exc}') from None
            if self.prefix:
                p = self.prefix if self.prefix.endswith('.') else \
                    self.prefix + '.'
                sd = {k[len(p):]: v for k, v in sd.items()
                      if k.startswith(p)}
                if not sd:
                    raise CheckpointMismatchError(
                        f'init_cfg=Pretrained: no key of {self.checkpoint} '
                        f'starts with the prefix {p!r}; check '
                        'init_cfg.prefix / init_cfg.checkpoint')
            missing, unexpected, mismatched = compare_state_dict(module, sd)
            fatal_missing = []
            if self.prefix:
                tolerated = set(_whole_norm_layers(module, missing, sd))
                fatal_missing = [k for k in missing if k not in tolerated]
            matched = len([k for k in sd
                           if k not in unexpected]) - len(mismatched)
            if matched <= 0 or mismatched or fatal_missing:
                total = len(module.state_dict())
                if matched <= 0:
                    detail = describe_mismatch(missing, unexpected,
                                               mismatched)
                else:
                    detail = describe_mismatch(
                        fatal_missing, unexpected if self.prefix else [],
                        mismatched)
                raise rank0_reports(CheckpointMismatchError(
                    f'init_cfg=Pretrained: {where} does not fit '
                    f'{type(module).__name__} ({total} tensors, '
                    f'{max(matched, 0)} would load): {detail}. Does the '
                    'module in the config match the one that wrote the '
                    'checkpoint (type, depth, widths)?'))
            load_state_dict(module, sd, strict=False, logger='current')
            if hasattr(module, '_params_init_info'):
                update_init_info(module, init_info=self._get_init_info())

    SIPEPretrainedInit.__qualname__ = 'SIPEPretrainedInit'
    return SIPEPretrainedInit


SIPEPretrainedInit = None


def _register_pretrained_init() -> None:
    global SIPEPretrainedInit
    from mmseg.registry import WEIGHT_INITIALIZERS
    if SIPEPretrainedInit is None:
        SIPEPretrainedInit = _build_pretrained_init()
    WEIGHT_INITIALIZERS.register_module(
        name='Pretrained', module=SIPEPretrainedInit, force=True)


# ---------------------------------------------------------------------------
# Atomic checkpoint writes
# ---------------------------------------------------------------------------
def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably: the package's
    temp-file + rename helper (:func:`mmseg_sipe.utils.fileio.atomic_write`)
    plus fsync.  On failure the temporary file is removed and ``path`` is
    untouched (an older version stays intact).

    Raises:
        CheckpointWriteError: one line naming ``path`` and the OS error.
    """
    from .fileio import atomic_write as _atomic_write
    path = os.fspath(path)
    try:
        with _atomic_write(path, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        reason = exc.strerror or _first_line(exc)
        hint = (' Free some space and rerun (with --resume to continue '
                'from the last complete checkpoint)'
                if exc.errno in (errno.ENOSPC, errno.EDQUOT) else '')
        raise CheckpointWriteError(
            f'cannot write {path}: {reason} (nothing half-written was '
            f'left behind).{hint}') from None
    with contextlib.suppress(OSError):  # make the rename durable
        dfd = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def remove_stale_temporaries(directory: str) -> List[str]:
    """Remove the temporary files :func:`atomic_write` leaves when its
    process is killed mid-write; return their paths."""
    from .fileio import remove_stale_temps
    return remove_stale_temps(directory)


def _build_atomic_backend():
    from mmengine.fileio.backends import LocalBackend

    class AtomicLocalBackend(LocalBackend):
        """mmengine's local file backend with atomic ``put``/``put_text``
        (:func:`atomic_write`); everything else unchanged."""

        def put(self, obj: bytes, filepath) -> None:
            atomic_write(os.fspath(filepath), obj)

        def put_text(self, obj: str, filepath, encoding: str = 'utf-8'):
            atomic_write(os.fspath(filepath), obj.encode(encoding))

    AtomicLocalBackend.__qualname__ = 'AtomicLocalBackend'
    return AtomicLocalBackend


ATOMIC_BACKEND = 'sipe_atomic_local'
AtomicLocalBackend = None


def register_atomic_backend() -> None:
    """Register :class:`AtomicLocalBackend` as mmengine file backend
    ``sipe_atomic_local`` (``backend_args=dict(backend=...)``)."""
    global AtomicLocalBackend
    from mmengine.fileio import register_backend
    if AtomicLocalBackend is None:
        AtomicLocalBackend = _build_atomic_backend()
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


# ---------------------------------------------------------------------------
# Resuming a copied or moved work dir
# ---------------------------------------------------------------------------
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def resolve_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume in ``work_dir``, or None when the run has
    not saved one.

    mmengine's ``last_checkpoint`` holds an absolute path: in a copied work
    dir it names the *original* run's file, in a moved one a file that is
    gone.  A file of that name in ``work_dir`` itself wins; else the named
    path (checkpoints saved to another ``out_dir``); an empty or stale
    ``last_checkpoint`` falls back, with a warning, to the newest
    ``epoch_N.pth`` / ``iter_N.pth`` in ``work_dir``.

    Raises:
        FileNotFoundError: ``last_checkpoint`` names a file that is nowhere
            and ``work_dir`` holds no checkpoint.
    """
    from mmengine.logging import print_log
    save_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(save_file):
        return None
    with open(save_file) as f:
        named = f.read().strip()
    if named:
        local = osp.join(work_dir, osp.basename(named))
        if osp.isfile(local):
            if _real(local) != _real(named):
                print_log(f'last_checkpoint names {named}; resuming from '
                          f'the file of that name in this work dir: {local}',
                          logger='current')
            return local
        if osp.isfile(named):
            return named
    found = []
    for name in os.listdir(work_dir):
        m = _CKPT_NAME.match(name)
        if m:
            found.append((int(m.group(2)), name))
    if not found:
        raise FileNotFoundError(
            f'{save_file} names {named or "nothing"}, which does not exist, '
            f'and {work_dir} holds no epoch_N.pth / iter_N.pth; start '
            'without --resume, or pass --resume <checkpoint>')
    newest = osp.join(work_dir, max(found)[1])
    print_log(f'{save_file} names {named or "nothing"}, which does not '
              f'exist; resuming from the newest checkpoint instead: '
              f'{newest}', logger='current', level=30)
    return newest
