"""Pixel-centred patches from a tile set, with checks that keep the splits spatially disjoint.

A sample is one labelled pixel; its input is the ``p x p`` patch centred on it (``p`` odd), the
pixel-patch classification of the source paper (Linardi, Dabo & Paris, IGARSS 2025). Each tile is padded
on its own with zeros, i.e. the training mean after :func:`eoxai.data.hyperspectral.normalise`,
so a patch never holds a pixel of another tile, and since whole tiles belong to one split, never a
pixel of another split. (The seed padded the raw cube with 0 before standardising, which made
the border a strong artificial signal, and split a scene left/right so patches at the border saw
both sides.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import xarray as xr

from eoxai.errors import ClassAbsentError, InputError, PatchSizeError


def check_patch_size(size: int, tile_shape: tuple[int, int]) -> int:
    """Return ``size`` if it is a positive odd integer no larger than the tile, else raise :class:`PatchSizeError`."""
    if int(size) != size or size < 1:
        raise PatchSizeError(f"patch size must be a positive integer, got {size!r}")
    if size % 2 == 0:
        raise PatchSizeError(f"patch size {size} is even: a pixel-centred patch needs an odd size (e.g. {size - 1} or {size + 1})")
    if size > min(tile_shape):
        raise PatchSizeError(f"patch size {size} is larger than the {tile_shape[0]}x{tile_shape[1]} tiles")
    return int(size)


def check_classes_present(ds: xr.Dataset, classes: Sequence[str], splits: Sequence[str]) -> list[int]:
    """Indices (in ``ds['class']``) of ``classes``; :class:`ClassAbsentError` if one lacks pixels in a split.

    The error names every (class, split) pair without a labelled pixel, so the caller can drop
    the class explicitly (a macro-F1 over a class with no test pixel is undefined).
    """
    names = [str(c) for c in ds["class"].values]
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise ClassAbsentError(f"classes {unknown} are not among the dataset's classes {names}")
    idx = [names.index(c) for c in classes]
    absent = []
    for split in splits:
        lab = ds["label"].values[ds.split.values == split]
        counts = np.bincount(lab[lab >= 0].ravel(), minlength=len(names))
        absent += [f"{names[i]!r} in {split}" for i in idx if counts[i] == 0]
    if absent:
        raise ClassAbsentError(
            f"no labelled pixel of {', '.join(absent)}: evaluate without these classes "
            "(drop them from the profile's classes list) or use another split"
        )
    return idx


@dataclass(frozen=True)
class Pixels:
    """Labelled sample pixels: tile index, row, column and class index (in the evaluated classes)."""

    tile: np.ndarray
    row: np.ndarray
    col: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def take(self, index: np.ndarray) -> Pixels:
        """The pixels at ``index``."""
        return Pixels(self.tile[index], self.row[index], self.col[index], self.label[index])

    def frame(self, tiles: Sequence[str] | None = None) -> pd.DataFrame:
        """As a table (``tile`` names if given)."""
        t = np.asarray(tiles)[self.tile] if tiles is not None else self.tile
        return pd.DataFrame({"tile": t, "row": self.row, "col": self.col, "label": self.label})


def labelled_pixels(ds: xr.Dataset, split: str, class_index: Sequence[int]) -> Pixels:
    """Every valid pixel of ``split`` labelled with one of ``class_index``; labels re-indexed ``0..len-1``.

    ``tile`` indexes the tiles of ``ds`` (all splits), so patches can be cut from the whole set.
    Pixels without data (``ds.valid`` False) are left out.
    """
    lab = ds["label"].values
    # raw index -> evaluated index; one spare slot at the end so label -1 (unlabelled) maps to -1
    remap = np.full(int(max(lab.max(), max(class_index))) + 2, -1, dtype=np.int64)
    remap[list(class_index)] = np.arange(len(class_index))
    keep = (remap[lab] >= 0) & (ds.split.values == split)[:, None, None]
    if "valid" in ds:
        keep &= ds["valid"].values
    t, r, c = np.nonzero(keep)
    return Pixels(t, r, c, remap[lab[t, r, c]])


def stratified_subsample(pixels: Pixels, per_class: int | None, seed: int) -> Pixels:
    """At most ``per_class`` pixels of each class, drawn without replacement (seeded); None keeps all.

    The result is in the original order, so a larger ``per_class`` keeps a superset only in
    distribution, not element-wise.
    """
    if per_class is None:
        return pixels
    rng = np.random.default_rng(seed)
    chosen = []
    for k in np.unique(pixels.label):
        idx = np.flatnonzero(pixels.label == k)
        chosen.append(idx if len(idx) <= per_class else rng.choice(idx, per_class, replace=False))
    return pixels.take(np.sort(np.concatenate(chosen)))


class PatchExtractor:
    """Cut ``p x p`` patches around pixels of a tile set ``image`` ``(tile, band, y, x)``.

    The padded tiles live on ``device``, and so do the patches.

    Tiles are zero-padded once by ``max_size // 2``; :meth:`extract` then gathers any odd size up
    to ``max_size`` without copying tiles again. Patches never cross tiles.
    """

    def __init__(self, image: np.ndarray | torch.Tensor, max_size: int, device: str | torch.device = "cpu") -> None:
        image = torch.as_tensor(np.asarray(image, dtype=np.float32)) if not torch.is_tensor(image) else image.float()
        self.device = torch.device(device)
        if image.ndim != 4:
            raise InputError(f"image must be (tile, band, y, x), got shape {tuple(image.shape)}")
        self.tile_shape = (int(image.shape[2]), int(image.shape[3]))
        self.max_size = check_patch_size(max_size, self.tile_shape)
        self.radius = self.max_size // 2
        r = self.radius
        self.padded = F.pad(image, (r, r, r, r), mode="constant", value=0.0).to(self.device)
        self.n_bands = int(image.shape[1])

    def extract(self, pixels: Pixels, size: int) -> torch.Tensor:
        """Patches ``(N, band, size, size)`` centred on ``pixels`` (zeros outside the tile)."""
        size = check_patch_size(size, self.tile_shape)
        if size > self.max_size:
            raise PatchSizeError(f"patch size {size} exceeds the extractor's max_size {self.max_size}")
        offset = self.radius - size // 2
        dev = self.device
        steps = torch.arange(size, device=dev)
        rows = torch.as_tensor(pixels.row, device=dev)[:, None] + offset + steps  # (N, size)
        cols = torch.as_tensor(pixels.col, device=dev)[:, None] + offset + steps
        tiles = torch.as_tensor(pixels.tile, device=dev)[:, None, None]
        out = self.padded[tiles, :, rows[:, :, None], cols[:, None, :]]  # (N, size, size, band)
        return out.permute(0, 3, 1, 2).contiguous()
