"""Checkpoint hooks: atomic saves, resumable copied work dirs, strict loads."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mmseg_sipe.registry import HOOKS
from mmseg_sipe.utils.checkpoint import (ATOMIC_BACKEND,
                                         CheckpointMismatchError,
                                         check_checkpoint_fits, rank0_reports,
                                         resolve_last_checkpoint)
from mmseg_sipe.utils.fileio import remove_stale_temps


def _is_local(path) -> bool:
    return path is not None and '://' not in str(path)


@HOOKS.register_module()
class SIPECheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments), plus:

    * on a local disk every checkpoint is written atomically (a temporary
      file in the same directory, fsync, rename): a full disk or a killed
      process never leaves a truncated ``epoch_N.pth``, the previous
      checkpoint stays intact and the error names the file;
    * ``--resume`` in a copied or moved work dir resumes that work dir's own
      checkpoint (``last_checkpoint`` holds the original absolute path; see
      :func:`~mmseg_sipe.utils.checkpoint.resolve_last_checkpoint`), and a
      resumed copy never removes the original run's files.

    ``tools/train.py`` uses it in place of ``CheckpointHook``; in a config:
    ``default_hooks = dict(checkpoint=dict(type='SIPECheckpointHook', ...))``.
    """

    def before_run(self, runner) -> None:
        if getattr(runner, '_resume', False) and \
                getattr(runner, '_load_from', None) is None:
            path = resolve_last_checkpoint(runner.work_dir)
            if path is not None:
                runner._load_from = path

    def before_train(self, runner) -> None:
        if (self.backend_args is None and self.file_client_args is None
                and _is_local(self.out_dir or runner.work_dir)):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        if _is_local(self.out_dir) and is_main_process():
            removed = remove_stale_temps(self.out_dir)
            if removed:
                print_log(f'removed unfinished checkpoint writes of an '
                          f'earlier run: {", ".join(removed)}',
                          logger='current')
        # resumed from a copy: best-checkpoint paths of the original run
        # must not be removed when a better one is saved here
        if self.save_best is not None and _is_local(self.out_dir):
            if hasattr(self, 'best_ckpt_path') and self.best_ckpt_path:
                self.best_ckpt_path = self._here(self.best_ckpt_path)
            for k, v in list(getattr(self, 'best_ckpt_path_dict',
                                     {}).items()):
                if v:
                    self.best_ckpt_path_dict[k] = self._here(v)

    def _here(self, path: str) -> str:
        if osp.dirname(osp.abspath(path)) == osp.abspath(self.out_dir):
            return path
        return osp.join(self.out_dir, osp.basename(path))


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Refuse a checkpoint (``load_from``) whose keys or shapes differ from
    the model: one line with the counts and the first keys, instead of
    mmengine's warning and a randomly initialised model being evaluated.
    ``tools/test.py`` adds it."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        try:
            check_checkpoint_fits(runner.model, checkpoint, str(source))
        except CheckpointMismatchError as exc:
            raise rank0_reports(exc) from None
