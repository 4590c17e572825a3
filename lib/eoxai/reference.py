"""The reference model of a stack and the held-out tiles the explanation notebooks explain.

Every XAI notebook (04-08) explains the same model per fused stack: MAnet-MiT on all modalities,
first training seed (``REFERENCE_MODELS`` in the Snakefile, made by notebook 02), on tiles of the
held-out split of the fused cube (notebook 01). :func:`load_reference` loads both in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from eoxai.checkpoint import checkpoint_path, load_checkpoint
from eoxai.explain_tiles import pick_tiles
from eoxai.fusion import read_cube
from eoxai.tiles import TileDataset


def reference_checkpoint(results_dir: str | Path, stack: str, seed: int, arch: str = "manet_mit",
                         inputs: str = "all") -> Path:
    """Where notebook 02 saves the reference model: :func:`eoxai.checkpoint.checkpoint_path` with
    the reference architecture and inputs as defaults."""
    return checkpoint_path(results_dir, stack, arch, inputs, seed)


@dataclass
class Reference:
    """A model with its checkpoint ``meta`` and a batch of tiles of its stack's fused ``cube``.

    images ``(N, C, T, T)`` float32 on the model's device; masks ``(N, T, T)`` int64 (-1 = no
    label); origins: top-left ``(row, col)`` of each tile in the cube.
    """

    model: nn.Module
    meta: dict[str, Any]
    cube: xr.Dataset
    images: torch.Tensor
    masks: torch.Tensor
    origins: list[tuple[int, int]]

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
        stats = self.cube[["band_mean", "band_std"]].sel(band=self.bands)
        return stats["band_mean"].values, stats["band_std"].values


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

    Tiles: those at ``index`` (positions in :class:`~eoxai.tiles.TileDataset` order); or
    ``sample`` of them chosen by :func:`eoxai.explain_tiles.pick_tiles` with ``sample_seed`` (the
    same tiles notebooks 07 and 08b explain); else the first
    ``max_tiles`` (default all). Tile size and bands come from the checkpoint.
    """
    model, meta = load_checkpoint(reference_checkpoint(results_dir, stack, seed))
    model.to(device)
    cube = read_cube(str(Path(results_dir) / "interim" / f"{stack}.nc"))
    tiles = TileDataset(cube, split, meta["tile_size"])
    if list(tiles.bands) != list(meta["bands"]):
        tiles = TileDataset(cube, split, meta["tile_size"], modalities=list(meta["modalities"]))
    if index is not None:
        chosen = [int(i) for i in index]
    elif sample is not None:
        masks = torch.stack([tiles[i]["mask"] for i in range(len(tiles))])
        chosen = pick_tiles(masks, sample, sample_seed)
    else:
        chosen = list(range(min(len(tiles), max_tiles or len(tiles))))
    samples = [tiles[i] for i in chosen]
    return Reference(
        model=model, meta=meta, cube=cube,
        images=torch.stack([s["image"] for s in samples]).to(device),
        masks=torch.stack([s["mask"] for s in samples]),
        origins=[(int(tiles.origins[i][0]), int(tiles.origins[i][1])) for i in chosen],
    )
