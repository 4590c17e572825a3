"""The fused stacks the compendium builds, by name: which reader, which modalities.

``sen1floods11``: Sentinel-1 (``s1``: VV, VH) + Sentinel-2 L1C (``s2``: 13 bands), water labels.
``eolearn``: two Sentinel-2 dates (``s2_t1``, ``s2_t2``) + DEM (``dem``), LULC labels: the seeds'
"dual-month optical + DEM" input.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from eoxai.data import EOLearnPatch, Sen1Floods11
from eoxai.split import SPLIT_NAMES, TEST, TRAIN, VAL, min_distance_between
from eoxai.tiles import tile_origins

STACKS = ("sen1floods11", "eolearn")


def load_stack(name: str, data_dir: str | Path, options: Mapping[str, Any]) -> tuple[dict[str, xr.DataArray], xr.DataArray]:
    """Read the modalities and label of stack ``name``; returns ``({modality: (band, y, x)}, label (y, x))``."""
    if name == "sen1floods11":
        ds = Sen1Floods11(data_dir, folder=options.get("folder", "sen1floods11_sample"))
        sample = ds.load(options.get("chip", ds.chips[0]))
        return {"s1": sample["s1"], "s2": sample["s2"]}, sample["label"]
    if name == "eolearn":
        sample = EOLearnPatch(data_dir, dates=options.get("dates", (0, 4))).load()
        return {k: v for k, v in sample.items() if k != "label"}, sample["label"]
    raise KeyError(f"unknown stack {name!r}; known stacks: {list(STACKS)}")


def tile_counts(cube: xr.Dataset, tile_size: int) -> pd.DataFrame:
    """Number of ``tile_size`` tiles per split (tiles wholly inside one split, with labels)."""
    split, label = cube["split"].values, cube["label"].values
    return pd.DataFrame(
        [{"split": n, "tiles": len(tile_origins(split, label, code, tile_size, tile_size))}
         for code, n in SPLIT_NAMES.items()]
    )


def plot_stack(name: str, modalities: Mapping[str, xr.DataArray], label: xr.DataArray, title: str | None = None) -> Figure:
    """The reader's own panel figure (colour composite, SAR or DEM, label) for stack ``name``."""
    reader = {"sen1floods11": Sen1Floods11, "eolearn": EOLearnPatch}[name]
    return reader.plot({**modalities, "label": label}, title=title)


def fusion_summary(cube: xr.Dataset, tile_size: int) -> dict[str, Any]:
    """One row describing a fused cube: modalities, grid, classes, tiles per split, split distances."""
    tiles = tile_counts(cube, tile_size).set_index("split")["tiles"]
    split = cube["split"].values
    return {
        "stack": cube.attrs.get("name"),
        "modalities": " + ".join(dict.fromkeys(map(str, cube["modality"].values))),
        "bands": cube.sizes["band"],
        "height": cube.sizes["y"],
        "width": cube.sizes["x"],
        "crs": str(cube.rio.crs),
        "classes": " | ".join(map(str, cube["class"].values)),
        "block_size": cube.attrs["block_size"],
        "buffer": cube.attrs["buffer"],
        "tile_size": tile_size,
        **{f"tiles_{s}": int(tiles[s]) for s in SPLIT_NAMES.values()},
        "nodata_pixels": int((cube["valid"].values == 0).any(axis=0).sum()),
        "nodata_share": float((cube["valid"].values == 0).any(axis=0).mean()),
        "min_distance_train_test_px": min_distance_between(split, TRAIN, TEST),
        "min_distance_train_validation_px": min_distance_between(split, TRAIN, VAL),
    }


def band_statistics(cube: xr.Dataset) -> pd.DataFrame:
    """The training-split mean and std of every band, with its modality, sensor and wavelength."""
    return pd.DataFrame({
        "stack": cube.attrs.get("name"), "band": cube["band"].values, "modality": cube["modality"].values,
        "sensor": cube["sensor"].values, "wavelength_nm": cube["wavelength_nm"].values,
        "train_mean": cube["band_mean"].values, "train_std": cube["band_std"].values,
    })
