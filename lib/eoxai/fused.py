"""What notebooks 02-08b read of a fused stack, whichever kind notebook 01 made of it.

A stack is fused into one of two things (see :mod:`eoxai.stacks`):

- a **cube** (:class:`xarray.Dataset`, :mod:`eoxai.fusion`): one scene on one grid, split into
  buffered spatial blocks, held in memory; ``<results>/interim/<stack>.nc``;
- a **scene collection** (:class:`~eoxai.data.collection.SceneCollection`): many scenes split by
  scene (the dataset's official split where it publishes one), streamed from disk;
  ``<results>/interim/<stack>.collection.json`` (:func:`eoxai.data.collection.write_index`).

The functions here take either and answer in the same terms: band names with their modality and
sensor, class names, training statistics, the tiles of a split as a dataset whose samples are the
same dicts (``image (C, T, T)``, ``mask (T, T)``, ``origin (2,)``; a collection's also ``scene``),
and a hash of the data a checkpoint was trained on. So training (:mod:`eoxai.train`), evaluation
(:mod:`eoxai.accuracy`) and the explanations (:mod:`eoxai.explain_tiles`, :mod:`eoxai.reference`)
have one code path for the quick profile's single scenes and the paper profile's collections.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import xarray as xr

from eoxai.data.collection import SceneCollection, read_index
from eoxai.data.declaration import StackDeclaration
from eoxai.data.streaming import SceneTileDataset
from eoxai.errors import DatasetNotFoundError
from eoxai.layout import collection_index_path, cube_path
from eoxai.tiles import TileDataset

#: a fused stack: a cube (one scene) or a scene collection
Fused: TypeAlias = xr.Dataset | SceneCollection
#: the tiles of one split of a fused stack
SplitTiles: TypeAlias = TileDataset | SceneTileDataset


def open_fused(results_dir: str | Path, stack: str) -> Fused:
    """The fused ``stack`` notebook 01 wrote under ``results_dir``: its collection index if there is
    one, else its cube. :class:`DatasetNotFoundError` naming both files if neither exists."""
    from eoxai.fusion import read_cube

    index = collection_index_path(results_dir, stack)
    if index.is_file():
        return read_index(index)
    cube = cube_path(results_dir, stack)
    if not cube.is_file():
        raise DatasetNotFoundError(f"stack {stack!r} is not fused: neither {cube} nor {index} exists; run notebook "
                                   "01_data_fusion first")
    return read_cube(str(cube))


def is_collection(fused: Fused) -> bool:
    """True for a scene collection, False for a cube."""
    return isinstance(fused, SceneCollection)


def stack_name(fused: Fused) -> str:
    """The stack's name (the cube's ``name`` attribute, the collection's declaration name)."""
    return fused.name if isinstance(fused, SceneCollection) else str(fused.attrs.get("name", ""))


def declaration(fused: Fused) -> StackDeclaration:
    """The declaration the stack was fused from."""
    if isinstance(fused, SceneCollection):
        return fused.declaration
    from eoxai.stacks import cube_declaration

    return cube_declaration(fused)


def band_table(fused: Fused) -> pd.DataFrame:
    """One row per band, in band (model input) order: ``band`` (``<modality>.<band>``), ``modality``,
    ``sensor``, ``train_mean``, ``train_std`` (raw units, training pixels only)."""
    if isinstance(fused, SceneCollection):
        return pd.DataFrame({"band": fused.bands, "modality": fused.band_modality, "sensor": fused.band_sensor,
                             "train_mean": fused.band_mean, "train_std": fused.band_std})
    return pd.DataFrame({"band": [str(b) for b in fused["band"].values],
                         "modality": [str(m) for m in fused["modality"].values],
                         "sensor": [str(s) for s in fused["sensor"].values],
                         "train_mean": fused["band_mean"].values, "train_std": fused["band_std"].values})


def class_names(fused: Fused) -> list[str]:
    """The legend's class names, in class-index order."""
    if isinstance(fused, SceneCollection):
        return list(fused.class_names)
    return [str(c) for c in fused["class"].values]


def band_statistics(fused: Fused, bands: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and standard deviation ``(C,)`` (raw units) of ``bands``, in that order."""
    table = band_table(fused).set_index("band").loc[list(bands)]
    return table["train_mean"].to_numpy(np.float64), table["train_std"].to_numpy(np.float64)


def split_tiles(fused: Fused, split: str, tile_size: int, *, stride: int | None = None,
                modalities: Sequence[str] | None = None) -> SplitTiles:
    """The tiles of ``split`` (``train``, ``validation``, ``test``) of ``modalities`` (default all):
    a :class:`~eoxai.tiles.TileDataset` of a cube, a streamed
    :class:`~eoxai.data.streaming.SceneTileDataset` of a collection."""
    mods = list(modalities) if modalities is not None else None
    if isinstance(fused, SceneCollection):
        return SceneTileDataset(fused, split, tile_size, stride=stride, modalities=mods)
    return TileDataset(fused, split, tile_size, stride=stride, modalities=mods)


def is_collection_tiles(dataset: SplitTiles) -> bool:
    """True if ``dataset`` holds the tiles of a scene collection (each with its scene)."""
    return isinstance(dataset, SceneTileDataset)


def tile_scene(dataset: SplitTiles, index: int) -> str:
    """The scene tile ``index`` of ``dataset`` lies in: its name in a collection, the stack's name
    for a cube's tile (one scene)."""
    if isinstance(dataset, SceneTileDataset):
        return dataset.scenes[dataset.origins[index][0]].name
    return dataset.stack_name


def tile_place(dataset: SplitTiles, index: int) -> tuple[Any, ...]:
    """Where tile ``index`` lies, as the tables name it (:func:`eoxai.xai.maps.tile_columns`):
    ``(row, col)`` in a cube, ``(scene, row, col)`` in a collection."""
    if isinstance(dataset, SceneTileDataset):
        return (tile_scene(dataset, index), *tile_origin(dataset, index))
    return tile_origin(dataset, index)


def tile_origin(dataset: SplitTiles, index: int) -> tuple[int, int]:
    """Top-left ``(row, col)`` of tile ``index`` in its scene."""
    origin = dataset.origins[index]
    return (int(origin[-2]), int(origin[-1]))


def candidate_tiles(dataset: SplitTiles, limit: int | None, seed: int) -> list[int]:
    """Positions of at most ``limit`` tiles of ``dataset`` to choose explained tiles from (all when
    ``limit`` is None or not smaller than the dataset).

    A collection's tiles are drawn scene by scene: a seeded order of the scenes, and in each
    round one seeded tile of every scene not yet exhausted, so the candidates spread over as
    many test scenes as the limit allows. A cube's: a seeded sample of its tiles.
    """
    n = len(dataset)
    if limit is None or limit >= n:
        return list(range(n))
    rng = np.random.default_rng(seed)
    if not isinstance(dataset, SceneTileDataset):
        return sorted(int(i) for i in rng.choice(n, size=limit, replace=False))
    per_scene: dict[int, list[int]] = {}
    for i, (scene, _, _) in enumerate(dataset.origins):
        per_scene.setdefault(scene, []).append(i)
    queues = [list(rng.permutation(per_scene[s])) for s in rng.permutation(sorted(per_scene))]
    out: list[int] = []
    while len(out) < limit:
        for q in queues:
            if q and len(out) < limit:
                out.append(int(q.pop()))
    return sorted(out)


def data_hash(fused: Fused) -> str:
    """SHA-256 (first 16 hex) of the data a model trains on: equal data, equal hashes.

    A cube: every variable and coordinate. A collection: its declaration, split (scene names, file
    names and sizes), scene shapes and training statistics (the scenes' pixels are not read again:
    notebook 01 verified them against the dataset's checksums when it wrote the index).
    """
    if not isinstance(fused, SceneCollection):
        from eoxai.train import cube_hash

        return cube_hash(fused)
    h = hashlib.sha256()
    h.update(fused.declaration.model_dump_json().encode())
    for split, scenes in fused.splits.items():
        for scene in scenes:
            files = {k: (Path(p).name, _size(Path(p))) for k, p in sorted(scene.files.items())}
            h.update(json.dumps([split, scene.name, fused.shapes[scene.name], files]).encode())
    for values in (fused.band_mean, fused.band_std, fused.class_pixels):
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:16]


def _size(path: Path) -> int:
    try:
        return int(path.stat().st_size)
    except OSError:
        return -1
