"""Checks every reader runs on what it read, each raising a specific, readable error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from eoxai.errors import BandCountError, ClassLabelError, EmptyTileError

#: Sentinel-2 MSI band centre wavelengths in nm (ESA S2 MSI user handbook), by band name.
S2_WAVELENGTH_NM: dict[str, float] = {
    "B1": 443.0, "B2": 490.0, "B3": 560.0, "B4": 665.0, "B5": 705.0, "B6": 740.0, "B7": 783.0,
    "B8": 842.0, "B8A": 865.0, "B9": 945.0, "B10": 1375.0, "B11": 1610.0, "B12": 2190.0,
}
S2_L1C_BANDS: tuple[str, ...] = tuple(S2_WAVELENGTH_NM)


def check_band_count(n_found: int, expected: Sequence[str], what: str) -> None:
    """Raise :class:`BandCountError` unless ``n_found == len(expected)``."""
    if n_found != len(expected):
        raise BandCountError(
            f"{what}: found {n_found} band(s), expected {len(expected)} ({', '.join(expected)})"
        )


def check_informative(da: xr.DataArray, what: str) -> None:
    """Raise :class:`EmptyTileError` if ``da`` is all missing (NaN) or constant.

    Works on any shape; NaN marks missing values (readers turn nodata into NaN first).
    """
    values = np.asarray(da.values if isinstance(da, xr.DataArray) else da, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise EmptyTileError(f"{what}: every value is missing (NaN/nodata)")
    if finite.min() == finite.max():
        raise EmptyTileError(f"{what}: every valid value equals {finite.min():g} (constant)")


def check_classes(label: np.ndarray, declared: Mapping[int, str], what: str, nodata: int | None) -> None:
    """Raise :class:`ClassLabelError` if ``label`` holds values outside ``declared`` (and nodata).

    ``declared`` maps raw label values to class names.
    """
    allowed = set(int(v) for v in declared)
    if nodata is not None:
        allowed.add(int(nodata))
    found = np.unique(label[np.isfinite(label)] if label.dtype.kind == "f" else label)
    bad = sorted(set(int(v) for v in found) - allowed)
    if bad:
        raise ClassLabelError(
            f"{what}: label values {bad} are not among the declared classes "
            f"{dict(sorted(declared.items()))} (nodata={nodata})"
        )


def encode_labels(label: np.ndarray, declared: Mapping[int, str], nodata: int | None) -> np.ndarray:
    """Map raw label values to class indices ``0..K-1`` in the order of ``declared``; nodata -> -1.

    Call :func:`check_classes` first. Returns int16 of the same shape.
    """
    out = np.full(label.shape, -1, dtype=np.int16)
    for index, raw in enumerate(declared):
        out[label == raw] = index
    if nodata is not None:
        out[label == nodata] = -1
    return out
