"""Which test tiles to explain: all of them as tensors, and a fixed, seeded choice of a few.

The notebooks' side of the XAI stage: the explainers (:mod:`eoxai.xai`) take a model and
tensors; this module turns the project's fused cubes (:class:`eoxai.tiles.TileDataset`) into them.

Every explanation notebook explains the *same* instances, chosen here from the test split only
(the tiles no model was trained or selected on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from eoxai.errors import InputError
from eoxai.tiles import IGNORE_INDEX, TileDataset


@dataclass(frozen=True)
class Tiles:
    """Tiles of one split as tensors: ``images`` ``(N, C, T, T)``, ``masks`` ``(N, T, T)`` (-1 ignore),
    ``origins`` ``[(row, col), ...]`` (top-left pixel in the cube), band and class names."""

    images: torch.Tensor
    masks: torch.Tensor
    origins: list[tuple[int, int]]
    bands: list[str]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.origins)

    def subset(self, index: list[int]) -> Tiles:
        """The tiles at positions ``index`` (in that order)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return Tiles(self.images[idx], self.masks[idx], [self.origins[i] for i in index], self.bands, self.class_names)


def load_tiles(cube: xr.Dataset, split: str, tile_size: int) -> Tiles:
    """All tiles of ``split`` of the fused ``cube`` (see :class:`eoxai.tiles.TileDataset`)."""
    ds = TileDataset(cube, split, tile_size)
    samples = [ds[i] for i in range(len(ds))]
    return Tiles(
        images=torch.stack([s["image"] for s in samples]),
        masks=torch.stack([s["mask"] for s in samples]),
        origins=[(int(r), int(c)) for r, c in ds.origins],
        bands=list(ds.bands),
        class_names=list(ds.class_names),
    )


def pick_tiles(masks: torch.Tensor, n: int, seed: int) -> list[int]:
    """Indices of ``n`` tiles to explain, from ``masks`` ``(N, T, T)``.

    Tiles with more labelled classes come first (an explanation of one class against another
    needs both in view), then tiles with more labelled pixels; remaining ties are broken by a
    permutation drawn from ``seed``. ``n`` larger than N returns all N.
    """
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    m = masks.cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    n_classes = np.array([len(np.unique(t[t != IGNORE_INDEX])) for t in m])
    labelled = (m != IGNORE_INDEX).reshape(len(m), -1).sum(1)
    tiebreak = np.random.default_rng(seed).permutation(len(m))
    order = np.lexsort((tiebreak, -labelled, -n_classes))
    return [int(i) for i in order[: min(n, len(m))]]
