"""PRISMA L2D (geocoded surface reflectance) HE5 products, read with :mod:`h5py`.

The paper profile of notebook 09 uses the source paper's PRISMA scene (Seville, 27 May 2020; Linardi,
Dabo & Paris, IGARSS 2025). PRISMA products are distributed by ASI after registration
(https://prisma.asi.it/); they cannot be downloaded by this project. Put the ``.he5`` file and its
label rasters in one folder with a ``SHA256SUMS`` (``sha256sum *.he5 *.npy > SHA256SUMS``).

Layout read here (ASI, *PRISMA Products Specification Document*, L2D; HDF-EOS5)::

    /HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/VNIR_Cube                 uint16 (line, band, sample)
    /HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/SWIR_Cube                 uint16 (line, band, sample)
    /HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/{VNIR,SWIR}_PIXEL_L2_ERR_MATRIX   same shape, 0 = valid
    root attributes  List_Cw_{Vnir,Swir}, List_Fwhm_{Vnir,Swir}, List_Cw_{Vnir,Swir}_Flags (1 = band
                     delivered), L2Scale{Vnir,Swir}{Min,Max}, Epsg_Code,
                     Product_ULcorner_{easting,northing}

Reflectance = ``L2ScaleMin + DN * (L2ScaleMax - L2ScaleMin) / 65535``. The cube's first axis is
taken as image rows and its last as columns, as stored; the UTM grid from the corner attributes
is attached as given (30 m). Check the orientation against a map before overlaying other data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from eoxai.data.hyperspectral import scene_blocks
from eoxai.data.raster import require_file, verify_against_root
from eoxai.data.validate import check_classes, encode_labels
from eoxai.errors import BandCountError, DatasetNotFoundError, GridMismatchError

SWATH = "HDFEOS/SWATHS/PRS_L2D_HCO"
DETECTORS: dict[str, str] = {"VNIR": "Vnir", "SWIR": "Swir"}
PIXEL_SIZE_M = 30.0


class PrismaL2D:
    """Reader for one PRISMA L2D hyperspectral product.

    Parameters
    ----------
    path:
        The ``.he5`` file.
    checksum:
        Verify the file against ``SHA256SUMS`` in its folder before reading.
    exclude_nm:
        Wavelength ranges ``[[lo, hi], ...]`` (nm, inclusive) to leave out, e.g. the water-vapour
        absorption windows the seed removed.

    Bands are named ``VNIR_001``.. and ``SWIR_001``.. by detector and position in the cube; bands
    whose flag is 0 (not delivered) are left out. :meth:`read` returns reflectance ``(band, y, x)``
    sorted by wavelength, with ``wavelength_nm``, ``fwhm_nm`` and ``detector`` coordinates.
    """

    how_to_get = (
        "PRISMA products are distributed by ASI after registration at https://prisma.asi.it/; "
        "download the L2D product, put the .he5 file under data/prisma/ with a SHA256SUMS "
        "(sha256sum *.he5 > SHA256SUMS) and point the paper profile's 09_patch_size_hyperopt.prisma.file at it."
    )

    def __init__(self, path: str | Path, checksum: bool = True,
                 exclude_nm: Sequence[Sequence[float]] = ()) -> None:
        self.path = require_file(Path(path), self.how_to_get)
        if checksum:
            verify_against_root(self.path.parent, [self.path])
        self.exclude_nm = [(float(lo), float(hi)) for lo, hi in exclude_nm]

    def _file(self):  # noqa: ANN202 - h5py.File
        import h5py

        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetNotFoundError(f"{self.path} is not a readable HDF5/HE5 file: {exc}") from exc

    @staticmethod
    def _dataset(f: Any, name: str) -> Any:  # h5py objects (untyped)
        key = f"{SWATH}/Data Fields/{name}"
        if key not in f:
            raise DatasetNotFoundError(
                f"{Path(f.filename).name} has no dataset /{key}: not a PRISMA L2D hyperspectral product"
            )
        return f[key]

    @staticmethod
    def _attr(f: Any, name: str) -> np.ndarray:
        if name not in f.attrs:
            raise DatasetNotFoundError(f"{Path(f.filename).name} lacks the root attribute {name!r} of a PRISMA L2D product")
        return np.atleast_1d(np.asarray(f.attrs[name]))

    def band_table(self) -> pd.DataFrame:
        """Every delivered band: ``band``, ``detector``, ``index`` (in its cube), ``wavelength_nm``, ``fwhm_nm``.

        Sorted by wavelength, with the ``exclude_nm`` ranges removed. Raises
        :class:`BandCountError` if a cube's band axis and its wavelength list disagree.
        """
        rows = []
        with self._file() as f:
            for det, key in DETECTORS.items():
                cube = self._dataset(f, f"{det}_Cube")
                cw = self._attr(f, f"List_Cw_{key}")
                fwhm = self._attr(f, f"List_Fwhm_{key}")
                flags = self._attr(f, f"List_Cw_{key}_Flags")
                if not (len(cw) == len(fwhm) == len(flags) == cube.shape[1]):
                    raise BandCountError(
                        f"{self.path.name}: {det}_Cube has {cube.shape[1]} bands but List_Cw_{key} lists {len(cw)}, "
                        f"List_Fwhm_{key} {len(fwhm)}, List_Cw_{key}_Flags {len(flags)}"
                    )
                for i, (w, fw, fl) in enumerate(zip(cw, fwhm, flags, strict=True)):
                    if int(fl) == 1 and float(w) > 0:
                        rows.append({"band": f"{det}_{i + 1:03d}", "detector": det, "index": i,
                                     "wavelength_nm": float(w), "fwhm_nm": float(fw)})
        table = pd.DataFrame(rows, columns=["band", "detector", "index", "wavelength_nm", "fwhm_nm"])
        for lo, hi in self.exclude_nm:
            table = table[~table.wavelength_nm.between(lo, hi)]
        return table.sort_values("wavelength_nm", kind="stable").reset_index(drop=True)

    def read(self, bands: Sequence[str] | None = None,
             window: tuple[slice, slice] | None = None) -> xr.DataArray:
        """Reflectance ``(band, y, x)`` float32, NaN where the L2 error matrix flags a pixel.

        ``bands`` selects band names (default: every delivered band outside ``exclude_nm``);
        ``window`` a ``(rows, cols)`` slice pair. Raises :class:`BandCountError` naming the
        requested bands the product does not hold.
        """
        table = self.band_table()
        if bands is not None:
            missing = [b for b in bands if b not in set(table.band)]
            if missing:
                raise BandCountError(
                    f"{self.path.name} does not hold band(s) {missing} (flagged, excluded or absent); "
                    f"it has {len(table)} bands {table.band.iloc[0]} .. {table.band.iloc[-1]}"
                )
            table = table.set_index("band").loc[list(bands)].reset_index()
        rows, cols = window or (slice(None), slice(None))
        parts = []
        with self._file() as f:
            scales = {}
            for det, key in DETECTORS.items():
                scales[det] = (float(self._attr(f, f"L2Scale{key}Min")[0]), float(self._attr(f, f"L2Scale{key}Max")[0]))
            for row in table.itertuples(index=False):
                dn = self._dataset(f, f"{row.detector}_Cube")[rows, row.index, cols].astype(np.float32)
                lo, hi = scales[row.detector]
                refl = lo + dn * np.float32((hi - lo) / 65535.0)
                err_name = f"{row.detector}_PIXEL_L2_ERR_MATRIX"
                if f"{SWATH}/Data Fields/{err_name}" in f:
                    refl[self._dataset(f, err_name)[rows, row.index, cols] != 0] = np.nan
                parts.append(refl)
            epsg = int(f.attrs["Epsg_Code"]) if "Epsg_Code" in f.attrs else None
            ul = tuple(float(np.asarray(f.attrs[k]).ravel()[0]) for k in
                       ("Product_ULcorner_easting", "Product_ULcorner_northing") if k in f.attrs)
        values = np.stack(parts) if parts else np.empty((0, 0, 0), np.float32)
        da = xr.DataArray(
            values, dims=("band", "y", "x"),
            coords={"band": list(table.band), "wavelength_nm": ("band", table.wavelength_nm.values),
                    "fwhm_nm": ("band", table.fwhm_nm.values), "detector": ("band", table.detector.values)},
            name="prisma", attrs={"sensor": "PRISMA HSI", "units": "reflectance (0-1)", "source": self.path.name},
        )
        if epsg is not None and len(ul) == 2:
            from rasterio.transform import from_origin

            r0 = (rows.start or 0) if isinstance(rows, slice) else 0
            c0 = (cols.start or 0) if isinstance(cols, slice) else 0
            transform = from_origin(ul[0] + c0 * PIXEL_SIZE_M, ul[1] - r0 * PIXEL_SIZE_M, PIXEL_SIZE_M, PIXEL_SIZE_M)
            da = da.rio.write_crs(f"EPSG:{epsg}").rio.write_transform(transform)
        return da

    def tiles(self, labels: Sequence[str | Path], classes: Mapping[int, str], *, block_size: int,
              fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0, label_nodata: int = 0) -> xr.Dataset:
        """The scene cut into a tile set (see :mod:`eoxai.data.hyperspectral`) with a block split.

        ``labels`` are label rasters on the scene grid (the seed ships separate train and test
        masks; they are merged, the first labelled value winning) with raw values ``classes``
        (raw value -> name) and ``label_nodata`` for unlabelled pixels. Blocks of ``block_size``
        pixels are assigned to splits as a whole, so train and test pixels are never neighbours
        inside a patch (the source paper's left/right split let patches straddle the border).
        """
        image = self.read()
        merged = np.full(image.shape[1:], label_nodata, dtype=np.int64)
        for path in labels:
            raw = read_label_raster(path)
            if raw.shape != merged.shape:
                raise GridMismatchError(f"{Path(path).name}: label grid {raw.shape} differs from the cube's {merged.shape}")
            check_classes(raw, classes, f"PRISMA label {Path(path).name}", label_nodata)
            merged = np.where(merged == label_nodata, raw, merged)
        encoded = encode_labels(merged, classes, label_nodata)
        return scene_blocks(image, encoded, list(classes.values()), block_size=block_size, fractions=fractions,
                            seed=seed, dataset="prisma", source=self.path.name, resolution_m=PIXEL_SIZE_M,
                            split_source=f"blocks of {block_size} pixels, eoxai.split.block_split")


def read_label_raster(path: str | Path) -> np.ndarray:
    """A label map on the scene's grid from ``.npy`` (the source paper's masks) or a one-band GeoTIFF."""
    path = require_file(Path(path), PrismaL2D.how_to_get)
    if path.suffix == ".npy":
        return np.load(path)
    import rioxarray

    da: xr.DataArray = rioxarray.open_rasterio(path)  # type: ignore[assignment]  # one single-band file
    if da.sizes["band"] != 1:
        raise BandCountError(f"{path.name}: a label raster has 1 band, found {da.sizes['band']}")
    return np.asarray(da.values[0])
