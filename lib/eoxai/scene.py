"""Scene classification explained with SHAP: a timm classifier on EuroSAT and Partition SHAP maps.

The SHAP seed explains an AID scene classifier (30 classes, 256 x 256 RGB) with
``shap.PartitionExplainer`` (Owen values over a hierarchy of image regions; Lundberg & Lee 2017,
*A unified approach to interpreting model predictions*, NeurIPS; the Partition explainer of the
``shap`` package), an ``Image`` masker that replaces hidden regions by a blurred copy
(``blur(128,128)``) and the top-4 classes of each image. This module does the same for any
``(B, C, H, W)`` classifier, and adds one number per image that the seed lacks: the **blur drop**,
the drop of a class probability when the 10 % pixels with the highest SHAP values are blurred,
against the drop when 10 % random pixels are blurred (a deletion test in the spirit of Samek et
al. 2017, *Evaluating the visualization of what a deep neural network has learned*, IEEE TNNLS).

Pieces, each usable alone:

- :class:`~eoxai.models.scene_classifier.SceneClassifier` - a timm backbone behind per-band normalisation, so it takes images in
  data units ``(B, C, H, W)`` and returns logits ``(B, K)``;
- :func:`fit_classifier` (the training engine of :mod:`eoxai.engine`), :func:`predict_proba`,
  :func:`evaluate` - training and test metrics (torchmetrics);
- ``plot_*`` - the training figures of notebook 10; the SHAP part (predictor, maps, blur drop)
  is :mod:`eoxai.xai.scene_shap`, its figures :mod:`eoxai.xai.explanation_figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from matplotlib.figure import Figure
from torch import nn

from eoxai.engine import Amp, Task, TensorBatches, TrainConfig, fit
from eoxai.errors import InputError
from eoxai.models.scene_classifier import SceneClassifier
from eoxai.xai.checks import check_eval_mode, check_inputs

# --------------------------------------------------------------------------------------------
# model


def band_statistics(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation of ``images`` ``(N, C, H, W)`` (the training split)."""
    flat = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return flat.mean(1).tolist(), flat.std(1).clamp_min(1e-6).tolist()


def save_classifier(path: str | Path, model: SceneClassifier, **meta: Any) -> Path:
    """Save ``model`` in the eoxai checkpoint format (arch ``timm:<name>``), with ``meta``; read it back
    with :func:`eoxai.checkpoint.load_checkpoint`."""
    from eoxai.checkpoint import save_checkpoint

    info = {
        "arch": f"timm:{model.arch}", "modalities": {"s2": model.in_channels}, "bands": model.bands,
        "class_names": model.class_names, "size": int(meta.pop("size", 64)), **meta,
    }
    return save_checkpoint(path, model, info)


# --------------------------------------------------------------------------------------------
# training and evaluation


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal/vertical flips and 90-degree rotations of a batch ``(B, C, H, W)`` (square).

    Scenes seen from above have no preferred orientation, so these keep the label.
    """
    b = x.shape[0]
    flip_h = torch.rand(b, generator=generator) < 0.5
    flip_v = torch.rand(b, generator=generator) < 0.5
    rot = torch.randint(0, 4, (b,), generator=generator)
    x = torch.where(flip_h.view(b, 1, 1, 1), x.flip(-1), x)
    x = torch.where(flip_v.view(b, 1, 1, 1), x.flip(-2), x)
    out = x.clone()
    for k in (1, 2, 3):
        sel = rot == k
        if sel.any():
            out[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
    return out


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """Class probabilities (softmax) ``(N, K)`` of ``images`` ``(N, C, H, W)``, in batches, eval mode."""
    check_eval_mode(model)
    check_inputs(model, images)
    out = [torch.softmax(model(images[i:i + batch_size].to(device)), 1).cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, len(getattr(model, "class_names", [])))


def scene_config(epochs: int = 5, batch_size: int = 64, lr: float = 2e-3, weight_decay: float = 1e-4,
                 augment: bool = True) -> TrainConfig:
    """The engine's config for the scene classifier: AdamW, 10 % linear warm-up then cosine decay to 0,
    unweighted cross-entropy, no gradient clipping, the last epoch's weights (no early stopping)."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup=0.1, floor=0.0,
                       grad_clip=None, patience=0, keep="last", class_weights=None, augment=augment, bf16=False,
                       channels_last=False)


def fit_classifier(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor] | None,
    config: TrainConfig,
    seed: int,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Train ``model`` with :func:`eoxai.engine.fit` on ``train`` scenes; return the history.

    ``train``/``validation`` are ``(images (N, C, H, W), labels (N,))``; batches are flipped and
    rotated (:func:`augment`) when ``config.augment``. The model is left in eval mode. Returns one
    row per epoch: ``epoch, lr, train_loss``, and ``val_loss, val_accuracy`` when ``validation``
    is given.
    """
    x, y = train
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{x.shape[0]} training images but {y.shape[0]} labels")

    run_validation = None
    if validation is not None:
        vx, vy = validation

        def run_validation(m: nn.Module, amp: Amp) -> dict[str, float]:
            with amp():
                vp = predict_proba(m, vx, device=device)
            accuracy = float((vp.argmax(1) == vy).float().mean())
            return {"loss": float(nn.functional.nll_loss(vp.float().clamp_min(1e-12).log(), vy)),
                    "accuracy": accuracy, "score": accuracy}

    task = Task(TensorBatches(x, y, config.batch_size, augment), nn.CrossEntropyLoss(), run_validation)
    _, history, _ = fit(model, task, config, seed, device=device, progress=False)
    return history


def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
    device: str | torch.device = "cpu",
) -> tuple[dict[str, float], xr.DataArray]:
    """Test metrics and the confusion matrix of ``model`` on ``images`` ``(N, C, H, W)``.

    Returns ``({"accuracy", "balanced_accuracy", "macro_f1", "n"}, confusion)`` where ``confusion``
    is an int64 :class:`xarray.DataArray` ``(true, predicted)`` of counts labelled by class name.
    Metrics are torchmetrics' multiclass ones (micro accuracy; macro recall = balanced accuracy).
    """
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_confusion_matrix,
        multiclass_f1_score,
    )

    k = len(class_names)
    pred = predict_proba(model, images, device=device).argmax(1)
    metrics = {
        "accuracy": float(multiclass_accuracy(pred, labels, k, average="micro")),
        "balanced_accuracy": float(multiclass_accuracy(pred, labels, k, average="macro")),
        "macro_f1": float(multiclass_f1_score(pred, labels, k, average="macro")),
        "n": int(labels.shape[0]),
    }
    cm = multiclass_confusion_matrix(pred, labels, k).numpy().astype(np.int64)
    confusion = xr.DataArray(cm, dims=("true", "predicted"),
                             coords={"true": list(class_names), "predicted": list(class_names)},
                             name="count", attrs={"long_name": "number of test scenes"})
    return metrics, confusion


def confusion_summary(confusion: xr.DataArray) -> dict[str, Any]:
    """The hardest class (lowest recall) and the most frequent confusion of a ``(true, predicted)`` matrix."""
    counts = confusion.values
    names = [str(c) for c in confusion.true.values]
    recall = counts.diagonal() / np.maximum(counts.sum(1), 1)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    t, p = divmod(int(off.argmax()), len(names))
    return {"hardest_class": names[int(recall.argmin())], "hardest_recall": float(recall.min()),
            "confused_true": names[t], "confused_predicted": names[p], "confused_count": int(off[t, p])}


# --------------------------------------------------------------------------------------------
# figures


def plot_history(history: pd.DataFrame, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch (training, and validation where present)."""
    import matplotlib.pyplot as plt

    from eoxai.plots import OKABE_ITO

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for ax, what in zip(axes, ("loss", "accuracy"), strict=True):
        for split, colour in (("train", OKABE_ITO[4]), ("validation", OKABE_ITO[0])):
            col = f"{'train' if split == 'train' else 'val'}_{what}"
            if col in history:
                ax.plot(history["epoch"], history[col], marker="o", color=colour, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy" if what == "loss" else "accuracy (share correct)")
        ax.legend()
    fig.suptitle(title or "training history")
    return fig


