"""Tiles of a fused cube as a torch dataset whose samples are dicts (torchgeo's convention)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from matplotlib.figure import Figure
from torch.utils.data import Dataset

from eoxai.errors import BandCountError, EmptyTileError, InputError
from eoxai.split import BUFFER, SPLIT_NAMES

IGNORE_INDEX = -1


def split_code(split: str | int) -> int:
    """``'train'``/``'validation'``/``'test'`` (or 0/1/2) -> split code."""
    if isinstance(split, (int, np.integer)) and int(split) in SPLIT_NAMES:
        return int(split)
    for code, name in SPLIT_NAMES.items():
        if split == name or (split == "val" and name == "validation"):
            return code
    raise InputError(f"unknown split {split!r}; expected one of {list(SPLIT_NAMES.values())}")


def _window_sums(a: np.ndarray, t: int) -> np.ndarray:
    """Sums of every ``t x t`` window of ``a`` ``(H, W)``: ``(H - t + 1, W - t + 1)`` (summed-area table)."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.int64)
    c[1:, 1:] = a.astype(np.int64).cumsum(0).cumsum(1)
    return c[t:, t:] - c[:-t, t:] - c[t:, :-t] + c[:-t, :-t]


def tile_origins(split: np.ndarray, label: np.ndarray, which: int, tile_size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of tiles lying wholly in split ``which``, on a grid of step ``stride``, row by row.

    A tile qualifies when all its pixels are in ``which`` or in the buffer, and at least one of
    them is a labelled pixel of ``which``. ``split`` and ``label`` are ``(H, W)``. With ``stride``
    1 these are all the positions a random crop of the split may take.
    """
    h, w = split.shape
    t = int(tile_size)
    if t > h or t > w:
        return []
    inside = _window_sums((split == which) | (split == BUFFER), t) == t * t
    labelled = _window_sums((split == which) & (label >= 0), t) > 0
    ok = np.zeros_like(inside)
    ok[::stride, ::stride] = True
    rows, cols = np.nonzero(ok & inside & labelled)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def select_bands(cube: xr.Dataset, modalities: Sequence[str] | None = None) -> list[str]:
    """Band names of ``cube`` whose ``modality`` (or ``sensor``) is in ``modalities`` (all if None).

    Raises ``KeyError`` naming the unknown modality.
    """
    if modalities is None:
        return [str(b) for b in cube.band.values]
    known_mod = set(map(str, cube["modality"].values)) | set(map(str, cube["sensor"].values))
    unknown = [m for m in modalities if m not in known_mod]
    if unknown:
        raise InputError(f"modalities {unknown} not in the cube; it has {sorted(known_mod)}")
    keep = [
        str(b) for b, m, s in zip(cube.band.values, cube["modality"].values, cube["sensor"].values, strict=True)
        if m in modalities or s in modalities
    ]
    return keep


class BandedTiles:
    """What the training engine asks of any tile dataset (in memory or streamed): its band count
    and a check that a batch ``(B, C, H, W)`` has it, and an even subsample of its tiles.
    Subclasses set ``bands`` and ``origins``."""

    bands: list[str]
    #: top-left corner of each tile: ``(row, col)`` in a cube, ``(scene, row, col)`` in a collection
    origins: list[Any]

    @property
    def in_channels(self) -> int:
        return len(self.bands)

    def subsample(self, max_tiles: int) -> None:
        """Keep ``max_tiles`` tiles evenly spread over ``self.origins`` (all when there are no more)."""
        if max_tiles and len(self.origins) > max_tiles:
            keep = np.linspace(0, len(self.origins) - 1, max_tiles).round().astype(int)
            self.origins = [self.origins[i] for i in keep]

    def check_batch(self, image: torch.Tensor) -> None:
        """Raise :class:`BandCountError` if ``image`` ``(B, C, H, W)`` has another band count."""
        if image.ndim != 4 or image.shape[1] != self.in_channels:
            raise BandCountError(f"batch of shape {tuple(image.shape)}; this dataset has {self.in_channels} bands")


class TileDataset(BandedTiles, Dataset):
    """Tiles of one split of a fused cube (see :mod:`eoxai.fusion`).

    Each sample is a dict::

        image   (C, T, T) float32   selected bands; NaN (no data) replaced by ``fill_value``
        mask    (T, T)    int64     class index, IGNORE_INDEX (-1) for no data, buffer, other
                                    splits and pixels where any selected band lacks data
        origin  (2,)      int64     top-left row, column in the cube

    Parameters
    ----------
    cube: the fused cube. split: 'train', 'validation' or 'test'. tile_size: T.
    stride: step between tiles (default T; smaller overlaps tiles inside the split).
    modalities: modality or sensor names to keep (default all), e.g. ``["s2_t1", "dem"]`` or
        ``["optical"]``. fill_value: what replaces NaN in the image (0 = the training mean).
    """

    def __init__(
        self,
        cube: xr.Dataset,
        split: str | int,
        tile_size: int,
        stride: int | None = None,
        modalities: Sequence[str] | None = None,
        fill_value: float = 0.0,
    ) -> None:
        self.code = split_code(split)
        self.split_name = SPLIT_NAMES[self.code]
        self.tile_size = int(tile_size)
        self.bands = select_bands(cube, modalities)
        self.class_names = [str(c) for c in cube["class"].values]
        self.stack_name = str(cube.attrs.get("name", ""))
        self.image = np.nan_to_num(cube["image"].sel(band=self.bands).values.astype(np.float32), nan=fill_value)
        valid = cube["valid"].sel(band=self.bands).values.all(axis=0)
        split_arr = cube["split"].values
        label = cube["label"].values.astype(np.int64)
        self.mask = np.where((split_arr == self.code) & valid, label, IGNORE_INDEX)
        self.origins = tile_origins(split_arr, self.mask, self.code, self.tile_size, int(stride or tile_size))
        if not self.origins:
            raise EmptyTileError(
                f"split {self.split_name!r} has no {tile_size}x{tile_size} tile with labelled pixels "
                f"(cube {cube.attrs.get('name', '?')}, block_size {cube.attrs.get('block_size')})"
            )

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        r, c = self.origins[index]
        t = self.tile_size
        return {
            "image": torch.from_numpy(self.image[:, r:r + t, c:c + t].copy()),
            "mask": torch.from_numpy(self.mask[r:r + t, c:c + t].copy()),
            "origin": torch.tensor([r, c]),
        }


    def class_pixel_counts(self) -> np.ndarray:
        """Labelled pixels per class ``(K,)`` in this split (every labelled pixel of the split, once)."""
        lab = self.mask[self.mask >= 0]
        return np.bincount(lab, minlength=len(self.class_names))[:len(self.class_names)]

    def plot(self, sample: dict[str, torch.Tensor], title: str | None = None) -> Figure:
        """The sample's first three bands (contrast-stretched) beside its mask."""
        from eoxai.plots import plot_tile

        return plot_tile(sample["image"].numpy(), sample["mask"].numpy(), self.bands, self.class_names, title=title)
