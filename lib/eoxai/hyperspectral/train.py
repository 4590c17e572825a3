"""Training and prediction for the pixel-patch classifiers, seeded and in memory.

The source paper's recipe (Linardi, Dabo & Paris, IGARSS 2025): AdamW (lr 3e-4, weight decay 1e-6),
a one-cycle schedule peaking at ``max_lr`` 0.03 (the source paper's ``lr * 100``), unweighted cross-
entropy (optionally class-balanced), 30 epochs. Patches are cut per batch from a :class:`~eoxai.hyperspectral.patches.PatchExtractor`,
so no patch tensor of the whole training set is ever held in memory. The final weights are kept
(the one-cycle schedule ends at a tiny learning rate), so validation pixels are used to select
the patch size only, never to pick an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from eoxai.errors import ClassAbsentError, InputError
from eoxai.hyperspectral.patches import PatchExtractor, Pixels


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`fit` (defaults: the source paper's)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-4
    max_lr: float = 0.03
    weight_decay: float = 1e-6
    #: ``"balanced"``: cross-entropy weights inversely proportional to the training class counts
    #: (scikit-learn's convention), so a rare class counts in the macro-F1 it is selected on; None: unweighted (the source paper)
    class_weights: str | None = None


def fit(model: nn.Module, extractor: PatchExtractor, pixels: Pixels, size: int, config: TrainConfig,
        seed: int) -> list[float]:
    """Train ``model`` on ``size x size`` patches around ``pixels``; return the mean loss per epoch.

    ``seed`` fixes the batch order and the dropout masks (independent instances differ in it and
    in their initial weights), so a cell trains the same whatever ran before it in the process
    (a split job, a recomputed cache cell). The caller's global random state is left unchanged.
    The model must be on the extractor's device; it is left in eval mode.
    """
    if len(pixels) == 0:
        raise ClassAbsentError("no training pixels")
    gen = torch.Generator().manual_seed(int(seed))
    labels = torch.as_tensor(pixels.label, dtype=torch.long, device=extractor.device)
    steps = -(-len(pixels) // config.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.max_lr, epochs=config.epochs, steps_per_epoch=steps)
    weights = class_weights(pixels.label, config.class_weights)
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(extractor.device))
    history: list[float] = []
    devices = [extractor.device] if torch.device(extractor.device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))  # dropout draws from the global generator
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(pixels), generator=gen).numpy()
            total = 0.0
            for b in range(steps):
                idx = order[b * config.batch_size:(b + 1) * config.batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                x = extractor.extract(pixels.take(idx), size)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), labels[idx])
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / len(pixels))
    model.eval()
    return history


def class_weights(labels: np.ndarray, mode: str | None) -> torch.Tensor | None:
    """Cross-entropy class weights: ``n / (K * count_k)`` for ``'balanced'``, None for ``None``."""
    if mode is None:
        return None
    if mode != "balanced":
        raise InputError(f"class_weights must be 'balanced' or None, got {mode!r}")
    counts = np.bincount(labels, minlength=int(labels.max()) + 1).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (len(counts) * np.maximum(counts, 1)), 0.0)
    return torch.as_tensor(weights, dtype=torch.float32)


@torch.no_grad()
def predict(model: nn.Module, extractor: PatchExtractor, pixels: Pixels, size: int,
            batch_size: int = 512) -> np.ndarray:
    """Class predictions ``(N,)`` int64 for ``size x size`` patches around ``pixels`` (eval mode)."""
    model.eval()
    out = []
    for b in range(0, len(pixels), batch_size):
        idx = np.arange(b, min(b + batch_size, len(pixels)))
        out.append(model(extractor.extract(pixels.take(idx), size)).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)
