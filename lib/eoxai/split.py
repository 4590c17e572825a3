"""Spatially blocked train/validation/test split with a buffer.

Pixels are grouped into square blocks; whole blocks go to one split, so neighbouring pixels share
a split. Pixels within ``buffer`` pixels (Chebyshev distance) of a block of another split are
marked :data:`BUFFER` on both sides and ignored by training and evaluation, so no training pixel
borders a test pixel: the smallest distance between pixels of two different splits is
``2 * buffer + 1``. Following the spatial cross-validation argument of Roberts et al. (2017),
*Cross-validation strategies for data with temporal, spatial, hierarchical, or phylogenetic
structure*, Ecography 40(8).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from eoxai.errors import InputError, TileSizeError

TRAIN, VAL, TEST = 0, 1, 2
BUFFER, UNUSED = -1, -2
SPLIT_NAMES: dict[int, str] = {TRAIN: "train", VAL: "validation", TEST: "test"}


def _assign(n_blocks: int, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    counts = np.floor(np.asarray(fractions) * n_blocks).astype(int)
    counts = np.maximum(counts, 1)
    while counts.sum() > n_blocks:
        counts[np.argmax(counts)] -= 1
    while counts.sum() < n_blocks:
        counts[np.argmax(np.asarray(fractions) * n_blocks - counts)] += 1
    order = rng.permutation(n_blocks)
    out = np.empty(n_blocks, dtype=np.int8)
    start = 0
    for s, c in enumerate(counts):
        out[order[start:start + c]] = s
        start += c
    return out


def block_split(
    label: np.ndarray,
    *,
    block_size: int,
    buffer: int,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    n_classes: int | None = None,
    n_trials: int = 256,
) -> np.ndarray:
    """Assign square blocks of ``label`` ``(H, W)`` to train/validation/test; return ``(H, W)`` int8.

    Of ``n_trials`` seeded random block assignments the one is kept whose per-split class
    distributions are closest (L1) to the whole image's, with a heavy penalty for a class present
    in the image but absent from a split. Rows/columns beyond the last whole block are
    :data:`UNUSED`; pixels near another split's block are :data:`BUFFER`.

    Raises ``ValueError`` if there are fewer blocks than splits or ``buffer`` is too large for
    the blocks.
    """
    if label.ndim != 2:
        raise InputError(f"label must be (H, W), got shape {label.shape}")
    if len(fractions) != 3 or not np.isclose(sum(fractions), 1.0) or min(fractions) <= 0:
        raise InputError(f"fractions must be three positive numbers summing to 1, got {list(fractions)}")
    if buffer < 0 or 2 * buffer >= block_size:
        raise InputError(f"buffer {buffer} must be >= 0 and smaller than half the block size {block_size}")
    h, w = label.shape
    nby, nbx = h // block_size, w // block_size
    if nby * nbx < 3:
        raise TileSizeError(
            f"an image of {h}x{w} pixels holds only {nby * nbx} block(s) of {block_size}; "
            "need at least 3 (one per split): use a smaller block_size"
        )
    k = int(n_classes if n_classes is not None else max(int(label.max()) + 1, 1))
    cells = label[: nby * block_size, : nbx * block_size].reshape(nby, block_size, nbx, block_size)
    blocks = cells.transpose(0, 2, 1, 3).reshape(nby * nbx, -1)
    hist = np.stack([np.bincount(b[b >= 0], minlength=k)[:k] for b in blocks]).astype(np.float64)
    total = hist.sum(axis=0)
    target = total / max(total.sum(), 1.0)
    present = total > 0

    rng = np.random.default_rng(seed)
    best, best_score = None, np.inf
    for _ in range(n_trials):
        assign = _assign(nby * nbx, fractions, rng)
        score = 0.0
        for s in range(3):
            h_s = hist[assign == s].sum(axis=0)
            score += np.abs(h_s / max(h_s.sum(), 1.0) - target).sum()
            score += 10.0 * np.sum(present & (h_s == 0))
        if score < best_score:
            best, best_score = assign, score
    assert best is not None

    split = np.full((h, w), UNUSED, dtype=np.int8)
    grid = best.reshape(nby, nbx)
    split[: nby * block_size, : nbx * block_size] = np.kron(grid, np.ones((block_size, block_size), dtype=np.int8))
    return apply_buffer(split, buffer)


def apply_buffer(split: np.ndarray, buffer: int) -> np.ndarray:
    """Mark pixels within ``buffer`` (Chebyshev) of another split as :data:`BUFFER`; return a copy."""
    out = split.copy()
    if buffer == 0:
        return out
    footprint = np.ones((2 * buffer + 1, 2 * buffer + 1), dtype=bool)
    for s in (TRAIN, VAL, TEST):
        others = (split >= 0) & (split != s)
        near = ndimage.binary_dilation(others, structure=footprint)
        out[(split == s) & near] = BUFFER
    return out


def min_distance_between(split: np.ndarray, a: int, b: int) -> float:
    """Smallest Chebyshev distance (pixels) between a pixel of split ``a`` and one of split ``b``.

    ``inf`` if either split is empty. Used by the tests to prove the buffer works.
    """
    if not (split == a).any() or not (split == b).any():
        return float("inf")
    dist = ndimage.distance_transform_cdt(split != b, metric="chessboard")
    return float(dist[split == a].min())


def class_balance(label: np.ndarray, split: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Pixel counts and shares per split and class (labelled pixels only), as a tidy table."""
    rows = []
    for s, sname in SPLIT_NAMES.items():
        lab = label[split == s]
        lab = lab[lab >= 0]
        counts = np.bincount(lab, minlength=len(class_names))[: len(class_names)]
        for c, cname in enumerate(class_names):
            rows.append({"split": sname, "class": cname, "pixels": int(counts[c]),
                         "share": float(counts[c] / max(counts.sum(), 1))})
    return pd.DataFrame(rows)
