"""Edge maps of single images from a trained :class:`IRNet`."""
from typing import Optional, Tuple, Union

import numpy as np
import torch

from mmseg_sipe.utils.device import to_device
from .irnet import IRNet


def irn_edge(model: IRNet,
             img: Union[np.ndarray, torch.Tensor],
             channel_order: str = 'bgr',
             flip: Optional[bool] = None,
             pad_to: Optional[Union[int, Tuple[int, int]]] = None
             ) -> torch.Tensor:
    """IRN edge map of one raw image at stride 4 (any image size).

    The image is normalised by ``model.data_preprocessor`` (which, in the
    shipped configs, expects BGR as loaded by ``LoadImageFromFile``), then
    :meth:`IRNet.edge_map` gives ``sigmoid(e[0] / 2 + flip(e[1]) / 2)``.

    Args:
        model (IRNet): Trained model (its device is used).
        img (ndarray | Tensor): ``H x W x 3`` image, 0..255 (uint8 or float).
        channel_order (str): ``'bgr'`` (mmcv loading) or ``'rgb'``
            (PIL/imageio loading) - the order of ``img``.
        flip, pad_to: See :meth:`IRNet.edge_map` (default: ``test_cfg``).

    Returns:
        Tensor: ``[1, ceil(H / 4), ceil(W / 4)]`` edge probabilities on the
        model's device.
    """
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(
            f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    if isinstance(img, np.ndarray):
        img = torch.from_numpy(np.ascontiguousarray(img))
    if img.dim() != 3 or img.shape[-1] != 3:
        raise ValueError(f'img must be HxWx3, got shape {tuple(img.shape)}')
    device = next(model.parameters()).device
    # the image goes up in its own dtype (uint8: a quarter of the bytes),
    # without a host sync on CUDA, and is converted there (same values)
    x = to_device(img, device).permute(2, 0, 1).float()
    if channel_order == 'rgb':
        x = x.flip(0)  # the preprocessor expects the loader's BGR order
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=[x]), False)
            edge = model.edge_map(data['inputs'], flip=flip, pad_to=pad_to)
    finally:
        model.train(was_training)
    return edge[0]
