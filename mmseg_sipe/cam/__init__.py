"""Step 2: localisation maps (multi-scale + flip IS-CAM) and their files."""
from .inference import (fold_batchnorm, label_keys, multiscale_is_cam,
                        normalize_rgb)
from ..utils.cam_io import cam_path, load_cam, save_cam
from .make_cam import (dataset_items, load_classifier, make_cams, read_rgb,
                       split_dataset_cfg)

__all__ = [
    'multiscale_is_cam', 'fold_batchnorm', 'normalize_rgb', 'label_keys', 'cam_path',
    'load_cam', 'save_cam', 'make_cams', 'dataset_items', 'load_classifier',
    'read_rgb', 'split_dataset_cfg'
]
