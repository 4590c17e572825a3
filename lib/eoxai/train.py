"""Training of the fusion (segmentation) models on the engine of :mod:`eoxai.engine`: seeded, early-stopped, resumable.

This module holds what is specific to segmentation: run specs and input sets, tile batches,
the validation mIoU, checkpoints of finished runs and their reuse. The loop, the config type
(:class:`~eoxai.engine.TrainConfig`), the schedule and the resume states are the engine's.
What the source papers' training got wrong and what this module does instead (issue 4):

- logits go to the loss once (no softmax in the model); class weights come from the training
  split (:func:`eoxai.losses.class_weights`);
- the training tiles are shuffled every epoch and augmented (the 8 flips/rotations of the
  square, D4) on the training split only; validation tiles are never augmented;
- AdamW with a linear warm-up then cosine decay (:func:`eoxai.engine.warmup_cosine`), stepped after every batch;
- early stopping on validation mIoU; the best epoch's weights are kept; the test split is never
  touched here (it is scored in notebook 03 and explained in 04-08b; see the README's split table);
- every epoch starts from RNGs seeded by ``(seed, epoch)``, so runs repeat exactly on CPU and a
  run resumed from its per-epoch state file (``<checkpoint>.state.pt``) ends where an
  uninterrupted one does;
- checkpoints and resume states are read with torch's ``weights_only`` loader after their
  SHA-256 sidecar is verified (:func:`eoxai.checkpoint.load_torch_file`); a damaged resume state
  is reported and the run restarts from scratch;
- with a run store (``train_run(..., store=...)``, notebook 02 uses ``<results>/interim/training``)
  every finished run is kept outside Snakemake's declared outputs and reused on a rerun when its
  verified checkpoint matches the run's config, data and code hashes, so an interrupted training
  job retrains only the runs that had not finished;
- a batch with NaN/inf, a NaN loss, a band-count mismatch or an empty split stop with an error
  naming the cause;
- bf16 autocast and channels_last where the device computes bf16 natively (CUDA, a CPU with
  AVX512-BF16; ``TrainConfig.bf16``, ``.channels_last``), optional ``torch.compile``.

Typical use (what notebook 02 does)::

    spec = RunSpec("sen1floods11", "manet_mit", "all", seed=0, tile_size=64, config=TrainConfig(epochs=5))
    history, meta = train_run(open_fused(results, "sen1floods11"), spec,
                              checkpoint_path(results, "sen1floods11", "manet_mit", "all", 0))

The fused stack is a cube (one scene, in memory) or a scene collection (streamed from disk);
:mod:`eoxai.fused` gives both one interface, so every function here takes either.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from eoxai.checkpoint import (
    CheckpointError,
    checkpoint_path,
    config_hash,
    plain,
    read_checkpoint,
    save_checkpoint,
)
from eoxai.checksums import verify_sidecar, write_sidecar
from eoxai.engine import (
    Amp,
    Task,
    TrainConfig,
    bf16_supported,
    check_finite,
    fit,
    remove_with_sidecar,
    to_device,
)
from eoxai.errors import BandCountError, ConfigError, MissingHeadError
from eoxai.fused import (
    Fused,
    SplitTiles,
    band_table,
    data_hash,
    is_collection,
    is_collection_tiles,
    split_tiles,
    tile_origin,
    tile_place,
    tile_scene,
)
from eoxai.losses import LossFn, build_loss, class_weights
from eoxai.metrics import confusion_matrix, scores
from eoxai.models import build_model, modality_sensor
from eoxai.session import select_device
from eoxai.tiles import IGNORE_INDEX
from eoxai.xai.maps import tile_columns

#: input sets of the ablation, by name: which sensor groups each keeps
INPUT_SETS: dict[str, tuple[str, ...]] = {
    "all": ("optical", "sar", "elevation", "other"),
    "optical": ("optical",),
    "sar": ("sar",),
    "optical_dem": ("optical", "elevation"),
}


#: modules whose code decides the weights of a run (their source is hashed into a checkpoint's ``code_hash``)
_WEIGHT_CODE = ("eoxai.engine", "eoxai.train", "eoxai.losses", "eoxai.tiles", "eoxai.metrics", "eoxai.session", "eoxai.models")
_WEIGHT_PACKAGES = ("torch", "segmentation-models-pytorch", "timm", "numpy")
HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "val_loss", "val_miou", "val_f1", "val_oa"]


@dataclass(frozen=True)
class RunSpec:
    """One training run: a stack, an architecture, an input set, a seed and its config."""

    stack: str
    arch: str
    inputs: str
    seed: int
    tile_size: int
    config: TrainConfig

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.inputs}-seed{self.seed}"

    def as_config(self) -> dict[str, Any]:
        """The full run config (hashed into the checkpoint): data, input set, seed and hyper-parameters."""
        return {"stack": self.stack, "inputs": self.inputs, "seed": int(self.seed), "tile_size": int(self.tile_size),
                **self.config.as_dict()}


def cube_modalities(cube: Fused) -> dict[str, str]:
    """``{modality: sensor}`` of a fused stack (cube or collection), in band order."""
    table = band_table(cube)
    return dict(zip(table["modality"], table["sensor"], strict=True))


def input_sets(cube: Fused) -> dict[str, list[str]]:
    """The ablation's input sets available in ``cube``: ``{name: [modality, ...]}``.

    ``all`` always; ``optical`` and ``sar`` where the cube has them; ``optical_dem`` where it has
    optical and elevation bands. A set equal to ``all`` under another name (e.g. ``optical_dem``
    on a stack of optical + DEM only) is left out: it would train the same model twice.
    """
    mods = cube_modalities(cube)
    out: dict[str, list[str]] = {}
    for name, sensors in INPUT_SETS.items():
        keep = [m for m, s in mods.items() if s in sensors]
        needed = {"optical_dem": {"optical", "elevation"}}.get(name, set(sensors) if name != "all" else set())
        if not keep or not needed <= {mods[m] for m in keep}:
            continue
        if name != "all" and keep == list(mods):
            continue
        out[name] = keep
    return out


def modality_bands(cube: Fused, modalities: Sequence[str]) -> dict[str, int]:
    """``{modality: band count}`` for ``modalities``, in the stack's band order (the model's input order)."""
    names = list(band_table(cube)["modality"])
    return {m: names.count(m) for m in dict.fromkeys(names) if m in modalities}


def run_specs(runs: Mapping[str, Sequence[Mapping[str, Any]]], seeds: Sequence[int], tile_sizes: Mapping[str, int],
              defaults: Mapping[str, Any] | None = None) -> list[RunSpec]:
    """Expand a profile's ``runs`` (``{stack: [{arch, inputs: [...], **overrides}]}``) over ``seeds``.

    Each entry's keys other than ``arch``/``inputs`` override ``defaults`` (a :class:`TrainConfig`
    mapping). Order: seed, stack, entry, input set.
    """
    specs = []
    for seed in seeds:
        for stack, entries in runs.items():
            if stack not in tile_sizes:
                raise ConfigError(f"no tile size known for stack {stack!r} (have {sorted(tile_sizes)})")
            for entry in entries:
                if "arch" not in entry or "inputs" not in entry:
                    raise ConfigError(f"run entry {dict(entry)} of stack {stack!r} needs 'arch' and 'inputs'")
                overrides = {k: v for k, v in entry.items() if k not in ("arch", "inputs")}
                cfg = TrainConfig.from_mapping({**dict(defaults or {}), **overrides, "arch": entry["arch"]})
                for inputs in entry["inputs"]:
                    specs.append(RunSpec(stack, entry["arch"], str(inputs), int(seed), int(tile_sizes[stack]), cfg))
    return specs


def run_datasets(cube: Fused, spec: RunSpec) -> tuple[SplitTiles, SplitTiles, dict[str, int]]:
    """Training and validation tiles of ``spec``'s input set, and its ``{modality: bands}``.

    With ``random_crops`` the training dataset holds every position a crop may take (all tiles
    of the training area at stride 1, :func:`eoxai.tiles.tile_origins`); :class:`TileBatches` draws
    from them. Validation tiles are the fixed, non-overlapping grid. A scene collection streams
    its tiles (:func:`eoxai.fused.split_tiles`); it trains on its tile grid (``train_stride``), as
    random crops over every position of every training scene would index billions of positions.
    """
    sets = input_sets(cube)
    if spec.inputs not in sets:
        raise ConfigError(f"input set {spec.inputs!r} is not available for stack {spec.stack!r}; it has {list(sets)}")
    mods = sets[spec.inputs]
    cfg = spec.config
    if cfg.random_crops and is_collection(cube):
        raise ConfigError(f"run {spec.stack} {spec.name}: random_crops needs a single-scene stack; a collection of "
                          "scenes trains on its tile grid (set random_crops: null and train_stride)")
    # random crops may start at any position of the training area (stride 1); fixed tiles on a grid
    stride = 1 if cfg.random_crops else (cfg.train_stride or spec.tile_size)
    train = split_tiles(cube, "train", spec.tile_size, stride=stride, modalities=mods)
    if cfg.max_train_tiles:
        train.subsample(cfg.max_train_tiles)
    val = split_tiles(cube, "validation", spec.tile_size, modalities=mods)
    return train, val, modality_bands(cube, mods)


def augment_d4(image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random element of D4 (4 rotations x optional flip) per sample; ``(B, C, T, T)``, ``(B, T, T)``."""
    ops = torch.randint(0, 8, (image.shape[0],), generator=generator)
    imgs, masks = [], []
    for img, m, op in zip(image, mask, ops.tolist(), strict=True):
        if op >= 4:
            img, m = img.flip(-1), m.flip(-1)
        imgs.append(torch.rot90(img, op % 4, dims=(-2, -1)))
        masks.append(torch.rot90(m, op % 4, dims=(-2, -1)))
    return torch.stack(imgs), torch.stack(masks)


def _collate(samples: Sequence[Mapping[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([s["image"] for s in samples]), torch.stack([s["mask"] for s in samples])


def _batch(dataset: SplitTiles, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return _collate([dataset[i] for i in indices])


def _batches(dataset: SplitTiles, batches: Sequence[Sequence[int]], workers: int = 0,
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches ``(B, C, T, T), (B, T, T)`` of the given tile indices, in order: read here
    (``workers`` 0), or by ``workers`` DataLoader processes (a streamed collection: reading and
    decoding overlap the model's step). The same indices give the same batches either way."""
    if workers <= 0:
        for indices in batches:
            yield _batch(dataset, indices)
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(dataset, batch_sampler=[list(b) for b in batches], num_workers=workers,
                          collate_fn=_collate)


def _in_order(dataset: SplitTiles, batch_size: int) -> Iterator[tuple[range, torch.Tensor, torch.Tensor]]:
    """Every tile of ``dataset`` once, in order, as ``(indices, image (B, C, T, T), mask (B, T, T))``
    batches of ``batch_size`` (read by :func:`loader_workers` processes for a streamed collection)."""
    index = [range(start, min(start + batch_size, len(dataset))) for start in range(0, len(dataset), batch_size)]
    for idx, (image, mask) in zip(index, _batches(dataset, index, loader_workers(dataset)), strict=True):
        yield idx, image, mask


def loader_workers(dataset: SplitTiles) -> int:
    """DataLoader workers for ``dataset``'s batches: a streamed collection's default
    (:func:`eoxai.data.streaming.default_workers`), none for a cube held in memory."""
    from eoxai.data.streaming import default_workers

    return default_workers() if is_collection_tiles(dataset) else 0


@dataclass
class TileBatches:
    """Training batches of a split's tiles ``(B, C, T, T)``, ``(B, T, T)``.

    ``crops`` None: every tile of ``dataset`` once per epoch, reshuffled. ``crops`` n: n tiles per
    epoch drawn uniformly (with replacement) from ``dataset``'s positions with the epoch's seeded
    generator: random crops over the whole training area when ``dataset`` holds every position
    (:func:`run_datasets` with ``random_crops``). Augmented with a random element of D4 per tile
    (:func:`augment_d4`) when the config asks.
    """

    dataset: SplitTiles
    batch_size: int
    crops: int | None = None
    #: DataLoader worker processes that read the batches (:func:`loader_workers`; 0: read in this process)
    workers: int = 0

    def __len__(self) -> int:
        full, rest = divmod(self.crops or len(self.dataset), self.batch_size)
        # a last batch of one tile joins the one before: batch norm cannot train on a single sample
        return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)

    def epoch(self, generator: torch.Generator, augment: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)
        order = (torch.randint(n, (self.crops,), generator=generator) if self.crops
                 else torch.randperm(n, generator=generator)).tolist()
        batches = len(self)
        index = [order[b * self.batch_size:(len(order) if b == batches - 1 else (b + 1) * self.batch_size)]
                 for b in range(batches)]
        for image, mask in _batches(self.dataset, index, self.workers):
            yield augment_d4(image, mask, generator) if augment else (image, mask)


def _train_pixel_counts(dataset: SplitTiles, n_classes: int) -> np.ndarray:
    return dataset.class_pixel_counts()[:n_classes]


@torch.no_grad()
def validate(model: nn.Module, dataset: SplitTiles, loss_fn: LossFn, batch_size: int, device: torch.device,
             amp: Amp = contextlib.nullcontext,
             channels_last: bool = False) -> dict[str, float]:
    """Loss and scores of ``model`` on every tile of ``dataset`` (no augmentation): ``loss, miou, f1, oa``
    and ``score`` (= ``miou``, what early stopping maximises)."""
    model.eval()
    k = len(dataset.class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    total, weight = 0.0, 0
    for idx, image, mask in _in_order(dataset, batch_size):
        check_finite(image, f"{dataset.split_name} tiles {idx.start}..", dataset.bands)
        image, mask = to_device(image, device, channels_last), mask.to(device)
        with amp():
            logits = model(image)
        n_valid = int((mask != IGNORE_INDEX).sum())
        if n_valid:
            total += float(loss_fn(logits.float(), mask)) * n_valid
            weight += n_valid
        cm += confusion_matrix(logits.argmax(1), mask, k)
    s = scores(cm)
    return {"loss": total / max(weight, 1), "miou": s["miou"], "f1": s["f1"], "oa": s["oa"], "score": s["miou"]}


def segmentation_task(train: SplitTiles, val: SplitTiles, config: TrainConfig,
                      device: str | torch.device = "cpu") -> Task:
    """The engine's pieces for a segmentation run: tile batches, the configured loss with class
    weights from the training pixels (:func:`eoxai.losses.class_weights`), validation mIoU."""
    dev = select_device(str(device)) if not isinstance(device, torch.device) else device
    k = len(train.class_names)
    weights = (class_weights(_train_pixel_counts(train, k), config.max_class_weight)
               if config.class_weights == "balanced" else None)
    loss_fn = build_loss(config.loss, None if weights is None else weights.to(dev), config.loss_params)
    channels_last = config.channels_last and bf16_supported(dev)

    def check(image: torch.Tensor, where: str) -> None:
        check_finite(image, where, train.bands)

    def run_validation(model: nn.Module, amp: Amp) -> dict[str, float]:
        return validate(model, val, loss_fn, config.batch_size, dev, amp, channels_last)

    return Task(TileBatches(train, config.batch_size, config.random_crops, loader_workers(train)), loss_fn,
                run_validation, check)


def fit_tiles(model: nn.Module, train: SplitTiles, val: SplitTiles, config: TrainConfig, seed: int,
              *, device: str | torch.device = "cpu", **kwargs: Any) -> tuple[nn.Module, pd.DataFrame, dict[str, Any]]:
    """:func:`eoxai.engine.fit` of a segmentation model on ``train`` tiles, early-stopping on ``val`` mIoU.

    Checks the band count, then returns ``(best model (eval), history, info)``; the history has
    the columns :data:`HISTORY_COLUMNS`, ``info`` also ``best_val_miou``.
    """
    if getattr(model, "in_channels", train.in_channels) != train.in_channels:
        raise BandCountError(f"model takes {model.in_channels} bands but the tiles have {train.in_channels} "
                             f"({', '.join(train.bands)})")
    model, history, info = fit(model, segmentation_task(train, val, config, device), config, seed, device=device,
                               **kwargs)
    return model, history.reindex(columns=HISTORY_COLUMNS), {**info, "best_val_miou": info["best_score"]}


def _state_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".state.pt")



def cube_hash(cube: xr.Dataset) -> str:
    """SHA-256 (first 16 hex) of every variable and coordinate of a fused cube: equal data, equal hashes."""
    h = hashlib.sha256()
    for name in sorted(map(str, cube.variables)):
        values = np.asarray(cube[name].values)
        h.update(f"{name}|{values.shape}|".encode())
        if values.dtype.kind in "OUS":
            h.update(json.dumps(values.astype(str).tolist()).encode())
        else:
            h.update(values.dtype.str.encode())
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:16]


def code_hash() -> str:
    """SHA-256 (first 16 hex) of the training code and library versions: a finished run is only
    reused by code that would train it the same way."""
    import importlib

    h = hashlib.sha256()
    for name in _WEIGHT_CODE:
        module = importlib.import_module(name)
        root = Path(module.__file__ or "")
        files = sorted(root.parent.glob("*.py")) if root.name == "__init__.py" else [root]
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    for pkg in _WEIGHT_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            h.update(f"{pkg}=={importlib.metadata.version(pkg)}".encode())
    return h.hexdigest()[:16]


def reusable_checkpoint(path: str | Path, identity: Mapping[str, str]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists, passes its SHA-256 check and its ``meta`` matches
    ``identity`` (``config_hash``, ``data_hash``, ``code_hash``); else None. A damaged file is
    reported (warning) and deleted, so the run is trained again."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as exc:
        warnings.warn(f"{exc}; training the run again instead", stacklevel=2)
        remove_with_sidecar(path)
        return None
    meta = ckpt["meta"]
    return ckpt if all(meta.get(k) == v for k, v in identity.items()) else None


def _publish(src: Path, dst: Path) -> None:
    """Make ``dst`` a verified copy of ``src`` (a hard link where possible) with its own sidecar."""
    digest = verify_sidecar(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # another file system, or no hard links
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    os.utime(dst)  # newer than the inputs of this job, whenever it was trained
    write_sidecar(dst, digest)


def train_run(cube: Fused, spec: RunSpec, checkpoint: str | Path, *, device: str = "cpu",
              progress: bool = True, store: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train the run ``spec`` on ``cube`` and save its best weights to ``checkpoint``; return ``(history, meta)``.

    The checkpoint's ``meta`` holds ``arch, modalities, bands, class_names, size, stack, inputs,
    seed, tile_size, config, config_hash, data_hash, code_hash``, the training outcome and its
    ``timing`` (machine-dependent); the checkpoint also stores the per-epoch history.

    Finished runs are reused: if ``checkpoint`` (or, with ``store``, the run's copy
    ``<store>/<stack>/<checkpoint name>``) passes its SHA-256 check and was made with the same
    config, data and training code, it is returned without training (and copied to
    ``checkpoint``), with a message saying so. Otherwise the run trains into the store (or straight
    into ``checkpoint``), resuming from ``<that file>.state.pt`` after an interruption. The store
    lies outside a Snakemake job's declared outputs, which Snakemake deletes when the job fails.
    """
    from eoxai.session import seed_everything

    checkpoint = Path(checkpoint)
    target = Path(store) / spec.stack / checkpoint.name if store is not None else checkpoint
    train, val, mods = run_datasets(cube, spec)
    run_config = spec.as_config()
    identity = {"config_hash": config_hash(run_config), "data_hash": data_hash(cube), "code_hash": code_hash()}
    desc = f"{spec.stack} {spec.name}"
    for found in dict.fromkeys((checkpoint, target)):
        ckpt = reusable_checkpoint(found, identity)
        if ckpt is not None:
            if found != checkpoint:
                _publish(found, checkpoint)
            print(f"{desc}: reused the finished run {found.name} (SHA-256 verified; config {identity['config_hash']}, "
                  f"data {identity['data_hash']}, code {identity['code_hash']}); not trained again")
            return pd.DataFrame(ckpt.get("history", []), columns=HISTORY_COLUMNS), ckpt["meta"]
    seed_everything(spec.seed)  # model initialisation
    cfg = spec.config
    model = build_model(spec.arch, mods, train.class_names, size=cfg.size, weights=cfg.weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    model, history, info = fit_tiles(model, train, val, cfg, spec.seed, device=device, state_path=_state_path(target),
                                     run_hash=config_hash(identity), progress=progress, desc=desc)
    meta = {
        "arch": spec.arch, "modalities": mods, "bands": train.bands, "class_names": train.class_names,
        "size": cfg.size, "stack": spec.stack, "inputs": spec.inputs, "seed": int(spec.seed),
        "tile_size": int(spec.tile_size), "config": run_config, **identity,
        "train_tiles": cfg.random_crops or len(train), "train_positions": len(train), "validation_tiles": len(val),
        **{k: info[k] for k in ("best_epoch", "best_val_miou", "epochs_run", "stopped_early")},
        "timing": {"wall_s": info["wall_s"], "train_tiles_per_s": info["samples_per_s"], "device": str(device)},
    }
    save_checkpoint(target, model.cpu(), meta, history=history.to_dict("records"))
    if target != checkpoint:
        _publish(target, checkpoint)
    return history, plain(meta)


def expected_meta(spec: RunSpec) -> dict[str, Any]:
    """What a checkpoint of ``spec`` must hold (for :func:`eoxai.checkpoint.load_checkpoint`'s ``expected``)."""
    return {"config_hash": config_hash(spec.as_config())}


@torch.no_grad()
def predict_tiles(model: nn.Module, dataset: SplitTiles, batch_size: int = 16, device: str = "cpu") -> dict[str, np.ndarray]:
    """Predicted classes of every tile: ``pred``, ``mask`` ``(T, H, W)`` int64, ``origin`` ``(T, 2)`` (top-left
    row, column in its scene) and ``scene`` ``(T,)`` (:func:`eoxai.fused.tile_scene`)."""
    if getattr(model, "in_channels", dataset.in_channels) != dataset.in_channels:
        raise BandCountError(f"model takes {model.in_channels} bands; dataset has {dataset.in_channels}")
    dev = select_device(device)
    model = model.to(dev).eval()
    preds, masks = [], []
    for idx, image, mask in _in_order(dataset, batch_size):
        check_finite(image, f"{dataset.split_name} tiles {idx.start}..", dataset.bands)
        preds.append(model(image.to(dev)).argmax(1).cpu())
        masks.append(mask)
    return {"pred": torch.cat(preds).numpy(), "mask": torch.cat(masks).numpy(),
            "origin": np.asarray([tile_origin(dataset, i) for i in range(len(dataset))], dtype=np.int64).reshape(-1, 2),
            "scene": np.asarray([tile_scene(dataset, i) for i in range(len(dataset))])}


@torch.no_grad()
def influence_table(model: nn.Module, dataset: SplitTiles, batch_size: int = 16, device: str = "cpu") -> pd.DataFrame:
    """Learned influence scores of an ``unet_influence`` model per tile and occluded modality.

    Columns ``tile_row, tile_col, modality, sensor, score`` (score in [0, 1]; high = the network
    does well without that modality, in Ekim & Schmitt's reading); a collection's tiles also ``scene``.
    """
    if not getattr(model, "use_influence", False):
        raise MissingHeadError(f"{type(model).__name__} has no influence head (train arch 'unet_influence')")
    dev = select_device(device)
    model = model.to(dev).eval()
    rows = []
    for idx, image, _ in _in_order(dataset, batch_size):
        s = model.influence(image.to(dev)).cpu().numpy()  # type: ignore[operator]  # unet_influence's method
        for j, i in enumerate(idx):
            where = tile_columns(tile_place(dataset, i))
            for m, name in enumerate(model.modality_names):  # type: ignore[arg-type]  # a list set by build_model
                rows.append({**where, "modality": name, "sensor": modality_sensor(name), "score": float(s[j, m])})
    return pd.DataFrame(rows)


__all__ = [
    "HISTORY_COLUMNS", "INPUT_SETS", "RunSpec", "TileBatches", "augment_d4", "checkpoint_path", "code_hash", "cube_hash",
    "cube_modalities", "expected_meta", "fit_tiles", "influence_table", "input_sets", "modality_bands", "predict_tiles",
    "reusable_checkpoint", "run_datasets", "run_specs", "segmentation_task", "train_run", "validate",
]
