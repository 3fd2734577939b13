"""Step 3 of SIPE: refinement of IS-CAMs into pseudo labels.

* :mod:`.crf` - dense CRF (IR labels, COCO pseudo labels, stage-two CRF);
* :mod:`.path_index` - IRN's pixel-pair paths, affinities and pair labels;
* :mod:`.random_walk` - IRN's random walk and SIPE's pseudo-label recipe;
* :mod:`.irn_data` - IRN training data (IR label dataset, transforms).
"""
from .crf import (DenseCRF, cam_to_ir_label, crf_inference_label,
                  crf_inference_labels, crf_inference_prob, crf_refine_label,
                  run_in_pool)
from .irn_data import (IRLabelCOCODataset, IRLabelDataset, IRNRandomCrop,
                       IRNRandomRescale, IRNReduceLabel)
from ..models.irn.path_index import (affinity_labels, edge_to_affinity,
                                     path_coords, search_offsets,
                                     search_paths)
from .random_walk import (affinity_to_transition, edge_to_dense_affinity,
                          propagate_to_edge, random_walk_labels)

__all__ = [
    'DenseCRF', 'cam_to_ir_label', 'crf_inference_label',
    'crf_inference_labels', 'crf_inference_prob', 'crf_refine_label',
    'run_in_pool',
    'IRLabelDataset', 'IRLabelCOCODataset', 'IRNRandomCrop',
    'IRNRandomRescale', 'IRNReduceLabel',
    'affinity_labels', 'edge_to_affinity', 'path_coords', 'search_offsets',
    'search_paths', 'affinity_to_transition', 'edge_to_dense_affinity',
    'propagate_to_edge', 'random_walk_labels'
]
