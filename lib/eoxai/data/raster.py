"""Reading GeoTIFFs into labelled DataArrays (rioxarray), with nodata as NaN."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from eoxai.checksums import read_sha256sums, verify_files
from eoxai.data.validate import check_band_count, check_classes, encode_labels
from eoxai.errors import BandCountError, DatasetNotFoundError, GridMismatchError


def require_file(path: Path, how_to_get: str) -> Path:
    """Return ``path`` if it is a file, else raise a :class:`DatasetNotFoundError` saying how to get it."""
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} not found. {how_to_get}")
    return path


def verify_against_root(root: Path, files: Sequence[Path]) -> None:
    """Verify ``files`` (under ``root``) against ``root/SHA256SUMS`` and any ``root/SHA256SUMS.<name>``.

    ``SHA256SUMS`` ships with the samples; ``SHA256SUMS.<name>`` is written by
    :mod:`eoxai.data.download` for a full dataset. Raises :class:`DatasetNotFoundError` if no
    checksum list exists or none lists a file, :class:`~eoxai.errors.ChecksumError` on a mismatch.
    """
    lists = sorted(root.glob("SHA256SUMS*"))
    if not lists:
        raise DatasetNotFoundError(f"no checksum list (SHA256SUMS) in {root}; cannot verify {[f.name for f in files]}")
    sums: dict[str, str] = {}
    for path in lists:
        sums.update(read_sha256sums(path))
    rel = [f.resolve().relative_to(root.resolve()).as_posix() for f in files]
    unlisted = [r for r in rel if r not in sums]
    if unlisted:
        raise DatasetNotFoundError(
            f"the checksum lists in {root} do not list {unlisted}; cannot verify them "
            "(pass checksum=False to skip verification at your own risk)"
        )
    verify_files(root, {r: sums[r] for r in rel})


def read_bands(
    path: Path,
    band_names: Sequence[str],
    *,
    modality: str,
    sensor: str,
    units: str,
    scale: float = 1.0,
    nodata: float | None = None,
    wavelengths: Mapping[str, float] | None = None,
) -> xr.DataArray:
    """Read a multiband GeoTIFF as float32 ``(band, y, x)`` with named bands and NaN for nodata.

    ``scale`` multiplies raw values (e.g. 1e-4 for Sentinel-2 reflectance x 10,000). ``nodata``
    overrides the file's nodata value. Band names come from ``band_names`` and are checked against
    the file's band descriptions where it has them.
    """
    da = rioxarray.open_rasterio(path, mask_and_scale=False)
    check_band_count(da.sizes["band"], band_names, f"{path.name} ({modality})")
    described = da.attrs.get("long_name")
    if isinstance(described, (tuple, list)) and all(described) and tuple(described) != tuple(band_names):
        raise GridMismatchError(
            f"{path.name}: band descriptions {tuple(described)} differ from the expected {tuple(band_names)}"
        )
    nod = da.rio.nodata if nodata is None else nodata
    values = da.values.astype(np.float32)
    invalid = ~np.isfinite(values)
    if nod is not None and np.isfinite(nod):
        invalid |= da.values == nod
    values = values * np.float32(scale)
    values[invalid] = np.nan
    out = xr.DataArray(
        values,
        dims=("band", "y", "x"),
        coords={"band": list(band_names), "y": da.y.values, "x": da.x.values},
        name=modality,
        attrs={"modality": modality, "sensor": sensor, "units": units, "source": path.name},
    )
    out = out.assign_coords(
        modality=("band", [modality] * len(band_names)),
        sensor=("band", [sensor] * len(band_names)),
        wavelength_nm=("band", [float((wavelengths or {}).get(b, np.nan)) for b in band_names]),
    )
    out = out.rio.write_crs(da.rio.crs).rio.write_transform(da.rio.transform())
    return out


def read_label(path: Path, declared: dict[int, str], nodata: int | None, what: str) -> xr.DataArray:
    """Read a 1-band label raster, check its values and encode classes as ``0..K-1`` (-1 no data).

    Returns int16 ``(y, x)`` with the class names in ``attrs['class_names']``.
    """
    da = rioxarray.open_rasterio(path, mask_and_scale=False)
    if da.sizes["band"] != 1:
        raise BandCountError(f"{what}: {path.name} has {da.sizes['band']} bands, a label raster has 1")
    raw = da.values[0]
    check_classes(raw, declared, f"{what} ({path.name})", nodata)
    enc = encode_labels(raw, declared, nodata)
    out = xr.DataArray(
        enc, dims=("y", "x"), coords={"y": da.y.values, "x": da.x.values}, name="label",
        attrs={"class_names": list(declared.values()), "nodata": -1, "source": path.name},
    )
    return out.rio.write_crs(da.rio.crs).rio.write_transform(da.rio.transform())
