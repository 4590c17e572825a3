"""Explanation metrics over band-attribution distributions, and bootstrap intervals.

An attribution vector ``a`` over C bands (non-negative) is read as a distribution ``p = a / sum(a)``.
Jensen-Shannon quantities use base 2, so they lie in [0, 1] (Lin 1991, *Divergence measures based
on the Shannon entropy*, IEEE Trans. Inf. Theory 37(1)); entropies use base 2 as well.

- :func:`uniformity` = 1 - JS *distance* (square root of the divergence) between ``p`` and the
  uniform distribution: how close one explanation is to a flat spectrum (1 for a uniform spread;
  a one-hot ``p`` over 4 bands gives 0.26, over 224 bands 0.01). This is the source paper's
  "consistency" (its ``compute_js_divergence``; holisticai's ``spread_divergence``; Linardi, Dabo
  & Paris, IGARSS 2025). Its docstring there and an earlier version here read it as
  "concentration"; it measures the opposite.
- :func:`concentration` = 1 - H(p) / log2(C), one minus the normalised Shannon entropy: how few
  bands one explanation uses (0 for a uniform spread, 1 for all weight on one band; equal weight
  on k bands gives 1 - log2(k) / log2(C)).
- :func:`pairwise_js_divergence` = mean JS *divergence* between the distributions that
  independently trained instances give the same pixel: **cross-instance consistency**, the
  quantity the source paper's README describes (lower = more consistent).

Divergences are computed here rather than with :func:`scipy.spatial.distance.jensenshannon`,
whose square root of a round-off of about -1e-17 returns NaN for identical or near-uniform
distributions (which :func:`class_balanced_mean` would then drop: exactly the most consistent
pixels). Divergences are clipped at 0 before any square root, so identical distributions give
exactly 0.

Intervals are percentile bootstraps over pixels (Efron & Tibshirani 1993) with
:func:`scipy.stats.bootstrap`; every resample draws new pixels (the source paper's loop resampled indices
but then scored the original pixels, so its 250 "bootstrap" values were one value repeated).
Aggregates are class-balanced: the mean over classes of the per-class means, as the source paper averaged
per class.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import combinations

import numpy as np
from scipy.special import entr, rel_entr
from scipy.stats import bootstrap

from eoxai.errors import BandCountError, InputError


def to_distribution(attributions: np.ndarray) -> np.ndarray:
    """Normalise ``(..., C)`` non-negative attributions to sum 1 over C; all-zero rows become NaN."""
    a = np.asarray(attributions, dtype=np.float64)
    if (a < 0).any():
        raise InputError("attributions must be non-negative to be read as distributions (clip them first)")
    total = a.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, a / total, np.nan)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between distributions along the last axis.

    ``p`` and ``q`` ``(..., C)`` (broadcast together) are normalised to sum 1, as scipy's
    ``jensenshannon`` does; returns ``(...)``. Round-off below 0 is clipped to 0, so identical
    distributions give exactly 0, never NaN; a row that is all zero (no distribution) gives NaN.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = p / p.sum(axis=-1, keepdims=True)
        q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2.0 * np.log(2.0))
    return np.clip(js, 0.0, 1.0)  # NaN stays NaN


def _uniform_like(p: np.ndarray) -> np.ndarray:
    """The uniform distribution over the last axis of ``p``, broadcast to ``p``'s shape."""
    return np.broadcast_to(np.full(p.shape[-1], 1.0 / p.shape[-1]), p.shape)


def uniformity(attributions: np.ndarray) -> np.ndarray:
    """``1 - JS distance(a / sum a, uniform)`` per row of ``(..., C)`` -> ``(...)``, in [0, 1].

    1 for a uniform spread over the C bands, lower the more the attribution sits on few bands
    (one-hot: 0.26 for C = 4, 0.11 for C = 12, 0.01 for C = 224). The source paper's metric (its
    "consistency", ``compute_js_divergence``; Linardi, Dabo & Paris, IGARSS 2025). All-zero rows
    give NaN.
    """
    p = to_distribution(attributions)
    return 1.0 - np.sqrt(js_divergence(p, _uniform_like(p)))


def concentration(attributions: np.ndarray) -> np.ndarray:
    """``1 - H(p) / log2(C)`` per row of ``(..., C)`` -> ``(...)``, with ``p = a / sum a``: in [0, 1].

    0 for a uniform spread, 1 when one band holds all the attribution; equal weight on k of the C
    bands gives ``1 - log2(k) / log2(C)``. ``2 ** H(p)`` is the effective number of bands
    (Hill 1973, *Diversity and evenness*, Ecology 54(2)). All-zero rows give NaN; C must be >= 2.
    """
    p = to_distribution(attributions)
    n_bands = p.shape[-1]
    if n_bands < 2:
        raise BandCountError(f"concentration needs at least 2 bands, got {n_bands}")
    entropy = entr(p).sum(axis=-1) / np.log(2.0)  # entr(x) = -x ln x, 0 at x = 0
    return np.clip(1.0 - entropy / np.log2(n_bands), 0.0, 1.0)


def pairwise_js_divergence(attributions: np.ndarray) -> np.ndarray:
    """Mean JS divergence over all pairs of instances, per pixel: ``(I, N, C)`` -> ``(N,)``.

    ``attributions[i, n]`` is instance ``i``'s band attribution of pixel ``n``; needs ``I >= 2``.
    0 means every instance attributes the same distribution over bands.
    """
    a = np.asarray(attributions)
    if a.ndim != 3 or a.shape[0] < 2:
        raise InputError(f"need (instances >= 2, pixels, bands) attributions, got shape {a.shape}")
    p = to_distribution(a)
    pairs = [js_divergence(p[i], p[j]) for i, j in combinations(range(a.shape[0]), 2)]
    return np.mean(pairs, axis=0)


def class_balanced_mean(values: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean over classes of the per-class mean of ``values``, along the last axis.

    ``values`` and ``labels`` ``(..., N)`` (e.g. bootstrap resamples ``(B, N)``); NaN values and
    classes without a pixel are ignored. Returns ``(...)``.
    """
    v = np.asarray(values, dtype=np.float64)
    lab = np.asarray(labels)
    ok = np.isfinite(v)
    means = []
    for k in range(n_classes):
        m = (lab == k) & ok
        count = m.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.where(count > 0, np.where(m, v, 0.0).sum(axis=-1) / count, np.nan))
    return _nanmean0(np.stack(means))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-averaged F1 along the last axis of ``(..., N)`` label arrays (vectorised over resamples).

    A class absent from both truth and prediction of a resample is left out of the average.
    Equals :func:`sklearn.metrics.f1_score` with ``average='macro'`` and ``labels`` the classes
    present.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    scores = []
    for k in range(n_classes):
        tp = ((t == k) & (p == k)).sum(axis=-1)
        support = (t == k).sum(axis=-1) + (p == k).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores.append(np.where(support > 0, 2.0 * tp / support, np.nan))
    return _nanmean0(np.stack(scores))


def _nanmean0(x: np.ndarray) -> np.ndarray:
    """``nanmean`` over axis 0 without the all-NaN warning (all-NaN gives NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=0)


def bootstrap_interval(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float, np.ndarray]:
    """Percentile bootstrap over pixels: ``(estimate, low, high, bootstrap distribution)``.

    ``data`` are arrays whose last axis is the pixel (resampled together, paired); ``statistic``
    takes them (each ``(..., N)``) and reduces the last axis (vectorised, as
    :func:`scipy.stats.bootstrap` expects). NaN pixels stay in the resamples and are ignored by
    the statistics above.
    """
    data = tuple(np.asarray(d) for d in data)
    estimate = float(statistic(*data))
    res = bootstrap(data, lambda *d, axis=-1: statistic(*(np.moveaxis(x, axis, -1) for x in d)),
                    paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=confidence,
                    method="percentile", random_state=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution)
    return estimate, float(res.confidence_interval.low), float(res.confidence_interval.high), dist
