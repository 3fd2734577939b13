"""Test-only hook: SIGKILL the training process after a given epoch's
checkpoint is written -- a real, uncatchable kill at a deterministic point."""
import os
import signal

from mmengine.hooks import Hook

from mmseg_sipe.registry import HOOKS


@HOOKS.register_module()
class KillAfterEpochHook(Hook):
    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) saved the epoch

    def __init__(self, epoch: int):
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        # mmengine increments runner.epoch after this hook: the epoch that
        # just finished (and was saved as epoch_{n}.pth) is runner.epoch + 1
        if runner.epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
