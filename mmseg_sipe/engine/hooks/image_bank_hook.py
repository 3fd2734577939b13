"""SFC's image bank: the latest training image of each class, re-sampled
into every batch (docs/method.md §17.5)."""
import copy
import random
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_sipe.registry import HOOKS

SHARE_MODES = ('global', 'local')
CHECKPOINT_KEY = 'sfc_image_bank'
# metainfo kept for a bank image (plain values; enough for the model and
# the data pre-processor)
_META_KEYS = ('img_path', 'img_shape', 'ori_shape', 'pad_shape',
              'scale_factor', 'flip', 'flip_direction', 'img_labels')


def _split(total: int, world: int, rank: int) -> Tuple[int, int]:
    """``[start, stop)`` of process ``rank``'s share of ``total`` items
    (the first ``total % world`` processes take one more)."""
    base, extra = divmod(total, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


@HOOKS.register_module()
class ImageBankHook(Hook):
    """Keep the latest training image of every class and append random bank
    images to each training batch (SFC's image bank re-sampling, reference
    ``train_resnet50_SFC.py``).

    Each training step, before the batch reaches the model:

    1. **update** -- for every image of the step, in batch order, every
       class in its image-level label gets the image as its bank slot (the
       last image with that class wins); a slot holds the image as packed by
       the pipeline (after crop and flip), its labels and its valid mask;
    2. **draw** -- ``num_samples`` slot indices, uniformly with replacement
       from all ``K`` slots (the reference's four ``randint(0, 19)``);
    3. **append** -- the drawn slots' images are added to the batch.  A slot
       never filled is appended as a blank sample (zero image, no labels,
       zero valid mask), as the reference's zero-initialised bank is; with
       ``skip_empty_slots=True`` only filled slots are drawn.

    The bank is updated before drawing, so a drawn image can be one of the
    step's own images, as in the reference.  The reference also shuffles the
    batch before the update; the data loader's shuffle makes that a no-op
    in distribution.

    **Several processes** (DDP).  The step's images are spread over ``N``
    processes (``TotalBatchSampler``: 16 / N each).

    * ``share='global'`` (default): every process gathers the step's images
      of all processes (rank order) and updates its bank with all of them,
      so all banks are identical and equal to the one-process bank of the
      same step; all processes draw the same ``num_samples`` indices (same
      seed, same calls) and process ``r`` appends its share of them (the
      first ``num_samples % N`` processes one more).  Every step is
      therefore ``16 + 4`` images over all processes, with the same bank
      images, as on one process.  Cost: one ``all_gather_object`` of the
      step's crops per step.
    * ``share='local'``: no communication; each process's bank holds only
      that process's own images (the latest of each class *among its
      shard*), and each process draws its share of ``num_samples`` from its
      own bank with its own seed (``seed + rank``).  The total is still
      ``16 + 4``, but banks differ between processes and are refreshed
      ``N`` times more slowly per slot.

    With ``N`` not dividing ``num_samples`` the processes' batches differ in
    size by one; DDP averages the processes' gradients, so the step is then
    not exactly the mean over all images.

    Checkpoints (``save_in_checkpoint``) carry rank 0's bank and random
    state, so a resumed run continues with the same bank (exact for
    ``'global'``; with ``'local'`` every process resumes with rank 0's
    bank).  Loading uses only tensors and plain values (``weights_only``
    safe).

    Args:
        num_samples (int): bank images per step over all processes
            (reference 4).
        num_classes (int, optional): number of slots ``K``; default: the
            model's ``num_classes``.
        share (str): ``'global'`` or ``'local'``, see above.
        skip_empty_slots (bool): draw only filled slots (default False:
            the reference draws all ``K``).
        seed (int, optional): seed of the draws; default: the runner's seed.
        save_in_checkpoint (bool): store the bank in checkpoints.
    """

    priority = 'NORMAL'

    def __init__(self,
                 num_samples: int = 4,
                 num_classes: Optional[int] = None,
                 share: str = 'global',
                 skip_empty_slots: bool = False,
                 seed: Optional[int] = None,
                 save_in_checkpoint: bool = True):
        if share not in SHARE_MODES:
            raise ValueError(f'share must be one of {SHARE_MODES}, got '
                             f'{share!r}')
        if num_samples < 0:
            raise ValueError(f'num_samples must be >= 0, got {num_samples}')
        self.num_samples = int(num_samples)
        self.num_classes = num_classes
        self.share = share
        self.skip_empty_slots = skip_empty_slots
        self.seed = seed
        self.save_in_checkpoint = save_in_checkpoint
        self.slots: List[Optional[Tuple[torch.Tensor, SegDataSample]]] = []
        self._rng: Optional[random.Random] = None
        self._restored: Optional[Dict] = None

    # ------------------------------------------------------------------
    # set-up
    # ------------------------------------------------------------------
    def setup(self, num_classes: int, seed: int, rank: int = 0) -> None:
        """Empty bank of ``num_classes`` slots and the draw generator."""
        if self.num_classes is None:
            self.num_classes = int(num_classes)
        self.slots = [None] * int(self.num_classes)
        if self.share == 'local':
            seed = seed + rank
        self._rng = random.Random(seed)

    def before_train(self, runner) -> None:
        model = runner.model
        model = getattr(model, 'module', model)
        k = self.num_classes or getattr(model, 'num_classes', None)
        if k is None:
            raise ValueError('ImageBankHook: set num_classes (the model has '
                             'no num_classes attribute)')
        seed = self.seed if self.seed is not None else (runner.seed or 0)
        rank, world = get_dist_info()
        self.setup(k, seed, rank)
        if self._restored is not None:
            self.load_state(self._restored)
            self._restored = None
        lo, hi = _split(self.num_samples, world, rank)
        print_log(
            f'ImageBankHook: {self.num_classes} class slots; each step '
            f'appends {self.num_samples} bank image(s) over {world} '
            f'process(es) ({hi - lo} on this one), share={self.share!r}',
            logger='current')

    # ------------------------------------------------------------------
    # the bank
    # ------------------------------------------------------------------
    def update(self, inputs: Sequence[torch.Tensor],
               samples: Sequence[SegDataSample]) -> None:
        """Step 1: the last image with class ``k`` becomes slot ``k``."""
        winner: Dict[int, int] = {}
        for i, ds in enumerate(samples):
            labels = np.asarray(ds.metainfo['img_labels']).reshape(-1)
            if labels.size != len(self.slots):
                raise ValueError(
                    f'ImageBankHook: image {ds.metainfo.get("img_path", i)} '
                    f'has {labels.size} labels, the bank {len(self.slots)} '
                    'slots')
            for k in np.nonzero(labels > 0)[0]:
                winner[int(k)] = i
        copies: Dict[int, Tuple[torch.Tensor, SegDataSample]] = {}
        for k, i in winner.items():
            if i not in copies:  # one copy per image, shared by its slots
                copies[i] = (inputs[i].detach().clone(),
                             self._plain_sample(samples[i]))
            self.slots[k] = copies[i]

    def draw(self, n: int) -> List[int]:
        """Step 2: ``n`` slot indices (with replacement)."""
        if self.skip_empty_slots:
            filled = [k for k, s in enumerate(self.slots) if s is not None]
            if not filled:
                return []
            return [filled[self._rng.randrange(len(filled))]
                    for _ in range(n)]
        return [self._rng.randrange(len(self.slots)) for _ in range(n)]

    def sample(self, k: int, template: Tuple[torch.Tensor, SegDataSample]
               ) -> Tuple[torch.Tensor, SegDataSample]:
        """Slot ``k`` as a fresh (image, data sample) pair; a blank sample
        shaped like ``template`` when the slot is empty."""
        slot = self.slots[k]
        if slot is not None:
            img, ds = slot[0].clone(), copy.deepcopy(slot[1])
        else:
            img = torch.zeros_like(template[0])
            ds = self._plain_sample(template[1])
            ds.set_metainfo(dict(
                img_path=f'<empty image-bank slot {k}>',
                img_labels=np.zeros(len(self.slots), np.float32)))
            ds.valid_mask = PixelData(data=torch.zeros(
                (1, ) + tuple(img.shape[-2:]), dtype=torch.uint8))
        ds.set_metainfo(dict(image_bank_slot=int(k)))
        return img, ds

    @staticmethod
    def _plain_sample(ds: SegDataSample) -> SegDataSample:
        meta = {k: copy.deepcopy(v) for k, v in ds.metainfo.items()
                if k in _META_KEYS}
        out = SegDataSample(metainfo=meta)
        if 'valid_mask' in ds:
            out.valid_mask = PixelData(
                data=ds.valid_mask.data.detach().clone())
        return out

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if data_batch is None or self._rng is None:
            return
        self.extend_batch(data_batch)

    def extend_batch(self, data_batch: dict) -> None:
        """Steps 1-3 on a collated batch ``dict(inputs=[...],
        data_samples=[...])`` (changed in place)."""
        inputs, samples = data_batch['inputs'], data_batch['data_samples']
        if len(inputs) != len(samples):
            raise ValueError('ImageBankHook: inputs and data_samples differ '
                             'in length')
        rank, world = get_dist_info()
        own = list(zip(inputs, samples))
        if self.share == 'global' and world > 1:
            gathered = all_gather_object(
                [(img.cpu(), self._plain_sample(ds)) for img, ds in own])
            step = [pair for part in gathered for pair in part]
        else:
            step = own
        if not step:
            return
        # update first, then draw (a drawn image may be one of this step's)
        self.update([p[0] for p in step], [p[1] for p in step])
        lo, hi = _split(self.num_samples, world, rank)
        if self.share == 'global':  # same draws everywhere, own share
            picks = self.draw(self.num_samples)[lo:hi]
        else:
            picks = self.draw(hi - lo)
        template = own[0] if own else step[0]
        for k in picks:
            img, ds = self.sample(k, template)
            inputs.append(img.to(template[0].device))
            samples.append(ds)

    # ------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------
    def state(self) -> Dict:
        """The bank and the draw state as tensors and plain values."""
        slots = []
        for slot in self.slots:
            if slot is None:
                slots.append(None)
                continue
            img, ds = slot
            meta = {}
            for k, v in ds.metainfo.items():
                if isinstance(v, np.ndarray):
                    v = torch.from_numpy(np.ascontiguousarray(v))
                elif isinstance(v, tuple):
                    v = list(v)
                meta[k] = v
            slots.append(dict(
                img=img.cpu(), meta=meta,
                valid_mask=ds.valid_mask.data.cpu()
                if 'valid_mask' in ds else None))
        return dict(slots=slots, rng=self._rng.getstate(),
                    share=self.share)

    def load_state(self, state: Dict) -> None:
        """Restore :meth:`state` (the number of slots must match)."""
        slots = state['slots']
        if len(slots) != len(self.slots):
            raise ValueError(f'ImageBankHook: the checkpoint bank has '
                             f'{len(slots)} slots, this run {len(self.slots)}')
        restored = []
        for s in slots:
            if s is None:
                restored.append(None)
                continue
            meta = {}
            for k, v in s['meta'].items():
                if isinstance(v, torch.Tensor):
                    v = v.numpy()
                elif isinstance(v, list) and k in ('img_shape', 'ori_shape',
                                                   'pad_shape',
                                                   'scale_factor'):
                    v = tuple(v)
                meta[k] = v
            ds = SegDataSample(metainfo=meta)
            if s.get('valid_mask') is not None:
                ds.valid_mask = PixelData(data=s['valid_mask'])
            restored.append((s['img'], ds))
        # slots filled from one image share one entry again
        self.slots = restored
        rng = state['rng']
        self._rng.setstate((rng[0], tuple(rng[1]), rng[2]))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.save_in_checkpoint and self._rng is not None:
            checkpoint[CHECKPOINT_KEY] = self.state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if CHECKPOINT_KEY in checkpoint:
            # applied in before_train, once the bank has its slots
            self._restored = checkpoint[CHECKPOINT_KEY]
