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


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` plus ``--cfg-options``.

    A missing file gives a clear error.  Overriding a *top-level* string
    variable (``data_root=...``, ``ir_label_dir=...``,
    ``pseudo_label_dir=...``) also re-points every setting that held its old
    value: mmengine resolves such variables when it parses the file, so a plain
    override would otherwise change nothing downstream.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
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
