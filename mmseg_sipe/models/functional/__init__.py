"""SIPE's and SFC's math as pure functions (see docs/functional.md)."""
from .sipe import (background_cam, flip_fuse, fuse_multiscale, gsc_loss,
                   hierarchical_feature, instance_cam, is_cam_from_features,
                   l2_normalize, max_normalize, seed_prototypes,
                   structure_seeds, structure_similarity)
from .sfc import (argmax_seeds, class_balance_weights,
                  combine_localization_maps, cross_scale_consistency,
                  pixel_correlation, prototype_cam, sfc_cams,
                  shift_background, weighted_gsc_loss)

__all__ = [
    'l2_normalize', 'hierarchical_feature', 'background_cam',
    'structure_similarity', 'structure_seeds', 'seed_prototypes',
    'instance_cam', 'max_normalize', 'gsc_loss', 'flip_fuse',
    'fuse_multiscale', 'is_cam_from_features', 'pixel_correlation',
    'argmax_seeds', 'prototype_cam', 'sfc_cams', 'class_balance_weights',
    'weighted_gsc_loss', 'cross_scale_consistency', 'shift_background',
    'combine_localization_maps'
]
