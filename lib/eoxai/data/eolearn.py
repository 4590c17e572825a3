"""The eo-learn test EOPatch (Slovenia): multi-date Sentinel-2 L1C, a DEM and a LULC map.

Source: sentinel-hub/eo-learn ``example_data`` (MIT licence). 101 x 100 pixels at about 10 m in
EPSG:32633. The five reference scenes are cloud-free dates whose acquisition times the publisher
did not record, so they are treated as unordered dates; the compendium uses two of them as the
source papers' "dual-month optical" input (``s2_t1``, ``s2_t2``) plus the DEM (``dem``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401
import xarray as xr
from matplotlib.figure import Figure

from eoxai.data.raster import geojson_grid, require_file, verify_against_root
from eoxai.data.validate import (
    S2_L1C_BANDS,
    S2_WAVELENGTH_NM,
    check_band_count,
    check_classes,
    check_informative,
    encode_labels,
)
from eoxai.errors import DatasetNotFoundError, GridMismatchError, InputError


class EOLearnPatch:
    """Reader for the eo-learn TestEOPatch.

    Parameters
    ----------
    root:
        Data folder holding ``SHA256SUMS`` and ``folder``.
    folder:
        ``eolearn_patch`` (the shipped copy).
    dates:
        Indices (0-4) of the reference scenes to use, one modality each: ``s2_t1``, ``s2_t2``, ...
    checksum:
        Verify each file against ``root/SHA256SUMS``.

    ``load()`` returns ``{"s2_t1": (13, H, W), "s2_t2": (13, H, W), "dem": (1, H, W), "label": (H, W)}``
    with reflectance (0-1), elevation in metres and class indices (-1 no data).
    """

    files = {
        "scenes": "REFERENCE_SCENES.npy",
        "dem": "data_timeless/DEM.npy",
        "lulc": "mask_timeless/LULC.npy",
        "bbox": "bbox.geojson",
    }
    #: eo-learn LULC value -> class name, the classes present in this patch (0 is no data)
    classes: dict[int, str] = {
        1: "cultivated_land", 2: "forest", 3: "grassland", 4: "shrubland", 8: "artificial_surface",
    }
    label_nodata: int = 0
    how_to_get = "Get data/eolearn_patch as data/README.md describes."

    def __init__(
        self,
        root: str | Path = "data",
        folder: str = "eolearn_patch",
        dates: Sequence[int] = (0, 4),
        checksum: bool = True,
    ) -> None:
        self.root = Path(root)
        self.dir = self.root / folder
        if not self.dir.is_dir():
            raise DatasetNotFoundError(f"eo-learn patch folder {self.dir} not found. {self.how_to_get}")
        if len(set(dates)) != len(dates) or not dates:
            raise InputError(f"dates must be distinct scene indices, got {list(dates)}")
        self.dates = list(dates)
        self.checksum = checksum

    def paths(self) -> dict[str, Path]:
        return {k: require_file(self.dir / v, self.how_to_get) for k, v in self.files.items()}

    def grid(self, height: int, width: int) -> tuple[object, np.ndarray, np.ndarray, str]:
        """Transform, pixel-centre ``y``/``x`` coordinates and CRS from ``bbox.geojson``."""
        return geojson_grid(self.paths()["bbox"], height, width)

    def load(self) -> dict[str, xr.DataArray]:
        """Read, verify and check the patch. See the class docstring for the returned shapes."""
        paths = self.paths()
        if self.checksum:
            verify_against_root(self.root, list(paths.values()))
        scenes = np.load(paths["scenes"])  # (T, H, W, 13)
        dem = np.load(paths["dem"])  # (H, W, 1)
        lulc = np.load(paths["lulc"])  # (H, W, 1)
        if scenes.ndim != 4:
            raise GridMismatchError(f"{paths['scenes'].name}: expected (dates, H, W, bands), got {scenes.shape}")
        check_band_count(scenes.shape[-1], S2_L1C_BANDS, paths["scenes"].name)
        check_band_count(dem.shape[-1], ("elevation",), paths["dem"].name)
        h, w = scenes.shape[1:3]
        for name, arr in (("DEM", dem), ("LULC", lulc)):
            if arr.shape[:2] != (h, w):
                raise GridMismatchError(f"{name} grid {arr.shape[:2]} differs from the scenes' {(h, w)}")
        bad = [d for d in self.dates if not 0 <= d < scenes.shape[0]]
        if bad:
            raise InputError(f"dates {bad} out of range: the patch has {scenes.shape[0]} reference scenes")
        transform, y, x, crs = self.grid(h, w)

        def wrap(values: np.ndarray, bands: Sequence[str], modality: str, sensor: str, units: str) -> xr.DataArray:
            da = xr.DataArray(
                values.astype(np.float32), dims=("band", "y", "x"),
                coords={"band": list(bands), "y": y, "x": x}, name=modality,
                attrs={"modality": modality, "sensor": sensor, "units": units, "source": self.dir.name},
            ).assign_coords(
                modality=("band", [modality] * len(bands)),
                sensor=("band", [sensor] * len(bands)),
                wavelength_nm=("band", [S2_WAVELENGTH_NM.get(b, np.nan) for b in bands]),
            )
            return da.rio.write_crs(crs).rio.write_transform(transform)

        out: dict[str, xr.DataArray] = {}
        for i, d in enumerate(self.dates, 1):
            name = f"s2_t{i}"
            da = wrap(np.moveaxis(scenes[d], -1, 0), S2_L1C_BANDS, name, "optical", "reflectance (0-1)")
            da.attrs["scene_index"] = d
            for band in da.band.values:
                check_informative(da.sel(band=band), f"eo-learn {name} band {band}")
            out[name] = da
        out["dem"] = wrap(np.moveaxis(dem, -1, 0), ("elevation",), "dem", "elevation", "m")
        check_informative(out["dem"], "eo-learn DEM")
        raw = lulc[..., 0]
        check_classes(raw, self.classes, f"eo-learn LULC ({paths['lulc'].name})", self.label_nodata)
        label = xr.DataArray(
            encode_labels(raw, self.classes, self.label_nodata), dims=("y", "x"),
            coords={"y": y, "x": x}, name="label",
            attrs={"class_names": list(self.classes.values()), "nodata": -1, "source": paths["lulc"].name},
        )
        out["label"] = label.rio.write_crs(crs).rio.write_transform(transform)
        return out

    @staticmethod
    def plot(sample: dict[str, xr.DataArray], title: str | None = None) -> Figure:
        """True colour of the first date, the DEM and the LULC label."""
        from eoxai.plots import plot_stack_panel

        return plot_stack_panel(
            rgb=sample["s2_t1"].sel(band=["B4", "B3", "B2"]),
            sar=sample["dem"].isel(band=0),
            label=sample["label"],
            title=title,
            sar_label="DEM elevation (m)",
        )
