"""Hyperspectral scenes as labelled tiles: one :class:`xarray.Dataset` shared by every reader.

A *tile set* is a Dataset with

- ``image`` ``(tile, band, y, x)`` float32: reflectance (readers) or z-scores (after
  :func:`normalise`), NaN where the sensor has no data;
- ``label`` ``(tile, y, x)`` int16: class indices ``0..K-1``, -1 unlabelled;
- coordinates ``tile`` (identifiers), ``split`` over ``tile`` (``train``/``validation``/``test``),
  ``band`` (names) with ``wavelength_nm``, ``fwhm_nm`` and ``detector`` over ``band``, and
  ``class`` (class names, index order).

Whole tiles belong to one split, and :mod:`eoxai.hyperspectral.patches` pads each tile on its
own, so a patch centred in one split never holds a pixel of another (spatially disjoint splits,
Roberts et al. 2017, *Ecography* 40(8)). The EnMAP reader (:mod:`eoxai.data.enmap`) uses the
publisher's tiles; the PRISMA reader (:mod:`eoxai.data.prisma`) cuts its scene into blocks with
:func:`scene_blocks`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from eoxai.errors import BandCountError, EmptyTileError, GridMismatchError, InputError, SplitError

SPLITS: tuple[str, ...] = ("train", "validation", "test")


def tile_dataset(
    images: Sequence[xr.DataArray],
    labels: Sequence[np.ndarray],
    tiles: Sequence[str],
    splits: Sequence[str],
    class_names: Sequence[str],
    **attrs: object,
) -> xr.Dataset:
    """Stack per-tile ``images`` ``(band, y, x)`` and ``labels`` ``(y, x)`` into a tile set.

    Every image must carry the same ``band`` coordinate (with ``wavelength_nm``) and shape.
    Raises :class:`GridMismatchError` naming the first tile that differs.
    """
    if not images or len(images) != len(labels) or len(images) != len(tiles) or len(tiles) != len(splits):
        raise InputError("tile_dataset needs as many images, labels, tile names and splits (at least one)")
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise InputError(f"unknown split name(s) {unknown}; use {list(SPLITS)}")
    first = images[0]
    for name, img, lab in zip(tiles, images, labels, strict=True):
        if img.shape != first.shape or list(img.band.values) != list(first.band.values):
            raise GridMismatchError(
                f"tile {name}: image shape {img.shape} / bands differ from tile {tiles[0]} {first.shape}"
            )
        if np.shape(lab) != img.shape[1:]:
            raise GridMismatchError(f"tile {name}: label {np.shape(lab)} does not match image {img.shape[1:]}")
    band_coords = {k: ("band", first[k].values) for k in ("wavelength_nm", "fwhm_nm", "detector") if k in first.coords}
    h, w = first.shape[1:]
    ds = xr.Dataset(
        {
            "image": (("tile", "band", "y", "x"), np.stack([np.asarray(i.values, np.float32) for i in images])),
            "label": (("tile", "y", "x"), np.stack([np.asarray(lab, np.int16) for lab in labels])),
        },
        coords={
            "tile": list(tiles), "split": ("tile", list(splits)), "band": first.band.values,
            "y": np.arange(h), "x": np.arange(w), "class": list(class_names), **band_coords,
        },
        attrs={"sensor": first.attrs.get("sensor", ""), "units": first.attrs.get("units", ""), **attrs},
    )
    ds["label"].attrs = {"nodata": -1, "long_name": "class index (-1 unlabelled)"}
    return ds


def tiles_of(ds: xr.Dataset, split: str) -> xr.Dataset:
    """The tiles of ``split``; :class:`ValueError` if the split has none."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use {list(SPLITS)}")
    sel = ds.sel(tile=ds.split.values == split)
    if sel.sizes["tile"] == 0:
        raise SplitError(f"no tile belongs to split {split!r}")
    return sel


def drop_nodata_bands(ds: xr.Dataset, split: str = "train") -> xr.Dataset:
    """Drop bands without a single valid (finite) pixel in ``split``'s tiles.

    Hyperspectral L2 products fill bad or water-vapour bands with nodata (EnMAP: 6 bands around
    1,350-1,400 nm). Deciding on the training tiles alone keeps the choice free of held-out data.
    The dropped band names go to ``attrs['dropped_bands']`` (their wavelengths, where known, to
    ``attrs['dropped_wavelengths_nm']``). Raises :class:`EmptyTileError` when
    no band is left.
    """
    train = tiles_of(ds, split)["image"].values
    has_data = np.isfinite(train).any(axis=(0, 2, 3))
    if not has_data.any():
        raise EmptyTileError(f"every band is nodata on the {split} tiles")
    dropped = [str(b) for b in ds.band.values[~has_data]]
    out = ds.isel(band=np.flatnonzero(has_data))
    out.attrs["dropped_bands"] = list(ds.attrs.get("dropped_bands", [])) + dropped
    if "wavelength_nm" in ds.coords:
        out.attrs["dropped_wavelengths_nm"] = (list(ds.attrs.get("dropped_wavelengths_nm", []))
                                               + [float(w) for w in ds.wavelength_nm.values[~has_data]])
    return out


def normalise(ds: xr.Dataset, split: str = "train") -> xr.Dataset:
    """Per-band z-score with the mean and standard deviation of ``split``'s valid pixels.

    Returns a copy whose ``image`` is in z-score units with nodata replaced by 0 (the training
    mean, also the zero baseline of Integrated Gradients), a ``valid`` ``(tile, y, x)`` mask
    (True where every band had data) and ``band_mean``/``band_std`` ``(band,)``. A band with zero
    spread on the training pixels keeps std 1.
    """
    values = ds["image"].values
    train = tiles_of(ds, split)["image"].values.astype(np.float64)
    per_band = np.moveaxis(train, 1, 0).reshape(train.shape[1], -1)
    if not np.isfinite(per_band).any(axis=1).all():
        empty = [str(b) for b in ds.band.values[~np.isfinite(per_band).any(axis=1)]]
        raise EmptyTileError(f"bands {empty} have no valid {split} pixel; call drop_nodata_bands first")
    mean = np.nanmean(per_band, axis=1)
    std = np.nanstd(per_band, axis=1)
    std[~(std > 0)] = 1.0
    z = (values - mean[None, :, None, None]) / std[None, :, None, None]
    valid = np.isfinite(z).all(axis=1)
    out = ds.copy()
    out["image"] = (("tile", "band", "y", "x"), np.nan_to_num(z, nan=0.0).astype(np.float32))
    out["image"].attrs = {"units": "z-score", "long_name": f"reflectance normalised with {split} statistics"}
    out["valid"] = (("tile", "y", "x"), valid)
    out["band_mean"] = ("band", mean)
    out["band_std"] = ("band", std)
    out.attrs["normalisation"] = f"per-band z-score, statistics from the {split} tiles; nodata -> 0"
    return out


def select_bands(ds: xr.Dataset, bands: Sequence[str] | None) -> xr.Dataset:
    """Keep ``bands`` (names of the ``band`` coordinate, in that order); None keeps all.

    Raises :class:`BandCountError` naming the bands the cube does not have.
    """
    if bands is None:
        return ds
    have = [str(b) for b in ds.band.values]
    missing = [b for b in bands if b not in have]
    if missing:
        raise BandCountError(
            f"band list does not match the cube: {missing[:5]}{' ...' if len(missing) > 5 else ''} "
            f"({len(missing)} of {len(bands)}) not among its {len(have)} bands ({have[0]} .. {have[-1]})"
        )
    return ds.sel(band=list(bands))


def scene_blocks(
    image: xr.DataArray,
    label: np.ndarray,
    class_names: Sequence[str],
    *,
    block_size: int,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    **attrs: object,
) -> xr.Dataset:
    """Cut a scene ``(band, Y, X)`` with labels ``(Y, X)`` into square blocks, one split each.

    Blocks are assigned with :func:`eoxai.split.block_split` (class-balanced, seeded); no buffer
    is needed because patches never cross a block (each block is padded on its own). Rows and
    columns beyond the last whole block are left out.
    """
    from eoxai.split import SPLIT_NAMES, block_split

    label = np.asarray(label)
    if label.shape != image.shape[1:]:
        raise GridMismatchError(f"label {label.shape} does not match the image grid {image.shape[1:]}")
    split = block_split(label, block_size=block_size, buffer=0, fractions=fractions, seed=seed,
                        n_classes=len(class_names))
    images, labels, names, splits = [], [], [], []
    for i in range(0, label.shape[0] - block_size + 1, block_size):
        for j in range(0, label.shape[1] - block_size + 1, block_size):
            s = int(split[i, j])
            if s < 0:
                continue
            images.append(image.isel(y=slice(i, i + block_size), x=slice(j, j + block_size)))
            labels.append(label[i:i + block_size, j:j + block_size])
            names.append(f"block_{i}_{j}")
            splits.append(SPLIT_NAMES[s])
    images = [im.assign_coords(y=np.arange(block_size), x=np.arange(block_size)) for im in images]
    return tile_dataset(images, labels, names, splits, class_names, block_size=block_size, **attrs)
