"""Training and prediction for the pixel-patch classifiers, on the engine of :mod:`eoxai.engine`.

The source paper's recipe (Linardi, Dabo & Paris, IGARSS 2025): AdamW (weight decay 1e-6), a one-cycle
schedule peaking at ``max_lr`` 0.03, unweighted cross-entropy (optionally class-balanced), 30
epochs. Here the one schedule of the compendium replaces the one-cycle one: a linear warm-up over
the first ``warmup`` (0.3, the one-cycle ``pct_start``) of the steps up to ``lr`` (the source paper's peak),
then cosine decay to ``floor * lr``. Patches are cut per batch from a
:class:`~eoxai.hyperspectral.patches.PatchExtractor`, so no patch tensor of the whole training set
is ever held in memory. The final weights are kept (``keep="last"``), so validation pixels are
used to select the patch size only, never to pick an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eoxai.engine import Task, TrainConfig, fit
from eoxai.errors import ClassAbsentError
from eoxai.hyperspectral.patches import PatchExtractor, Pixels
from eoxai.losses import class_weights

#: the patch models' training defaults (the seed's recipe on the engine; a profile's ``train`` overrides them)
PATCH_DEFAULTS: dict[str, Any] = {"epochs": 30, "batch_size": 64, "lr": 0.03, "weight_decay": 1e-6, "warmup": 0.3,
                                  "floor": 1e-4, "grad_clip": None, "patience": 0, "keep": "last",
                                  "class_weights": None, "max_class_weight": None, "augment": False, "bf16": False,
                                  "channels_last": False}


def patch_config(values: Mapping[str, Any] | None = None) -> TrainConfig:
    """The engine's :class:`~eoxai.engine.TrainConfig` for a patch model:
    :data:`PATCH_DEFAULTS`, updated by ``values``."""
    return TrainConfig.from_mapping({**PATCH_DEFAULTS, **dict(values or {})})


@dataclass
class PatchBatches:
    """Batches of ``size x size`` patches ``(B, C, size, size)`` around shuffled training pixels, labels ``(B,)``.

    Batches of fewer than two pixels are skipped (batch norm needs two samples).
    """

    extractor: PatchExtractor
    pixels: Pixels
    size: int
    batch_size: int

    def __len__(self) -> int:
        return -(-len(self.pixels) // self.batch_size)

    def epoch(self, generator: torch.Generator, augment: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        labels = torch.as_tensor(self.pixels.label, dtype=torch.long, device=self.extractor.device)
        order = torch.randperm(len(self.pixels), generator=generator).numpy()
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if len(idx) >= 2:
                yield self.extractor.extract(self.pixels.take(idx), self.size), labels[idx]


def fit_patches(model: nn.Module, extractor: PatchExtractor, pixels: Pixels, size: int, config: TrainConfig,
                seed: int) -> list[float]:
    """Train ``model`` on ``size x size`` patches around ``pixels`` with :func:`eoxai.engine.fit`; return the
    mean training loss per epoch.

    ``seed`` fixes the batch order and the dropout masks of every epoch (independent instances
    differ in it and in their initial weights), so a cell trains the same whatever ran before it in
    the process (a split job, a recomputed cache cell). The caller's global random state is left
    unchanged. The model must be on the extractor's device; it is left in eval mode.
    """
    if len(pixels) == 0:
        raise ClassAbsentError("no training pixels")
    weights = None
    if config.class_weights == "balanced":
        counts = np.bincount(pixels.label, minlength=int(pixels.label.max()) + 1)
        weights = class_weights(counts, config.max_class_weight).to(extractor.device)
    task = Task(PatchBatches(extractor, pixels, size, config.batch_size), nn.CrossEntropyLoss(weight=weights))
    devices = [extractor.device] if torch.device(extractor.device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        _, history, _ = fit(model, task, config, seed, device=torch.device(extractor.device), progress=False)
    return [float(v) for v in history["train_loss"]]


def save_patch_model(path: str | Path, model: nn.Module, name: str, patch_size: int, bands: Sequence[str],
                     class_names: Sequence[str], model_args: Mapping[str, Any] | None = None,
                     **meta: Any) -> Path:
    """Save a patch model in the eoxai checkpoint format (arch ``patch:<name>``); read it back with
    :func:`eoxai.checkpoint.load_checkpoint`. ``model_args``: the constructor options it was built with."""
    from eoxai.checkpoint import save_checkpoint

    info = {"arch": f"patch:{name}", "modalities": {"hsi": len(bands)}, "bands": list(bands),
            "class_names": list(class_names), "size": int(patch_size), "model_args": dict(model_args or {}), **meta}
    return save_checkpoint(path, model, info)


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
