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

- :class:`SceneClassifier` - a timm backbone behind per-band normalisation, so it takes images in
  data units ``(B, C, H, W)`` and returns logits ``(B, K)``;
- :func:`fit`, :func:`predict_proba`, :func:`evaluate` - training and test metrics (torchmetrics);
- ``plot_*`` - the training figures of notebook 10; the SHAP part (predictor, maps, blur drop)
  is :mod:`eoxai.xai.scene_shap`, its figures :mod:`eoxai.xai.explanation_figures`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from matplotlib.figure import Figure
from torch import nn

from eoxai.xai.checks import check_eval_mode, check_inputs

# --------------------------------------------------------------------------------------------
# model


class SceneClassifier(nn.Module):
    """Per-band normalisation followed by a timm image classifier.

    Parameters
    ----------
    arch:
        Any ``timm.create_model`` name (``resnet18``, ``resnet50``, ``regnetx_002``, ...).
    class_names:
        The K class names, in output order.
    bands:
        The C input band names, in input order.
    mean, std:
        Per-band statistics (length C) of the training split, in data units.
    pretrained:
        Load timm's pretrained weights (ImageNet; timm adapts the first convolution to C bands).
        Random initialisation when False (quick and smoke profiles: no downloads).

    ``forward(x)``: ``x`` float ``(B, C, H, W)`` in data units -> logits ``(B, K)``.
    """

    def __init__(
        self,
        arch: str,
        class_names: Sequence[str],
        bands: Sequence[str],
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        pretrained: bool = False,
    ) -> None:
        import timm

        super().__init__()
        self.arch = arch
        self.class_names = list(class_names)
        self.bands = list(bands)
        self.in_channels = len(self.bands)
        self.net = timm.create_model(arch, pretrained=pretrained, num_classes=len(self.class_names),
                                     in_chans=self.in_channels)
        c = self.in_channels
        self.register_buffer("mean", torch.tensor(list(mean) if mean is not None else [0.0] * c).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(list(std) if std is not None else [1.0] * c).view(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def band_statistics(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation of ``images`` ``(N, C, H, W)`` (the training split)."""
    flat = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return flat.mean(1).tolist(), flat.std(1).clamp_min(1e-6).tolist()


def save_classifier(path: str | Path, model: SceneClassifier, **meta: Any) -> Path:
    """Save ``model`` with the metadata that :func:`load_classifier` needs (eoxai checkpoint format)."""
    from eoxai.checkpoint import save_checkpoint

    info = {
        "arch": f"timm:{model.arch}", "modalities": {"s2": model.in_channels}, "bands": model.bands,
        "class_names": model.class_names, "size": int(meta.pop("size", 64)), **meta,
    }
    return save_checkpoint(path, model, info)


def load_classifier(path: str | Path) -> tuple[SceneClassifier, dict[str, Any]]:
    """Rebuild a :class:`SceneClassifier` saved by :func:`save_classifier`, in eval mode."""
    from eoxai.checkpoint import CheckpointError, read_checkpoint

    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    if not str(meta.get("arch", "")).startswith("timm:"):
        raise CheckpointError(f"{path} holds a {meta.get('arch')!r} model, not a timm scene classifier")
    model = SceneClassifier(meta["arch"].removeprefix("timm:"), meta["class_names"], meta["bands"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), meta


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


def warmup_cosine(step: int, steps: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """Class probabilities (softmax) ``(N, K)`` of ``images`` ``(N, C, H, W)``, in batches, eval mode."""
    check_eval_mode(model)
    check_inputs(model, images)
    out = [torch.softmax(model(images[i:i + batch_size].to(device)), 1).cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, len(getattr(model, "class_names", [])))


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device: str | torch.device = "cpu",
    augmentation: bool = True,
) -> pd.DataFrame:
    """Train ``model`` with AdamW, a warm-up + cosine learning rate and cross-entropy; return the history.

    ``train``/``validation`` are ``(images (N, C, H, W), labels (N,))``. Batches are drawn with a
    generator seeded by ``seed``, so a rerun on the same machine repeats exactly. The model is
    left in eval mode. Returns one row per epoch: ``epoch, train_loss, train_accuracy``, and
    ``validation_loss, validation_accuracy`` when ``validation`` is given.
    """
    x, y = train
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} training images but {y.shape[0]} labels")
    gen = torch.Generator().manual_seed(int(seed))
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * math.ceil(x.shape[0] / batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(warmup_cosine, steps=steps, warmup=max(1, steps // 10)))
    loss_fn = nn.CrossEntropyLoss()
    rows = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(x.shape[0], generator=gen)
        total, correct, seen = 0.0, 0, 0
        for i in range(0, x.shape[0], batch_size):
            idx = order[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            if augmentation:
                xb = augment(xb, gen)
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
        row = {"epoch": epoch, "train_loss": total / seen, "train_accuracy": correct / seen}
        model.eval()
        if validation is not None:
            vp = predict_proba(model, validation[0], device=device)
            row["validation_loss"] = float(nn.functional.nll_loss(vp.clamp_min(1e-12).log(), validation[1]))
            row["validation_accuracy"] = float((vp.argmax(1) == validation[1]).float().mean())
        rows.append(row)
    model.eval()
    return pd.DataFrame(rows)


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


def plot_confusion(confusion: xr.DataArray, title: str | None = None) -> Figure:
    """Heat map of a ``(true, predicted)`` confusion matrix, rows normalised to recall, counts annotated."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from eoxai.plots import SEQUENTIAL

    counts = confusion.values
    recall = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.6, 6.4), constrained_layout=True)
    sns.heatmap(recall, annot=counts, fmt="d", cmap=SEQUENTIAL, vmin=0, vmax=1, square=True, ax=ax,
                xticklabels=list(confusion.predicted.values), yticklabels=list(confusion.true.values),
                cbar_kws={"label": "share of the true class (recall)"}, annot_kws={"fontsize": 7})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "confusion matrix (test split; numbers are scene counts)")
    return fig


def plot_history(history: pd.DataFrame, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch (training, and validation where present)."""
    import matplotlib.pyplot as plt

    from eoxai.plots import OKABE_ITO

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for ax, what in zip(axes, ("loss", "accuracy"), strict=True):
        for split, colour in (("train", OKABE_ITO[4]), ("validation", OKABE_ITO[0])):
            col = f"{split}_{what}"
            if col in history:
                ax.plot(history["epoch"], history[col], marker="o", color=colour, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy" if what == "loss" else "accuracy (share correct)")
        ax.legend()
    fig.suptitle(title or "training history")
    return fig


