"""Every ``CheckpointLoader`` scheme through ``weights_only`` loading.

:func:`install_safe_loading` (done by ``import mmseg_sipe``) makes every
scheme of mmengine's ``CheckpointLoader`` -- local files, ``http(s)://``,
``torchvision://``, ``open-mmlab://``, ``mmcls://``, ... -- read with
``weights_only=True`` (:func:`~.safe_load.load_checkpoint_file`); schemes
not re-implemented here (``s3://``, ``pavi://``, ...) are wrapped so that
their :func:`torch.load` is ``weights_only`` too.

Downloads (``torchvision://``, URLs) happen on rank 0 first; a failure is one
line from rank 0 naming the URL and the config key to change
(:func:`register_config_checkpoints`), and the other ranks stop quietly.
"""
import difflib
import os
import os.path as osp
import pickle
from typing import Any, Dict, Iterable, Optional
from urllib.parse import urlparse

import torch

from ..errors import PeerFailedError, UserError
from .errors import (CheckpointDownloadError, CheckpointReadError,
                     UntrustedCheckpointError, first_line, rank0_reports)
from .pretrained import register_pretrained_init
from .safe_load import (load_checkpoint_file, refused_global,
                        weights_only_torch_load)
from .trust import _lock

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
            f'cannot download {what}: {first_line(err)}. No network? Put '
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


def _guarded_scheme(loader):
    """An mmengine scheme we do not re-implement, its :func:`torch.load`
    made ``weights_only`` for untrusted sources."""

    def guarded(filename, map_location=None):
        try:
            with weights_only_torch_load():
                return loader(filename, map_location)
        except pickle.UnpicklingError as exc:
            raise UntrustedCheckpointError(
                f'refusing to unpickle {filename}: it is not a plain weights '
                f'file (it needs {refused_global(exc)}, and unpickling can '
                'run code); save its state_dict as plain tensors') from None

    guarded.__name__ = getattr(loader, '__name__', 'load_from_guarded')
    return guarded


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
    ``mmseg`` scope (:class:`~.pretrained.SIPEPretrainedInit`)."""
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
        register_pretrained_init()
        _safe_installed = True
