"""IRN's affinity + displacement loss as a pure function."""
from typing import Dict

import torch

from mmseg_sipe.utils.device import to_device
from .path_index import (affinity_labels,
                                          displacement_targets,
                                          edge_to_affinity, pair_displacement)


def affinity_displacement_loss(edge_logits: torch.Tensor,
                               disp: torch.Tensor,
                               label: torch.Tensor,
                               radius: int = 10,
                               num_classes: int = 21,
                               ignore_index: int = 255,
                               eps: float = 1e-5) -> Dict[str, torch.Tensor]:
    """IRN training loss (``train_irn.py``).

    With ``a`` the path affinities of ``sigmoid(edge_logits)`` (radius
    ``radius``, ``'valid'`` layout) and ``bg_pos / fg_pos / neg`` the pair
    labels of ``label``
    (:func:`~mmseg_sipe.models.irn.path_index.affinity_labels`):

    * ``bg_pos_aff = sum(bg_pos * -log(a + eps)) / (sum(bg_pos) + eps)``;
      ``fg_pos_aff`` likewise; ``pos_aff = bg_pos_aff / 2 + fg_pos_aff / 2``;
    * ``neg_aff = sum(neg * -log(1 + eps - a)) / (sum(neg) + eps)``;
    * with ``p = disp(src) - disp(dst)`` and ``o`` the pair offset:
      ``dp_fg = sum(fg_pos * |p - o|) / (2 sum(fg_pos) + eps)``,
      ``dp_bg = sum(bg_pos * |p|) / (2 sum(bg_pos) + eps)``;
    * total ``(pos_aff + neg_aff) / 2 + (dp_fg + dp_bg) / 2``.

    Args:
        edge_logits (Tensor): ``[N, 1, h, w]`` edge logits at stride 4.
        disp (Tensor): ``[N, 2, h, w]`` displacement field at stride 4.
        label (Tensor): ``[N, h, w]`` IR labels at stride 4 (255 uncertain).
        radius (int): Pair radius (IRN: 10).
        num_classes (int): Classes including background (VOC: 21).
        ignore_index (int): Uncertain label.

    Returns:
        dict[str, Tensor]: ``loss_aff = (pos_aff + neg_aff) / 2`` and
        ``loss_dp = (dp_fg + dp_bg) / 2`` (their sum is the IRN total), plus
        the detached parts ``bg_pos_aff``, ``fg_pos_aff``, ``neg_aff``,
        ``dp_fg``, ``dp_bg`` for logging.
    """
    if edge_logits.shape[-2:] != label.shape[-2:] or \
            disp.shape[-2:] != label.shape[-2:]:
        raise ValueError(
            f'edge {tuple(edge_logits.shape)}, displacement '
            f'{tuple(disp.shape)} and label {tuple(label.shape)} must share '
            'their spatial size')
    bg_pos, fg_pos, neg = affinity_labels(label, radius, num_classes,
                                          ignore_index)
    aff = edge_to_affinity(torch.sigmoid(edge_logits.float()), radius,
                           'valid')
    pos_term = -torch.log(aff + eps)
    neg_term = -torch.log(1.0 + eps - aff)
    bg_pos_aff = (bg_pos * pos_term).sum() / (bg_pos.sum() + eps)
    fg_pos_aff = (fg_pos * pos_term).sum() / (fg_pos.sum() + eps)
    pos_aff = bg_pos_aff / 2 + fg_pos_aff / 2
    neg_aff = (neg * neg_term).sum() / (neg.sum() + eps)

    pair = pair_displacement(disp.float(), radius)  # [N, 2, D, S]
    # host-built constant: copied without a host sync on CUDA
    target = to_device(displacement_targets(radius),
                       pair.device).to(pair.dtype)  # [1, 2, D, 1]
    n, _, d, s = pair.shape
    fg_w = fg_pos.reshape(n, 1, d, s)
    bg_w = bg_pos.reshape(n, 1, d, s)
    dp_fg = ((pair - target).abs() * fg_w).sum() / (2 * fg_pos.sum() + eps)
    dp_bg = (pair.abs() * bg_w).sum() / (2 * bg_pos.sum() + eps)
    return dict(
        loss_aff=(pos_aff + neg_aff) / 2,
        loss_dp=(dp_fg + dp_bg) / 2,
        bg_pos_aff=bg_pos_aff.detach(),
        fg_pos_aff=fg_pos_aff.detach(),
        neg_aff=neg_aff.detach(),
        dp_fg=dp_fg.detach(),
        dp_bg=dp_bg.detach())
