"""Test-only hook: record the batch size of every training iteration on
every process and write them (gathered on rank 0) to a JSON file."""
import json

from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook

from mmseg_sipe.registry import HOOKS


@HOOKS.register_module()
class BatchRecorderHook(Hook):

    def __init__(self, out: str):
        self.out = out
        self.sizes = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.sizes.append(len(data_batch['inputs']))

    def after_train(self, runner) -> None:
        per_rank = all_gather_object(self.sizes) if get_world_size() > 1 \
            else [self.sizes]
        if get_rank() == 0:
            with open(self.out, 'w') as f:
                json.dump(dict(world_size=get_world_size(),
                               per_rank=per_rank), f)
