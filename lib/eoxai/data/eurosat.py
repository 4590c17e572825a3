"""EuroSAT scene classification: 64 x 64 Sentinel-2 scenes, 10 land-use / land-cover classes.

Helber, Bischke, Dengel, Borth (2019). *EuroSAT: A Novel Dataset and Deep Learning Benchmark for
Land Use and Land Cover Classification*. IEEE JSTARS 12(7), pp. 2217-2226.

Two readers with one interface (torchgeo-style: a ``root`` folder, checksums, dict samples, a
``plot()`` that returns a :class:`~matplotlib.figure.Figure`):

- :class:`EuroSAT` - the shipped RGB subset (``data/eurosat_rgb_subset``: 3,000 JPEGs, 150/50/100
  per class for train/validation/test, ``splits.csv``, ``label_map.json``), quick and smoke profiles;
- :class:`EuroSATMS` - the full 13-band release (27,000 GeoTIFFs, torchgeo's layout and splits),
  paper profile; it is not shipped, and a clear :class:`~eoxai.errors.DatasetNotFoundError` says
  how to get it.

A sample is ``{"image": float32 tensor (C, 64, 64), "label": int64 tensor ()}``; RGB values are
scaled to [0, 1] (``uint8 / 255``), multispectral ones to reflectance (``DN / 10,000``).
:meth:`EuroSAT.stack` returns the whole split as ``(N, C, 64, 64)`` at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from eoxai.data.raster import require_file, verify_against_root
from eoxai.data.validate import check_band_count
from eoxai.errors import BandCountError, ChecksumError, ClassLabelError, DatasetNotFoundError, InputError

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]


class EuroSAT:
    """The shipped EuroSAT RGB subset (Sentinel-2 B4, B3, B2 as 8-bit JPEG, 64 x 64 pixels).

    Parameters
    ----------
    root:
        Data folder holding ``SHA256SUMS`` and ``folder``.
    split:
        ``"train"``, ``"validation"`` or ``"test"`` (the canonical EuroSAT split, as in ``splits.csv``).
    folder:
        ``eurosat_rgb_subset`` (the shipped copy).
    checksum:
        Verify ``splits.csv``, ``label_map.json`` and every image of the split against
        ``root/SHA256SUMS`` when the dataset is opened.
    transforms:
        Optional callable applied to each sample dict in :meth:`__getitem__`.
    limit:
        Keep only the first ``limit`` images per class (smoke runs); None keeps all.
    """

    splits: tuple[str, ...] = ("train", "validation", "test")
    bands: tuple[str, ...] = ("B4", "B3", "B2")
    rgb_bands: tuple[str, ...] = ("B4", "B3", "B2")
    sensor = "Sentinel-2 MSI (8-bit RGB JPEG)"
    resolution_m = 10.0
    size = 64
    #: factor from data units to display brightness (RGB: 1; reflectance: 3.5, a common fixed stretch)
    display_scale = 1.0
    how_to_get = (
        "Get data/eurosat_rgb_subset as data/README.md describes; it is a subset of the "
        "EuroSAT RGB release (Helber et al. 2019)."
    )

    def __init__(
        self,
        root: str | Path = "data",
        split: str = "train",
        folder: str = "eurosat_rgb_subset",
        checksum: bool = True,
        transforms: Transform | None = None,
        limit: int | None = None,
    ) -> None:
        self._open(root, folder, split, transforms)
        if not self.dir.is_dir():
            raise DatasetNotFoundError(f"EuroSAT folder {self.dir} not found. {self.how_to_get}")
        label_map = json.loads(require_file(self.dir / "label_map.json", self.how_to_get).read_text())
        self.classes: list[str] = [name for name, _ in sorted(label_map.items(), key=lambda kv: kv[1])]
        rows = self._read_splits(require_file(self.dir / "splits.csv", self.how_to_get), label_map)
        rows = [r for r in rows if r["split"] == split]
        if limit is not None:
            rows = _limit_per_class(rows, int(limit))
        if not rows:
            raise DatasetNotFoundError(f"{self.dir / 'splits.csv'} lists no image for split {split!r}")
        self.files = [r["filename"] for r in rows]
        self.targets = [int(r["label"]) for r in rows]
        paths = [require_file(self.dir / f, self.how_to_get) for f in self.files]
        if checksum:
            verify_against_root(self.root, [self.dir / "splits.csv", self.dir / "label_map.json", *paths])

    def _open(self, root: str | Path, folder: str, split: str, transforms: Transform | None) -> None:
        if split not in self.splits:
            raise InputError(f"unknown EuroSAT split {split!r}; choose one of {list(self.splits)}")
        self.root = Path(root)
        self.dir = self.root / folder
        self.split = split
        self.transforms = transforms
        self._cache: torch.Tensor | None = None

    def _read_splits(self, path: Path, label_map: dict[str, int]) -> list[dict[str, str]]:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        need = {"filename", "label", "class_name", "split"}
        if not rows or not need <= set(rows[0]):
            raise DatasetNotFoundError(f"{path} must have the columns {sorted(need)}")
        bad = sorted({(r["class_name"], r["label"]) for r in rows if label_map.get(r["class_name"]) != int(r["label"])})
        if bad:
            raise ClassLabelError(
                f"{path}: (class, label) pairs {bad[:5]} disagree with label_map.json {label_map}"
            )
        return rows

    def __len__(self) -> int:
        return len(self.files)

    def _read_image(self, index: int) -> np.ndarray:
        """``(H, W, 3)`` float32 in [0, 1] of image ``index``; :class:`BandCountError` for another shape."""
        from PIL import Image

        path = self.dir / self.files[index]
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB") if im.mode == "L" else im)
        if arr.ndim != 3 or arr.shape[2] != len(self.bands):
            check_band_count(1 if arr.ndim == 2 else arr.shape[2], self.bands, str(path))
        if arr.shape[:2] != (self.size, self.size):
            raise BandCountError(f"{path}: image is {arr.shape[0]}x{arr.shape[1]} px, EuroSAT is 64x64")
        return arr.astype(np.float32) / np.float32(255.0)

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` as float32 ``(C, 64, 64)`` in data units (RGB in [0, 1], MS reflectance)."""
        if self._cache is not None:
            return self._cache[index]
        return torch.from_numpy(self._read_image(index)).permute(2, 0, 1).contiguous()

    def __getitem__(self, index: int) -> Sample:
        sample = {"image": self.image(index), "label": torch.tensor(self.targets[index], dtype=torch.int64)}
        return self.transforms(sample) if self.transforms is not None else sample

    def stack(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split at once: images float32 ``(N, C, 64, 64)``, labels int64 ``(N,)`` (cached)."""
        if self._cache is None:
            self._cache = torch.stack([self.image(i) for i in range(len(self))])
        return self._cache, torch.tensor(self.targets, dtype=torch.int64)

    def rgb(self, image: torch.Tensor | np.ndarray) -> np.ndarray:
        """A displayable ``(H, W, 3)`` float array in [0, 1] from an image ``(C, H, W)``."""
        arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        idx = [self.bands.index(b) for b in self.rgb_bands]
        return np.clip(np.moveaxis(arr[idx], 0, -1) * self.display_scale, 0, 1)

    def plot(self, sample: Sample, show_titles: bool = True, suptitle: str | None = None,
             prediction: int | None = None) -> Figure:
        """Plot one sample (its RGB composite, the true and optionally the predicted class)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(3.4, 3.6), constrained_layout=True)
        ax.imshow(self.rgb(sample["image"]), interpolation="nearest")
        ax.set_axis_off()
        if show_titles:
            title = f"label: {self.classes[int(sample['label'])]}"
            if prediction is not None:
                title += f"\nprediction: {self.classes[int(prediction)]}"
            ax.set_title(title)
        if suptitle:
            fig.suptitle(suptitle)
        return fig

    def plot_grid(self, per_class: int = 4, suptitle: str | None = None) -> Figure:
        """A grid of the first ``per_class`` images of each class (rows: classes)."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(self.classes), per_class, figsize=(1.3 * per_class + 1.6, 1.3 * len(self.classes)),
                                 constrained_layout=True, squeeze=False)
        for k, name in enumerate(self.classes):
            indices = [i for i, t in enumerate(self.targets) if t == k][:per_class]
            for j, ax in enumerate(axes[k]):
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(indices):
                    ax.imshow(self.rgb(self.image(indices[j])), interpolation="nearest")
                if j == 0:
                    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        fig.suptitle(suptitle or f"EuroSAT {self.split} split: {per_class} scenes per class (64 x 64 px, 10 m)")
        return fig


def _limit_per_class(rows: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        if seen.get(r["label"], 0) < limit:
            out.append(r)
            seen[r["label"]] = seen.get(r["label"], 0) + 1
    return out


class EuroSATMS(EuroSAT):
    """The full EuroSAT multispectral release: 27,000 13-band Sentinel-2 L1C GeoTIFFs (paper profile).

    Layout under ``root/folder`` (torchgeo's, from ``EuroSATallBands.zip`` and its split lists)::

        ds/images/remote_sensing/otherDatasets/sentinel_2/tif/<Class>/<Class>_<n>.tif
        eurosat-train.txt  eurosat-val.txt  eurosat-test.txt     (one file name per line)

    Splits are ``train``, ``validation`` (``eurosat-val.txt``) and ``test`` (Neumann et al. 2019,
    as used by torchgeo). ``checksum=True`` verifies the archive's MD5 before extracting it;
    ``download=True`` fetches the archive and the split lists first (needs internet).
    """

    bands: tuple[str, ...] = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "B8A")
    sensor = "Sentinel-2 MSI L1C (13 bands, reflectance x 10,000)"
    display_scale = 3.5
    url = "https://hf.co/datasets/torchgeo/eurosat/resolve/1ce6f1bfb56db63fd91b6ecc466ea67f2509774c/"
    archive = "EuroSATallBands.zip"
    archive_md5 = "5ac12b3b2557aa56e1826e981e8e200e"
    base_dir = Path("ds/images/remote_sensing/otherDatasets/sentinel_2/tif")
    split_files = {"train": "eurosat-train.txt", "validation": "eurosat-val.txt", "test": "eurosat-test.txt"}
    class_names: tuple[str, ...] = (
        "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
        "PermanentCrop", "Residential", "River", "SeaLake",
    )
    how_to_get = (
        "The full EuroSAT-MS release is not shipped. Run EuroSATMS(root, download=True) on a machine "
        f"with internet, or download {archive} (MD5 {archive_md5}) and eurosat-{{train,val,test}}.txt from "
        "https://hf.co/datasets/torchgeo/eurosat into <root>/eurosat_ms/ (the archive is verified and "
        "extracted on first use)."
    )

    def __init__(
        self,
        root: str | Path = "data",
        split: str = "train",
        folder: str = "eurosat_ms",
        checksum: bool = True,
        transforms: Transform | None = None,
        limit: int | None = None,
        download: bool = False,
    ) -> None:
        self._open(root, folder, split, transforms)
        self.classes = list(self.class_names)
        self._prepare(checksum=checksum, download=download)
        listed = (self.dir / self.split_files[split]).read_text().split()
        names = [n.replace(".jpg", ".tif") for n in listed]
        rows = [{"filename": (self.base_dir / n.split("_")[0] / n).as_posix(),
                 "label": str(self.class_names.index(n.split("_")[0])) if n.split("_")[0] in self.class_names else "-1"}
                for n in names]
        unknown = sorted({r["filename"] for r in rows if r["label"] == "-1"})
        if unknown:
            raise ClassLabelError(f"{self.split_files[split]} lists files of unknown classes, e.g. {unknown[:3]}")
        if limit is not None:
            rows = _limit_per_class(rows, int(limit))
        self.files = [r["filename"] for r in rows]
        self.targets = [int(r["label"]) for r in rows]
        missing = [f for f in self.files if not (self.dir / f).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"{len(missing)} image(s) of split {split!r} are missing under {self.dir}, e.g. {missing[0]}. "
                f"{self.how_to_get}"
            )

    def _prepare(self, *, checksum: bool, download: bool) -> None:
        """Make sure the extracted images and the split lists exist (download/verify/extract)."""
        extracted = (self.dir / self.base_dir).is_dir()
        lists = all((self.dir / f).is_file() for f in self.split_files.values())
        if extracted and lists:
            return
        zpath = self.dir / self.archive
        if download:
            self.dir.mkdir(parents=True, exist_ok=True)
            for name in [self.archive, *self.split_files.values()] if not extracted else self.split_files.values():
                if not (self.dir / name).is_file():
                    urllib.request.urlretrieve(self.url + name, self.dir / name)  # noqa: S310 - fixed https URL
        if not extracted:
            if not zpath.is_file():
                raise DatasetNotFoundError(f"EuroSAT-MS not found under {self.dir}. {self.how_to_get}")
            if checksum:
                got = md5_file(zpath)
                if got != self.archive_md5:
                    raise ChecksumError(
                        f"checksum mismatch for {zpath}: expected MD5 {self.archive_md5}, got {got}. "
                        "The download is incomplete or another file; delete it and download again."
                    )
            with zipfile.ZipFile(zpath) as zf:
                zf.extractall(self.dir)
        missing = [f for f in self.split_files.values() if not (self.dir / f).is_file()]
        if missing:
            raise DatasetNotFoundError(f"EuroSAT-MS split list(s) {missing} not found in {self.dir}. {self.how_to_get}")

    def _read_image(self, index: int) -> np.ndarray:
        """``(H, W, 13)`` float32 reflectance (DN / 10,000) of image ``index``."""
        import rasterio

        path = self.dir / self.files[index]
        with rasterio.open(path) as src:
            arr = src.read().astype(np.float32)
        check_band_count(arr.shape[0], self.bands, str(path))
        if arr.shape[1:] != (self.size, self.size):
            raise BandCountError(f"{path}: image is {arr.shape[1]}x{arr.shape[2]} px, EuroSAT is 64x64")
        return np.moveaxis(arr, 0, -1) / np.float32(10_000.0)



def md5_file(path: str | Path) -> str:
    """Hex MD5 of a file (the checksum published for EuroSATallBands.zip)."""
    h = hashlib.md5()  # noqa: S324 - matching the publisher's checksum, not security
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


READERS: dict[str, type[EuroSAT]] = {"eurosat_rgb": EuroSAT, "eurosat_ms": EuroSATMS}


def open_eurosat(dataset: str, root: str | Path, split: str, **kwargs: Any) -> EuroSAT:
    """Open ``dataset`` (``'eurosat_rgb'`` shipped subset, ``'eurosat_ms'`` full release) by name."""
    if dataset not in READERS:
        raise InputError(f"unknown scene dataset {dataset!r}; known: {sorted(READERS)}")
    return READERS[dataset](root, split, **kwargs)


def class_counts(targets: Sequence[int], classes: Sequence[str]) -> dict[str, int]:
    """``{class name: number of samples}`` of a split, in class order."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(classes))
    return {c: int(n) for c, n in zip(classes, counts, strict=True)}
