"""Config loading with clear errors (and the config's default scope)."""
import os.path as osp
from typing import Any, Optional

from mmengine.config import Config

from .errors import UserError


def _replace_leaves(node: Any, old: str, new: Any) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            node[k] = _replace_leaves(v, old, new)
        return node
    if isinstance(node, list):
        return [_replace_leaves(v, old, new) for v in node]
    if isinstance(node, tuple):
        return tuple(_replace_leaves(v, old, new) for v in node)
    return new if (isinstance(node, str) and node == old) else node


def package_data_root() -> str:
    """The folder holding this package's ``configs/`` and ``tools/``: the
    checkout, or ``mmseg_sipe/.mim`` of an installed package."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    mim = osp.join(pkg, '.mim')
    if osp.isdir(osp.join(mim, 'configs')):
        return mim
    return osp.dirname(pkg)


def resolve_config_path(path: str) -> str:
    """``path`` as given when it exists (relative to the working directory);
    otherwise a relative ``configs/...`` path is looked up in the package's
    own configs (:func:`package_data_root`), so an installed package runs
    ``configs/pipeline/demo.py`` from any directory.

    Raises:
        FileNotFoundError: naming ``path`` and both places looked in.
    """
    if osp.isfile(path):
        return osp.abspath(path)
    if not osp.isabs(path):
        shipped = osp.join(package_data_root(), path)
        if osp.isfile(shipped):
            return shipped
        raise FileNotFoundError(
            f'config file not found: {path} (looked in {osp.abspath(".")} '
            f'and in the package configs under {package_data_root()})')
    raise FileNotFoundError(f'config file not found: {path}')


# Top-level keys mmengine's Runner reads although a config may leave them
# out (``--cfg-options randomness.seed=1`` on a config without randomness).
RUNNER_KEYS = frozenset({
    'activation_checkpointing', 'auto_scale_lr', 'compile', 'cudnn_benchmark',
    'custom_hooks', 'custom_imports', 'data_preprocessor', 'default_hooks',
    'default_scope', 'efficient_conv_bn_eval', 'env_cfg', 'experiment_name',
    'find_unused_parameters', 'launcher', 'load_from', 'log_level',
    'log_processor', 'model', 'model_wrapper_cfg', 'optim_wrapper',
    'param_scheduler', 'randomness', 'resume', 'runner_type', 'strategy',
    'test_cfg', 'test_dataloader', 'test_evaluator', 'train_cfg',
    'train_dataloader', 'tta_model', 'tta_pipeline', 'val_cfg',
    'val_dataloader', 'val_evaluator', 'visualizer', 'work_dir'
})


def _runner_keys() -> frozenset:
    import inspect
    try:
        from mmengine.runner import Runner
        params = inspect.signature(Runner.__init__).parameters
        return RUNNER_KEYS | {p for p in params if p != 'self'}
    except Exception:  # noqa: BLE001
        return RUNNER_KEYS


def check_cfg_options(cfg: Config, cfg_options: dict, path: str) -> None:
    """A ``--cfg-options`` key must start with a key of the config (or one
    the Runner reads): a typo such as ``data_rot=...`` would otherwise add a
    new, unused key and the run would go on with the default.  Keys below an
    existing one may extend it (``model.backbone.init_cfg=None``).

    Raises:
        KeyError: naming the key and the closest existing ones.
    """
    import difflib
    known = set(cfg.keys()) | _runner_keys()
    for key in cfg_options:
        head = str(key).split('.')[0]
        if head in known:
            continue
        close = difflib.get_close_matches(head, sorted(known), n=3,
                                          cutoff=0.6)
        hint = (f'did you mean {" / ".join(close)}?' if close else
                'see the config for its keys')
        raise UnknownConfigKeyError(
            f'--cfg-options {key}: the config {path} has no key {head!r} '
            f'({hint})')


class UnknownConfigKeyError(UserError, KeyError):
    """A ``--cfg-options`` key the config does not have."""

    def __str__(self):
        return str(self.args[0]) if self.args else ''


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` plus ``--cfg-options``.

    A missing file gives a clear error, and so does a ``--cfg-options`` key
    whose first part is not a key of the config (a typo would otherwise be
    ignored; :func:`check_cfg_options`).  Overriding a *top-level* string
    variable (``data_root=...``, ``ir_label_dir=...``,
    ``pseudo_label_dir=...``) also re-points every setting that held its old
    value: mmengine resolves such variables when it parses the file, so a plain
    override would otherwise change nothing downstream.
    """
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg_options:
        check_cfg_options(cfg, cfg_options, path)
        top = {k: cfg.get(k) for k in cfg_options
               if '.' not in k and isinstance(cfg.get(k), str)}
        try:
            cfg.merge_from_dict(cfg_options)
        except TypeError as exc:  # e.g. a dict over a None in the config
            msg = ' '.join(str(exc).split('You may set')[0].split())
            raise UserError(
                f'--cfg-options: {msg} Set such a key in a child config '
                f"(_base_ = ['{path}'], with _delete_=True) instead") from None
        for k, old in top.items():
            new = cfg_options[k]
            if new != old:
                for key in list(cfg.keys()):
                    if key != k:
                        cfg[key] = _replace_leaves(cfg[key], old, new)
    # tools build models/datasets outside a Runner: use the config's scope
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg
