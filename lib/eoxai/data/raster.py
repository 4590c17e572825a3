"""Reading GeoTIFFs into labelled DataArrays (rioxarray), with nodata as NaN."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from eoxai.checksums import read_sha256sums, verify_files
from eoxai.data.validate import check_band_count, check_classes, encode_labels
from eoxai.errors import (
    BandCountError,
    DatasetNotFoundError,
    EmptyTileError,
    GridMismatchError,
    MissingCRSError,
    RasterReadError,
)


def require_file(path: Path, how_to_get: str) -> Path:
    """Return ``path`` if it is a file, else raise a :class:`DatasetNotFoundError` saying how to get it."""
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} not found. {how_to_get}")
    return path


def verify_against_root(root: Path, files: Sequence[Path], extra: Sequence[Path] = ()) -> None:
    """Verify ``files`` (under ``root``) against ``root/SHA256SUMS`` and any ``root/SHA256SUMS.<name>``.

    ``SHA256SUMS`` ships with the samples; ``SHA256SUMS.<name>`` is written by
    :mod:`eoxai.data.download` for a full dataset; ``extra`` lists (e.g. ``root/<folder>/SHA256SUMS``
    of a user's own stack) hold paths relative to their own folder. Raises
    :class:`DatasetNotFoundError` if no checksum list exists or none lists a file,
    :class:`~eoxai.errors.ChecksumError` on a mismatch.
    """
    lists = sorted(root.glob("SHA256SUMS*"))
    extra = [p for p in extra if p.is_file()]
    if not lists and not extra:
        raise DatasetNotFoundError(f"no checksum list (SHA256SUMS) in {root}; cannot verify {[f.name for f in files]}")
    sums: dict[str, str] = {}
    for path in lists:
        sums.update(read_sha256sums(path))
    # paths relative to the root without resolving links: a dataset folder may be a link to another disk
    top = _absolute(root)
    for path in extra:
        prefix = _absolute(path.parent).relative_to(top)
        sums.update({(prefix / rel).as_posix(): digest for rel, digest in read_sha256sums(path).items()})
    rel = [_absolute(f).relative_to(top).as_posix() for f in files]
    unlisted = [r for r in rel if r not in sums]
    if unlisted:
        raise DatasetNotFoundError(
            f"the checksum lists in {root} do not list {unlisted}; cannot verify them. List them with "
            "`sha256sum FILES >> SHA256SUMS` in the stack's folder (and name that list under `checksums:` "
            "in the declaration), or pass checksum=False to skip verification at your own risk"
        )
    verify_files(root, {r: sums[r] for r in rel})


def _absolute(path: Path) -> Path:
    """``path`` made absolute and normalised (``..`` removed) without following symbolic links."""
    import os

    return Path(os.path.abspath(path))


def open_raster(path: Path) -> xr.DataArray:
    """Open a raster fully into memory as ``(band, y, x)``; errors name ``path`` and what failed.

    A truncated or corrupt file raises :class:`RasterReadError` (with GDAL's reason), a raster
    without a CRS :class:`MissingCRSError`.
    """
    import rasterio.errors

    try:
        da: xr.DataArray = rioxarray.open_rasterio(path, mask_and_scale=False)  # type: ignore[assignment]  # one file
        da.load()
    except (rasterio.errors.RasterioError, OSError, ValueError) as exc:
        reasons: list[str] = []
        cause: BaseException | None = exc
        while cause is not None and len(reasons) < 4:
            text = str(cause).strip()
            if text and text not in reasons:
                reasons.append(text)
            cause = cause.__cause__ or cause.__context__
        raise RasterReadError(
            f"{path}: cannot read the raster ({type(exc).__name__}: {'; '.join(reasons)}). The file may be "
            "truncated or corrupt: copy or download it again."
        ) from exc
    if da.rio.crs is None:
        raise MissingCRSError(
            f"{path}: the raster has no coordinate reference system (CRS), so it cannot be aligned with the "
            "other modalities. Write one, e.g. `rio edit-info --crs EPSG:32633 FILE`."
        )
    return da


def read_bands(
    path: Path,
    band_names: Sequence[str],
    *,
    modality: str,
    sensor: str,
    units: str,
    scale: float = 1.0,
    offset: float = 0.0,
    nodata: float | None = None,
    wavelengths: Mapping[str, float] | None = None,
) -> xr.DataArray:
    """Read a multiband GeoTIFF as float32 ``(band, y, x)`` with named bands and NaN for nodata.

    ``scale`` multiplies raw values (e.g. 1e-4 for Sentinel-2 reflectance x 10,000), then ``offset``
    is added. ``nodata``
    overrides the file's nodata value. Band names come from ``band_names`` and are checked against
    the file's band descriptions where it has them.
    """
    da = open_raster(path)
    check_band_count(da.sizes["band"], band_names, f"{path} ({modality})")
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
    if offset:
        values = values + np.float32(offset)
    values[invalid] = np.nan
    out = xr.DataArray(
        values,
        dims=("band", "y", "x"),
        coords={"band": list(band_names), "y": da.y.values, "x": da.x.values},
        name=modality,
        attrs={"modality": modality, "sensor": sensor, "units": units, "source": path.name, "path": str(path)},
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
    da = open_raster(path)
    if da.sizes["band"] != 1:
        raise BandCountError(f"{what}: {path.name} has {da.sizes['band']} bands, a label raster has 1")
    raw = da.values[0]
    if nodata is not None and bool((raw == nodata).all()):
        raise EmptyTileError(f"{what}: every pixel of {path} is nodata ({nodata}); nothing to train or test on")
    check_classes(raw, declared, f"{what} ({path})", nodata)
    enc = encode_labels(raw, declared, nodata)
    out = xr.DataArray(
        enc, dims=("y", "x"), coords={"y": da.y.values, "x": da.x.values}, name="label",
        attrs={"class_names": list(declared.values()), "nodata": -1, "source": path.name, "path": str(path)},
    )
    return out.rio.write_crs(da.rio.crs).rio.write_transform(da.rio.transform())


def geojson_grid(path: Path, height: int, width: int) -> tuple[Any, np.ndarray, np.ndarray, str]:
    """A ``height x width`` grid spanning the polygon of a GeoJSON file (eo-learn's ``bbox.geojson``):
    its affine transform, pixel-centre ``y`` ``(H,)`` and ``x`` ``(W,)`` coordinates and CRS
    (``'EPSG:<code>'``, from the file's ``crs`` member); :class:`MissingCRSError` naming the file
    when that member is absent."""
    from rasterio.transform import from_bounds

    from eoxai.errors import MissingCRSError

    gj = json.loads(Path(path).read_text())
    try:
        crs = gj["crs"]["properties"]["name"].split("EPSG::")[-1]
    except (KeyError, TypeError) as exc:
        raise MissingCRSError(f"{path}: the grid has no CRS (a `crs` member with an EPSG name)") from exc
    coords = np.asarray(gj["coordinates"][0], dtype=np.float64)
    minx, miny = coords.min(axis=0)
    maxx, maxy = coords.max(axis=0)
    transform = from_bounds(minx, miny, maxx, maxy, width, height)
    x = minx + (np.arange(width) + 0.5) * transform.a
    y = maxy + (np.arange(height) + 0.5) * transform.e
    return transform, y, x, f"EPSG:{crs}"
