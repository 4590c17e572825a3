"""Miniature copies of the paper datasets in their published layouts, cut from the shipped real chip.

The full collections cannot be downloaded on the machines that test this project. A miniature is the
shipped Sen1Floods11 chip ``Spain_7370579`` (real Sentinel-1, Sentinel-2 and hand-labelled water)
cropped into ``n`` overlapping scenes of ``size`` px, each written with its georeference under the
file names and split files of one dataset's layout (:data:`LAYOUTS`). The content stays what it is:
water / not water on Sentinel data; only band subsets, label codes and names follow the target
layout, so a test reading a miniature declares the two classes it really holds.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eoxai.errors import InputError

SOURCE_CHIP = "Spain_7370579"
SOURCE_FILES = {"s1": "S1/{chip}_S1Hand.tif", "s2": "S2/{chip}_S2Hand.tif", "label": "Labels/{chip}_LabelHand.tif"}


@dataclass(frozen=True)
class Layout:
    """Where a dataset keeps each file of a scene and how the source bands and labels map onto it.

    ``files``: ``{pattern: (source key, source band indices or None for all)}``; patterns use
    ``{chip}`` (and ``{group}``, the split a field-split dataset puts in its folder names);
    ``label_codes``: source label value (-1 no data, 0 not water, 1 water) -> value written.
    """

    files: Mapping[str, tuple[str, Sequence[int] | None]]
    label_codes: Mapping[int, int]
    split: str  # "lists" (one csv per split), "table" (one csv, a column per split), "field", "none"
    numbered: bool = False  # scenes named 00001, 00002, ... (image ids) instead of <source chip>r<row>c<col>


LAYOUTS: dict[str, Layout] = {
    # Bonafilia et al. 2020: S1Hand / S2Hand / LabelHand, flood_handlabeled/flood_{train,valid,test}_data.csv
    "sen1floods11": Layout({"S1/{chip}_S1Hand.tif": ("s1", None), "S2/{chip}_S2Hand.tif": ("s2", None),
                            "Labels/{chip}_LabelHand.tif": ("label", None)}, {-1: -1, 0: 0, 1: 1}, "lists"),
    # Li et al. 2022: optical/ (4 bands), sar/ (1 band), lbl/ (codes 10..70, 0 no data), same file name
    "whu_opt_sar": Layout({"optical/{chip}.tif": ("s2", [1, 2, 3, 7]), "sar/{chip}.tif": ("s1", [0]),
                           "lbl/{chip}.tif": ("label", None)}, {-1: 0, 0: 10, 1: 40}, "none"),
    # Ekim et al. 2023 / torchgeo MapInWild: s1/, s2_summer/, mask/ by image id, split_IDs.csv
    "mapinwild": Layout({"s1/{chip}.tif": ("s1", None), "s2_summer/{chip}.tif": ("s2", [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]),
                         "mask/{chip}.tif": ("label", None)}, {-1: 255, 0: 0, 1: 1}, "table", numbered=True),
    # Schmitt et al. 2019 / Robinson et al. 2021: ROIs0000_{validation,test}/{s1,s2,dfc}_0/..._p{n}.tif
    "dfc2020": Layout({"ROIs0000_{group}/s1_0/ROIs0000_{group}_s1_0_p{chip}.tif": ("s1", None),
                       "ROIs0000_{group}/s2_0/ROIs0000_{group}_s2_0_p{chip}.tif": ("s2", None),
                       "ROIs0000_{group}/dfc_0/ROIs0000_{group}_dfc_0_p{chip}.tif": ("label", None)},
                      {-1: 0, 0: 1, 1: 10}, "field", numbered=True),
}


def crop_offsets(height: int, width: int, size: int, n: int) -> list[tuple[int, int]]:
    """``n`` top-left corners of ``size`` crops on the coarsest regular grid that has ``n`` of them."""
    for step in range(size, 0, -8):
        grid = [(r, c) for r in range(0, height - size + 1, step) for c in range(0, width - size + 1, step)]
        if len(grid) >= n:
            return grid[:n]
    raise InputError(f"cannot cut {n} crops of {size} px from a {height} x {width} px chip")


def assign_splits(names: Sequence[str]) -> dict[str, str]:
    """Every fifth scene (by position) to test, the next to validation, the rest to train (for the split files)."""
    return {n: ("test" if i % 5 == 0 else "validation" if i % 5 == 1 else "train") for i, n in enumerate(names)}


def _write(path: Path, data: np.ndarray, profile: Mapping[str, object]) -> None:
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **{**profile, "count": data.shape[0], "dtype": data.dtype.name}) as dst:
        dst.write(data)


def build_miniature(dataset: str, source_dir: str | Path, dest: str | Path, *, n_scenes: int = 10,
                    size: int = 128) -> list[str]:
    """Write a miniature ``dataset`` (a key of :data:`LAYOUTS`) into ``dest`` (the dataset's folder).

    ``source_dir`` is the shipped ``data/sen1floods11_sample``. Writes the scenes, the split files
    of the layout and a ``SHA256SUMS``; returns the scene names (``{chip}`` values).
    """
    import rasterio
    from rasterio.windows import Window, transform

    if dataset not in LAYOUTS:
        raise InputError(f"no miniature layout for {dataset!r}; known: {sorted(LAYOUTS)}")
    layout, src, dest = LAYOUTS[dataset], Path(source_dir), Path(dest)
    arrays, profiles = {}, {}
    for key, rel in SOURCE_FILES.items():
        with rasterio.open(src / rel.format(chip=SOURCE_CHIP)) as ds:
            arrays[key], profiles[key] = ds.read(), ds.profile
    h, w = arrays["label"].shape[1:]
    offsets = crop_offsets(h, w, size, n_scenes)
    chips = [f"{i + 1:05d}" if layout.numbered else f"{SOURCE_CHIP}r{r}c{c}"
             for i, (r, c) in enumerate(offsets)]
    splits = assign_splits(chips)
    written: list[Path] = []
    for chip, (r, c) in zip(chips, offsets, strict=True):
        for pattern, (key, bands) in layout.files.items():
            data = arrays[key][:, r:r + size, c:c + size] if bands is None else arrays[key][list(bands), r:r + size, c:c + size]
            profile = dict(profiles[key], width=size, height=size,
                           transform=transform(Window(c, r, size, size), profiles[key]["transform"]))
            profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
            if key == "label":
                coded = np.zeros_like(data, dtype=np.int16)
                for raw, value in layout.label_codes.items():
                    coded[data == raw] = value
                data = coded.astype(np.uint8) if min(layout.label_codes.values()) >= 0 else coded
                profile["nodata"] = layout.label_codes[-1]
            path = dest / pattern.format(chip=chip, group="test" if splits[chip] == "test" else "validation")
            _write(path, data, profile)
            written.append(path)
    written += _write_splits(layout, dest, chips, splits)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./{p.relative_to(dest).as_posix()}\n" for p in written]
    (dest / "SHA256SUMS").write_text("".join(lines))
    return chips


def _write_splits(layout: Layout, dest: Path, chips: Sequence[str], splits: Mapping[str, str]) -> list[Path]:
    by_split = {s: [c for c in chips if splits[c] == s] for s in ("train", "validation", "test")}
    if layout.split == "lists":  # Sen1Floods11: flood_{train,valid,test}_data.csv, "S1 file,label file" rows
        out = []
        for split, short in (("train", "train"), ("validation", "valid"), ("test", "test")):
            path = dest / "splits" / "flood_handlabeled" / f"flood_{short}_data.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{c}_S1Hand.tif,{c}_LabelHand.tif\n" for c in by_split[split]))
            out.append(path)
        return out
    if layout.split == "table":  # MapInWild: split_IDs.csv, one column per split
        path = dest / "split_IDs.csv"
        n = max(len(v) for v in by_split.values())
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(by_split))
            for i in range(n):
                writer.writerow([v[i] if i < len(v) else "" for v in by_split.values()])
        return [path]
    return []
