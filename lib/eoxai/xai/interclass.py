"""Interclass-Grad-CAM: in which predicted class regions does the evidence for class ``c`` lie?

Ebrahimi & Kumar (IEEE JSTARS 18, 2025, "What helps to detect what?") compute, for each image and
each class ``c`` present in its label or prediction, the Grad-CAM of ``c`` and count the pixels
whose CAM is > 0 (and < 0) inside each predicted class region ``k``; they sum the counts over
images, normalise each vector by its own maximum and plot positive, negative and net bars per
class. :func:`sign_counts` + :func:`seed_normalise` reproduce that faithfully.

Counting signs throws the magnitude away: a pixel with a CAM of 1e-9 counts as much as one with
the largest evidence. :func:`magnitude_shares` is the magnitude version: the share of the
positive (and negative) CAM *mass* of class ``c`` that falls in each predicted region ``k``, so
each row sums to 1. :func:`compare_variants` puts both on the same footing (row shares) and
says where they disagree.

Every matrix is an :class:`xarray.DataArray` with dims ``(target, region)``, both labelled by
class name: ``target`` is the explained class ``c``, ``region`` the predicted class ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr


def _np(a: torch.Tensor | np.ndarray) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _matrix(values: np.ndarray, class_names: Sequence[str], name: str, **attrs: object) -> xr.DataArray:
    names = [str(c) for c in class_names]
    return xr.DataArray(values, dims=("target", "region"), coords={"target": names, "region": names},
                        name=name, attrs=dict(attrs))


def _prepare(cams: torch.Tensor | np.ndarray, pred: torch.Tensor | np.ndarray, class_names: Sequence[str],
             valid: torch.Tensor | np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays ``(N, K, H, W)``, ``(N, H, W)``, bool ``(N, H, W)`` (all True if None), shapes checked."""
    cams, pred = _np(cams), _np(pred)
    k = len(class_names)
    if cams.ndim != 4 or cams.shape[1] != k:
        raise ValueError(f"cams must be (N, K={k}, H, W) for all classes, got {cams.shape}")
    if pred.shape != (cams.shape[0], *cams.shape[2:]):
        raise ValueError(f"predictions {pred.shape} do not match the maps' (N, H, W) {(cams.shape[0], *cams.shape[2:])}")
    valid = np.ones(pred.shape, bool) if valid is None else _np(valid).astype(bool)
    return cams, pred, valid


def sign_counts(
    cams: torch.Tensor | np.ndarray,
    pred: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    label: torch.Tensor | np.ndarray | None = None,
    valid: torch.Tensor | np.ndarray | None = None,
) -> xr.Dataset:
    """The seed's Interclass-Grad-CAM counts, summed over images.

    cams ``(N, K, H, W)`` Grad-CAM of every class at input resolution; pred ``(N, H, W)``
    predicted class; label ``(N, H, W)`` reference classes (< 0 ignored) or None; valid
    ``(N, H, W)`` bool, the pixels to count (default all).

    Per image only classes present in the label or the prediction (within ``valid``) are
    explained and counted as regions, as in the seed. Returns a Dataset with ``positive`` and
    ``negative`` pixel counts ``(target, region)`` and ``images`` ``(target,)``: the number of
    images in which each class was explained.
    """
    cams, pred, valid = _prepare(cams, pred, class_names, valid)
    k = len(class_names)
    lab = None if label is None else _np(label)
    pos = np.zeros((k, k), np.int64)
    neg = np.zeros((k, k), np.int64)
    images = np.zeros(k, np.int64)
    for i in range(cams.shape[0]):
        v = valid[i]
        present = set(np.unique(pred[i][v]).tolist())
        if lab is not None:
            present |= set(np.unique(lab[i][v & (lab[i] >= 0)]).tolist())
        present = sorted(c for c in present if 0 <= c < k)
        for c in present:
            images[c] += 1
            for r in present:
                region = v & (pred[i] == r)
                pos[c, r] += int(np.count_nonzero(cams[i, c][region] > 0))
                neg[c, r] += int(np.count_nonzero(cams[i, c][region] < 0))
    ds = xr.Dataset({"positive": _matrix(pos, class_names, "positive"),
                     "negative": _matrix(neg, class_names, "negative")})
    ds["images"] = xr.DataArray(images, dims="target", coords={"target": ds.target.values})
    ds.attrs["method"] = "Interclass-Grad-CAM sign counts (Ebrahimi & Kumar 2025)"
    return ds


def seed_normalise(counts: xr.Dataset) -> xr.Dataset:
    """Each target's positive and negative count vectors divided by their own maximum; ``net = pos - neg``.

    The seed's bar-plot quantities: ``positive`` and ``negative`` in [0, 1] (negative is shown to
    the left), ``net`` in [-1, 1]. Rows with no counts stay 0.
    """
    def norm(da: xr.DataArray) -> xr.DataArray:
        peak = da.max("region")
        return (da / peak.where(peak > 0)).fillna(0.0)

    pos, neg = norm(counts["positive"]), norm(counts["negative"])
    return xr.Dataset({"positive": pos, "negative": neg, "net": pos - neg}, attrs=counts.attrs)


def magnitude_shares(
    cams: torch.Tensor | np.ndarray,
    pred: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    valid: torch.Tensor | np.ndarray | None = None,
) -> xr.Dataset:
    """Share of the positive (and negative) CAM mass of each target class per predicted region.

    ``positive[c, k] = sum_{pixels predicted k} max(CAM_c, 0) / sum_{all pixels} max(CAM_c, 0)``,
    summed over the ``N`` images before dividing (images with larger maps weigh more);
    ``negative`` likewise with ``max(-CAM_c, 0)``. Rows sum to 1 (0 where a class has no mass).
    Shapes as :func:`sign_counts`. Also returns the raw masses ``positive_mass``/``negative_mass``.
    """
    cams, pred, valid = _prepare(cams, pred, class_names, valid)
    cams = cams.astype(np.float64)
    k = len(class_names)
    onehot = np.stack([(pred == r) & valid for r in range(k)], axis=1).astype(np.float64)  # (N, K, H, W)
    pos_mass = np.einsum("nchw,nrhw->cr", np.clip(cams, 0, None), onehot)
    neg_mass = np.einsum("nchw,nrhw->cr", np.clip(-cams, 0, None), onehot)

    pos, neg = _matrix(pos_mass, class_names, "positive_mass"), _matrix(neg_mass, class_names, "negative_mass")
    return xr.Dataset({
        "positive": row_shares(pos).rename("positive"), "negative": row_shares(neg).rename("negative"),
        "positive_mass": pos, "negative_mass": neg,
    }, attrs={"method": "Interclass-Grad-CAM magnitude shares"})


def sign_matches_prediction(
    cams: torch.Tensor | np.ndarray,
    pred: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    valid: torch.Tensor | np.ndarray | None = None,
) -> pd.Series:
    """Per class ``c``: the share of pixels where ``CAM_c > 0`` exactly where ``c`` is predicted.

    1.0 means the sign of the map only restates the prediction (as happens at the logits layer
    of a two-class model with the softmax-sum target, where ``CAM_c`` is proportional to
    ``z_c - z_other``), so sign counts cannot show evidence across regions.
    """
    cams, pred, valid = _prepare(cams, pred, class_names, valid)
    share = [float(((cams[:, c] > 0) == (pred == c))[valid].mean()) for c in range(len(class_names))]
    return pd.Series(share, index=[str(c) for c in class_names], name="sign_matches_prediction")


def row_shares(matrix: xr.DataArray) -> xr.DataArray:
    """Each target's row divided by its sum over regions (0 where the row is empty)."""
    m = matrix.astype(float)
    total = m.sum("region")
    return (m / total.where(total > 0)).fillna(0.0)


def compare_variants(counts: xr.Dataset, shares: xr.Dataset) -> pd.DataFrame:
    """Sign-count and magnitude variants side by side, one row per ``(target, region)``.

    Both positive-evidence matrices as row shares (``count_share`` = positive pixels of ``c`` in
    region ``k`` / all positive pixels of ``c``; ``mass_share`` from :func:`magnitude_shares`),
    their difference, each cell's rank within its row under each variant, and whether the two
    variants name a different top region for the target; ``images``: in how many images the
    target was explained (present in label or prediction).
    """
    pos = counts["positive"]
    count_share = row_shares(pos)
    df = pd.DataFrame({
        "target": np.repeat(pos.target.values, pos.sizes["region"]),
        "region": np.tile(pos.region.values, pos.sizes["target"]),
        "count_share": count_share.values.ravel(),
        "mass_share": shares["positive"].sel(target=pos.target, region=pos.region).values.ravel(),
    })
    df["difference"] = df["mass_share"] - df["count_share"]
    df["count_rank"] = df.groupby("target")["count_share"].rank(ascending=False, method="min").astype(int)
    df["mass_rank"] = df.groupby("target")["mass_share"].rank(ascending=False, method="min").astype(int)
    top_c = df.loc[df.groupby("target")["count_share"].idxmax(), ["target", "region"]].set_index("target")["region"]
    top_m = df.loc[df.groupby("target")["mass_share"].idxmax(), ["target", "region"]].set_index("target")["region"]
    df["top_region_differs"] = df["target"].map(top_c != top_m)
    if "images" in counts:
        df["images"] = df["target"].map(counts["images"].to_series())
    return df


def to_long(ds: xr.Dataset, variant: str) -> pd.DataFrame:
    """A ``(target, region)`` Dataset -> tidy table ``variant, target, region, <one column per variable>``."""
    df = ds.drop_vars([v for v in ds.data_vars if ds[v].dims != ("target", "region")]).to_dataframe().reset_index()
    df.insert(0, "variant", variant)
    return df


def to_matrix(table: pd.DataFrame, value: str) -> pd.DataFrame:
    """Tidy table (``stack, layer, target, region, value``) -> one K x K matrix per (stack, layer).

    Rows: ``stack, layer, target`` (the explained class); columns: the predicted regions, in the
    order they first appear. Stacks with other classes leave the columns they lack empty.
    """
    keys = [k for k in ("stack", "layer") if k in table.columns]
    regions = list(dict.fromkeys(table["region"]))
    wide = table.pivot_table(index=[*keys, "target"], columns="region", values=value, sort=False)
    return wide.reindex(columns=regions).reset_index().rename_axis(columns=None)
