"""Intervals and paired tests for comparing trained models over seeds and test tiles.

- :func:`mean_ci`: mean and Student-t confidence interval (the unit is one training run/seed).
- :func:`paired_test`: paired comparison of two systems on the same units (seeds or tiles): mean
  difference with its t interval, the paired t-test (``scipy.stats.ttest_rel``) and the Wilcoxon
  signed-rank test (``scipy.stats.wilcoxon``). With fewer than 2 pairs (or no spread) the
  intervals and p-values are NaN rather than made up.

Test tiles of one scene are spatially correlated, so tile-level p-values overstate the evidence;
seed-level tests answer "does this input set train better models", tile-level tests "is the
difference consistent across the test area".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as st

from eoxai.errors import InputError


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``values`` with a two-sided Student-t interval; NaN bounds for n < 2."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(v.mean())
    if v.size < 2:
        return (m, np.nan, np.nan)
    half = float(st.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return (m, m - half, m + half)


def paired_test(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Compare paired values ``a`` vs ``b`` (same units, same order); pairs with a NaN are dropped.

    Returns ``n``, ``mean_a``, ``mean_b``, ``diff`` (mean of a - b), ``diff_low``/``diff_high``
    (t interval), ``p_ttest`` (paired t-test) and ``p_wilcoxon`` (signed-rank; NaN if all
    differences are 0 or n < 2).
    """
    a_, b_ = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_.shape != b_.shape:
        raise InputError(f"paired values need equal lengths, got {a_.shape} and {b_.shape}")
    keep = np.isfinite(a_) & np.isfinite(b_)
    a_, b_ = a_[keep], b_[keep]
    d = a_ - b_
    diff, low, high = mean_ci(d, level)
    p_t = p_w = np.nan
    if d.size >= 2 and np.ptp(d) > 0:
        p_t = float(st.ttest_rel(a_, b_).pvalue)
    if d.size >= 2 and np.any(d != 0):
        p_w = float(st.wilcoxon(d, zero_method="wilcox").pvalue)
    return {"n": int(d.size), "mean_a": float(a_.mean()) if d.size else np.nan,
            "mean_b": float(b_.mean()) if d.size else np.nan, "diff": diff, "diff_low": low,
            "diff_high": high, "p_ttest": p_t, "p_wilcoxon": p_w}
