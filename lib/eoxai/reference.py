"""The reference model of a stack and the held-out tiles the explanation notebooks explain.

Every XAI notebook (04-08) explains the same model per fused stack: MAnet-MiT on all modalities,
first training seed (``REFERENCE_MODELS`` in the Snakefile, made by notebook 02), on tiles of the
held-out split of the fused stack (notebook 01: a cube's test blocks or a collection's test
scenes, :mod:`eoxai.fused`). :func:`load_reference` loads both in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eoxai.checkpoint import checkpoint_path, load_checkpoint
from eoxai.explain_tiles import pick_tiles
from eoxai.fused import (
    Fused,
    band_statistics,
    candidate_tiles,
    is_collection,
    open_fused,
    split_tiles,
    tile_origin,
    tile_scene,
)
from eoxai.xai.maps import tile_places


def reference_checkpoint(results_dir: str | Path, stack: str, seed: int, arch: str = "manet_mit",
                         inputs: str = "all") -> Path:
    """Where notebook 02 saves the reference model: :func:`eoxai.checkpoint.checkpoint_path` with
    the reference architecture and inputs as defaults."""
    return checkpoint_path(results_dir, stack, arch, inputs, seed)


@dataclass
class Reference:
    """A model with its checkpoint ``meta`` and a batch of tiles of its ``fused`` stack (a cube or a
    scene collection, :mod:`eoxai.fused`).

    images ``(N, C, T, T)`` float32 on the model's device; masks ``(N, T, T)`` int64 (-1 = no
    label); origins: top-left ``(row, col)`` of each tile in its scene; scenes: the scene of each
    tile in a collection (None for a single-scene cube's tiles, as :class:`eoxai.explain_tiles.Tiles`).
    """

    model: nn.Module
    meta: dict[str, Any]
    fused: Fused
    images: torch.Tensor
    masks: torch.Tensor
    origins: list[tuple[int, int]]
    scenes: list[str] | None

    @property
    def places(self) -> list[tuple[Any, ...]]:
        """Where each tile lies, as the XAI tables name it: ``(row, col)`` in a single-scene cube,
        ``(scene, row, col)`` in a collection (:func:`eoxai.xai.maps.tile_columns`)."""
        return tile_places(self.origins, self.scenes)

    @property
    def bands(self) -> list[str]:
        return list(self.meta["bands"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def modalities(self) -> dict[str, int]:
        return dict(self.meta["modalities"])

    def band_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Training mean and standard deviation (raw units) of the model's bands, in input order."""
        return band_statistics(self.fused, self.bands)


def load_reference(
    results_dir: str | Path,
    stack: str,
    seed: int,
    split: str = "test",
    index: Sequence[int] | None = None,
    max_tiles: int | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
    device: str | torch.device = "cpu",
) -> Reference:
    """Load the reference checkpoint of ``stack`` (seed ``seed``) and tiles of ``split`` of its cube.

    Tiles: those at ``index`` (positions in the split's tile order, :func:`eoxai.fused.split_tiles`);
    or ``sample`` of them chosen by :func:`eoxai.explain_tiles.pick_tiles` with ``sample_seed`` (the
    same tiles notebooks 07 and 08b explain); else the first ``max_tiles`` of a cube (default all).
    A collection's tiles are streamed from its test scenes: ``max_tiles`` of them drawn with
    ``sample_seed`` from as many scenes as possible (:func:`eoxai.fused.candidate_tiles`), also as
    the pool ``sample`` chooses from. Tile size and bands come from the checkpoint.
    """
    model, meta = load_checkpoint(reference_checkpoint(results_dir, stack, seed))
    model.to(device)
    fused = open_fused(results_dir, stack)
    tiles = split_tiles(fused, split, meta["tile_size"])
    if list(tiles.bands) != list(meta["bands"]):
        tiles = split_tiles(fused, split, meta["tile_size"], modalities=list(meta["modalities"]))
    pool = candidate_tiles(tiles, max_tiles, sample_seed) if is_collection(fused) else list(range(len(tiles)))
    if index is not None:
        chosen = [int(i) for i in index]
    elif sample is not None:
        masks = torch.stack([tiles[i]["mask"] for i in pool])
        chosen = [pool[i] for i in pick_tiles(masks, sample, sample_seed)]
    else:
        chosen = pool[:min(len(pool), max_tiles or len(pool))]
    samples = [tiles[i] for i in chosen]
    return Reference(
        model=model, meta=meta, fused=fused,
        images=torch.stack([s["image"] for s in samples]).to(device),
        masks=torch.stack([s["mask"] for s in samples]),
        origins=[tile_origin(tiles, i) for i in chosen],
        scenes=[tile_scene(tiles, i) for i in chosen] if is_collection(fused) else None,
    )
