"""Distributed launch that works unchanged on GPU clusters and CPU machines.

mmengine 0.10.7 assumes CUDA when ``launcher='pytorch'``: it calls
``torch.cuda.set_device`` and wraps the model with ``device_ids=[rank]``.
On a machine without CUDA we initialise a gloo process group ourselves
(mmengine then skips its own init), wrap DDP without device ids and turn
SyncBN into BN (SyncBN has no CPU kernels).  With CUDA nothing is changed:
NCCL and device ids are used exactly as mmseg does.
"""
import os
import sys
from typing import Any

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


def cuda_available() -> bool:
    return torch.cuda.is_available()


def _replace_syncbn(node: Any) -> int:
    """Replace ``type='SyncBN'`` / ``'MMSyncBN'`` with ``'BN'`` in place."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN', 'TorchSyncBN'):
            node['type'] = 'BN'
            count += 1
        for v in node.values():
            count += _replace_syncbn(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            count += _replace_syncbn(v)
    return count


def prepare_launch(cfg: Config, launcher: str) -> Config:
    """Adapt ``cfg`` for ``launcher`` on the local host (see module doc)."""
    cfg.launcher = launcher
    if launcher == 'none' or cuda_available():
        return cfg
    env_cfg = cfg.get('env_cfg', None) or {}
    dist_cfg = dict(env_cfg.get('dist_cfg', {}) or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or
                   dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    n = _replace_syncbn(cfg._cfg_dict)
    if n:
        print_log(f'No CUDA: replaced {n} SyncBN layer config(s) with BN '
                  '(SyncBN has no CPU kernels).', logger='current')
    if launcher == 'pytorch' and not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    elif launcher == 'slurm' and not dist.is_initialized():
        _init_slurm_gloo(dist_cfg.get('port'))
    return cfg


def _init_slurm_gloo(port=None) -> None:
    """gloo init from slurm variables (mmengine's slurm init needs CUDA)."""
    import subprocess
    proc_id = int(os.environ['SLURM_PROCID'])
    ntasks = int(os.environ['SLURM_NTASKS'])
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(
        f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_PORT', str(port or 29500))
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['RANK'] = str(proc_id)
    os.environ['LOCAL_RANK'] = str(proc_id % max(
        1, int(os.environ.get('SLURM_NTASKS_PER_NODE', '1').split('(')[0])))
    dist.init_process_group(backend='gloo')


def finish_launch() -> None:
    """End a distributed run cleanly.

    torch 2.13's gloo can abort at interpreter exit (``terminate called
    without an active exception``) after a run that finished fine, which
    would turn a green run red.  After a barrier and an explicit destroy we
    leave with ``os._exit(0)``.  Only called after success; errors propagate.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    backend = dist.get_backend()
    if backend == 'nccl' and torch.cuda.is_available():
        # name the rank's GPU: NCCL otherwise guesses it (and warns) when
        # the process group was created without a device id
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()
    dist.destroy_process_group()
    if backend == 'gloo':
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
