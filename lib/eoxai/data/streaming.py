"""Tiles of a scene collection (:mod:`eoxai.data.collection`) read from disk on demand, as a torch dataset
with the samples of :class:`eoxai.tiles.TileDataset`.

Memory is bounded by ``memory_mb`` (the declaration's ``collection.memory_mb``, which a profile
overrides per stack): when the decoded, normalised scenes of a split fit in it they are kept after
their first read. Otherwise nothing grows with the dataset: with ``cache_dir`` (the declaration's
``collection.cache_dir``) each scene is decoded and normalised once into
``<cache_dir>/<stack>/<key>/<scene>.{image,mask}.npy`` (``key``: a hash of the training statistics,
the selected bands and the fill value; rewritten when a source file is newer) and tiles are sliced
from memory maps of those files (the operating system pages them in and out); without it every tile is read through rasterio windows
of its own files (at most :data:`MAX_OPEN_FILES` open handles per process). Handles and maps are
opened in the process that reads (DataLoader workers each open their own).

How a training engine uses it (the counterpart of ``eoxai.train.run_datasets``)::

    collection = open_collection(declaration, data_dir)          # split + training statistics
    train, val, bands = collection_datasets(collection, tile_size=256, modalities=["s1", "s2"],
                                            train_stride=256, max_train_tiles=None)
    loader = tile_loader(train, batch_size=16, shuffle=True, seed=epoch_seed, workers=4)
    for batch in loader: batch["image"] (B, C, T, T), batch["mask"] (B, T, T)

``train.class_pixel_counts()`` replaces reading ``dataset.mask`` for class weights.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from eoxai.data.collection import SPLITS, SceneCollection, encode_window, label_lookup, open_dataset, scale_window
from eoxai.errors import EmptyTileError, InputError, ModalityError
from eoxai.tiles import BandedTiles

IGNORE_INDEX = -1
#: open raster handles a reader keeps per process (the oldest is closed first)
MAX_OPEN_FILES = 256


def _split_name(split: str) -> str:
    name = {"val": "validation", "valid": "validation"}.get(split, split)
    if name not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    return name


def selected_bands(collection: SceneCollection, modalities: Sequence[str] | None) -> list[int]:
    """Indices into ``collection.bands`` of the bands whose modality (or sensor) is in ``modalities``."""
    if modalities is None:
        return list(range(len(collection.bands)))
    known = set(collection.band_modality) | set(collection.band_sensor)
    unknown = [m for m in modalities if m not in known]
    if unknown:
        raise ModalityError(f"modalities {unknown} not in collection {collection.name!r}; it has {sorted(known)}")
    return [i for i, (m, s) in enumerate(zip(collection.band_modality, collection.band_sensor, strict=True))
            if m in modalities or s in modalities]


def tile_grid(height: int, width: int, tile_size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of a regular grid of ``tile_size`` tiles with step ``stride`` inside ``(height, width)``."""
    return [(r, c) for r in range(0, height - tile_size + 1, stride) for c in range(0, width - tile_size + 1, stride)]


class SceneTileDataset(BandedTiles, Dataset):
    """Tiles of one split of a scene collection, read on demand (see the module doc).

    Each sample is a dict, as :class:`eoxai.tiles.TileDataset`'s::

        image   (C, T, T) float32   selected bands, z-scored with the training scenes' statistics;
                                    no data replaced by ``fill_value``
        mask    (T, T)    int64     class index, IGNORE_INDEX (-1) for no data and pixels where
                                    any selected band lacks data
        origin  (2,)      int64     top-left row, column in its scene
        scene   ()        int64     index of the scene in ``self.scenes``

    A tile is kept when it holds at least one labelled pixel (read from the label file once, when
    the dataset is built). ``memory_mb`` defaults to the declaration's ``collection.memory_mb``.
    """

    def __init__(self, collection: SceneCollection, split: str, tile_size: int, stride: int | None = None,
                 modalities: Sequence[str] | None = None, fill_value: float = 0.0,
                 memory_mb: float | None = None, cache_dir: str | Path | None = None) -> None:
        decl = collection.declaration
        self.collection = collection
        self.split_name = _split_name(split)
        self.scenes = list(collection.splits[self.split_name])
        self.tile_size = int(tile_size)
        self.band_index = selected_bands(collection, modalities)
        self.bands = [collection.bands[i] for i in self.band_index]
        self.class_names = collection.class_names
        self.fill_value = float(fill_value)
        self._mean = collection.band_mean.astype(np.float32)[:, None, None]
        self._std = collection.band_std.astype(np.float32)[:, None, None]
        self._lookup = label_lookup(decl)
        budget = (decl.collection.memory_mb if decl.collection and memory_mb is None else memory_mb) or 0.0
        per_pixel = 4 * len(self.bands) + 8
        need = sum(collection.shapes[s.name][0] * collection.shapes[s.name][1] for s in self.scenes) * per_pixel
        #: whole decoded scenes are kept only when the split fits in the memory budget
        self.keep_scenes = need <= budget * 2**20
        cache = cache_dir if cache_dir is not None else (decl.collection.cache_dir if decl.collection else None)
        #: decoded scenes written once as .npy files and read as memory maps (when they do not fit in memory)
        self.cache_dir = Path(cache) if cache is not None and not self.keep_scenes else None
        self.cache_dir_writes = 0
        self._maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._handles: OrderedDict[str, Any] = OrderedDict()
        self._scenes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._pid = os.getpid()
        step = int(stride or tile_size)
        self.origins: list[tuple[int, int, int]] = []
        self._class_pixels = np.zeros(len(self.class_names), dtype=np.int64)
        for i, scene in enumerate(self.scenes):
            h, w = collection.shapes[scene.name]
            label = self._read("label", i, 0, 0, h, w)
            for r, c in tile_grid(h, w, self.tile_size, step):
                tile = label[r:r + self.tile_size, c:c + self.tile_size]
                if (tile >= 0).any():
                    self.origins.append((i, r, c))
                    self._class_pixels += np.bincount(tile[tile >= 0], minlength=len(self.class_names))
        if not self.origins:
            raise EmptyTileError(f"collection {collection.name!r}: split {self.split_name!r} ({len(self.scenes)} "
                                 f"scenes) has no {tile_size} x {tile_size} tile with labelled pixels")

    # --- reading ------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = OrderedDict()  # rasterio handles stay in the process that opened them
        state["_maps"] = {}
        return state

    def _handle(self, path: Any) -> Any:
        if os.getpid() != self._pid:  # a forked worker: never reuse the parent's GDAL handles
            self._handles, self._maps, self._pid = OrderedDict(), {}, os.getpid()
        key = str(path)
        if key in self._handles:
            self._handles.move_to_end(key)
            return self._handles[key]
        ds = open_dataset(path)
        self._handles[key] = ds
        if len(self._handles) > MAX_OPEN_FILES:
            self._handles.popitem(last=False)[1].close()
        return ds

    def _read(self, key: str, scene: int, r: int, c: int, h: int, w: int) -> np.ndarray:
        from rasterio.windows import Window

        s = self.scenes[scene]
        ds = self._handle(s.files[key])
        raw = ds.read(window=Window(c, r, w, h))
        if key == "label":
            return encode_window(raw[0], self._lookup, f"collection {self.collection.name!r} scene {s.name!r} "
                                                       f"label {s.files[key]}")
        return scale_window(raw, self.collection.declaration.modalities[key], ds.nodata)

    def _raw_window(self, scene: int, r: int, c: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """All bands ``(C_all, h, w)`` float32 in declared units (NaN no data) and labels ``(h, w)`` int64."""
        decl = self.collection.declaration
        image = np.concatenate([self._read(m, scene, r, c, h, w) for m in decl.modalities], axis=0)
        return image, self._read("label", scene, r, c, h, w)

    def cache_key(self) -> str:
        """What the cached arrays depend on besides the scene files: statistics, bands, fill value."""
        import hashlib

        h = hashlib.sha256(self._mean.tobytes() + self._std.tobytes() + repr((self.bands, self.fill_value)).encode())
        return h.hexdigest()[:16]

    def _cached(self, scene: int) -> tuple[np.ndarray, np.ndarray]:
        """The scene's finished image and mask as memory maps of ``cache_dir`` files, written on first use."""
        if scene not in self._maps:
            s = self.scenes[scene]
            folder = self.cache_dir / self.collection.name / self.cache_key()  # type: ignore[operator]
            base = folder / s.name.replace("/", "__")
            paths = (base.with_name(base.name + ".image.npy"), base.with_name(base.name + ".mask.npy"))
            newest = max(f.stat().st_mtime for f in s.files.values())
            if not all(p.is_file() and p.stat().st_mtime >= newest for p in paths):
                self.cache_dir_writes += 1
                h, w = self.collection.shapes[s.name]
                image, mask = self.read_window(scene, 0, 0, h, w)
                folder.mkdir(parents=True, exist_ok=True)
                for path, array in zip(paths, (image, mask.astype(np.int16)), strict=True):
                    part = path.with_name(path.name + f".{os.getpid()}.part")
                    with part.open("wb") as fh:
                        np.save(fh, array)
                    part.replace(path)
            self._maps[scene] = (np.load(paths[0], mmap_mode="r"), np.load(paths[1], mmap_mode="r"))
        return self._maps[scene]

    def _finish(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = ((image - self._mean) / self._std)[self.band_index]
        mask[~np.isfinite(image).all(axis=0)] = IGNORE_INDEX
        return np.nan_to_num(image, nan=self.fill_value).astype(np.float32, copy=False), mask

    def read_window(self, scene: int, r: int, c: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Normalised image ``(C, h, w)`` float32 (no data filled) and mask ``(h, w)`` int64 of one window."""
        return self._finish(*self._raw_window(scene, r, c, h, w))

    def _scene(self, scene: int) -> tuple[np.ndarray, np.ndarray]:
        if scene not in self._scenes:
            h, w = self.collection.shapes[self.scenes[scene].name]
            self._scenes[scene] = self.read_window(scene, 0, 0, h, w)
        return self._scenes[scene]

    def preload(self) -> None:
        """Decode every scene of the split now (only when ``keep_scenes``: they fit in the budget)."""
        if self.keep_scenes:
            for i in range(len(self.scenes)):
                self._scene(i)

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        scene, r, c = self.origins[index]
        t = self.tile_size
        if self.keep_scenes or self.cache_dir is not None:
            image, mask = self._scene(scene) if self.keep_scenes else self._cached(scene)
            image, mask = np.array(image[:, r:r + t, c:c + t]), mask[r:r + t, c:c + t].astype(np.int64)
        else:
            image, mask = self.read_window(scene, r, c, t, t)
        return {"image": torch.from_numpy(image), "mask": torch.from_numpy(mask),
                "origin": torch.tensor([r, c]), "scene": torch.tensor(scene)}

    # --- what the engine needs (in_channels, check_batch: BandedTiles) ------------------------

    def class_pixel_counts(self) -> np.ndarray:
        """Labelled pixels per class ``(K,)`` over this split's tiles (class weights, absent classes)."""
        return self._class_pixels.copy()

    def modality_bands(self) -> dict[str, int]:
        """``{modality: band count}`` of the selected bands, in band order (the model's input order)."""
        names = [self.collection.band_modality[i] for i in self.band_index]
        return {m: names.count(m) for m in dict.fromkeys(names)}



def collection_datasets(collection: SceneCollection, tile_size: int, modalities: Sequence[str] | None = None, *,
                        train_stride: int | None = None, max_train_tiles: int | None = None,
                        memory_mb: float | None = None) -> tuple[SceneTileDataset, SceneTileDataset, dict[str, int]]:
    """Training and validation tiles of a collection and the ``{modality: bands}`` of ``modalities``
    (the collection counterpart of ``eoxai.train.run_datasets``)."""
    train = SceneTileDataset(collection, "train", tile_size, stride=train_stride or tile_size, modalities=modalities,
                             memory_mb=memory_mb)
    if max_train_tiles:
        train.subsample(max_train_tiles)
    val = SceneTileDataset(collection, "validation", tile_size, modalities=modalities, memory_mb=memory_mb)
    return train, val, train.modality_bands()


def default_workers() -> int:
    """DataLoader worker processes for streamed tiles: up to 4, leaving one CPU to the model."""
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def tile_loader(dataset: Dataset, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                workers: int | None = None) -> DataLoader:
    """A DataLoader over ``dataset`` with ``workers`` processes (default: up to 4, fewer CPUs) and a
    generator seeded with ``seed`` (the order of a shuffled epoch depends on the seed alone)."""
    if workers is None:
        workers = default_workers()
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
