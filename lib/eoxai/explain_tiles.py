"""Which test tiles to explain: all of them as tensors, and a fixed, seeded choice of a few.

The notebooks' side of the XAI stage: the explainers (:mod:`eoxai.xai`) take a model and
tensors; this module turns the project's fused stacks (a cube or a scene collection,
:func:`eoxai.fused.split_tiles`) into them.

Every explanation notebook explains the *same* instances, chosen here from the test split only
(the tiles no model was trained or selected on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eoxai.errors import InputError
from eoxai.fused import Fused, candidate_tiles, is_collection, split_tiles, tile_origin, tile_scene
from eoxai.tiles import IGNORE_INDEX
from eoxai.xai.maps import tile_places


@dataclass(frozen=True)
class Tiles:
    """Tiles of one split as tensors: ``images`` ``(N, C, T, T)``, ``masks`` ``(N, T, T)`` (-1 ignore),
    ``origins`` ``[(row, col), ...]`` (top-left pixel in its scene), band and class names, and
    ``scenes`` (the scene of each tile in a collection; None for a single-scene cube's tiles)."""

    images: torch.Tensor
    masks: torch.Tensor
    origins: list[tuple[int, int]]
    bands: list[str]
    class_names: list[str]
    scenes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.origins)

    def subset(self, index: list[int]) -> Tiles:
        """The tiles at positions ``index`` (in that order)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        scenes = [self.scenes[i] for i in index] if self.scenes is not None else None
        return Tiles(self.images[idx], self.masks[idx], [self.origins[i] for i in index], self.bands, self.class_names,
                     scenes)

    @property
    def places(self) -> list[tuple[Any, ...]]:
        """Where each tile lies, as the XAI tables name it (:func:`eoxai.xai.maps.tile_columns`):
        ``(row, col)`` in a single-scene cube, ``(scene, row, col)`` in a collection."""
        return tile_places(self.origins, self.scenes)

    def scene_summary(self) -> str:
        """``"N tiles from K scene(s)"`` (what a notebook prints of the tiles it explains)."""
        return f"{len(self)} tiles from {len(set(self.scenes)) if self.scenes is not None else 1} scene(s)"


def load_tiles(fused: Fused, split: str, tile_size: int, *, max_tiles: int | None = None, seed: int = 0) -> Tiles:
    """The tiles of ``split`` of a fused stack (:func:`eoxai.fused.split_tiles`): all of a cube's;
    of a collection, at most ``max_tiles`` drawn with ``seed`` from as many scenes as possible
    (:func:`eoxai.fused.candidate_tiles`; None: every tile of every scene of the split)."""
    ds = split_tiles(fused, split, tile_size)
    index = candidate_tiles(ds, max_tiles, seed) if is_collection(fused) else list(range(len(ds)))
    samples = [ds[i] for i in index]
    return Tiles(
        images=torch.stack([s["image"] for s in samples]),
        masks=torch.stack([s["mask"] for s in samples]),
        origins=[tile_origin(ds, i) for i in index],
        bands=list(ds.bands),
        class_names=list(ds.class_names),
        scenes=[tile_scene(ds, i) for i in index] if is_collection(fused) else None,
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
