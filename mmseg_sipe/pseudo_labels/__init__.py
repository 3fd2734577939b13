"""Step 3 drivers: CRF labels and random-walk pseudo labels for a split
(sharded across ranks, a process pool inside each rank, resumable)."""
from .crf_labels import crf_worker_pool, make_crf_labels
from .seg_labels import make_seg_labels

__all__ = ['crf_worker_pool', 'make_crf_labels', 'make_seg_labels']
