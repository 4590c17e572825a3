"""Segmentation metrics from confusion matrices: per-class IoU, mIoU, F1, overall accuracy, kappa.

Confusion matrices come from torchmetrics (``multiclass_confusion_matrix``, rows = reference,
columns = prediction, ``ignore_index`` pixels dropped); every score is derived from a matrix, so
metrics of any set of tiles are the scores of the summed per-tile matrices.

Conventions: a class with no reference and no predicted pixel has IoU and F1 undefined (NaN) and
is left out of the means (mIoU, macro F1); overall accuracy is the share of valid pixels right;
Cohen's kappa is ``(p_o - p_e) / (1 - p_e)`` (NaN when ``p_e = 1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from eoxai.errors import InputError

IGNORE_INDEX = -1


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, n_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``(K, K)`` int64 confusion matrix (rows reference, columns prediction) of label maps of any equal shape."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    if pred.shape != target.shape:
        raise InputError(f"prediction {tuple(pred.shape)} and reference {tuple(target.shape)} differ in shape")
    cm = multiclass_confusion_matrix(pred.reshape(-1).long(), target.reshape(-1).long(), num_classes=n_classes,
                                     ignore_index=ignore_index, validate_args=False)
    return cm.cpu().numpy().astype(np.int64)


def tile_confusion(pred: torch.Tensor, target: torch.Tensor, n_classes: int,
                   ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Per-tile matrices ``(B, K, K)`` for predictions and references ``(B, H, W)``."""
    return np.stack([confusion_matrix(p, t, n_classes, ignore_index) for p, t in zip(pred, target, strict=True)])


def scores(cm: np.ndarray) -> dict[str, Any]:
    """Scores of a ``(K, K)`` confusion matrix.

    Returns ``miou``, ``f1`` (macro), ``oa``, ``kappa``, ``pixels`` (floats/int) and per class
    ``iou``, ``f1_class``, ``support`` (``(K,)`` arrays, NaN where undefined).
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"confusion matrix must be (K, K), got shape {cm.shape}")
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    n = cm.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        oa = tp.sum() / n if n else np.nan
        pe = (cm.sum(axis=0) * cm.sum(axis=1)).sum() / n**2 if n else np.nan
        kappa = (oa - pe) / (1 - pe) if n and pe < 1 else np.nan
    defined = ~np.isnan(iou)
    return {
        "miou": float(iou[defined].mean()) if defined.any() else np.nan,
        "f1": float(f1[defined].mean()) if defined.any() else np.nan,
        "oa": float(oa),
        "kappa": float(kappa),
        "pixels": int(n),
        "iou": iou,
        "f1_class": f1,
        "support": cm.sum(axis=1).astype(np.int64),
    }


def summary_row(cm: np.ndarray) -> dict[str, float]:
    """The scalar scores of :func:`scores` (``miou, f1, oa, kappa, pixels``) as one table row."""
    s = scores(cm)
    return {k: s[k] for k in ("miou", "f1", "oa", "kappa", "pixels")}


def per_class_table(cm: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Per-class IoU, F1 and reference-pixel support of a ``(K, K)`` matrix, one row per class."""
    s = scores(cm)
    return pd.DataFrame({"class": list(class_names), "iou": s["iou"], "f1": s["f1_class"], "support": s["support"]})


def confusion_table(cm: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Long table ``reference, predicted, pixels, share_of_reference`` of a ``(K, K)`` matrix."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.full(cm.shape, np.nan), where=rows > 0)
    return pd.DataFrame([
        {"reference": class_names[i], "predicted": class_names[j], "pixels": int(cm[i, j]),
         "share_of_reference": float(share[i, j])}
        for i in range(cm.shape[0]) for j in range(cm.shape[1])
    ])
