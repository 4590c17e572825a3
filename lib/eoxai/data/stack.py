"""One reader for any declared stack (:mod:`eoxai.data.declaration`), chosen by the declaration's
``reader`` name from :data:`READERS`, never by the stack's name.

``geotiff`` (the default) reads one raster per modality and one label raster with rioxarray;
``eopatch_npy`` reads the numpy layout of an eo-learn EOPatch (``(dates, H, W, bands)`` arrays and
a ``bbox.geojson`` grid), the only format the shipped data needs a specialised reader for.

Like torchgeo datasets: a ``root`` data folder, checksums verified before reading,
:class:`~eoxai.errors.DatasetNotFoundError` naming the missing file and how to get it, a sample
that is a dict (``{modality: (band, y, x), "label": (y, x)}``) and ``plot()`` returning a Figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from eoxai.data.declaration import ModalityDeclaration, StackDeclaration
from eoxai.data.raster import geojson_grid, read_bands, read_label, verify_against_root
from eoxai.data.validate import check_band_count, check_classes, check_informative, encode_labels
from eoxai.errors import DatasetNotFoundError, EmptyTileError, GridMismatchError, RasterReadError


def how_to_get(decl: StackDeclaration, root: Path) -> str:
    """The remedy shown when a declared file is missing."""
    if decl.download:
        return f"Get it with `python -m eoxai.data.download {decl.download} --root {root}`."
    return f"Put the files declared for stack {decl.name!r} under {root / decl.folder} (see data/README.md)."


class StackReader:
    """Base class: files of a declaration, checksum verification, the panel figure.

    Subclasses implement :meth:`read` (``{modality: (band, y, x) float32, "label": (y, x) int16}``).
    """

    #: extra files a format needs besides the modality and label files: ``{key: reader option}``
    extra_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, declaration: StackDeclaration, root: str | Path = "data", checksum: bool = True) -> None:
        self.decl = declaration
        self.root = Path(root)
        self.dir = self.root / declaration.folder
        self.checksum = checksum
        if not self.dir.is_dir():
            raise DatasetNotFoundError(
                f"data folder {self.dir} of stack {declaration.name!r} not found. {how_to_get(declaration, self.root)}"
            )

    def paths(self) -> dict[str, Path]:
        """``{modality: file, ..., "label": file, <extra>: file}`` as declared (not checked)."""
        return declared_paths(self.decl, self.root)

    def files(self) -> list[Path]:
        """Every distinct file the stack reads, in declaration order."""
        return list(dict.fromkeys(self.paths().values()))

    def load(self) -> dict[str, xr.DataArray]:
        """Check every file exists, verify checksums, read and check values. See :meth:`read`."""
        missing = [p for p in self.files() if not p.is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"stack {self.decl.name!r}: missing file(s) {[str(p) for p in missing]}. {how_to_get(self.decl, self.root)}"
            )
        if self.checksum:
            extra = [self.root / self.decl.checksums] if self.decl.checksums else [self.dir / "SHA256SUMS"]
            verify_against_root(self.root, self.files(), extra=extra)
        sample = self.read()
        for name in self.decl.modalities:
            da = sample[name]
            for band in da.band.values:
                check_informative(da.sel(band=band), f"{da.attrs.get('path', name)} ({name}) band {band}")
        return sample

    def read(self) -> dict[str, xr.DataArray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, xr.DataArray]:
        if index != 0:
            raise IndexError(index)
        return self.load()

    def plot(self, sample: Mapping[str, xr.DataArray], title: str | None = None) -> Figure:
        """Colour composite, one more band and the label, as the declaration's ``panel`` says."""
        return plot_sample(self.decl, sample, title)


def plot_sample(decl: StackDeclaration, sample: Mapping[str, xr.DataArray], title: str | None = None) -> Figure:
    """The declared panel of a sample: composite ``panel.composite`` (default ``rgb``), the band
    ``panel.second`` (default the first band of a modality outside the composite), the label."""
    from eoxai.plots import plot_stack_panel

    composite = decl.panel.composite or decl.rgb
    second = decl.panel.second or _first_band_outside(decl, composite)

    def band(spec: str) -> xr.DataArray:
        modality, name = spec.split(".", 1)
        return sample[modality].sel(band=name)

    rgb = xr.concat([band(s) for s in composite], dim="band", coords="different", compat="equals")
    return plot_stack_panel(rgb=rgb, sar=band(second), label=sample["label"],
                            title=title if title is not None else decl.panel.title, sar_label=decl.panel.second_label)


def _first_band_outside(decl: StackDeclaration, composite: list[str]) -> str:
    used = {s.split(".", 1)[0] for s in composite}
    for m, md in decl.modalities.items():
        if m not in used:
            return f"{m}.{md.bands[0]}"
    return composite[0]


READERS: dict[str, type[StackReader]] = {}


def declared_paths(decl: StackDeclaration, root: str | Path) -> dict[str, Path]:
    """``{modality: file, "label": file, <extra>: file}`` of a declaration under ``root`` (not checked)."""
    folder = Path(root) / decl.folder
    out = {m: folder / decl.resolved_file(md.file) for m, md in decl.modalities.items()}
    out["label"] = folder / decl.resolved_file(decl.label.file)
    extra = READERS[decl.reader].extra_files if decl.reader in READERS else ()
    for key in extra:
        out[key] = folder / str(decl.modalities[decl.reference_modality].options.get(key, ""))
    return out


def declared_inputs(decl: StackDeclaration, root: str | Path) -> list[Path]:
    """Every file a stack reads plus its own checksum list: the inputs of the rule that fuses it.

    A collection (:attr:`StackDeclaration.is_collection`): its split files and every scene file
    found (:func:`eoxai.data.collection.collection_inputs`).
    """
    if decl.is_collection:
        from eoxai.data.collection import collection_inputs

        files = collection_inputs(decl, root)
    else:
        files = list(dict.fromkeys(declared_paths(decl, root).values()))
    own = Path(root) / decl.checksums if decl.checksums else Path(root) / decl.folder / "SHA256SUMS"
    if decl.checksums or own.is_file():
        files.append(own)
    return files


def register_reader(name: str) -> Callable[[type[StackReader]], type[StackReader]]:
    """Class decorator: make a reader available to declarations as ``reader: <name>``."""

    def add(cls: type[StackReader]) -> type[StackReader]:
        READERS[name] = cls
        return cls

    return add


def _wavelengths(md: ModalityDeclaration) -> dict[str, float]:
    return {b: float(v) for b, v in (md.wavelengths_nm or {}).items()}


@register_reader("geotiff")
class GeoTiffStack(StackReader):
    """One GeoTIFF (any GDAL raster) per modality, ``len(bands)`` bands each, and a 1-band label."""

    def read(self) -> dict[str, xr.DataArray]:
        d, paths = self.decl, self.paths()
        out: dict[str, xr.DataArray] = {}
        for name, md in d.modalities.items():
            da = read_bands(paths[name], md.bands, modality=name, sensor=md.sensor, units=md.units, scale=md.scale,
                            offset=md.offset, nodata=md.nodata, wavelengths=_wavelengths(md))
            da.attrs["resampling"] = md.resampling
            out[name] = da
        out["label"] = read_label(paths["label"], dict(d.label.legend), d.label.nodata, f"stack {d.name!r} label")
        return out


@register_reader("eopatch_npy")
class EOPatchNpyStack(StackReader):
    """eo-learn EOPatch arrays: ``(dates, H, W, bands)`` (``options: {index: i}`` picks a date) or
    ``(H, W, bands)``; the label ``(H, W, 1)``; the grid from the reference modality's
    ``options: {grid: bbox.geojson}`` (a GeoJSON polygon with a ``crs`` member)."""

    extra_files = ("grid",)

    def _array(self, path: Path) -> np.ndarray:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RasterReadError(f"{path}: cannot read the array ({exc}); the file may be truncated or corrupt") from exc

    def grid(self, height: int, width: int) -> tuple[Any, np.ndarray, np.ndarray, str]:
        """Transform, pixel-centre ``y``/``x`` coordinates and CRS from the GeoJSON grid file."""
        return geojson_grid(self.paths()["grid"], height, width)

    def read(self) -> dict[str, xr.DataArray]:
        d, paths = self.decl, self.paths()
        arrays: dict[str, np.ndarray] = {}
        for name, md in d.modalities.items():
            arr = self._array(paths[name])
            if "index" in md.options:
                if arr.ndim != 4:
                    raise GridMismatchError(f"{paths[name]}: expected (dates, H, W, bands), got {arr.shape}")
                if not 0 <= int(md.options["index"]) < arr.shape[0]:
                    raise ValueError(f"{paths[name]}: date index {md.options['index']} out of range "
                                     f"(the file has {arr.shape[0]} dates)")
                arr = arr[int(md.options["index"])]
            check_band_count(arr.shape[-1], md.bands, f"{paths[name]} ({name})")
            arrays[name] = np.moveaxis(arr, -1, 0)
        lab = self._array(paths["label"])
        h, w = arrays[d.reference_modality].shape[1:]
        for name, arr in [*arrays.items(), ("label", np.moveaxis(lab, -1, 0))]:
            if arr.shape[-2:] != (h, w):
                raise GridMismatchError(f"{paths[name]} grid {arr.shape[-2:]} differs from the reference "
                                        f"{paths[d.reference_modality]} grid {(h, w)}")
        transform, y, x, crs = self.grid(h, w)
        out: dict[str, xr.DataArray] = {}
        for name, md in d.modalities.items():
            values = arrays[name].astype(np.float32)
            if md.scale != 1.0:
                values = values * np.float32(md.scale)
            if md.offset:
                values = values + np.float32(md.offset)
            if md.nodata is not None:
                values[arrays[name] == md.nodata] = np.nan
            wl = _wavelengths(md)
            da = xr.DataArray(
                values, dims=("band", "y", "x"), coords={"band": list(md.bands), "y": y, "x": x}, name=name,
                attrs={"modality": name, "sensor": md.sensor, "units": md.units, "source": paths[name].name,
                       "path": str(paths[name]), "resampling": md.resampling},
            ).assign_coords(
                modality=("band", [name] * len(md.bands)),
                sensor=("band", [md.sensor] * len(md.bands)),
                wavelength_nm=("band", [wl.get(b, np.nan) for b in md.bands]),
            )
            out[name] = da.rio.write_crs(crs).rio.write_transform(transform)
        raw = lab[..., 0]
        legend, nodata = dict(d.label.legend), d.label.nodata
        if nodata is not None and bool((raw == nodata).all()):
            raise EmptyTileError(f"stack {d.name!r} label: every pixel of {paths['label']} is nodata ({nodata})")
        check_classes(raw, legend, f"stack {d.name!r} label ({paths['label']})", nodata)
        label = xr.DataArray(
            encode_labels(raw, legend, nodata), dims=("y", "x"), coords={"y": y, "x": x}, name="label",
            attrs={"class_names": list(legend.values()), "nodata": -1, "source": paths["label"].name,
                   "path": str(paths["label"])},
        )
        out["label"] = label.rio.write_crs(crs).rio.write_transform(transform)
        return out


def open_stack(declaration: StackDeclaration, root: str | Path = "data", checksum: bool = True) -> StackReader:
    """The reader the declaration names; :class:`KeyError`-derived error listing the known readers."""
    from eoxai.errors import ConfigError

    if declaration.reader not in READERS:
        raise ConfigError(f"stack {declaration.name!r}: unknown reader {declaration.reader!r}; known readers: "
                          f"{sorted(READERS)} (register one with eoxai.data.stack.register_reader)")
    return READERS[declaration.reader](declaration, root, checksum=checksum)
