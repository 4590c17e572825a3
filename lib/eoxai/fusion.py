"""Pixel-level fusion: put every modality on one grid, stack, mask nodata, normalise.

The fused cube is an :class:`xarray.Dataset`::

    image      (band, y, x)      float32, z-scored per band with training-split statistics,
                                 NaN where that band's modality has no data
    valid      (band, y, x)      uint8, 1 where the band has data (nodata kept as a mask)
    label      (y, x)            int16 class index, -1 no data
    split      (y, x)            int8, see :mod:`eoxai.split`
    band_mean, band_std (band)   the training statistics used (raw units)

Coordinates ``band``, ``modality`` (per band), ``sensor`` (per band), ``wavelength_nm`` (per band)
and ``class`` (class names) travel with the data; the CRS is written with rioxarray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401
import xarray as xr
from rasterio.enums import Resampling

from eoxai.errors import DatasetNotFoundError, GridMismatchError, InputError
from eoxai.split import TRAIN, block_split

#: tolerance on grid origin and resolution, as a fraction of one pixel
GRID_TOLERANCE = 1e-3


def grid_difference(a: xr.DataArray, b: xr.DataArray) -> str | None:
    """Describe how the grids of ``a`` and ``b`` differ, or return None if they match.

    Grids match when CRS, shape and transform agree within :data:`GRID_TOLERANCE` of a pixel.
    """
    if a.rio.crs != b.rio.crs:
        return f"CRS {a.rio.crs} vs {b.rio.crs}"
    if (a.rio.height, a.rio.width) != (b.rio.height, b.rio.width):
        return f"shape {(a.rio.height, a.rio.width)} vs {(b.rio.height, b.rio.width)}"
    ta, tb = a.rio.transform(), b.rio.transform()
    res = max(abs(ta.a), abs(ta.e))
    for name, va, vb in (("x resolution", ta.a, tb.a), ("y resolution", ta.e, tb.e),
                         ("x origin", ta.c, tb.c), ("y origin", ta.f, tb.f),
                         ("rotation", ta.b, tb.b), ("rotation", ta.d, tb.d)):
        scale = res if "origin" in name else max(abs(va), abs(vb), 1e-12)
        if abs(va - vb) > GRID_TOLERANCE * scale:
            offset = f" (offset {vb - va:+g}, {(vb - va) / res:+.3g} px)" if "origin" in name else ""
            return f"{name} {va!r} vs {vb!r}{offset}"
    return None


def _describe(name: str, da: xr.DataArray) -> str:
    return f"{name!r} ({da.attrs.get('path', da.attrs.get('source', 'in memory'))}, CRS {da.rio.crs})"


def align_to_grid(
    reference: xr.DataArray,
    others: Mapping[str, xr.DataArray],
    *,
    reproject: bool = False,
    resampling: Mapping[str, Resampling] | None = None,
    reference_name: str = "reference",
    reproject_key: str = "reproject",
) -> dict[str, xr.DataArray]:
    """Put every array of ``others`` on the grid of ``reference``.

    Arrays already on the reference grid (within :data:`GRID_TOLERANCE` of a pixel) get the
    reference's coordinates exactly. Others are reprojected with ``rio.reproject_match`` when
    ``reproject`` is true (``resampling[name]``, default bilinear; use nearest for labels), and
    raise :class:`GridMismatchError` naming both files, both CRSs, the difference (offsets in
    pixels) and ``reproject_key``, the profile key that enables reprojection, otherwise.

    Shapes: ``reference`` ``(..., y, x)``; each other ``(..., y', x')`` -> ``(..., y, x)``.
    """
    out: dict[str, xr.DataArray] = {}
    for name, da in others.items():
        diff = grid_difference(reference, da)
        if diff is None:
            snapped = da.assign_coords(y=reference.y.values, x=reference.x.values)
            out[name] = snapped.rio.write_transform(reference.rio.transform()).rio.write_crs(reference.rio.crs)
        elif reproject:
            method = (resampling or {}).get(name, Resampling.bilinear)
            nodata = -1 if np.issubdtype(da.dtype, np.integer) else np.nan
            src = da.rio.write_nodata(nodata)
            out[name] = src.rio.reproject_match(reference, resampling=method).rio.write_nodata(None)
            out[name].attrs.update({k: v for k, v in da.attrs.items() if k not in out[name].attrs})
        else:
            raise GridMismatchError(
                f"{_describe(name, da)} is not on the grid of the reference {_describe(reference_name, reference)}: "
                f"{diff}. Co-register the files, or set `{reproject_key}: true` in the profile to resample "
                f"{name!r} onto the reference grid"
            )
    return out


def stack_modalities(arrays: Mapping[str, xr.DataArray]) -> xr.DataArray:
    """Concatenate ``{modality: (band_m, y, x)}`` along ``band`` into ``(band, y, x)``.

    Band names are made unique as ``<modality>.<band>`` (e.g. ``s2_t1.B4``); the per-band
    coordinates ``modality``, ``sensor``, ``wavelength_nm`` and ``band_name`` keep the original
    names. All arrays must already share one grid (see :func:`align_to_grid`).
    """
    parts = []
    for name, da in arrays.items():
        part = da.assign_coords(
            band_name=("band", [str(b) for b in da.band.values]),
            band=[f"{name}.{b}" for b in da.band.values],
        )
        parts.append(part.drop_vars("spatial_ref", errors="ignore"))
    first = next(iter(arrays.values()))
    stacked = xr.concat(parts, dim="band", coords="different", compat="equals", join="exact")
    stacked.attrs = {}
    return stacked.rio.write_crs(first.rio.crs).rio.write_transform(first.rio.transform())


def valid_mask(image: xr.DataArray) -> xr.DataArray:
    """``(band, y, x)`` uint8 from a stacked ``image``: 1 where the band has data (is finite)."""
    return xr.DataArray(np.isfinite(image.values).astype(np.uint8), dims=image.dims,
                        coords={"band": image.band.values, "y": image.y.values, "x": image.x.values})


def training_statistics(image: xr.DataArray, split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation over training pixels with data.

    ``image`` ``(band, y, x)`` with NaN for nodata; ``split`` ``(y, x)``. Returns two ``(band,)``
    float64 arrays. A band with zero spread on the training pixels gets std 1 (no rescaling).
    """
    values = image.values[:, split == TRAIN].astype(np.float64)
    mean = np.nanmean(values, axis=1)
    std = np.nanstd(values, axis=1)
    std[~(std > 0)] = 1.0
    return mean, std


def fuse(
    modalities: Mapping[str, xr.DataArray],
    label: xr.DataArray,
    *,
    block_size: int,
    buffer: int,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    reproject: bool = False,
    name: str = "fused",
    reference: str | None = None,
    resampling: Mapping[str, Resampling] | None = None,
    attrs: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Align, stack, split and normalise ``modalities`` + ``label`` into the fused cube.

    ``reference`` names the reference grid (default: the first modality); the others and the
    label are snapped onto it, or reprojected with ``reproject`` (``resampling[name]``; the label
    always nearest). ``attrs`` are added to the cube's attributes (e.g. the declaration). Normalisation statistics come from the training
    split only (after the split is drawn), so validation and test pixels never inform them.
    See the module docstring for the returned variables.
    """
    if not modalities:
        raise InputError("fuse() needs at least one modality")
    ref_name = reference or next(iter(modalities))
    ref = modalities[ref_name]
    aligned = align_to_grid(ref, {**modalities, "label": label}, reproject=reproject,
                            resampling={**(resampling or {}), "label": Resampling.nearest}, reference_name=ref_name,
                            reproject_key=f"stacks.{name}.reproject")
    lab = aligned.pop("label")
    image = stack_modalities(aligned)
    valid = valid_mask(image)
    label_values = np.asarray(lab.values, dtype=np.int16)
    class_names = list(label.attrs["class_names"])
    split = block_split(label_values, block_size=block_size, buffer=buffer, fractions=fractions,
                        seed=seed, n_classes=len(class_names))
    mean, std = training_statistics(image, split)
    normed = (image - xr.DataArray(mean, dims="band")) / xr.DataArray(std, dims="band")
    ds = xr.Dataset(
        {
            "image": normed.astype(np.float32).drop_vars("spatial_ref", errors="ignore"),
            "valid": valid,
            "label": (("y", "x"), label_values),
            "split": (("y", "x"), split),
            "band_mean": ("band", mean),
            "band_std": ("band", std),
        },
        coords={"class": class_names},
        attrs={
            "name": name,
            "reference_modality": ref_name,
            "block_size": block_size,
            "buffer": buffer,
            "split_fractions": list(fractions),
            "seed": seed,
            "split_legend": "0 train, 1 validation, 2 test, -1 buffer, -2 unused",
            "normalisation": "per-band z-score with training-split statistics (band_mean, band_std)",
            **dict(attrs or {}),
        },
    )
    ds["image"].attrs = {"units": "z-score", "long_name": "normalised fused bands"}
    return ds.rio.write_crs(ref.rio.crs).rio.write_transform(ref.rio.transform())


def write_cube(ds: xr.Dataset, path: str) -> None:
    """Write the fused cube as NetCDF-4 (h5netcdf), compressed."""
    # merge with each variable's own encoding, which carries rioxarray's grid_mapping
    enc = {v: {**ds[v].encoding, "zlib": True, "complevel": 4} for v in ("image", "valid", "label", "split")}
    ds.to_netcdf(path, engine="h5netcdf", encoding=enc)


def read_cube(path: str) -> xr.Dataset:
    """Read a fused cube written by :func:`write_cube` into memory (CRS restored)."""
    if not Path(path).is_file():
        raise DatasetNotFoundError(f"fused cube {path} not found; run notebook 01_data_fusion first")
    with xr.open_dataset(path, engine="h5netcdf", decode_coords="all") as ds:
        return ds.load()
