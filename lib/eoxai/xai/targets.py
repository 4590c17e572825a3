"""Scalar targets for explaining segmentation models (``(B, K, H, W)`` logits -> ``(B,)``).

Attribution libraries (captum, shap) explain a scalar per sample. For segmentation the scalar
must be chosen; the seeds use:

- :func:`mean_softmax` - the spatial mean (or sum) of the softmax of class ``c``: Ebrahimi & Kumar
  (their Grad-CAM target is the sum over pixels, their occlusion/IG forward the mean).
- :func:`masked_logit` - the sum (or mean) of the logit of class ``c`` over a pixel mask: the
  pytorch-grad-cam ``SemanticSegmentationTarget`` convention (Gildenblat et al.).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from eoxai.errors import ExplainerInputError, MaskShapeError
from eoxai.xai.checks import check_mask


def mean_softmax(logits: torch.Tensor, target: int | torch.Tensor, reduce: str = "mean") -> torch.Tensor:
    """Spatial mean (``reduce='mean'``) or sum of ``softmax(logits)[:, target]``; ``(B, K, H, W)`` -> ``(B,)``.

    ``target`` is one class index or a ``(B,)`` tensor of class indices.
    """
    prob = logits.softmax(dim=1)
    chosen = _pick(prob, target)
    return chosen.mean(dim=(1, 2)) if reduce == "mean" else chosen.sum(dim=(1, 2))


def masked_logit(logits: torch.Tensor, target: int | torch.Tensor, mask: torch.Tensor | None = None,
                 reduce: str = "sum") -> torch.Tensor:
    """Sum (or mean) of ``logits[:, target]`` over ``mask`` ``(B, H, W)`` (all pixels if None); -> ``(B,)``."""
    chosen = _pick(logits, target)
    if mask is None:
        mask = torch.ones_like(chosen)
    mask = mask.to(chosen.dtype)
    total = (chosen * mask).sum(dim=(1, 2))
    return total if reduce == "sum" else total / mask.sum(dim=(1, 2)).clamp_min(1.0)


def _pick(scores: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    if scores.ndim != 4:
        raise ExplainerInputError(f"segmentation scores must be (B, K, H, W), got {tuple(scores.shape)}")
    if isinstance(target, int):
        return scores[:, target]
    idx = target.to(scores.device).long().view(-1, 1, 1, 1).expand(-1, 1, *scores.shape[2:])
    return scores.gather(1, idx)[:, 0]


class ScalarOutput(nn.Module):
    """Wrap a segmentation model so that it returns ``(B, K)``: one scalar per class.

    ``reduce(logits (B, K, H, W)) -> (B, K)``; the default is the spatial mean of the softmax,
    the source paper's forward for occlusion and Integrated Gradients. captum's ``target=c`` then picks
    class ``c``.
    """

    def __init__(self, model: nn.Module, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.model = model
        self.reduce = reduce or (lambda z: z.softmax(dim=1).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.model(x))


def predicted_regions(logits: torch.Tensor) -> torch.Tensor:
    """The pixels predicted as each class: one-hot argmax of ``logits`` ``(B, K, H, W)`` -> bool ``(B, K, H, W)``."""
    if logits.ndim != 4:
        raise ExplainerInputError(f"segmentation logits must be (B, K, H, W), got {tuple(logits.shape)}")
    k = logits.shape[1]
    return torch.nn.functional.one_hot(logits.argmax(dim=1), k).permute(0, 3, 1, 2).bool()


def region_mean(regions: torch.Tensor, kind: str = "logit") -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``reduce`` for :class:`ScalarOutput`: the mean logit (or softmax probability) of each class
    ``c`` over its own region ``regions[:, c]``; logits ``(B, K, H, W)`` -> ``(B, K)``.

    ``regions`` is a bool mask ``(K, H, W)`` shared by the whole batch (e.g. one instance expanded
    by captum's perturbations) or ``(B, K, H, W)``; typically :func:`predicted_regions` of the
    unperturbed input, so the region stays fixed while the input is perturbed. A class with an
    empty region scores 0. This is the "score of class c over its predicted pixels" target of
    pytorch-grad-cam's ``SemanticSegmentationTarget`` (Gildenblat et al.), as a mean.
    """
    if kind not in ("logit", "probability"):
        raise ExplainerInputError(f"kind must be 'logit' or 'probability', not {kind!r}")
    if regions.ndim == 3:
        regions = regions[None]
    if regions.ndim != 4:
        raise MaskShapeError(f"regions must be (K, H, W) or (B, K, H, W), got {tuple(regions.shape)}")
    weights = regions.float()
    counts = weights.sum(dim=(2, 3)).clamp_min(1.0)

    def reduce(logits: torch.Tensor) -> torch.Tensor:
        check_mask(regions, logits.shape, what="regions")
        scores = logits.softmax(dim=1) if kind == "probability" else logits
        w = weights.to(scores.device, scores.dtype)
        return (scores * w).sum(dim=(2, 3)) / counts.to(scores.device, scores.dtype)

    return reduce
