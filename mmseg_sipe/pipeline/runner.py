"""Step 5: the whole SIPE pipeline from one pipeline config.

Each step runs the very command a user would run (``tools/train.py`` is
``python -m mmseg_sipe.cli.train``, ``tools/make_cam.py`` is ``python -m
mmseg_sipe.cli.make_cam``, ...) in a subprocess -- through
``torch.distributed.run`` when ``--gpus N`` > 1 and the step shards -- so the
pipeline exercises exactly the user-facing commands, from a checkout or from an
installed package alike.

A finished step writes ``<work_dir>/steps/<step>.json``: its metrics, wall
time, a run id, and the *fingerprint* of what it was run with (its step
configs' resolved text, the pipeline settings it reads, the data root and the
dataset's split files, the seed, and the run id of the step before it).  A
rerun skips a step only when its fingerprint is unchanged; otherwise the step's
old outputs are removed and it runs again, and so -- through the chained run
ids -- does everything after it.  ``--from STEP`` redoes STEP and every later
step in range.  A step that was killed is resumed (training with
``--resume``, per-image steps skip finished images) when its inputs are
unchanged, and started afresh when they changed.  A step that finished writes
``<work_dir>/steps/<step>.json`` (its metrics and wall time) and is skipped on
rerun; a step that was killed is simply rerun, and the steps themselves resume
(training with ``--resume``, per-image steps skip finished images).
"""
import glob
import json
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.config import Config

from ..utils.checkpoint import resolve_last_checkpoint
from ..utils.config import resolve_config_path
from .launch import run_step
from .records import StepRecords

STEPS = ('stage1', 'make_cam', 'eval_cam', 'cam2ir', 'eval_ir', 'train_irn',
         'make_seg_labels', 'eval_seg_labels', 'stage2', 'test_stage2',
         'visualize')


@dataclass
class StepResult:
    name: str
    seconds: float
    metrics: Dict
    skipped: bool = False


class PipelineRunner:
    """Runs the steps of a pipeline config.

    Args:
        cfg (Config): pipeline config (see ``configs/pipeline/``).
        work_dir (str): where every step writes.
        gpus (int): processes for training and sharded steps.
        seed (int, optional): random seed for the training steps.
        log (callable): progress printer.
    """

    def __init__(self,
                 cfg: Config,
                 work_dir: str,
                 gpus: int = 1,
                 seed: Optional[int] = None,
                 log: Callable[[str], None] = print):
        self.cfg = cfg
        self.work_dir = osp.abspath(work_dir)
        self.gpus = gpus
        self.seed = seed
        self.log = log
        self.use_irn = cfg.get('use_irn', True)
        for key in ('stage1_config', 'irn_config', 'stage2_config'):
            if cfg.get(key):  # checkout or installed package, any cwd
                cfg[key] = resolve_config_path(cfg[key])
        os.makedirs(osp.join(self.work_dir, 'steps'), exist_ok=True)
        self.records = StepRecords(cfg, self.work_dir, seed, log)

    # ------------------------------------------------------------------
    def path(self, *parts) -> str:
        return osp.join(self.work_dir, *parts)

    def steps(self) -> List[str]:
        steps = list(STEPS)
        if not self.use_irn:  # COCO route: CRF labels are the pseudo labels
            for s in ('train_irn', 'make_seg_labels'):
                steps.remove(s)
        return steps

    def record(self, step: str) -> Optional[Dict]:
        """The finished step's record, or None."""
        return self.records.get(step)

    def is_done(self, step: str) -> bool:
        return self.records.get(step) is not None

    def load_result(self, step: str) -> StepResult:
        d = self.records.get(step)
        return StepResult(step, d['seconds'], d['metrics'], skipped=True)

    # ------------------------------------------------------------------
    def _run(self, args: Sequence[str], distributed: bool = False) -> None:
        """Run the user-facing command ``args`` (``['train', cfg, ...]``) in
        a subprocess (:func:`~.launch.run_step`); ``distributed``: with
        ``gpus`` processes."""
        run_step(args, self.work_dir,
                 nproc=self.gpus if distributed else 1, log=self.log)

    def _seed_opts(self) -> List[str]:
        return [f'randomness.seed={self.seed}'] if self.seed is not None \
            else []

    def _data_opts(self, config: str) -> List[str]:
        """``--cfg-options`` re-pointing every dataloader that ``config``
        defines at the pipeline's ``data_root``."""
        root = self.cfg.get('data_root', None)
        if not root:
            return []
        step_cfg = Config.fromfile(resolve_config_path(config))
        keys = ['data_root']
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            if step_cfg.get(loader):
                keys.append(f'{loader}.dataset.data_root')
        return [f'{k}={root}' for k in keys]

    def _cfg_opts(self, extra: Sequence[str]) -> List[str]:
        opts = [*extra]
        return ['--cfg-options', *opts] if opts else []

    @staticmethod
    def _last_checkpoint(work_dir: str) -> str:
        """The step's last checkpoint; a copied or moved pipeline work dir
        finds its own (see :func:`resolve_last_checkpoint`)."""
        path = resolve_last_checkpoint(work_dir)
        if path is None:
            raise FileNotFoundError(f'no checkpoint in {work_dir}')
        return path

    @staticmethod
    def _read_json(path: str) -> Dict:
        with open(path) as f:
            return json.load(f)

    # ------------------------------------------------------------------
    # steps
    # ------------------------------------------------------------------
    def step_stage1(self) -> Dict:
        wd = self.path('stage1')
        args = ['train', self.cfg.stage1_config, '--work-dir', wd]
        if osp.isfile(osp.join(wd, 'last_checkpoint')):
            args.append('--resume')
        args += self._cfg_opts(self._data_opts(self.cfg.stage1_config) +
                               self._seed_opts() +
                               list(self.cfg.get('stage1_options', [])))
        self._run(args, distributed=True)
        return dict(checkpoint=self._last_checkpoint(wd))

    def _stage1_ckpt(self) -> str:
        return self._last_checkpoint(self.path('stage1'))

    def step_make_cam(self) -> Dict:
        cam = self.cfg.get('cam', {})
        args = ['make_cam', self.cfg.stage1_config,
                self._stage1_ckpt(), '--out-dir', self.path('cam'),
                '--cam-out-dir', self.path('cam_plain'),
                '--dtype', cam.get('dtype', 'float16'),
                '--num-workers', str(cam.get('num_workers', 1))]
        args += self._split_opts('split', 'train_aug')
        if cam.get('scales'):
            args += ['--scales', *map(str, cam['scales'])]
        if cam.get('amp'):
            args += ['--amp', cam['amp']]
        args += self._eval_data_opts()
        self._run(args, distributed=True)
        return {}

    def step_eval_cam(self) -> Dict:
        split = self.cfg.get('cam', {}).get('eval_split', 'train')
        sp = self._split_opts('eval_split', 'train')
        out = {}
        for name, d, mode in (('IS-CAM', 'cam', 'argmax'),
                              ('CAM', 'cam_plain', 'threshold')):
            js = self.path(d, f'eval_{split}.json')
            self._run(['eval_cam', self.cfg.stage1_config,
                       self.path(d), *sp, '--mode', mode,
                       '--out', js] + self._eval_data_opts())
            res = self._read_json(js)[mode]
            out[name] = res['mIoU']
            if mode == 'threshold':
                out['CAM bg threshold'] = res['best_threshold']
        return out

    def _split_opts(self, key: str, default: str) -> List[str]:
        split = self.cfg.get('cam', {}).get(key, default)
        return ['--split', split] if split else []

    def _eval_data_opts(self) -> List[str]:
        root = self.cfg.get('data_root', None)
        return ['--data-root', root] if root else []

    def step_cam2ir(self) -> Dict:
        crf = self.cfg.get('crf', {})
        mode = 'cam2ir' if self.use_irn else 'label'
        args = ['cam2ir', self.cfg.stage1_config, self.path('cam'),
                '--out-dir', self.path('ir_label'), '--mode', mode,
                '--num-workers', str(crf.get('num_workers', 1))]
        if self.use_irn and 'bg_scale' in crf:
            args += ['--bg-scale', str(crf['bg_scale'])]
        args += self._split_opts('split', 'train_aug')
        args += self._eval_data_opts()
        self._run(args, distributed=True)
        return {}

    def step_eval_ir(self) -> Dict:
        split = self.cfg.get('cam', {}).get('eval_split', 'train')
        js = self.path('ir_label', f'eval_{split}.json')
        self._run(['eval_seg_labels', self.cfg.stage1_config,
                   self.path('ir_label'), *self._split_opts('eval_split',
                                                            'train'),
                   '--uncertain-as', '0', '--out', js] +
                  self._eval_data_opts())
        return {'+CRF': self._read_json(js)['mIoU']}

    def _child_config(self, name: str, base: str, body: str) -> str:
        """Write ``<work_dir>/configs/<name>.py`` inheriting ``base``."""
        path = self.path('configs', f'{name}.py')
        os.makedirs(osp.dirname(path), exist_ok=True)
        text = f"_base_ = [{resolve_config_path(base)!r}]\n{body}"
        with open(path + '.tmp', 'w') as f:
            f.write(text)
        os.replace(path + '.tmp', path)
        return path

    def _backbone_from_stage1(self, name: str, base: str) -> str:
        """``base`` as it is, or, when ``<name>_init_from_stage1`` is set, a
        child of it whose backbone starts from the stage-one checkpoint's
        (the demo: no ImageNet weights offline; the reference starts IRN
        and stage two from ImageNet weights). The load is strict: every
        backbone tensor must match (``init_cfg=Pretrained``, see
        :mod:`mmseg_sipe.engine.hooks`)."""
        if not self.cfg.get(f'{name}_init_from_stage1', False):
            return base
        ckpt = self._stage1_ckpt()
        # replace the base's init_cfg (a dict or None) whole; where the base
        # has none, `_delete_` would reach the initialiser as an argument
        backbone = Config.fromfile(resolve_config_path(base)).model.backbone
        delete = '_delete_=True, ' if 'init_cfg' in backbone else ''
        return self._child_config(
            name, base,
            f'model = dict(backbone=dict(init_cfg=dict({delete}'
            'type=\'Pretrained\', '
            f'checkpoint={ckpt!r}, prefix=\'backbone.\')))\n')

    def _irn_config(self) -> str:
        """The IRN config (``irn_init_from_stage1``: backbone from stage
        one's)."""
        return self._backbone_from_stage1('irn', self.cfg.irn_config)

    def step_train_irn(self) -> Dict:
        wd = self.path('irn')
        args = ['train', self._irn_config(), '--work-dir', wd]
        if osp.isfile(osp.join(wd, 'last_checkpoint')):
            args.append('--resume')
        args += self._cfg_opts(
            self._data_opts(self.cfg.irn_config) + self._seed_opts() +
            [f"ir_label_dir={self.path('ir_label')}",
             f"train_dataloader.dataset.ir_label_dir={self.path('ir_label')}"]
            + list(self.cfg.get('irn_options', [])))
        self._run(args, distributed=True)
        return dict(checkpoint=self._last_checkpoint(wd))

    def step_make_seg_labels(self) -> Dict:
        rw = self.cfg.get('random_walk', {})
        args = ['make_seg_labels', self._irn_config(),
                self._last_checkpoint(self.path('irn')), self.path('cam'),
                '--out-dir', self.path('pseudo_label'),
                '--stage1-config', self.cfg.stage1_config]
        args += self._split_opts('split', 'train_aug')
        for k in ('beta', 'exp_times', 'radius'):
            if k in rw:
                args += [f"--{k.replace('_', '-')}", str(rw[k])]
        args += self._eval_data_opts()
        self._run(args, distributed=True)
        return {}

    def pseudo_label_dir(self) -> str:
        return self.path('pseudo_label' if self.use_irn else 'ir_label')

    def step_eval_seg_labels(self) -> Dict:
        split = self.cfg.get('cam', {}).get('eval_split', 'train')
        js = self.path(f'eval_pseudo_{split}.json')
        self._run(['eval_seg_labels', self.cfg.stage1_config,
                   self.pseudo_label_dir(),
                   *self._split_opts('eval_split', 'train'), '--out', js] +
                  self._eval_data_opts())
        key = '+IRN' if self.use_irn else 'pseudo label'
        return {key: self._read_json(js)['mIoU']}

    def _stage2_amp_opts(self) -> List[str]:
        """``--amp`` for stage two when ``stage2_amp`` is set and the device
        has fast low-precision kernels (:func:`~..utils.amp.native_amp`:
        fp16 on CUDA, bf16 on a CPU with native bf16); float32 otherwise."""
        if not self.cfg.get('stage2_amp', False):
            return []
        from ..utils.amp import native_amp
        amp = native_amp()
        if amp is None:
            self.log('[pipeline] stage2: float32 (stage2_amp is set, but this '
                     'CPU has no native bfloat16 kernels)')
            return []
        self.log(f'[pipeline] stage2: mixed precision ({amp})')
        return ['--amp', '--amp-dtype', amp]

    def step_stage2(self) -> Dict:
        wd = self.path('stage2')
        config = self._backbone_from_stage1('stage2', self.cfg.stage2_config)
        args = ['train', config, '--work-dir', wd]
        if osp.isfile(osp.join(wd, 'last_checkpoint')):
            args.append('--resume')
        args += self._stage2_amp_opts()
        args += self._cfg_opts(
            self._data_opts(self.cfg.stage2_config) + self._seed_opts() +
            [f'pseudo_label_dir={self.pseudo_label_dir()}',
             'train_dataloader.dataset.data_prefix.seg_map_path='
             f'{self.pseudo_label_dir()}'] +
            list(self.cfg.get('stage2_options', [])))
        self._run(args, distributed=True)
        return dict(checkpoint=self._last_checkpoint(wd))

    def step_test_stage2(self) -> Dict:
        wd = self.path('stage2_test')
        args = ['test', self.cfg.stage2_config,
                self._last_checkpoint(self.path('stage2')), '--work-dir', wd]
        args += self._cfg_opts(self._data_opts(self.cfg.stage2_config) +
                               list(self.cfg.get('stage2_options', [])))
        self._run(args)
        return {'stage2 val': self._latest_test_miou(wd)}

    @staticmethod
    def _latest_test_miou(wd: str) -> Optional[float]:
        files = sorted(glob.glob(osp.join(wd, '*', '*.json')))
        for path in reversed(files):
            with open(path) as f:
                for line in f:
                    try:
                        d = json.loads(line)
                    except ValueError:
                        continue
                    if 'mIoU' in d:
                        return d['mIoU']
        return None

    def step_visualize(self) -> Dict:
        out = self.path('visualization.png')
        args = ['visualize_pseudo_labels', self.cfg.stage1_config,
                *self._split_opts('eval_split', 'train'), '--num', str(self.cfg.get('vis_num', 4)),
                '--cam-dir', self.path('cam_plain'),
                '--is-cam-dir', self.path('cam'),
                '--crf-dir', self.path('ir_label'),
                '--pseudo-dir', self.pseudo_label_dir(), '--out', out]
        args += self._eval_data_opts()
        self._run(args)
        return dict(image=out)

    # ------------------------------------------------------------------
    def run(self, start: Optional[str] = None,
            stop: Optional[str] = None) -> List[StepResult]:
        """Run the steps from ``start`` to ``stop`` (default: all).

        A step in range is skipped when it finished with the same
        fingerprint, unless ``start`` is given: then it and every later step
        in range are redone.  Steps out of range are reported from their
        records when they have one.
        """
        steps = self.steps()
        for s in (start, stop):
            if s is not None and s not in steps:
                raise ValueError(f'unknown step {s!r}; steps are: '
                                 f"{', '.join(steps)}")
        i0 = steps.index(start) if start else 0
        i1 = steps.index(stop) + 1 if stop else len(steps)
        results = []
        previous_run = None
        for n, step in enumerate(steps):
            record = self.record(step)
            fp = self.records.fingerprint(step, previous_run)
            if n < i0 or n >= i1:
                if record is not None:
                    results.append(self.load_result(step))
                    if record.get('fingerprint') != fp:
                        self.log(f'[pipeline] {step}: not in range and its '
                                 'inputs changed since it ran (stale)')
                previous_run = record.get('run_id') if record else None
                continue
            if record is not None:
                if start is None and record.get('fingerprint') == fp:
                    self.log(f'[pipeline] {step}: done before with the same '
                             'inputs, skipped')
                    results.append(self.load_result(step))
                    previous_run = record.get('run_id')
                    continue
                why = ('--from ' + start if start is not None else
                       'its inputs changed')
                self.log(f'[pipeline] {step}: redone ({why})')
                self.records.clear(step)
            elif self.records.started(step) is not None:
                if self.records.started(step) != fp or start is not None:
                    self.log(f'[pipeline] {step}: an interrupted run with '
                             'other inputs: started afresh')
                    self.records.clear(step)
            self.log(f'[pipeline] ({n + 1}/{len(steps)}) {step} ...')
            self.records.start(step, fp)
            t0 = time.time()
            metrics = getattr(self, f'step_{step}')()
            dt = time.time() - t0
            run_id = self.records.finish(step, dt, metrics, fp)
            self.log(f'[pipeline] {step}: finished in {dt:.1f} s {metrics}')
            results.append(StepResult(step, dt, metrics))
            previous_run = run_id
        return results
