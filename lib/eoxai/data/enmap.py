"""EnMAP L2A hyperspectral tiles over Potsdam with land-cover labels (the shipped sample).

Scene ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302 (24 July 2022, 30 m, 224 bands,
418-2,446 nm), cut by the EnMAP-Box project into 32 x 32 tiles with a train/validation/test list
(``EnMAP-Box/enmap-box``, ``tests/testdata/external/specdeepmap``; contains modified EnMAP data
(c) DLR 2022, labels from GeoBasis-DE/LGB aerial imagery). Layout under ``root/folder``::

    images/enmap_potsdam_tile_<x>_<y>.tif   224 bands, float32 reflectance x 10,000, nodata -32768;
                                            band descriptions "band i (<wavelength> Nanometers)"
    labels/enmap_potsdam_tile_<x>_<y>.tif   float32, 0 unlabelled, 1 roof .. 6 water
    {train,validation,test}_files.csv       the publisher's split: columns image, mask
    enmap_potsdam_srf.csv                   centre wavelength and FWHM (nm) per band

Bands 1-91 are the VNIR detector, 92-224 the SWIR detector (the two overlap between 902 and
993 nm, so wavelengths are not monotonic in file order); 6 SWIR bands around 1,350-1,400 nm are
nodata in every tile (dropped by :func:`eoxai.data.hyperspectral.drop_nodata_bands`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from matplotlib.figure import Figure

from eoxai.data.hyperspectral import SPLITS, drop_nodata_bands, normalise, tile_dataset
from eoxai.data.raster import read_bands, read_label, require_file, verify_against_root
from eoxai.errors import BandCountError, DataFormatError, DatasetNotFoundError, GridMismatchError, SplitError

_DESCRIPTION = re.compile(r"^band (\d+) \(([\d.]+) Nanometers\)$")


class EnMAPPotsdam:
    """Reader for the EnMAP Potsdam tiles, in the manner of a torchgeo dataset.

    Parameters
    ----------
    root:
        Data folder holding ``SHA256SUMS`` and ``folder``.
    folder:
        ``enmap_potsdam`` (the shipped copy).
    checksum:
        Verify every file read against ``root/SHA256SUMS``.

    ``load()`` returns a tile set (see :mod:`eoxai.data.hyperspectral`): ``image`` ``(tile, 224,
    32, 32)`` reflectance (0-1) with NaN for nodata, ``label`` ``(tile, 32, 32)`` class indices
    (-1 unlabelled), ``split`` per tile from the publisher's csv lists, ``wavelength_nm``,
    ``fwhm_nm`` and ``detector`` over ``band``. ``prepare()`` also drops the nodata bands and
    normalises with training statistics.
    """

    #: raw label value -> class name (the publisher's level-3 legend order); 0 is unlabelled
    classes: dict[int, str] = {1: "roof", 2: "pavement", 3: "low_vegetation", 4: "tree", 5: "soil", 6: "water"}
    label_nodata: int = 0
    image_nodata: float = -32768.0
    scale: float = 1e-4
    n_bands: int = 224
    split_files: dict[str, str] = {s: f"{s}_files.csv" for s in SPLITS}
    srf_file = "enmap_potsdam_srf.csv"
    how_to_get = "Get data/enmap_potsdam as data/README.md describes."

    def __init__(self, root: str | Path = "data", folder: str = "enmap_potsdam", checksum: bool = True) -> None:
        self.root = Path(root)
        self.dir = self.root / folder
        if not self.dir.is_dir():
            raise DatasetNotFoundError(f"EnMAP folder {self.dir} not found. {self.how_to_get}")
        self.checksum = checksum

    # ------------------------------------------------------------------ files
    def split_table(self) -> pd.DataFrame:
        """One row per tile: ``tile``, ``split``, ``image`` and ``label`` paths (publisher's csv).

        Raises :class:`DatasetNotFoundError` for a missing list or file and :class:`ValueError`
        if a tile is listed in two splits.
        """
        rows = []
        for split, name in self.split_files.items():
            table = pd.read_csv(require_file(self.dir / name, self.how_to_get))
            if list(table.columns) != ["image", "mask"]:
                raise DataFormatError(f"{name}: expected columns ['image', 'mask'], got {list(table.columns)}")
            for image, mask in table.itertuples(index=False):
                tile = Path(image).stem
                rows.append({"tile": tile, "split": split,
                             "image": require_file(self.dir / image, self.how_to_get),
                             "label": require_file(self.dir / mask, self.how_to_get)})
        out = pd.DataFrame(rows)
        twice = out.loc[out.tile.duplicated(), "tile"].tolist()
        if twice:
            raise SplitError(f"tiles {twice} are listed in more than one split: the split is not disjoint")
        return out

    def band_table(self, image: Path | None = None) -> pd.DataFrame:
        """``band``, ``wavelength_nm``, ``fwhm_nm``, ``detector`` per band, in file order.

        Wavelengths come from the tile's band descriptions; the FWHM from ``enmap_potsdam_srf.csv``,
        matched by wavelength. Raises :class:`BandCountError` if the descriptions are not the 224
        EnMAP bands or a wavelength is missing from the spectral response table.
        """
        image = image or self.split_table().image.iloc[0]
        with rasterio.open(image) as src:
            descriptions = list(src.descriptions)
        if len(descriptions) != self.n_bands:
            raise BandCountError(f"{Path(image).name}: {len(descriptions)} bands, EnMAP L2A has {self.n_bands}")
        srf = pd.read_csv(require_file(self.dir / self.srf_file, self.how_to_get))
        fwhm = dict(zip(srf.wavelength.round(3), srf.fwhm, strict=True))
        rows = []
        for i, d in enumerate(descriptions, 1):
            m = _DESCRIPTION.match(d or "")
            if m is None or int(m.group(1)) != i:
                raise BandCountError(f"{Path(image).name}: band {i} description {d!r} is not 'band {i} (<nm> Nanometers)'")
            wl = round(float(m.group(2)), 3)
            if wl not in fwhm:
                raise BandCountError(f"band {i} at {wl} nm is missing from {self.srf_file}")
            rows.append({"band": f"B{i:03d}", "description": d, "wavelength_nm": wl, "fwhm_nm": float(fwhm[wl])})
        table = pd.DataFrame(rows)
        # the SWIR detector starts where the wavelength drops back (band 92, 902 nm)
        swir_start = int(np.argmax(np.diff(table.wavelength_nm.values) < 0)) + 1
        table["detector"] = np.where(np.arange(len(table)) < swir_start, "VNIR", "SWIR")
        return table

    # ------------------------------------------------------------------ reading
    def load_tile(self, image: Path, label: Path, bands: pd.DataFrame) -> tuple[xr.DataArray, xr.DataArray]:
        """One tile: reflectance ``(224, 32, 32)`` (NaN nodata) and labels ``(32, 32)`` (-1 unlabelled)."""
        da = read_bands(image, list(bands.description), modality="enmap", sensor="EnMAP HSI",
                        units="reflectance (0-1)", scale=self.scale, nodata=self.image_nodata)
        da = da.assign_coords(band=list(bands.band), wavelength_nm=("band", bands.wavelength_nm.values),
                              fwhm_nm=("band", bands.fwhm_nm.values), detector=("band", bands.detector.values))
        lab = read_label(label, self.classes, self.label_nodata, f"EnMAP label {label.name}")
        if lab.shape != da.shape[1:] or not np.allclose(lab.x, da.x) or not np.allclose(lab.y, da.y):
            raise GridMismatchError(f"{label.name}: label grid differs from image {image.name}")
        return da, lab

    def load(self, splits: Sequence[str] = SPLITS) -> xr.Dataset:
        """Read (and verify) the tiles of ``splits`` into one tile set, raw reflectance."""
        table = self.split_table()
        table = table[table.split.isin(list(splits))]
        if table.empty:
            raise SplitError(f"no tile in splits {list(splits)}")
        if self.checksum:
            verify_against_root(self.root, [*table.image, *table.label, self.dir / self.srf_file,
                                            *(self.dir / f for f in self.split_files.values())])
        bands = self.band_table(table.image.iloc[0])
        images, labels, origins = [], [], []
        for row in table.itertuples(index=False):
            da, lab = self.load_tile(row.image, row.label, bands)
            images.append(da)
            labels.append(lab.values)
            origins.append((float(da.x[0]), float(da.y[0])))
        ds = tile_dataset(images, labels, list(table.tile), list(table.split), list(self.classes.values()),
                          dataset="enmap_potsdam", resolution_m=30.0, crs=str(images[0].rio.crs),
                          split_source="publisher's train/validation/test csv lists")
        ds = ds.assign_coords(x_origin=("tile", [o[0] for o in origins]), y_origin=("tile", [o[1] for o in origins]))
        return ds

    def prepare(self, splits: Sequence[str] = SPLITS) -> xr.Dataset:
        """:meth:`load`, drop bands that are nodata on every training pixel, z-score with training statistics."""
        return normalise(drop_nodata_bands(self.load(splits)))

    # ------------------------------------------------------------------ figures
    @staticmethod
    def plot(ds: xr.Dataset, tile: str | int = 0, title: str | None = None) -> Figure:
        """A tile's true-colour composite (bands nearest 650, 560, 470 nm) beside its labels."""
        import matplotlib.pyplot as plt

        from eoxai.plots import class_cmap, class_legend, pixel_axes, stretch

        t = ds.isel(tile=tile) if isinstance(tile, int) else ds.sel(tile=tile)
        wl = ds.wavelength_nm.values
        rgb = [int(np.nanargmin(np.abs(wl - w))) for w in (650.0, 560.0, 470.0)]
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 4), constrained_layout=True)
        axes[0].imshow(stretch(t["image"].values[rgb]), interpolation="nearest")
        axes[0].set_title("R,G,B = " + ", ".join(f"{wl[i]:.0f} nm" for i in rgb))
        cmap, norm = class_cmap(list(ds["class"].values))
        axes[1].imshow(t["label"].values, cmap=cmap, norm=norm, interpolation="nearest")
        class_legend(axes[1], list(ds["class"].values), fontsize=6)
        axes[1].set_title(f"labels ({str(t.split.values)} split)")
        for ax in axes:
            pixel_axes(ax, float(ds.attrs.get("resolution_m", 30.0)))
        fig.suptitle(title or f"EnMAP tile {str(t.tile.values)}")
        return fig
