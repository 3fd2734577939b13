"""System sections of ``benchmarks/gpu_check.py``: the environment (GPU,
versions, TF32 flags) and the launchers (``tools/dist_train.sh`` with one
process, ``--resume``, ``tools/dist_test.sh``) on a generated demo dataset.

No torch import at module level (see ``gpu_common.py``).
"""
import os
import os.path as osp
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

from benchmarks.gpu_common import Ctx, check, exc_line, one_line
from benchmarks.host import ROOT, cpu_name, with_root_on_path


def sec_env(ctx: Ctx) -> Dict[str, Any]:
    import mmcv
    import mmengine
    import mmseg
    import torch

    import mmseg_sipe
    info: Dict[str, Any] = dict(
        device=str(ctx.device), python=platform.python_version(),
        platform=platform.platform(), cpu_count=os.cpu_count(),
        processor=cpu_name(), torch=torch.__version__,
        torch_cuda_build=torch.version.cuda,
        torch_threads=torch.get_num_threads(),
        mmseg_sipe=mmseg_sipe.__version__, stack=mmseg_sipe.STACK,
        mmengine=mmengine.__version__, mmcv=mmcv.__version__,
        mmseg=mmseg.__version__,
        cudnn=torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available() else None,
        default_cudnn_benchmark=torch.backends.cudnn.benchmark,
        default_cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        default_matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        # these override the TF32 flags process-wide (NGC containers set the
        # first): the float32 exactness checks can then fail
        tf32_env={k: os.environ.get(k) for k in (
            'TORCH_ALLOW_TF32_CUBLAS_OVERRIDE', 'NVIDIA_TF32_OVERRIDE')},
        cuda_visible_devices=os.environ.get('CUDA_VISIBLE_DEVICES'))
    checks = []
    if ctx.cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        info.update(
            gpu=torch.cuda.get_device_name(ctx.device),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability='.'.join(
                map(str, torch.cuda.get_device_capability(ctx.device))),
            multiprocessors=props.multi_processor_count,
            device_count=torch.cuda.device_count(),
            bf16_supported=torch.cuda.is_bf16_supported(),
            nccl=_nccl_version(), driver_smi=_nvidia_smi())
        x = torch.randn(256, 256, device=ctx.device)
        ref = x.cpu() @ x.cpu().t()
        err = float((x @ x.t()).cpu().sub_(ref).abs().max() /
                    ref.abs().max())
        checks.append(check('a matmul runs on the GPU (relative error vs '
                            'CPU)', err, '<=', 1e-2))
        checks.append(check('NCCL available',
                            torch.distributed.is_nccl_available(), '==',
                            True))
    else:
        from mmseg_sipe.utils.amp import _fast_half_on_cpu
        info.update(gpu=None, cpu_native_bf16=_fast_half_on_cpu(
            torch.bfloat16), cpu_native_fp16=_fast_half_on_cpu(
                torch.float16))
        checks.append(check('gloo available',
                            torch.distributed.is_gloo_available(), '==',
                            True))
    gpu = info.get('gpu') or 'no GPU (cpu)'
    mem = f", {info['gpu_memory_gib']} GiB" if info.get('gpu_memory_gib') \
        else ''
    ctx.log(f"{gpu}{mem}; torch {info['torch']}, CUDA "
            f"{info['torch_cuda_build']}, cuDNN {info['cudnn']}; mmseg_sipe "
            f"{info['mmseg_sipe']} ({info['stack']})")
    return dict(info=info, checks=checks)


def _nccl_version() -> Optional[str]:
    import torch
    try:
        if not torch.distributed.is_nccl_available():
            return None
        v = torch.cuda.nccl.version()
        return '.'.join(map(str, v)) if isinstance(v, (tuple, list)) \
            else str(v)
    except Exception as e:  # noqa: BLE001  (informational only)
        return f'unknown ({exc_line(e)})'


def _nvidia_smi() -> Optional[str]:
    exe = shutil.which('nvidia-smi')
    if not exe:
        return None
    try:
        p = subprocess.run(
            [exe, '--query-gpu=name,driver_version,memory.total',
             '--format=csv,noheader'], capture_output=True, text=True,
            timeout=10)
        return p.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# -- launch ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _launch_opts(data_root: str, epochs: int, batch: int) -> List[str]:
    """``--cfg-options`` for the demo config on ``data_root``: total batch
    ``batch``, no loader workers, ``epochs`` epochs, a checkpoint each."""
    opts = ['--cfg-options', f'data_root={data_root}']
    opts += [f'{split}_dataloader.dataset.data_root={data_root}'
             for split in ('train', 'val', 'test')]
    opts.append(f'train_dataloader.batch_size={batch}')
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    return opts + [
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1000',
        'param_scheduler.0.end=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ]


def _run_launcher(ctx: Ctx, name: str, cmd: List[str], log_dir: str,
                  env: Dict[str, str], reserve: float = 2.0):
    """Run one launcher command (output in ``<log_dir>/<name>.log``);
    returns ``(result dict, output text)``."""
    log = osp.join(log_dir, f'{name}.log')
    timeout = max(5.0, ctx.clock.left() - reserve)
    t0 = time.time()
    with open(log, 'w') as f:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f,
                                  stderr=subprocess.STDOUT, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    with open(log, errors='replace') as f:
        text = f.read()
    res = dict(command=' '.join(osp.relpath(c, ROOT) if c.startswith(ROOT)
                                else c for c in cmd[:4]) + ' ...',
               exit_code=rc, seconds=round(time.time() - t0, 1),
               log=osp.relpath(log, ctx.out_dir))
    if rc != 0:
        res['reason'] = 'timed out' if rc is None else _error_line(text)
    ctx.log(f"{name}: exit code {rc} in {res['seconds']} s")
    return res, text


_ERROR_RE = re.compile(
    r'^(error: .+|[\w.]*(Error|Exception|Interrupt)(: .*)?)$')


def _error_line(text: str) -> str:
    """The launched tool's own last error line (``error: ...`` from the
    tools, or ``SomeError: ...``), not the launcher's summary."""
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    found = [s for s in lines
             if _ERROR_RE.match(s) and 'ChildFailedError' not in s]
    return one_line(found[-1] if found else (lines[-1] if lines else
                                              'no output'))


def sec_launch(ctx: Ctx) -> Dict[str, Any]:
    from mmseg_sipe.datasets.demo import generate_demo_dataset
    a = ctx.args
    log_dir = osp.join(ctx.out_dir, 'launch')
    os.makedirs(log_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='sipe_gpu_check_')  # no spaces in paths
    try:
        data = osp.join(tmp, 'demo')
        generate_demo_dataset(
            data, num_train=8, num_val=4, num_aug=8,
            size=(64, 96) if ctx.tiny else (160, 256), seed=0)
        work = osp.join(tmp, 'work')
        cfg = osp.join(ROOT, 'configs', 'sipe', 'demo_r18.py')
        env = with_root_on_path(dict(os.environ))
        env['PYTHON'] = sys.executable
        env['PYTHONUNBUFFERED'] = '1'
        if ctx.tiny:
            env.setdefault('OMP_NUM_THREADS', '1')
        expected = 'nccl' if ctx.cuda else 'gloo'
        runs, checks = {}, []
        sh = ['bash']
        steps = [
            ('train', sh + [osp.join(ROOT, 'tools', 'dist_train.sh'), cfg,
                            '1', '--work-dir', work] +
             _launch_opts(data, 1, a.launch_batch)),
            ('resume', sh + [osp.join(ROOT, 'tools', 'dist_train.sh'), cfg,
                             '1', '--work-dir', work, '--resume'] +
             _launch_opts(data, 2, a.launch_batch)),
            ('test', sh + [osp.join(ROOT, 'tools', 'dist_test.sh'), cfg,
                           osp.join(work, 'epoch_2.pth'), '1', '--work-dir',
                           osp.join(tmp, 'test')] +
             _launch_opts(data, 2, a.launch_batch)),
        ]
        for name, cmd in steps:
            ctx.need(10, f'the {name} launch')
            env['PORT'] = str(_free_port())
            res, text = _run_launcher(ctx, name, cmd, log_dir, env)
            runs[name] = res
            checks.append(check(f'{name}: exit code', res['exit_code'], '==',
                                0))
            m = re.findall(r"backend['\"]?\s*[=:]\s*['\"](\w+)['\"]", text)
            res['backend'] = m[-1] if m else None
            if name == 'train':
                checks.append(check('train: process-group backend',
                                    res['backend'], '==', expected))
                checks.append(check(
                    'train: checkpoint epoch_1.pth written',
                    osp.isfile(osp.join(work, 'epoch_1.pth')), '==', True))
            elif name == 'resume':
                checks.append(check('resume: "resumed epoch: 1" logged',
                                    'resumed epoch: 1' in text, '==', True))
                checks.append(check(
                    'resume: checkpoint epoch_2.pth written',
                    osp.isfile(osp.join(work, 'epoch_2.pth')), '==', True))
            else:
                checks.append(check('test: metrics printed',
                                    'Test results:' in text and 'mIoU' in
                                    text, '==', True))
            if res['exit_code'] != 0:
                break  # the next step needs this one's output
        return dict(
            params=dict(config='configs/sipe/demo_r18.py', processes=1,
                        backend=expected,
                        dataset='generated demo (8 train, 4 val, 8 aug)',
                        batch=a.launch_batch,
                        epochs='1, then --resume to 2'),
            runs=runs, checks=checks,
            errors=[f"{k}: {r['reason']}" for k, r in runs.items()
                    if r.get('reason')])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
