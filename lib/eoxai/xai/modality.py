"""Modality occlusion and influence: what a fused model loses when one modality is taken away.

Follows Ekim & Schmitt's modality occluder (MODO): replace all bands of one modality, run the
model, and measure the change (a) in the segmentation quality (per-class IoU on the test split)
and (b) in the bottleneck embedding (L2 distance, :func:`eoxai.models.bottleneck`). Their paper
replaces by zeros; here four replacements, all in the z-scored input space of the fused cube
(:mod:`eoxai.fusion`):

- ``zeros``   the raw value 0 (``-band_mean / band_std`` after z-scoring): a dead sensor
- ``mean``    the training mean (0 after z-scoring): "no information", the usual baseline
- ``uniform`` i.i.d. uniform noise with the training mean and variance (``U(-sqrt 3, sqrt 3)``)
- ``normal``  i.i.d. standard normal noise (the training mean and variance)

:func:`influence_agreement` compares the occlusion-derived influence with the learned
per-modality scores of Ekim & Schmitt's influence head (rank correlation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from eoxai.errors import ExplainerInputError, MaskShapeError
from eoxai.models import bottleneck
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs, check_mask, check_modalities
from eoxai.xai.maps import band_groups, tile_columns, tile_keys

REPLACEMENTS = ("zeros", "mean", "uniform", "normal")
__all__ = ["REPLACEMENTS", "band_groups", "influence_agreement", "modality_occlusion", "occlusion_influence",
           "occlude", "replacement", "select_groups"]


def select_groups(groups: Mapping[str, Sequence[int]], names: Sequence[str] | None) -> dict[str, list[int]]:
    """The subset ``names`` of ``groups`` (all if None); :class:`~eoxai.xai.checks.ModalityError` for unknown names."""
    if names is None:
        return {k: list(v) for k, v in groups.items()}
    return {n: list(groups[n]) for n in check_modalities(names, groups)}


def replacement(
    how: str,
    shape: tuple[int, ...],
    bands: Sequence[int],
    *,
    band_mean: np.ndarray | None = None,
    band_std: np.ndarray | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Values ``(N, len(bands), H, W)`` that replace ``bands`` of a batch of ``shape`` ``(N, C, H, W)``.

    ``band_mean``/``band_std`` ``(C,)`` (raw units, the cube's training statistics) are needed for
    ``'zeros'`` only. See the module docstring for the four replacements.
    """
    n, _, h, w = shape
    size = (n, len(bands), h, w)
    if how == "mean":
        return torch.zeros(size)
    if how == "zeros":
        if band_mean is None or band_std is None:
            raise ExplainerInputError("replacement 'zeros' needs band_mean and band_std (raw zero in z-score space)")
        z = -np.asarray(band_mean, dtype=np.float64)[list(bands)] / np.asarray(band_std, dtype=np.float64)[list(bands)]
        return torch.as_tensor(z, dtype=torch.float32).view(1, -1, 1, 1).expand(size).clone()
    if how == "uniform":
        return (torch.rand(size, generator=generator) * 2 - 1) * math.sqrt(3.0)
    if how == "normal":
        return torch.randn(size, generator=generator)
    raise ExplainerInputError(f"unknown replacement {how!r}; expected one of {list(REPLACEMENTS)}")


def occlude(images: torch.Tensor, bands: Sequence[int], how: str, **kw: object) -> torch.Tensor:
    """A copy of ``images`` ``(N, C, H, W)`` with ``bands`` replaced (see :func:`replacement`)."""
    out = images.clone()
    values = replacement(how, tuple(images.shape), bands, **kw)  # type: ignore[arg-type]
    out[:, list(bands)] = values.to(images.device, images.dtype)
    return out


#: the label of unlabelled pixels in ``masks`` (the value :mod:`eoxai.tiles` writes; xai does not import it)
IGNORE_LABEL = -1


def confusion(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``(K, K)`` confusion matrix (rows: true class) of ``pred``/``target`` ``(..., H, W)``,
    :data:`IGNORE_LABEL` ignored (torchmetrics, imported here: it takes seconds to import and
    most users of this module never call it)."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    return multiclass_confusion_matrix(pred.flatten(), target.flatten(), n_classes, ignore_index=IGNORE_LABEL,
                                       validate_args=False)


def iou_from_confusion(cm: torch.Tensor) -> np.ndarray:
    """Per-class IoU ``(K,)`` from a confusion matrix; NaN where a class is neither true nor predicted."""
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.nan).cpu().numpy()


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int,
             embed: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    preds, embs = [], []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            chunk = x[i:i + batch_size]
            preds.append(model(chunk).argmax(1))
            if embed:
                embs.append(bottleneck(model, chunk).flatten(1))
    return torch.cat(preds), (torch.cat(embs) if embed else None)


def modality_occlusion(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    groups: Mapping[str, Sequence[int]],
    *,
    class_names: Sequence[str],
    replacements: Sequence[str] = REPLACEMENTS,
    band_mean: np.ndarray | None = None,
    band_std: np.ndarray | None = None,
    origins: Sequence[Sequence[Any]] | None = None,
    batch_size: int = 16,
    seed: int = 0,
    memory_mb: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Occlude each modality with each replacement; measure IoU and bottleneck-embedding change.

    ``images`` ``(N, C, H, W)`` and ``masks`` ``(N, H, W)`` (class index, -1 ignored) are the
    test tiles; ``groups`` maps modality -> band indices. Noise replacements are drawn from a
    generator seeded with ``seed`` (the same noise for every model). ``batch_size`` tiles at most
    go through the model per pass, fewer if they do not fit ``memory_mb`` (the profile's
    ``explainer_memory_mb``; None: the device's default, :mod:`eoxai.xai.budget`).

    Returns two tables:

    - split level (one row per modality x replacement x class): ``iou_clean``,
      ``iou_occluded``, ``iou_drop`` (clean - occluded; IoU pooled over all test pixels);
    - tile level (one row per tile x modality x replacement x class): the same per tile
      (NaN where the class is absent from label and prediction), plus ``miou_clean``,
      ``miou_occluded``, ``miou_drop`` (means over the classes present in the tile) and
      ``embedding_l2`` (L2 distance between the flattened bottleneck maps) and
      ``embedding_l2_relative`` (divided by the clean embedding's norm), repeated on the class rows.
    """
    check_eval_mode(model)
    check_inputs(model, images)
    check_mask(masks, images.shape[-2:], what="masks")
    if masks.shape[0] != images.shape[0]:
        raise MaskShapeError(f"{masks.shape[0]} masks for {images.shape[0]} images")
    bad = [r for r in replacements if r not in REPLACEMENTS]
    if bad:
        raise ExplainerInputError(f"unknown replacement(s) {bad}; expected some of {list(REPLACEMENTS)}")
    k = len(class_names)
    origins = list(origins) if origins is not None else [(i, 0) for i in range(len(images))]
    batch_size = budget_batch_size(model, images.shape[1:], memory_mb, cap=batch_size, dtype=images.dtype)
    clean_pred, clean_emb = _predict(model, images, batch_size, embed=True)
    clean_iou_split = iou_from_confusion(confusion(clean_pred, masks, k))
    clean_iou_tile = np.stack([iou_from_confusion(confusion(clean_pred[i], masks[i], k)) for i in range(len(images))])
    split_rows, tile_rows = [], []
    for how in replacements:
        gen = torch.Generator().manual_seed(int(seed))
        for name, bands in groups.items():
            x = occlude(images, bands, how, band_mean=band_mean, band_std=band_std, generator=gen)
            pred, emb = _predict(model, x, batch_size, embed=True)
            iou = iou_from_confusion(confusion(pred, masks, k))
            dist = (emb - clean_emb).norm(dim=1).cpu().numpy()  # type: ignore[operator]
            rel = dist / clean_emb.norm(dim=1).clamp_min(1e-12).cpu().numpy()  # type: ignore[union-attr]
            for c, cname in enumerate(class_names):
                split_rows.append({"modality": name, "replacement": how, "class": cname,
                                   "iou_clean": clean_iou_split[c], "iou_occluded": iou[c],
                                   "iou_drop": clean_iou_split[c] - iou[c]})
            for i in range(len(images)):
                tile_iou = iou_from_confusion(confusion(pred[i], masks[i], k))
                present = ~np.isnan(clean_iou_tile[i])
                m_clean = float(np.nanmean(clean_iou_tile[i])) if present.any() else np.nan
                m_occ = (float(np.nanmean(np.where(present, np.nan_to_num(tile_iou), np.nan)))
                         if present.any() else np.nan)
                for c, cname in enumerate(class_names):
                    tile_rows.append({
                        **tile_columns(origins[i]), "modality": name, "replacement": how,
                        "class": cname, "iou_clean": clean_iou_tile[i, c], "iou_occluded": tile_iou[c],
                        "iou_drop": clean_iou_tile[i, c] - tile_iou[c],
                        "miou_clean": m_clean, "miou_occluded": m_occ, "miou_drop": m_clean - m_occ,
                        "embedding_l2": float(dist[i]), "embedding_l2_relative": float(rel[i]),
                    })
    return pd.DataFrame(split_rows), pd.DataFrame(tile_rows)


def occlusion_influence(tiles: pd.DataFrame, replacement_name: str = "mean",
                        measure: str = "miou_drop") -> pd.DataFrame:
    """Per tile and modality, the occlusion-derived influence: ``measure`` under ``replacement_name``.

    ``tiles`` is the tile-level table of :func:`modality_occlusion`; returns columns
    ``tile_row, tile_col, modality, influence`` (one row per tile x modality).
    """
    sub = tiles[tiles["replacement"] == replacement_name]
    if sub.empty:
        raise ExplainerInputError(f"no rows with replacement {replacement_name!r}; have {sorted(tiles['replacement'].unique())}")
    return (sub.groupby([*tile_keys(sub), "modality"], as_index=False, dropna=False)[measure].first()
            .rename(columns={measure: "influence"}))


def influence_agreement(
    occlusion: pd.DataFrame,
    head_scores: pd.DataFrame,
    *,
    higher_score_means_less_influence: bool = True,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Rank agreement between occlusion-derived influence and an influence head's learned scores.

    ``occlusion``: ``tile_row, tile_col, modality, influence`` (:func:`occlusion_influence`);
    ``head_scores``: ``tile_row, tile_col, modality, score`` (one model seed). Ekim & Schmitt's head
    outputs, for each occluded modality, a sigmoid score that is *higher when the occluded
    modality mattered less*, so the head's influence is ``1 - score`` (set
    ``higher_score_means_less_influence=False`` for a head that scores influence directly).

    Returns the merged table (with ``head_influence``) and a dict with ``n`` (tile x modality
    pairs), Spearman's rho and Kendall's tau (pooled over pairs) with p-values, and the share of
    tiles where both name the same most influential modality.
    """
    keys = tile_keys(occlusion)
    head = head_scores[[*keys, "modality", "score"]].copy()
    head["head_influence"] = 1.0 - head["score"] if higher_score_means_less_influence else head["score"]
    merged = occlusion.merge(head, on=[*keys, "modality"], how="inner")
    unknown = sorted(set(head_scores["modality"]) - set(occlusion["modality"]))
    if unknown:
        check_modalities(unknown, sorted(set(occlusion["modality"])))
    out: dict[str, float] = {"n": float(len(merged))}
    if len(merged) >= 3 and merged["influence"].nunique() > 1 and merged["head_influence"].nunique() > 1:
        rho = stats.spearmanr(merged["influence"], merged["head_influence"])
        tau = stats.kendalltau(merged["influence"], merged["head_influence"])
        out.update(spearman=float(rho.statistic), spearman_p=float(rho.pvalue),
                   kendall=float(tau.statistic), kendall_p=float(tau.pvalue))
    else:
        out.update(spearman=np.nan, spearman_p=np.nan, kendall=np.nan, kendall_p=np.nan)
    tops = merged.groupby(keys, dropna=False).apply(
        lambda g: g.loc[g["influence"].idxmax(), "modality"] == g.loc[g["head_influence"].idxmax(), "modality"],
        include_groups=False)
    out["top_modality_agreement"] = float(tops.mean()) if len(tops) else np.nan
    return merged, out
