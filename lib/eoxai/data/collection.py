"""A stack that is a collection of scenes (chips, tiles, image pairs): found on disk, checked, split by
scene, with training statistics from one streaming pass.

A declaration with ``collection:`` and no ``chip`` (:attr:`StackDeclaration.is_collection`) is a
collection. Its scenes are the files that match the reference modality's pattern, each pattern
field (``{chip}``, and e.g. ``{group}``) read from the path; every other modality and the label of
a scene are the same pattern with the same fields. The split follows the declaration's
``collection.split`` (:class:`~eoxai.data.declaration.SplitDeclaration`): the dataset's own split
files where it publishes them, a pattern field (DFC2020's ``validation``/``test`` folders), or a
seeded scene-level split whose rule is stated in :attr:`SceneCollection.split_rule`.

Normalisation statistics come from the training scenes only, read ``statistics_rows`` rows at a
time and merged per band with Chan et al.'s parallel update of mean and variance (Chan, Golub,
LeVeque 1979, "Updating formulae and a pairwise algorithm for computing sample variances"), so
memory does not grow with the number of scenes. The tiles themselves are read on demand by
:class:`eoxai.data.streaming.SceneTileDataset`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eoxai.data.declaration import ModalityDeclaration, StackDeclaration
from eoxai.errors import (
    BandCountError,
    ClassAbsentError,
    ClassLabelError,
    ConfigError,
    DatasetNotFoundError,
    GridMismatchError,
    LayoutError,
    RasterReadError,
    SceneNotFoundError,
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Scene:
    """One scene of a collection: its pattern fields, its name and its files (``{modality|label: path}``)."""

    fields: tuple[tuple[str, str], ...]
    files: Mapping[str, Path] = field(compare=False)

    @property
    def name(self) -> str:
        """The fields' values joined by ``/`` (``Spain_7370579``; ``validation/30`` for two fields)."""
        return "/".join(v for _, v in self.fields)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching the relative paths of ``pattern``; its fields (``{chip}``) become named groups
    (a field used twice must take the same value both times)."""
    out, seen, pos = [], set(), 0
    for m in _FIELD.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+?)")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


def fill(pattern: str, fields: Mapping[str, str]) -> str:
    """``pattern`` with its fields filled; :class:`ConfigError` naming a field the scene lacks."""
    try:
        return pattern.format(**fields)
    except KeyError as exc:
        raise ConfigError(f"file pattern {pattern!r} uses the field {exc.args[0]!r}, which the reference "
                          f"pattern does not define (fields: {sorted(fields)})") from None


def declared_patterns(decl: StackDeclaration) -> dict[str, str]:
    """``{modality: pattern, ..., "label": pattern}`` of a declaration, in declaration order."""
    return {**{m: md.file for m, md in decl.modalities.items()}, "label": decl.label.file}


def discover_scenes(decl: StackDeclaration, root: str | Path) -> list[Scene]:
    """Every scene of a collection under ``root/<folder>``, sorted by name.

    A scene is a file matching the reference modality's pattern. Raises
    :class:`DatasetNotFoundError` if the folder is missing, :class:`LayoutError` if no file matches
    the pattern (naming the folder, the pattern and files found instead) and
    :class:`SceneNotFoundError` naming the scene and file if a scene lacks another modality or its label.
    """
    folder = Path(root) / decl.folder
    if not folder.is_dir():
        how = f"`python -m eoxai.data.download {decl.download}`" if decl.download else "the declared files"
        raise DatasetNotFoundError(f"collection {decl.name!r}: folder {folder} not found; get it with {how}")
    patterns = declared_patterns(decl)
    ref = patterns[decl.reference_modality]
    regex = pattern_regex(ref)
    candidates = sorted(folder.glob(_FIELD.sub("*", ref)))
    scenes: list[Scene] = []
    for path in candidates:
        m = regex.match(path.relative_to(folder).as_posix())
        if m is None:
            continue
        fields = m.groupdict()
        files = {k: folder / fill(p, fields) for k, p in patterns.items()}
        for key, f in files.items():
            if not f.is_file():
                raise SceneNotFoundError(
                    f"collection {decl.name!r}: scene {'/'.join(fields.values())!r} has no {key} file {f} "
                    f"(pattern {patterns[key]!r}); every scene needs every modality and its label")
        order = [n for n in _FIELD.findall(ref) if n in fields]
        scenes.append(Scene(tuple((n, fields[n]) for n in dict.fromkeys(order)), files))
    if not scenes:
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        raise LayoutError(
            f"collection {decl.name!r}: no file under {folder} matches the declared patterns "
            f"{list(patterns.values())} (reference {decl.reference_modality!r}: {ref!r}); found "
            f"{found[:5]}{' ...' if len(found) > 5 else ''}. The folder holds another layout: fix the "
            "declaration's file patterns or the folder")
    return sorted(scenes, key=lambda s: s.name)


def collection_inputs(decl: StackDeclaration, root: str | Path) -> list[Path]:
    """The files a collection reads: its split files, then every file of every scene found.

    A missing folder, or one holding no file of the declared layout, gives the folder itself (a
    missing input that names the dataset) besides the split files.
    """
    folder = Path(root) / decl.folder
    split = decl.collection.split if decl.collection else None
    files = [folder / f for f in dict.fromkeys(split.files.values())] if split else []
    try:
        scenes = discover_scenes(decl, root)
    except (DatasetNotFoundError, LayoutError):
        return [*files, folder] if not folder.is_dir() else files or [folder]
    return [*files, *(f for s in scenes for f in s.files.values())]


# --- split ----------------------------------------------------------------------------------


def _split_file_entries(path: Path, column: int | str, split: str) -> list[str]:
    """The entries of one split file: column ``column`` (index, or header name; ``{split}`` -> ``split``)."""
    if not path.is_file():
        raise DatasetNotFoundError(f"split file {path} not found (the dataset's official {split} split)")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if isinstance(column, int):
        return [r[column].strip() for r in rows if len(r) > column and r[column].strip()]
    name = column.format(split=split)
    header = [c.strip() for c in rows[0]] if rows else []
    if name not in header:
        raise LayoutError(f"split file {path}: no column {name!r} (header {header})")
    i = header.index(name)
    return [r[i].strip() for r in rows[1:] if len(r) > i and r[i].strip()]


def _entry_scene(entry: str, regex: re.Pattern[str], path: Path) -> str:
    m = regex.match(Path(entry).name) or regex.match(entry)
    if m is None:
        raise LayoutError(f"split file {path}: entry {entry!r} does not match the declared entry pattern "
                          f"{regex.pattern!r}")
    return "/".join(m.groupdict().values())


def _seeded(names: Sequence[str], fractions: Sequence[float], seed: int) -> list[str]:
    """Split codes for ``names`` (sorted): a permutation by ``default_rng(seed)`` cut by ``fractions``."""
    n = len(names)
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions) * n).astype(int)
    out = [""] * n
    for rank, i in enumerate(order):
        out[i] = SPLITS[int(np.searchsorted(cuts, rank, side="right"))]
    return out


def split_scenes(decl: StackDeclaration, scenes: Sequence[Scene], root: str | Path) -> tuple[dict[str, list[Scene]], str]:
    """``({split: scenes}, rule)``: the scenes of each split and the rule in words (for tables).

    Raises :class:`SceneNotFoundError` naming the scene and the split file if a split file names a
    scene that is not in the collection.
    """
    if decl.collection is None:
        raise ConfigError(f"stack {decl.name!r} declares no collection")
    sd = decl.collection.split
    by_name = {s.name: s for s in scenes}
    folder = Path(root) / decl.folder
    out: dict[str, list[Scene]] = {s: [] for s in SPLITS}
    if sd.rule == "official":
        regex = pattern_regex(sd.entry)
        for split, rel in sd.files.items():
            path = folder / rel
            for entry in _split_file_entries(path, sd.column, split):
                name = _entry_scene(entry, regex, path)
                if name not in by_name:
                    raise SceneNotFoundError(
                        f"split file {path} ({split}) names scene {name!r}, which is not in collection "
                        f"{decl.name!r} under {folder} (its files are missing)")
                out[split].append(by_name[name])
        rule = "official split files: " + ", ".join(f"{k} {v}" for k, v in sd.files.items())
    elif sd.rule == "field":
        for s in scenes:
            value = dict(s.fields).get(str(sd.field))
            if value in sd.values:
                out[sd.values[value]].append(s)
        rule = f"official split by the {sd.field!r} field: " + ", ".join(f"{k} -> {v}" for k, v in sd.values.items())
        if sd.holdout > 0 and out["train"]:
            codes = _seeded([s.name for s in out["train"]], [1 - sd.holdout, sd.holdout, 0.0], sd.seed)
            out["validation"] += [s for s, c in zip(out["train"], codes, strict=True) if c == "validation"]
            out["train"] = [s for s, c in zip(out["train"], codes, strict=True) if c == "train"]
            rule += (f"; validation: {sd.holdout:.0%} of the training scenes, sorted by name and permuted "
                     f"with numpy default_rng({sd.seed})")
    else:
        codes = _seeded([s.name for s in scenes], sd.fractions, sd.seed)
        for s, c in zip(scenes, codes, strict=True):
            out[c].append(s)
        rule = (f"seeded scene-level split (no published split): scenes sorted by name, permuted with numpy "
                f"default_rng({sd.seed}), cut at fractions {list(sd.fractions)} (train, validation, test)")
    twice = sorted({s.name for s in out["train"]} & ({s.name for s in out["validation"]} | {s.name for s in out["test"]}))
    if twice:
        raise LayoutError(f"collection {decl.name!r}: scenes {twice[:5]} are in the training split and another one")
    return out, rule


# --- reading --------------------------------------------------------------------------------


def open_dataset(path: Path) -> Any:
    """``rasterio.open(path)``; :class:`RasterReadError` naming the file if it cannot be read."""
    import rasterio
    import rasterio.errors

    try:
        return rasterio.open(path)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise RasterReadError(f"{path}: cannot read the raster ({exc}); the file may be truncated or corrupt") from exc


def scale_window(raw: np.ndarray, md: ModalityDeclaration, file_nodata: float | None) -> np.ndarray:
    """Raw ``(band, h, w)`` values -> float32 in the declared units, NaN where there is no data."""
    values = raw.astype(np.float32)
    invalid = ~np.isfinite(values)
    nod = md.nodata if md.nodata is not None else file_nodata
    if nod is not None and np.isfinite(nod):
        invalid |= raw == nod
    if md.scale != 1.0:
        values *= np.float32(md.scale)
    if md.offset:
        values += np.float32(md.offset)
    values[invalid] = np.nan
    return values


def label_lookup(decl: StackDeclaration) -> dict[int, int]:
    """Raw label value -> class index ``0..K-1`` in legend order (nodata -> -1)."""
    out = {int(v): i for i, v in enumerate(decl.label.legend)}
    if decl.label.nodata is not None:
        out[int(decl.label.nodata)] = -1
    return out


def encode_window(raw: np.ndarray, lookup: Mapping[int, int], what: str) -> np.ndarray:
    """Raw label values ``(h, w)`` -> int64 class indices; :class:`ClassLabelError` naming ``what``."""
    values, inverse = np.unique(raw, return_inverse=True)
    finite = [bool(np.isfinite(v)) for v in values.tolist()]
    bad = [v for v, f in zip(values.tolist(), finite, strict=True) if f and int(v) not in lookup]
    if bad:
        raise ClassLabelError(f"{what}: label values {bad} are not among the declared classes {dict(lookup)}")
    codes = np.array([lookup[int(v)] if f else -1 for v, f in zip(values.tolist(), finite, strict=True)],
                     dtype=np.int64)
    return codes[inverse].reshape(raw.shape)


def check_scene(decl: StackDeclaration, scene: Scene) -> tuple[int, int]:
    """The scene's ``(height, width)``; :class:`GridMismatchError` naming the scene and file if a
    modality or the label is not on the reference file's grid (size, transform, CRS), and
    :class:`BandCountError` if a file holds another number of bands than declared."""
    ref_key = decl.reference_modality
    with open_dataset(scene.files[ref_key]) as ref:
        grid = (ref.height, ref.width, ref.transform, ref.crs)
    for key, path in scene.files.items():
        with open_dataset(path) as ds:
            expected = len(decl.modalities[key].bands) if key in decl.modalities else 1
            if ds.count != expected:
                raise BandCountError(f"collection {decl.name!r} scene {scene.name!r}: {path} ({key}) has {ds.count} "
                                     f"band(s), {expected} declared")
            if (ds.height, ds.width) != grid[:2] or not ds.transform.almost_equals(grid[2], 1e-6) or ds.crs != grid[3]:
                raise GridMismatchError(
                    f"collection {decl.name!r} scene {scene.name!r}: {path} ({key}) is on another grid than "
                    f"{scene.files[ref_key]} ({ref_key}): {ds.height} x {ds.width} px, {ds.transform[:6]}, {ds.crs} vs "
                    f"{grid[0]} x {grid[1]} px, {grid[2][:6]}, {grid[3]}; the modalities of a scene must align")
    return int(grid[0]), int(grid[1])


class RunningMoments:
    """Per-band count, mean and sum of squared deviations, merged batch by batch (Chan et al. 1979).

    ``update(values)`` takes ``(band, n)`` float values with NaN for no data.
    """

    def __init__(self, n_bands: int) -> None:
        self.count = np.zeros(n_bands, dtype=np.float64)
        self.mean = np.zeros(n_bands, dtype=np.float64)
        self.m2 = np.zeros(n_bands, dtype=np.float64)

    def update(self, values: np.ndarray) -> None:
        v = values.astype(np.float64)
        ok = np.isfinite(v)
        n_b = ok.sum(axis=1).astype(np.float64)
        has = n_b > 0
        if not has.any():
            return
        v0 = np.where(ok, v, 0.0)
        mean_b = np.divide(v0.sum(axis=1), n_b, out=np.zeros_like(n_b), where=has)
        m2_b = (np.where(ok, v - mean_b[:, None], 0.0) ** 2).sum(axis=1)
        n = self.count + n_b
        delta = mean_b - self.mean
        frac = np.divide(n_b, n, out=np.zeros_like(n), where=n > 0)
        self.mean = self.mean + delta * frac
        self.m2 = self.m2 + m2_b + delta**2 * self.count * frac
        self.count = n

    def std(self) -> np.ndarray:
        """Population standard deviation per band (1 where a band has no spread or no data)."""
        std = np.sqrt(np.divide(self.m2, self.count, out=np.zeros_like(self.m2), where=self.count > 0))
        std[~(std > 0)] = 1.0
        return std


def read_rows(decl: StackDeclaration, scene: Scene, key: str, row: int, rows: int, width: int) -> np.ndarray:
    """Rows ``row .. row + rows`` of one scene file: float32 ``(band, rows, W)`` in declared units
    (modality) or int64 ``(rows, W)`` class indices (``key == "label"``)."""
    from rasterio.windows import Window

    with open_dataset(scene.files[key]) as ds:
        raw = ds.read(window=Window(0, row, width, rows))
        if key == "label":
            return encode_window(raw[0], label_lookup(decl), f"collection {decl.name!r} scene {scene.name!r} "
                                                             f"label {scene.files[key]}")
        return scale_window(raw, decl.modalities[key], ds.nodata)


def training_statistics(decl: StackDeclaration, scenes: Sequence[Scene], shapes: Mapping[str, tuple[int, int]],
                        rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-band mean and std over the labelled and unlabelled pixels with data of ``scenes`` (the
    training scenes), and the labelled pixel count per class; one pass, ``rows`` rows at a time.

    Returns ``(mean (C,), std (C,), class_pixels (K,))``.
    """
    n_bands = sum(len(md.bands) for md in decl.modalities.values())
    moments = RunningMoments(n_bands)
    counts = np.zeros(len(decl.label.legend), dtype=np.int64)
    for scene in scenes:
        h, w = shapes[scene.name]
        for r in range(0, h, rows):
            n = min(rows, h - r)
            parts = [read_rows(decl, scene, m, r, n, w) for m in decl.modalities]
            moments.update(np.concatenate(parts, axis=0).reshape(n_bands, -1))
            lab = read_rows(decl, scene, "label", r, n, w)
            counts += np.bincount(lab[lab >= 0], minlength=len(counts))
    return moments.mean, moments.std(), counts


@dataclass
class SceneCollection:
    """A checked, split collection with training statistics. Build with :func:`open_collection`.

    ``bands`` are ``<modality>.<band>`` in declaration order; ``band_mean``/``band_std`` ``(C,)``
    come from the training scenes only; ``class_pixels`` ``(K,)`` counts labelled training pixels.
    """

    declaration: StackDeclaration
    root: Path
    splits: dict[str, list[Scene]]
    split_rule: str
    shapes: dict[str, tuple[int, int]]
    band_mean: np.ndarray
    band_std: np.ndarray
    class_pixels: np.ndarray

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def bands(self) -> list[str]:
        return [f"{m}.{b}" for m, md in self.declaration.modalities.items() for b in md.bands]

    @property
    def band_modality(self) -> list[str]:
        return [m for m, md in self.declaration.modalities.items() for _ in md.bands]

    @property
    def band_sensor(self) -> list[str]:
        return [md.sensor for md in self.declaration.modalities.values() for _ in md.bands]

    @property
    def class_names(self) -> list[str]:
        return self.declaration.label.class_names

    def summary(self) -> pd.DataFrame:
        """One row per split: scenes, pixels, and the split rule (the table output states the rule)."""
        return pd.DataFrame([
            {"stack": self.name, "split": s, "scenes": len(sc),
             "pixels": int(sum(self.shapes[x.name][0] * self.shapes[x.name][1] for x in sc)),
             "rule": self.split_rule}
            for s, sc in self.splits.items()])

    def band_statistics(self) -> pd.DataFrame:
        """The training-scene mean and std of every band (as :func:`eoxai.stacks.band_statistics`)."""
        wl = [float((md.wavelengths_nm or {}).get(b, np.nan))
              for md in self.declaration.modalities.values() for b in md.bands]
        return pd.DataFrame({"stack": self.name, "band": self.bands, "modality": self.band_modality,
                             "sensor": self.band_sensor, "wavelength_nm": wl,
                             "train_mean": self.band_mean, "train_std": self.band_std})


def verify_scene_files(decl: StackDeclaration, root: Path, scenes: Sequence[Scene]) -> None:
    """Verify every scene file against the checksum lists of ``root`` (as the single-scene reader does)."""
    from eoxai.data.raster import verify_against_root

    own = root / decl.checksums if decl.checksums else root / decl.folder / "SHA256SUMS"
    verify_against_root(root, [f for s in scenes for f in s.files.values()], extra=[own])


def open_collection(decl: StackDeclaration, root: str | Path, checksum: bool = True) -> SceneCollection:
    """Find, check, split a collection and compute its training statistics (one streaming pass).

    Raises the errors of :func:`discover_scenes`, :func:`split_scenes` and :func:`check_scene`, and
    :class:`ClassAbsentError` naming the classes and the training scenes' split if a class of the
    legend has no labelled pixel in the training scenes.
    """
    if not decl.is_collection or decl.collection is None:
        raise ConfigError(f"stack {decl.name!r} is not a collection (declare collection: and leave chip unset)")
    root = Path(root)
    scenes = discover_scenes(decl, root)
    splits, rule = split_scenes(decl, scenes, root)
    used = [s for sc in splits.values() for s in sc]
    if checksum:
        verify_scene_files(decl, root, used)
    shapes = {s.name: check_scene(decl, s) for s in used}
    for s in used:
        if min(shapes[s.name]) < decl.tiling.tile_size:
            from eoxai.errors import TileSizeError

            raise TileSizeError(f"collection {decl.name!r} scene {s.name!r}: {shapes[s.name]} px is smaller than the "
                                f"tile size {decl.tiling.tile_size}; lower stacks.{decl.name}.tiling.tile_size")
    if not splits["train"]:
        raise ClassAbsentError(f"collection {decl.name!r}: the training split holds no scene ({rule})")
    mean, std, counts = training_statistics(decl, splits["train"], shapes, decl.collection.statistics_rows)
    absent = [n for n, c in zip(decl.label.class_names, counts, strict=True) if c == 0]
    if absent:
        raise ClassAbsentError(
            f"collection {decl.name!r}: class(es) {absent} have no labelled pixel in the {len(splits['train'])} "
            f"training scenes ({rule}; first scene {splits['train'][0].name!r}, label "
            f"{splits['train'][0].files['label']}); drop them from the legend or change the split")
    return SceneCollection(decl, root, splits, rule, shapes, mean, std, counts)


#: the ``kind`` of a collection index file (:func:`write_index`)
INDEX_KIND = "eoxai.scene_collection"


def write_index(collection: SceneCollection, path: str | Path) -> Path:
    """Write what notebook 01 learned of a collection (its declaration, scenes and their files, split
    and split rule, scene shapes, training statistics) as JSON: the collection's counterpart of the
    fused cube file, read back by :func:`read_index` without scanning or reading the scenes again.

    File paths are stored relative to the data root, and the root as it was given (a relative
    ``data_dir`` keeps the index free of machine folders).
    """
    import json

    root = collection.root
    doc = {
        "kind": INDEX_KIND, "name": collection.name, "root": root.as_posix(),
        "declaration": collection.declaration.model_dump(mode="json"),
        "split_rule": collection.split_rule,
        "splits": {s: [{"fields": [list(f) for f in sc.fields],
                        "files": {k: Path(p).relative_to(root).as_posix() for k, p in sc.files.items()}}
                       for sc in scenes] for s, scenes in collection.splits.items()},
        "shapes": {k: list(v) for k, v in collection.shapes.items()},
        "band_mean": [float(v) for v in collection.band_mean], "band_std": [float(v) for v in collection.band_std],
        "class_pixels": [int(v) for v in collection.class_pixels],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def read_index(path: str | Path) -> SceneCollection:
    """The :class:`SceneCollection` of an index written by :func:`write_index`.

    Raises :class:`DatasetNotFoundError` if the file is missing (run notebook 01 first) and
    :class:`DataFormatError` if it is not a collection index.
    """
    import json

    from eoxai.config import validate_declaration
    from eoxai.errors import DataFormatError

    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"collection index {path} not found; run notebook 01_data_fusion first")
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise DataFormatError(f"collection index {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != INDEX_KIND:
        raise DataFormatError(f"{path} is not a collection index (kind {INDEX_KIND!r}); rerun notebook 01_data_fusion")
    root = Path(doc["root"])
    decl = validate_declaration(doc["name"], doc["declaration"])
    splits = {s: [Scene(tuple((k, v) for k, v in e["fields"]), {k: root / f for k, f in e["files"].items()})
                  for e in entries] for s, entries in doc["splits"].items()}
    return SceneCollection(decl, root, splits, doc["split_rule"], {k: (int(v[0]), int(v[1])) for k, v in doc["shapes"].items()},
                           np.asarray(doc["band_mean"], dtype=np.float64), np.asarray(doc["band_std"], dtype=np.float64),
                           np.asarray(doc["class_pixels"], dtype=np.int64))
