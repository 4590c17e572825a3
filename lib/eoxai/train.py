"""Training of the fusion models: seeded, deterministic on CPU, early-stopped, resumable.

What the source papers' training got wrong and what this module does instead (issue 4):

- logits go to the loss once (no softmax in the model); class weights come from the training
  split (:func:`eoxai.losses.class_weights`);
- the training tiles are shuffled every epoch and augmented (the 8 flips/rotations of the
  square, D4) on the training split only; validation tiles are never augmented;
- AdamW with a linear warm-up then cosine decay (:func:`warmup_cosine`), stepped after every batch;
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
- on CUDA: bf16 autocast and channels_last (``TrainConfig.bf16``, ``.channels_last``), optional
  ``torch.compile``.

Typical use (what notebook 02 does)::

    spec = RunSpec("sen1floods11", "manet_mit", "all", seed=0, tile_size=64, config=TrainConfig(epochs=5))
    history, meta = train_run(cube, spec, checkpoint_path(results, "sen1floods11", "manet_mit", "all", 0))
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    load_torch_file,
    plain,
    read_checkpoint,
    save_checkpoint,
    save_torch_file,
)
from eoxai.checksums import sidecar_path, verify_sidecar, write_sidecar
from eoxai.errors import BandCountError, ConfigError, MissingHeadError, NonFiniteError
from eoxai.losses import build_loss, class_weights
from eoxai.metrics import confusion_matrix, scores
from eoxai.models import build_model, modality_sensor
from eoxai.session import select_device
from eoxai.tiles import IGNORE_INDEX, TileDataset

#: input sets of the ablation, by name: which sensor groups each keeps
INPUT_SETS: dict[str, tuple[str, ...]] = {
    "all": ("optical", "sar", "elevation", "other"),
    "optical": ("optical",),
    "sar": ("sar",),
    "optical_dem": ("optical", "elevation"),
}


#: modules whose code decides the weights of a run (their source is hashed into a checkpoint's ``code_hash``)
_WEIGHT_CODE = ("eoxai.train", "eoxai.losses", "eoxai.tiles", "eoxai.metrics", "eoxai.session", "eoxai.models")
_WEIGHT_PACKAGES = ("torch", "segmentation-models-pytorch", "timm", "numpy")
HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "val_loss", "val_miou", "val_f1", "val_oa"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (everything that changes the weights, except data and seed).

    ``train_stride``: step between training tiles (None = the tile size; smaller overlaps tiles).
    ``max_train_tiles``: keep at most this many training tiles (evenly spaced; smoke runs).
    ``patience``: epochs without a better validation mIoU before stopping (0 = never stop early).
    ``bf16``/``channels_last``/``compile``: CUDA speed-ups (ignored on CPU, except ``compile``).
    """

    arch: str = "manet_mit"
    size: str = "b0"
    weights: str | None = None
    loss: str = "ce"
    loss_params: Mapping[str, float] = field(default_factory=dict)
    max_class_weight: float = 10.0
    epochs: int = 5
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup: float = 0.1
    grad_clip: float | None = 1.0
    patience: int = 3
    augment: bool = True
    train_stride: int | None = None
    max_train_tiles: int | None = None
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup {self.warmup} must be a fraction in [0, 1)")
        ranges = {"patience": (self.patience, 0, ">= 0 (0 = never stop early)"),
                  "lr": (self.lr, None, "> 0"), "max_class_weight": (self.max_class_weight, None, "> 0"),
                  "weight_decay": (self.weight_decay, 0, ">= 0"), "grad_clip": (self.grad_clip, None, "> 0 or null"),
                  "train_stride": (self.train_stride, 1, ">= 1 or null"),
                  "max_train_tiles": (self.max_train_tiles, 1, ">= 1 or null")}
        for key, (value, low, allowed) in ranges.items():
            if value is None and "null" in allowed:
                continue
            if value is None or (value < low if low is not None else value <= 0):
                raise ConfigError(f"training option {key}: {value!r} is out of range; allowed: {allowed}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a profile mapping; :class:`ConfigError` names unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(self).items()}


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


def cube_modalities(cube: xr.Dataset) -> dict[str, str]:
    """``{modality: sensor}`` of a fused cube, in band order."""
    return dict(zip(map(str, cube["modality"].values), map(str, cube["sensor"].values), strict=True))


def input_sets(cube: xr.Dataset) -> dict[str, list[str]]:
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


def modality_bands(cube: xr.Dataset, modalities: Sequence[str]) -> dict[str, int]:
    """``{modality: band count}`` for ``modalities``, in the cube's band order (the model's input order)."""
    names = list(map(str, cube["modality"].values))
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


def run_datasets(cube: xr.Dataset, spec: RunSpec) -> tuple[TileDataset, TileDataset, dict[str, int]]:
    """Training and validation tiles of ``spec``'s input set, and its ``{modality: bands}``."""
    sets = input_sets(cube)
    if spec.inputs not in sets:
        raise ConfigError(f"input set {spec.inputs!r} is not available for stack {spec.stack!r}; it has {list(sets)}")
    mods = sets[spec.inputs]
    cfg = spec.config
    train = TileDataset(cube, "train", spec.tile_size, stride=cfg.train_stride or spec.tile_size, modalities=mods)
    if cfg.max_train_tiles and len(train) > cfg.max_train_tiles:
        keep = np.linspace(0, len(train) - 1, cfg.max_train_tiles).round().astype(int)
        train.origins = [train.origins[i] for i in keep]
    val = TileDataset(cube, "validation", spec.tile_size, modalities=mods)
    return train, val, modality_bands(cube, mods)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run with ``seed``: independent of what ran before (resumable)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


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


def warmup_cosine(total_steps: int, warmup: float, floor: float = 0.01) -> Callable[[int], float]:
    """LR factor per step: linear warm-up over ``warmup`` of ``total_steps``, then cosine decay to ``floor``."""
    w = max(1, round(warmup * total_steps)) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < w:
            return (step + 1) / (w + 1)
        progress = min(1.0, (step - w) / max(1, total_steps - w))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _batch(dataset: TileDataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    samples = [dataset[i] for i in indices]
    return torch.stack([s["image"] for s in samples]), torch.stack([s["mask"] for s in samples])


def _check_finite(image: torch.Tensor, where: str, bands: Sequence[str]) -> None:
    bad = ~torch.isfinite(image)
    if bad.any():
        per_band = bad.flatten(2).any(-1).any(0) if image.ndim == 4 else bad.any()
        names = [b for b, f in zip(bands, per_band.tolist(), strict=False) if f] if image.ndim == 4 else []
        raise NonFiniteError(f"{where}: batch holds NaN/inf values (bands {names or '?'}); "
                             "fill or mask nodata before training")


def _train_pixel_counts(dataset: TileDataset, n_classes: int) -> np.ndarray:
    lab = dataset.mask[dataset.mask >= 0]
    return np.bincount(lab, minlength=n_classes)[:n_classes]


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when ``bf16``, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """``x`` on ``device`` (non-blocking); a 4-D ``(B, C, H, W)`` batch channels-last if asked."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


@torch.no_grad()
def validate(model: nn.Module, dataset: TileDataset, loss_fn: Any, batch_size: int, device: torch.device,
             bf16: bool = False, channels_last: bool = False) -> dict[str, float]:
    """Loss and scores of ``model`` on every tile of ``dataset`` (no augmentation): ``loss, miou, f1, oa``."""
    model.eval()
    k = len(dataset.class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    total, weight = 0.0, 0
    for start in range(0, len(dataset), batch_size):
        image, mask = _batch(dataset, range(start, min(start + batch_size, len(dataset))))
        _check_finite(image, f"{dataset.split_name} tiles {start}..", dataset.bands)
        image, mask = to_device(image, device, channels_last), mask.to(device)
        with autocast(device, bf16 and device.type == "cuda"):
            logits = model(image)
        n_valid = int((mask != IGNORE_INDEX).sum())
        if n_valid:
            total += float(loss_fn(logits.float(), mask)) * n_valid
            weight += n_valid
        cm += confusion_matrix(logits.argmax(1), mask, k)
    s = scores(cm)
    return {"loss": total / max(weight, 1), "miou": s["miou"], "f1": s["f1"], "oa": s["oa"]}


def _state_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".state.pt")


def _remove_with_sidecar(path: Path) -> None:
    """Delete ``path``, its SHA-256 sidecar and any temporary file a killed writer left behind."""
    for p in (path, sidecar_path(path), path.with_name(path.name + ".tmp"), path.with_suffix(".tmp"),
              sidecar_path(path).with_name(sidecar_path(path).name + ".tmp")):
        p.unlink(missing_ok=True)


def _load_state(state_file: Path, run_hash: str | None, device: torch.device) -> dict[str, Any] | None:
    """The verified resume state of this run, or None (after a warning) if it is damaged or of another run."""
    try:
        state = load_torch_file(state_file, what="resume state", remedy="training this run from scratch",
                                map_location=device)
    except CheckpointError as exc:
        warnings.warn(f"{exc}", stacklevel=3)
        _remove_with_sidecar(state_file)
        return None
    if state.get("run_hash") != run_hash:
        warnings.warn(f"resume state {state_file} was made with another config; training from scratch", stacklevel=3)
        return None
    return state


def fit(
    model: nn.Module,
    train: TileDataset,
    val: TileDataset,
    config: TrainConfig,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    state_path: str | Path | None = None,
    run_hash: str | None = None,
    progress: bool = True,
    desc: str = "train",
) -> tuple[nn.Module, pd.DataFrame, dict[str, Any]]:
    """Train ``model`` on ``train``, early-stopping on ``val`` mIoU; return ``(best model (eval), history, info)``.

    ``history``: one row per epoch (``epoch, lr, train_loss, val_loss, val_miou, val_f1, val_oa``),
    deterministic for a seed on CPU. ``info``: ``best_epoch, best_val_miou, epochs_run,
    stopped_early, resumed_from, wall_s, train_tiles_per_s``. With ``state_path``, the state after
    every epoch is saved there (and removed at the end); a later call with the same ``run_hash``
    resumes from it.
    """
    dev = select_device(str(device)) if not isinstance(device, torch.device) else device
    if getattr(model, "in_channels", train.in_channels) != train.in_channels:
        raise BandCountError(f"model takes {model.in_channels} bands but the tiles have {train.in_channels} "
                             f"({', '.join(train.bands)})")
    k = len(train.class_names)
    weights = class_weights(_train_pixel_counts(train, k), config.max_class_weight)
    loss_fn = build_loss(config.loss, weights.to(dev), config.loss_params)
    cuda = dev.type == "cuda"
    channels_last = config.channels_last and cuda
    model = model.to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if config.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(train) // config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(config.epochs * steps_per_epoch, config.warmup))
    history: list[dict[str, float]] = []
    best_state, best_score, best_epoch, bad = copy.deepcopy(model.state_dict()), -np.inf, 0, 0
    start_epoch, resumed_from = 1, None
    state_file = Path(state_path) if state_path else None
    state = _load_state(state_file, run_hash, dev) if state_file is not None and state_file.is_file() else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, best_state = state["history"], state["best_state"]
        best_score, best_epoch, bad = state["best_score"], state["best_epoch"], state["bad_epochs"]
        start_epoch = resumed_from = state["epoch"] + 1
    from tqdm import tqdm

    t0 = time.perf_counter()
    seen = 0
    epochs = range(start_epoch, config.epochs + 1)
    bar = tqdm(epochs, desc=desc, disable=not progress, file=sys.stdout, leave=True, dynamic_ncols=False, ncols=100)
    stopped = False
    for epoch in bar:
        if config.patience and bad >= config.patience:
            stopped = True
            break
        torch.manual_seed(epoch_seed(seed, epoch))  # dropout / drop-path of this epoch
        gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        order = torch.randperm(len(train), generator=gen).tolist()
        model.train()
        total, n_batches = 0.0, 0
        for b in range(steps_per_epoch):
            image, mask = _batch(train, order[b * config.batch_size:(b + 1) * config.batch_size])
            _check_finite(image, f"epoch {epoch} batch {b} (train)", train.bands)
            if config.augment:
                image, mask = augment_d4(image, mask, gen)
            image, mask = to_device(image, dev, channels_last), mask.to(dev)
            opt.zero_grad(set_to_none=True)
            with autocast(dev, config.bf16 and cuda):
                logits = step_model(image)
            loss = loss_fn(logits.float(), mask)
            if not torch.isfinite(loss):
                raise NonFiniteError(f"{desc}: loss became {loss.item()} at epoch {epoch}, batch {b} "
                                     f"(lr {sched.get_last_lr()[0]:.3g}); lower the learning rate or check the inputs")
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            total += loss.item()
            n_batches += 1
            seen += image.shape[0]
        v = validate(model, val, loss_fn, config.batch_size, dev, config.bf16, channels_last)
        history.append({"epoch": epoch, "lr": float(sched.get_last_lr()[0]),
                        "train_loss": float(total / max(n_batches, 1)), "val_loss": float(v["loss"]), "val_miou": float(v["miou"]), "val_f1": float(v["f1"]),
                        "val_oa": float(v["oa"])})
        score = float(v["miou"]) if np.isfinite(v["miou"]) else -math.inf
        if score > best_score:
            best_score, best_epoch, bad = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", val_miou=f"{v['miou']:.3f}")
        if state_file is not None:  # tensors and plain types only: read back with weights_only=True
            save_torch_file(state_file, {"run_hash": run_hash, "epoch": epoch, "model": model.state_dict(),
                                         "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                         "history": history, "best_state": best_state, "best_score": best_score,
                                         "best_epoch": best_epoch, "bad_epochs": bad})
    bar.close()
    wall = time.perf_counter() - t0
    model.load_state_dict(best_state)
    model.eval()
    if state_file is not None:
        _remove_with_sidecar(state_file)
    hist = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    info = {"best_epoch": int(best_epoch), "best_val_miou": float(best_score), "epochs_run": len(history),
            "stopped_early": bool(stopped or len(history) < config.epochs), "resumed_from": resumed_from,
            "wall_s": wall, "train_tiles_per_s": seen / wall if wall > 0 else float("nan")}
    return model, hist, info




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
        _remove_with_sidecar(path)
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


def train_run(cube: xr.Dataset, spec: RunSpec, checkpoint: str | Path, *, device: str = "cpu",
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
    identity = {"config_hash": config_hash(run_config), "data_hash": cube_hash(cube), "code_hash": code_hash()}
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
    model, history, info = fit(model, train, val, cfg, spec.seed, device=device, state_path=_state_path(target),
                               run_hash=config_hash(identity), progress=progress, desc=desc)
    meta = {
        "arch": spec.arch, "modalities": mods, "bands": train.bands, "class_names": train.class_names,
        "size": cfg.size, "stack": spec.stack, "inputs": spec.inputs, "seed": int(spec.seed),
        "tile_size": int(spec.tile_size), "config": run_config, **identity,
        "train_tiles": len(train), "validation_tiles": len(val),
        **{k: info[k] for k in ("best_epoch", "best_val_miou", "epochs_run", "stopped_early")},
        "timing": {k: info[k] for k in ("wall_s", "train_tiles_per_s")} | {"device": str(device)},
    }
    save_checkpoint(target, model.cpu(), meta, history=history.to_dict("records"))
    if target != checkpoint:
        _publish(target, checkpoint)
    return history, plain(meta)


def expected_meta(spec: RunSpec) -> dict[str, Any]:
    """What a checkpoint of ``spec`` must hold (for :func:`eoxai.checkpoint.load_checkpoint`'s ``expected``)."""
    return {"config_hash": config_hash(spec.as_config())}


@torch.no_grad()
def predict_tiles(model: nn.Module, dataset: TileDataset, batch_size: int = 16, device: str = "cpu") -> dict[str, np.ndarray]:
    """Predicted classes of every tile: ``pred``, ``mask`` ``(T, H, W)`` int64 and ``origin`` ``(T, 2)``."""
    if getattr(model, "in_channels", dataset.in_channels) != dataset.in_channels:
        raise BandCountError(f"model takes {model.in_channels} bands; dataset has {dataset.in_channels}")
    dev = select_device(device)
    model = model.to(dev).eval()
    preds, masks = [], []
    for start in range(0, len(dataset), batch_size):
        image, mask = _batch(dataset, range(start, min(start + batch_size, len(dataset))))
        _check_finite(image, f"{dataset.split_name} tiles {start}..", dataset.bands)
        preds.append(model(image.to(dev)).argmax(1).cpu())
        masks.append(mask)
    return {"pred": torch.cat(preds).numpy(), "mask": torch.cat(masks).numpy(),
            "origin": np.asarray(dataset.origins, dtype=np.int64).reshape(-1, 2)}


@torch.no_grad()
def influence_table(model: nn.Module, dataset: TileDataset, batch_size: int = 16, device: str = "cpu") -> pd.DataFrame:
    """Learned influence scores of an ``unet_influence`` model per tile and occluded modality.

    Columns ``tile_row, tile_col, modality, sensor, score`` (score in [0, 1]; high = the network
    does well without that modality, in Ekim & Schmitt's reading).
    """
    if not getattr(model, "use_influence", False):
        raise MissingHeadError(f"{type(model).__name__} has no influence head (train arch 'unet_influence')")
    dev = select_device(device)
    model = model.to(dev).eval()
    rows = []
    for start in range(0, len(dataset), batch_size):
        idx = range(start, min(start + batch_size, len(dataset)))
        image, _ = _batch(dataset, idx)
        s = model.influence(image.to(dev)).cpu().numpy()  # type: ignore[operator]  # unet_influence's method
        for j, i in enumerate(idx):
            r, c = dataset.origins[i]
            for m, name in enumerate(model.modality_names):  # type: ignore[arg-type]  # a list set by build_model
                rows.append({"tile_row": int(r), "tile_col": int(c), "modality": name,
                             "sensor": modality_sensor(name), "score": float(s[j, m])})
    return pd.DataFrame(rows)


__all__ = [
    "INPUT_SETS", "autocast", "to_device", "NonFiniteError", "RunSpec", "TrainConfig", "augment_d4", "checkpoint_path",
    "code_hash", "cube_hash", "cube_modalities", "epoch_seed", "expected_meta", "fit", "influence_table", "input_sets", "modality_bands",
    "predict_tiles", "reusable_checkpoint", "run_datasets", "run_specs", "train_run", "validate", "warmup_cosine",
]
