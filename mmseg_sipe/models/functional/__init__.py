"""SIPE's math as pure functions (see docs/functional.md)."""
from .sipe import (background_cam, flip_fuse, fuse_multiscale, gsc_loss,
                   hierarchical_feature, instance_cam, is_cam_from_features,
                   l2_normalize, max_normalize, seed_prototypes,
                   structure_seeds, structure_similarity)

__all__ = [
    'l2_normalize', 'hierarchical_feature', 'background_cam',
    'structure_similarity', 'structure_seeds', 'seed_prototypes',
    'instance_cam', 'max_normalize', 'gsc_loss', 'flip_fuse',
    'fuse_multiscale', 'is_cam_from_features'
]
