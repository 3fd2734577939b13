"""What each pipeline step was run with, and whether it must run again.

``<work_dir>/steps/<step>.json`` records a finished step: metrics, wall time,
a run id and the fingerprint of its inputs; ``<step>.started.json`` marks a
step that started and has not finished (killed, or failed).  See
:mod:`mmseg_sipe.pipeline.runner` for how the runner uses them.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import uuid
from typing import Callable, Dict, Optional

from mmengine.config import Config

# what each step reads from the pipeline config (besides data_root and seed)
STEP_SETTINGS = {
    'stage1': ('stage1_config', 'stage1_options'),
    'make_cam': ('stage1_config', 'cam'),
    'eval_cam': ('stage1_config', 'cam'),
    'cam2ir': ('stage1_config', 'cam', 'crf', 'use_irn'),
    'eval_ir': ('stage1_config', 'cam'),
    'train_irn': ('irn_config', 'irn_options', 'irn_init_from_stage1'),
    'make_seg_labels': ('irn_config', 'stage1_config', 'cam', 'random_walk'),
    'eval_seg_labels': ('stage1_config', 'cam', 'use_irn'),
    'stage2': ('stage2_config', 'stage2_options', 'stage2_amp', 'use_irn',
               'stage2_init_from_stage1'),
    'test_stage2': ('stage2_config', 'stage2_options'),
    'visualize': ('stage1_config', 'cam', 'vis_num'),
}
# what each step writes under the work dir (removed before a redo)
STEP_OUTPUTS = {
    'stage1': ('stage1', ),
    'make_cam': ('cam', 'cam_plain'),
    'cam2ir': ('ir_label', ),
    'train_irn': ('irn', ),
    'make_seg_labels': ('pseudo_label', ),
    'stage2': ('stage2', ),
    'test_stage2': ('stage2_test', ),
    'visualize': ('visualization.png', ),
}


class StepRecords:
    """The records of one pipeline work dir.

    Args:
        cfg (Config): the pipeline config (step config paths resolved).
        work_dir (str): the pipeline's work dir.
        seed (int, optional): the training seed of this run.
        log (callable): progress printer.
    """

    def __init__(self, cfg: Config, work_dir: str, seed: Optional[int],
                 log: Callable[[str], None] = print):
        self.cfg = cfg
        self.work_dir = work_dir
        self.seed = seed
        self.log = log
        os.makedirs(self.path('steps'), exist_ok=True)
        self._config_texts: Dict[str, str] = {}
        self._dataset = self._dataset_fingerprint()

    def path(self, *parts) -> str:
        return osp.join(self.work_dir, *parts)

    def _marker(self, step: str) -> str:
        return self.path('steps', f'{step}.json')

    def _started(self, step: str) -> str:
        return self.path('steps', f'{step}.started.json')

    def get(self, step: str) -> Optional[Dict]:
        """The finished step's record, or None."""
        if not osp.isfile(self._marker(step)):
            return None
        with open(self._marker(step)) as f:
            return json.load(f)

    def _write_json(self, path: str, data: Dict) -> None:
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)

    def start(self, step: str, fingerprint: str) -> None:
        """Mark ``step`` as started with ``fingerprint``."""
        self._write_json(self._started(step), dict(fingerprint=fingerprint))

    def started(self, step: str) -> Optional[str]:
        """The fingerprint of an unfinished start of ``step``, or None."""
        if not osp.isfile(self._started(step)):
            return None
        with open(self._started(step)) as f:
            return json.load(f).get('fingerprint')

    def finish(self, step: str, seconds: float, metrics: Dict,
               fingerprint: str) -> str:
        """Record a finished step; returns its new run id."""
        run_id = uuid.uuid4().hex
        self._write_json(self._marker(step), dict(
            step=step, seconds=seconds, metrics=metrics,
            fingerprint=fingerprint, run_id=run_id))
        if osp.exists(self._started(step)):
            os.remove(self._started(step))
        return run_id

    def _dataset_fingerprint(self) -> Optional[str]:
        """Split files (names, sizes, contents) and the number of entries of
        each top-level folder of the pipeline's data root."""
        root = self.cfg.get('data_root', None)
        if not root or not osp.isdir(root):
            return None
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(
                osp.join(root, 'ImageSets')):
            dirnames.sort()
            for name in sorted(filenames):
                path = osp.join(dirpath, name)
                h.update(osp.relpath(path, root).encode())
                with open(path, 'rb') as f:
                    h.update(hashlib.sha256(f.read()).digest())
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            if entry.is_dir():
                h.update(f'{entry.name}:{len(os.listdir(entry.path))}'.encode())
        return h.hexdigest()

    def _config_text(self, path: str) -> str:
        if path not in self._config_texts:
            self._config_texts[path] = Config.fromfile(path).pretty_text
        return self._config_texts[path]

    def fingerprint(self, step: str, previous_run: Optional[str]) -> str:
        """Hash of everything ``step`` is run with (see the module doc)."""
        settings = {}
        for key in STEP_SETTINGS.get(step, ()):
            value = self.cfg.get(key, None)
            if key.endswith('_config') and value:
                value = hashlib.sha256(
                    self._config_text(value).encode()).hexdigest()
            elif hasattr(value, 'to_dict'):
                value = value.to_dict()
            settings[key] = value
        data = dict(
            step=step, settings=settings, seed=self.seed,
            data_root=osp.abspath(self.cfg.data_root)
            if self.cfg.get('data_root', None) else None,
            dataset=self._dataset, previous_run=previous_run)
        return hashlib.sha256(
            json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def clear(self, step: str) -> None:
        """Remove a step's record and outputs before it runs afresh."""
        for path in (self._marker(step), self._started(step)):
            if osp.exists(path):
                os.remove(path)
        removed = []
        for name in STEP_OUTPUTS.get(step, ()):
            path = self.path(name)
            if osp.isdir(path):
                shutil.rmtree(path)
                removed.append(path)
            elif osp.exists(path):
                os.remove(path)
                removed.append(path)
        if removed:
            self.log(f'[pipeline] {step}: removed previous outputs '
                     f"{', '.join(removed)}")
