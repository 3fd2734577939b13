"""A batch sampler that keeps the *total* batch fixed on any number of
processes.

mmseg's configs give ``train_dataloader.batch_size`` per process (``4xb4``:
4 GPUs x 4 images).  SIPE's recipe is a total batch of 16 whatever the
hardware, and its configs are named without a GPU count
(``configs/sipe/voc_r50.py``).  Owning that rule here -- not in a launcher
script -- gives the same total batch, iterations per epoch and schedule whether
the config is started by ``tools/dist_train.sh``, mmseg's own
``tools/train.py`` (``Runner.from_cfg``) or ``mim train``.
"""
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from torch.utils.data import BatchSampler, Sampler

from ..registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class TotalBatchSampler(BatchSampler):
    """Batches of ``batch_size / world_size`` indices of one process's
    sampler, so that all processes together take ``batch_size`` samples a
    step.

    With it, ``train_dataloader.batch_size`` is the total batch::

        train_dataloader = dict(
            batch_size=16,  # total over all processes
            batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
            sampler=dict(type='DefaultSampler', shuffle=True), ...)

    mmengine passes the dataloader's ``batch_size`` and its (per-process,
    sharded) sampler here.  On one process this is exactly torch's
    ``BatchSampler(sampler, batch_size, drop_last)``.

    Args:
        sampler (Sampler): the per-process sampler (e.g. ``DefaultSampler``).
        batch_size (int): the total batch over all processes.
        drop_last (bool): drop a last incomplete batch. Default: False.
        world_size (int, optional): number of processes; default: mmengine's
            distributed world size (1 without a process group).

    Raises:
        ValueError: ``batch_size`` is not a multiple of the number of
            processes (the message names ``train_dataloader.batch_size``).
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 drop_last: bool = False,
                 world_size: int = None) -> None:
        world = get_world_size() if world_size is None else world_size
        if batch_size <= 0 or batch_size % world:
            raise ValueError(
                f'train_dataloader.batch_size={batch_size} is the total batch '
                f'(TotalBatchSampler) and must be a positive multiple of the '
                f'number of processes ({world})')
        super().__init__(sampler, batch_size // world, drop_last)
        self.total_batch_size = batch_size
        self.world_size = world
        print_log(f'total batch {batch_size} = {world} process(es) x '
                  f'{batch_size // world} images', logger='current')
