"""Config loading with clear errors (and the config's default scope)."""
import os.path as osp
from typing import Any, Optional

from mmengine.config import Config


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


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` plus ``--cfg-options``.

    A missing file gives a clear error.  Overriding a *top-level* string
    variable (``data_root=...``, ``ir_label_dir=...``,
    ``pseudo_label_dir=...``) also re-points every setting that held its old
    value: mmengine resolves such variables when it parses the file, so a plain
    override would otherwise change nothing downstream.
    """
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg_options:
        top = {k: cfg.get(k) for k in cfg_options
               if '.' not in k and isinstance(cfg.get(k), str)}
        cfg.merge_from_dict(cfg_options)
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
