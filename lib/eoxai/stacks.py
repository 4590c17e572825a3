"""Fused stacks from declarations (:mod:`eoxai.data.declaration`): read, plot, summarise.

Nothing here knows a stack by name: the declaration says which reader, files, bands, legend and
tiling; the shipped stacks are ``config/stacks/*.yaml``. A stack is one scene (:func:`load_stack`,
split into buffered blocks by :func:`fuse_stack`) or a collection of scenes split by scene
(:func:`open_scenes`, :mod:`eoxai.data.collection`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from eoxai.data.collection import SceneCollection, open_collection
from eoxai.data.declaration import StackDeclaration
from eoxai.data.stack import open_stack, plot_sample
from eoxai.errors import ConfigError, EoxaiError, TileSizeError
from eoxai.split import SPLIT_NAMES, TEST, TRAIN, VAL, min_distance_between
from eoxai.tiles import tile_origins


def as_declaration(name: str, declaration: StackDeclaration | Mapping[str, Any]) -> StackDeclaration:
    """A validated :class:`StackDeclaration` named ``name`` from a declaration or its mapping."""
    if isinstance(declaration, StackDeclaration):
        return declaration if declaration.name == name else declaration.model_copy(update={"name": name})
    from eoxai.config import validate_declaration

    return validate_declaration(name, declaration)


def load_stack(
    declaration: StackDeclaration | Mapping[str, Any], data_dir: str | Path, name: str | None = None,
) -> tuple[dict[str, xr.DataArray], xr.DataArray]:
    """Read a declared stack; returns ``({modality: (band, y, x)}, label (y, x))`` in declaration order.

    ``name`` defaults to the declaration's own ``name``.
    """
    if name is None:
        name = declaration.name if isinstance(declaration, StackDeclaration) else str(declaration.get("name", ""))
    decl = as_declaration(name, declaration)
    if decl.is_collection:
        raise ConfigError(f"stack {name!r} is a collection of scenes (collection: and no chip): open it with "
                          "eoxai.stacks.open_scenes, or set its chip to read one scene")
    sample = open_stack(decl, data_dir).load()
    return {m: sample[m] for m in decl.modalities}, sample["label"]


def open_scenes(
    declaration: StackDeclaration | Mapping[str, Any], data_dir: str | Path, name: str | None = None,
) -> SceneCollection:
    """A declared collection of scenes (:attr:`StackDeclaration.is_collection`), split by scene and with
    training-scene statistics; its tiles stream with :func:`eoxai.data.streaming.collection_datasets`.

    The collection counterpart of :func:`load_stack` (a single scene split into blocks).
    """
    if name is None:
        name = declaration.name if isinstance(declaration, StackDeclaration) else str(declaration.get("name", ""))
    return open_collection(as_declaration(name, declaration), data_dir)


def check_tiling(decl: StackDeclaration, label: xr.DataArray) -> None:
    """:class:`TileSizeError` naming the sizes if the declared tiles cannot be cut from the scene."""
    h, w = label.sizes["y"], label.sizes["x"]
    t = decl.tiling
    if t.tile_size > min(h, w):
        raise TileSizeError(
            f"stack {decl.name!r}: tile_size {t.tile_size} px is larger than the scene ({h} x {w} px); set "
            f"stacks.{decl.name}.tiling.tile_size to at most {min(h, w)}"
        )


def tile_counts(cube: xr.Dataset, tile_size: int) -> pd.DataFrame:
    """Number of ``tile_size`` tiles per split (tiles wholly inside one split, with labels)."""
    split, label = cube["split"].values, cube["label"].values
    return pd.DataFrame(
        [{"split": n, "tiles": len(tile_origins(split, label, code, tile_size, tile_size))}
         for code, n in SPLIT_NAMES.items()]
    )


def plot_stack(declaration: StackDeclaration, modalities: Mapping[str, xr.DataArray], label: xr.DataArray,
               title: str | None = None) -> Figure:
    """The declared panel figure (colour composite, one more band, label); title from the declaration."""
    return plot_sample(declaration, {**modalities, "label": label}, title=title)


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


def fuse_stack(
    declaration: StackDeclaration,
    modalities: Mapping[str, xr.DataArray],
    label: xr.DataArray,
    *,
    fractions: Sequence[float],
    seed: int,
) -> xr.Dataset:
    """:func:`eoxai.fusion.fuse` with the declaration's reference grid, reprojection, resampling and
    tiling; the cube carries the declaration as JSON in ``attrs['declaration']`` (see
    :func:`cube_declaration`), so every later notebook labels bands, units and classes from it."""
    from rasterio.enums import Resampling

    from eoxai.fusion import fuse

    check_tiling(declaration, label)
    d = declaration
    cube = fuse(
        modalities, label, block_size=d.tiling.block_size, buffer=d.tiling.buffer, fractions=fractions, seed=seed,
        reproject=d.reproject, name=d.name, reference=d.reference_modality,
        resampling={m: Resampling[md.resampling] for m, md in d.modalities.items()},
        attrs={"declaration": d.model_dump_json()},
    )
    tiles = tile_counts(cube, d.tiling.tile_size).set_index("split")["tiles"]
    if int(tiles[SPLIT_NAMES[TRAIN]]) == 0:
        raise TileSizeError(
            f"stack {d.name!r}: no {d.tiling.tile_size} x {d.tiling.tile_size} px training tile with labels fits the "
            f"{cube.sizes['y']} x {cube.sizes['x']} px scene split into blocks of {d.tiling.block_size} px (buffer "
            f"{d.tiling.buffer}); lower stacks.{d.name}.tiling.tile_size or raise its block_size"
        )
    warn_single_class(cube)
    return cube


def cube_declaration(cube: xr.Dataset) -> StackDeclaration:
    """The declaration a fused cube was built from (``attrs['declaration']``)."""
    if "declaration" not in cube.attrs:
        raise EoxaiError(
            f"fused cube {cube.attrs.get('name')!r} carries no declaration; rerun notebook 01_data_fusion"
        )
    return StackDeclaration.model_validate_json(cube.attrs["declaration"])


def explained_target(cube: xr.Dataset | SceneCollection, targets: Mapping[str, str], masks: Any = None) -> str:
    """The class to explain for a fused stack (a cube or a collection): ``targets[stack]`` if the
    profile names one, else the declaration's ``label.target``, else the last class of its legend.

    ``masks`` (``(N, H, W)`` class indices of the explained tiles): warns
    (:class:`DegenerateLabelWarning`) when the class is absent from their ground truth.
    """
    from eoxai import fused

    name, classes = fused.stack_name(cube), fused.class_names(cube)
    target = targets.get(name) or fused.declaration(cube).label.default_target
    if target not in classes:
        raise ConfigError(f"target class {target!r} of stack {name!r} is not one of its classes {classes}")
    if masks is not None and not bool((np.asarray(masks) == classes.index(target)).any()):
        warnings.warn(
            f"stack {name!r}: the explained class {target!r} is absent from the ground truth of the explained "
            "tiles; its maps explain a class the tiles do not hold", DegenerateLabelWarning, stacklevel=2)
    return target


class DegenerateLabelWarning(UserWarning):
    """Labels that make metrics or explanations degenerate (one class only, explained class absent)."""


def warn_single_class(cube: xr.Dataset) -> None:
    """Warn (:class:`DegenerateLabelWarning`) if the training split holds a single labelled class."""
    from eoxai.split import TRAIN as _TRAIN

    present = np.unique(cube["label"].values[(cube["split"].values == _TRAIN) & (cube["label"].values >= 0)])
    if len(present) < 2:
        names = [str(cube["class"].values[i]) for i in present]
        warnings.warn(
            f"stack {cube.attrs.get('name')!r}: the training split holds a single class {names}; the metrics and "
            "explanations will be degenerate", DegenerateLabelWarning, stacklevel=2)


# --- a collection of scenes: the counterparts of the single-scene summaries and figures ------------


def collection_tiles(collection: SceneCollection, split: str, tile_size: int) -> Any:
    """The streamed tiles of ``split`` (:class:`eoxai.data.streaming.SceneTileDataset`); reading them
    reads each scene's label once."""
    from eoxai.data.streaming import SceneTileDataset

    return SceneTileDataset(collection, split, tile_size)


def collection_summary(collection: SceneCollection, tile_size: int) -> dict[str, Any]:
    """One row describing a collection, in :func:`fusion_summary`'s columns where they apply: a
    collection has no single grid (``height``/``width`` are the largest scene's, ``crs`` the first
    scene's), no blocks or buffer (its splits are disjoint scenes: no distance between splits), and
    adds ``scenes_<split>`` and the ``split_rule``. Tiles are the labelled tiles of each split's
    scenes on a ``tile_size`` grid."""
    from eoxai.data.collection import open_dataset

    first = next(s for sc in collection.splits.values() for s in sc)
    with open_dataset(first.files[collection.declaration.reference_modality]) as ds:
        crs = str(ds.crs)
    shapes = list(collection.shapes.values())
    row: dict[str, Any] = {
        "stack": collection.name,
        "modalities": " + ".join(collection.declaration.modalities),
        "bands": len(collection.bands),
        "height": max(h for h, _ in shapes), "width": max(w for _, w in shapes), "crs": crs,
        "classes": " | ".join(collection.class_names),
        "block_size": None, "buffer": None, "tile_size": tile_size,
    }
    for split in SPLIT_NAMES.values():
        row[f"tiles_{split}"] = len(collection_tiles(collection, split, tile_size)) if collection.splits[split] else 0
    row |= {f"scenes_{s}": len(collection.splits[s]) for s in SPLIT_NAMES.values()}
    row["split_rule"] = collection.split_rule
    return row


def collection_class_balance(collection: SceneCollection, tile_size: int) -> pd.DataFrame:
    """Labelled pixels and shares per split and class over each split's tiles (as
    :func:`eoxai.split.class_balance`'s table)."""
    rows = []
    for split in SPLIT_NAMES.values():
        counts = (collection_tiles(collection, split, tile_size).class_pixel_counts() if collection.splits[split]
                  else np.zeros(len(collection.class_names), dtype=np.int64))
        for c, name in enumerate(collection.class_names):
            rows.append({"split": split, "class": name, "pixels": int(counts[c]),
                         "share": float(counts[c] / max(counts.sum(), 1))})
    return pd.DataFrame(rows)


def plot_collection_tiles(collection: SceneCollection, tile_size: int, n_tiles: int = 4, seed: int = 0,
                          title: str | None = None) -> Figure:
    """The panel of a collection: ``n_tiles`` training tiles from as many training scenes (seeded),
    each its declared colour composite (``rgb``) above its label, titled with its scene."""
    import matplotlib.pyplot as plt

    from eoxai import plots
    from eoxai.fused import candidate_tiles, tile_origin, tile_scene

    tiles = collection_tiles(collection, "train", tile_size)
    chosen = candidate_tiles(tiles, n_tiles, seed)
    rgb = [tiles.bands.index(b) for b in collection.declaration.rgb]
    fig, axes = plt.subplots(2, len(chosen), figsize=(2.8 * len(chosen), 6.0), constrained_layout=True, squeeze=False)
    cmap, norm = plots.class_cmap(collection.class_names)
    for col, i in enumerate(chosen):
        sample = tiles[i]
        r, c = tile_origin(tiles, i)
        axes[0][col].imshow(plots.stretch(sample["image"].numpy()[rgb]), interpolation="nearest")
        axes[0][col].set_title(f"{tile_scene(tiles, i)}\nrow {r}, col {c}", fontsize=8)
        axes[1][col].imshow(sample["mask"].numpy(), cmap=cmap, norm=norm, interpolation="nearest")
        for ax in (axes[0][col], axes[1][col]):
            plots.pixel_axes(ax)
    axes[0][0].set_ylabel(f"composite {', '.join(collection.declaration.rgb)}", fontsize=8)
    axes[1][0].set_ylabel("label", fontsize=8)
    plots.class_legend(axes[1][-1], collection.class_names, fontsize=6)
    fig.suptitle(title or f"{collection.name}: training tiles of {len(chosen)} scenes")
    return fig


def plot_collection_split(collection: SceneCollection, title: str | None = None) -> Figure:
    """Scenes and pixels per split of a collection (its split rule in the title)."""
    import matplotlib.pyplot as plt

    from eoxai.plots import SPLIT_COLOURS

    table = collection.summary()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), constrained_layout=True)
    colours = [SPLIT_COLOURS[s] for s in table["split"]]
    axes[0].bar(table["split"], table["scenes"], color=colours)
    axes[0].set_ylabel("scenes")
    axes[1].bar(table["split"], table["pixels"] / 1e6, color=colours)
    axes[1].set_ylabel("pixels (millions)")
    for ax in axes:
        ax.set_xlabel("split")
    fig.suptitle(title or f"{collection.name}: split by scene ({collection.split_rule})", fontsize=9)
    return fig
