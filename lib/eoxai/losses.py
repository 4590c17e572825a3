"""Segmentation losses on logits, with class weights from the training split and an ignore index.

All losses take logits ``(B, K, H, W)`` and targets ``(B, H, W)`` (int64, ``ignore_index`` = no
data) and return a scalar:

- :func:`cross_entropy`: class-weighted cross-entropy (``torch.nn.functional.cross_entropy``); the
  source papers' loss (Ebrahimi & Kumar), applied to logits once (their code applied softmax twice).
- :func:`focal_loss`: softmax focal loss (Lin et al. 2017, *Focal loss for dense object
  detection*), ``-w_t (1 - p_t)^gamma log p_t``, normalised by the summed weights of the valid
  pixels, so ``gamma = 0`` is exactly the weighted cross-entropy.
- :func:`tversky_loss`: Tversky loss (Salehi et al. 2017) via smp's ``TverskyLoss``:
  per class ``1 - TP / (TP + alpha FP + beta FN)`` from softmax probabilities over the batch's
  valid pixels; classes absent from the batch's labels count 0; mean over classes (smp's
  convention).
- :func:`rift_loss`: CLAIRE's RIFT (Rare-Instance Focal-Tversky; Sutradhar et al. 2025),
  ``lam * focal + (1 - lam) * tversky``. The paper names the two terms; the weighting ``lam = 0.5``,
  ``gamma = 2``, ``alpha = 0.3``, ``beta = 0.7`` (FN penalised more: rare classes) are our choices.

:func:`build_loss` returns one of them by name with its parameters bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from eoxai.errors import ClassAbsentError, InputError

IGNORE_INDEX = -1
LOSSES = ("ce", "focal", "tversky", "rift")

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def class_weights(
    counts: np.ndarray | torch.Tensor,
    max_weight: float | None = 10.0,
) -> torch.Tensor:
    """Inverse-frequency class weights ``(K,)`` from per-class pixel counts ``(K,)`` of the training split.

    ``w_c = N / (K' n_c)`` (``K'`` classes present, ``N`` their pixels): a balanced split gives all
    ones (scikit-learn's ``class_weight="balanced"`` when every class is present). Weights are clipped
    to ``max_weight`` (a class of a few pixels would otherwise dominate; None: no clipping); absent
    classes get 0. The one class weighting of the compendium: segmentation tiles, scenes and
    hyperspectral patches all train with it (:class:`eoxai.engine.TrainConfig` ``class_weights``).
    """
    counts = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise InputError(f"counts must be a (K,) vector of non-negative pixel counts, got {counts.tolist()}")
    present = counts > 0
    if not present.any():
        raise ClassAbsentError("no labelled pixel in the training split: cannot derive class weights")
    w = torch.zeros_like(counts)
    w[present] = counts[present].sum() / (present.sum() * counts[present])
    return (w if max_weight is None else w.clamp(max=max_weight)).float()


def _weight(weight: torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor | None:
    return None if weight is None else weight.to(device=logits.device, dtype=logits.dtype)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                  ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Class-weighted cross-entropy on logits ``(B, K, H, W)`` vs targets ``(B, H, W)`` (0 if no pixel is valid)."""
    if not (target != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, weight=_weight(weight, logits), ignore_index=ignore_index)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
               gamma: float = 2.0, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Weighted softmax focal loss; ``(B, K, H, W)`` logits, ``(B, H, W)`` targets -> scalar.

    ``sum_i w_{t_i} (1 - p_{t_i})^gamma (-log p_{t_i}) / sum_i w_{t_i}`` over valid pixels ``i``.
    Returns 0 (with gradient) when no pixel is valid.
    """
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    logp = F.log_softmax(logits.float(), dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(logp.dtype)
    if weight is not None:
        w = w * weight.to(logp.device, logp.dtype)[safe]
    loss = -w * (1.0 - logp.exp()).pow(gamma) * logp
    return loss.sum() / w.sum().clamp_min(torch.finfo(logp.dtype).tiny)


def tversky_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.3, beta: float = 0.7,
                 ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Multiclass Tversky loss (smp ``TverskyLoss``); ``alpha`` weighs false positives, ``beta`` false negatives."""
    from segmentation_models_pytorch.losses import TverskyLoss

    return TverskyLoss("multiclass", from_logits=True, ignore_index=ignore_index, alpha=alpha, beta=beta)(
        logits.float(), target)


def rift_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None, lam: float = 0.5,
              gamma: float = 2.0, alpha: float = 0.3, beta: float = 0.7,
              ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """RIFT = ``lam * weighted focal + (1 - lam) * Tversky`` (CLAIRE); see the module docstring."""
    return (lam * focal_loss(logits, target, weight, gamma=gamma, ignore_index=ignore_index)
            + (1.0 - lam) * tversky_loss(logits, target, alpha=alpha, beta=beta, ignore_index=ignore_index))


def build_loss(name: str, weight: torch.Tensor | None = None, params: Mapping[str, Any] | None = None,
               ignore_index: int = IGNORE_INDEX) -> LossFn:
    """Loss ``name`` (one of :data:`LOSSES`) with class ``weight`` and ``params`` bound: ``fn(logits, target)``."""
    params = dict(params or {})
    fns: dict[str, Callable[..., torch.Tensor]] = {"ce": cross_entropy, "focal": focal_loss, "rift": rift_loss}
    if name == "tversky":
        return partial(tversky_loss, ignore_index=ignore_index, **params)
    if name not in fns:
        raise InputError(f"unknown loss {name!r}; known: {list(LOSSES)}")
    return partial(fns[name], weight=weight, ignore_index=ignore_index, **params)
