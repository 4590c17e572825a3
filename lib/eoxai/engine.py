"""The one training engine: a seeded, resumable, early-stopped loop for every model of the compendium.

:func:`fit` trains any ``nn.Module`` from task pieces (:class:`Task`): a batch source (what one
epoch of training batches is), a loss on logits, and an optional validation function whose
``score`` early stopping maximises. The segmentation runs (notebook 02, :mod:`eoxai.train`), the
scene classifier (notebook 10, :mod:`eoxai.scene`) and the hyperspectral patch models (notebook
09, :mod:`eoxai.hyperspectral.train`) all train here, with one config type (:class:`TrainConfig`),
one schedule (:func:`warmup_cosine`: torch's ``SequentialLR(LinearLR, CosineAnnealingLR)``) and
one class weighting (:func:`eoxai.losses.class_weights`).

- every epoch starts from RNGs seeded by ``(seed, epoch)`` (:func:`epoch_seed`): the batch order,
  the augmentation and dropout repeat exactly on CPU, whatever ran before in the process, and a
  run resumed from its per-epoch state file ends where an uninterrupted one does;
- AdamW, the LR schedule stepped after every batch, optional gradient clipping;
- ``keep="best"``: the weights of the best validation epoch are returned, and ``patience`` epochs
  without a better score stop the run; ``keep="last"``: the final weights (no early stopping);
- bf16 autocast and channels_last where the device runs them natively (CUDA; a CPU with
  AVX512-BF16 or AMX, :func:`bf16_supported`), when ``TrainConfig.bf16``/``.channels_last`` ask;
- a batch with NaN/inf or a NaN loss stops with :class:`~eoxai.errors.NonFiniteError`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn

from eoxai.checkpoint import load_torch_file, save_torch_file
from eoxai.checksums import sidecar_path
from eoxai.errors import CheckpointError, ConfigError, NonFiniteError
from eoxai.losses import LossFn
from eoxai.session import select_device

Batch = tuple[torch.Tensor, torch.Tensor]
#: what :func:`fit` passes to a task's validation: a context manager factory (bf16 autocast or nothing)
Amp = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (everything that changes the weights, except data and seed).

    Optimisation (every task): ``epochs``, ``batch_size``, ``lr`` (peak), ``weight_decay``,
    ``warmup`` (fraction of the steps of linear warm-up), ``floor`` (final LR as a fraction of
    ``lr``), ``grad_clip``, ``patience`` (epochs without a better validation score before stopping;
    0 = never stop early), ``keep`` (``best`` validation epoch or ``last`` epoch's weights),
    ``class_weights`` (``balanced``: inverse frequency, clipped at ``max_class_weight``; null: none),
    ``loss``/``loss_params`` (:func:`eoxai.losses.build_loss`), ``augment`` (the task's
    label-preserving flips/rotations), ``bf16``/``channels_last`` (where the device supports them),
    ``compile``.

    Segmentation runs only (:mod:`eoxai.train`): ``arch``, ``size``, ``weights``, ``train_stride``
    (step between fixed training tiles), ``max_train_tiles`` (keep at most this many training
    tiles; smoke runs), ``random_crops`` (draw this many random training crops per epoch over the
    whole training area instead of the fixed tiles; null = fixed tiles).
    """

    arch: str = "manet_mit"
    size: str = "b0"
    weights: str | None = None
    loss: str = "ce"
    loss_params: Mapping[str, float] = field(default_factory=dict)
    class_weights: str | None = "balanced"
    max_class_weight: float | None = 10.0
    epochs: int = 5
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup: float = 0.1
    floor: float = 0.01
    grad_clip: float | None = 1.0
    patience: int = 3
    keep: str = "best"
    augment: bool = True
    train_stride: int | None = None
    max_train_tiles: int | None = None
    random_crops: int | None = None
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be >= 1")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup {self.warmup} must be a fraction in [0, 1)")
        if not 0 <= self.floor <= 1:
            raise ConfigError(f"floor {self.floor} must be a fraction in [0, 1]")
        if self.keep not in ("best", "last"):
            raise ConfigError(f"keep must be 'best' or 'last', got {self.keep!r}")
        if self.class_weights not in ("balanced", None):
            raise ConfigError(f"class_weights must be 'balanced' or null, got {self.class_weights!r}")
        ranges = {"patience": (self.patience, 0, ">= 0 (0 = never stop early)"),
                  "lr": (self.lr, None, "> 0"), "max_class_weight": (self.max_class_weight, None, "> 0 or null"),
                  "weight_decay": (self.weight_decay, 0, ">= 0"), "grad_clip": (self.grad_clip, None, "> 0 or null"),
                  "train_stride": (self.train_stride, 1, ">= 1 or null"),
                  "max_train_tiles": (self.max_train_tiles, 1, ">= 1 or null"),
                  "random_crops": (self.random_crops, 1, ">= 1 or null")}
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


class BatchSource(Protocol):
    """One epoch of training batches: ``len()`` batches of ``(inputs, targets)``, drawn with ``generator``."""

    def __len__(self) -> int: ...

    def epoch(self, generator: torch.Generator, augment: bool) -> Iterator[Batch]: ...


@dataclass
class Task:
    """What :func:`fit` trains: a batch source, a loss on logits and an optional validation.

    ``validate(model, autocast_context)`` returns validation metrics (plain floats) with the key
    ``score`` that early stopping maximises; each metric goes into the history as ``val_<name>``
    (``score`` itself is not repeated). ``check(inputs, where)`` inspects every training batch
    before the step (e.g. for NaN). ``validate=None``: no validation (``keep`` must be ``last``).
    """

    batches: BatchSource
    loss: LossFn
    validate: Callable[[nn.Module, Amp], dict[str, float]] | None = None
    check: Callable[[torch.Tensor, str], None] | None = None


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run with ``seed``: independent of what ran before (resumable)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup: float,
                  floor: float = 0.01) -> torch.optim.lr_scheduler.LRScheduler:
    """The one LR schedule: linear warm-up over a fraction ``warmup`` of ``total_steps``, then cosine decay.

    torch's ``SequentialLR(LinearLR, CosineAnnealingLR)``. With ``w = max(1, round(warmup *
    total_steps))`` warm-up steps (0 when ``warmup`` is 0) the LR factor at step ``s`` is
    ``(s + 1) / (w + 1)`` for ``s < w`` and ``floor + (1 - floor) (1 + cos(pi (s - w) / (total_steps
    - w))) / 2`` after (Loshchilov & Hutter 2017, SGDR, without restarts), reaching ``floor`` at the
    last step. Step it after every batch.
    """
    w = max(1, round(warmup * total_steps)) if warmup > 0 else 0
    base = [g["lr"] for g in optimizer.param_groups]
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - w),
                                                        eta_min=floor * base[0])
    if w == 0:
        return cosine
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (w + 1), end_factor=1.0, total_iters=w)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[w])


@lru_cache(maxsize=1)
def bf16_supported_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so autocast speeds training up."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast runs natively on ``device`` (CUDA, or a CPU with AVX512-BF16/AMX)."""
    return device.type == "cuda" or (device.type == "cpu" and bf16_supported_cpu())


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when ``bf16``, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """``x`` on ``device``; a ``(B, C, H, W)`` batch in channels_last memory layout when asked."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


def check_finite(image: torch.Tensor, where: str, bands: Sequence[str] = ()) -> None:
    """Raise :class:`NonFiniteError` naming the bands of ``image`` ``(B, C, ...)`` that hold NaN/inf."""
    bad = ~torch.isfinite(image)
    if bad.any():
        per_band = bad.flatten(2).any(-1).any(0) if image.ndim >= 3 else bad.any(0)
        names = [b for b, f in zip(bands, per_band.tolist(), strict=False) if f]
        raise NonFiniteError(f"{where}: batch holds NaN/inf values (bands {names or '?'}); "
                             "fill or mask nodata before training")


def remove_with_sidecar(path: Path) -> None:
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
        remove_with_sidecar(state_file)
        return None
    if state.get("run_hash") != run_hash:
        warnings.warn(f"resume state {state_file} was made with another config; training from scratch", stacklevel=3)
        return None
    return state


def fit(
    model: nn.Module,
    task: Task,
    config: TrainConfig,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    state_path: str | Path | None = None,
    run_hash: str | None = None,
    progress: bool = True,
    desc: str = "train",
) -> tuple[nn.Module, pd.DataFrame, dict[str, Any]]:
    """Train ``model`` on ``task``; return ``(model (eval mode), history, info)``.

    ``history``: one row per epoch, ``epoch, lr, train_loss`` and ``val_<metric>`` for each
    validation metric; deterministic for a seed on CPU (bf16 included). ``info``: ``best_epoch,
    best_score, epochs_run, stopped_early`` (True: stopped by ``patience``, False: ran to the
    epoch cap), ``resumed_from, wall_s, samples_per_s, bf16, channels_last``. With ``state_path``,
    the state after every epoch is saved there (and removed at the end); a later call with the same
    ``run_hash`` resumes from it.
    """
    dev = select_device(str(device)) if not isinstance(device, torch.device) else device
    if config.keep == "best" and task.validate is None:
        raise ConfigError("keep='best' needs a validation function; use keep='last' for a task without validation")
    bf16 = config.bf16 and bf16_supported(dev)
    channels_last = config.channels_last and bf16_supported(dev)
    model = model.to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if config.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, len(task.batches))
    sched = warmup_cosine(opt, config.epochs * steps_per_epoch, config.warmup, config.floor)
    history: list[dict[str, float]] = []
    best_state, best_score, best_epoch, bad = copy.deepcopy(model.state_dict()), -math.inf, 0, 0
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

    def amp() -> contextlib.AbstractContextManager[Any]:  # an Amp
        return autocast(dev, bf16)

    t0 = time.perf_counter()
    seen = 0
    bar = tqdm(range(start_epoch, config.epochs + 1), desc=desc, disable=not progress, file=sys.stdout, leave=True,
               dynamic_ncols=False, ncols=100)
    stopped = False
    for epoch in bar:
        if config.keep == "best" and config.patience and bad >= config.patience:
            stopped = True
            break
        torch.manual_seed(epoch_seed(seed, epoch))  # dropout / drop-path of this epoch
        gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        model.train()
        total, n_batches = 0.0, 0
        for b, (inputs, targets) in enumerate(task.batches.epoch(gen, config.augment)):
            if task.check is not None:
                task.check(inputs, f"epoch {epoch} batch {b} (train)")
            inputs, targets = to_device(inputs, dev, channels_last), targets.to(dev)
            opt.zero_grad(set_to_none=True)
            with amp():
                logits = step_model(inputs)
            loss = task.loss(logits.float(), targets)
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
            seen += inputs.shape[0]
        row: dict[str, float] = {"epoch": epoch, "lr": float(sched.get_last_lr()[0]),
                                 "train_loss": float(total / max(n_batches, 1))}
        if task.validate is not None:
            model.eval()
            metrics = task.validate(model, amp)
            row |= {f"val_{k}": float(v) for k, v in metrics.items() if k != "score"}
            score = float(metrics["score"]) if np.isfinite(metrics["score"]) else -math.inf
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{metrics['score']:.3f}")
        else:
            score = -float(row["train_loss"])
        history.append(row)
        if config.keep == "last" or score > best_score:
            best_score, best_epoch, bad = score, epoch, 0
            if config.keep == "best":
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        if state_file is not None:  # tensors and plain types only: read back with weights_only=True
            save_torch_file(state_file, {"run_hash": run_hash, "epoch": epoch, "model": model.state_dict(),
                                         "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                         "history": history, "best_state": best_state, "best_score": best_score,
                                         "best_epoch": best_epoch, "bad_epochs": bad})
    bar.close()
    wall = time.perf_counter() - t0
    if config.keep == "best":
        model.load_state_dict(best_state)
    model.eval()
    if state_file is not None:
        remove_with_sidecar(state_file)
    info = {"best_epoch": int(best_epoch), "best_score": float(best_score), "epochs_run": len(history),
            "stopped_early": bool(stopped or len(history) < config.epochs), "resumed_from": resumed_from,
            "wall_s": wall, "samples_per_s": seen / wall if wall > 0 else float("nan"),
            "bf16": bf16, "channels_last": channels_last}
    return model, pd.DataFrame(history), info


@dataclass
class TensorBatches:
    """Batches of in-memory ``(inputs (N, ...), targets (N, ...))``, reshuffled every epoch.

    ``augment(inputs, generator)``: a label-preserving augmentation of a batch (e.g.
    :func:`eoxai.scene.augment`), applied when the config asks. ``min_batch``: smaller trailing
    batches are dropped (batch norm needs two samples).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    batch_size: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    min_batch: int = 1

    def __len__(self) -> int:
        return -(-self.inputs.shape[0] // self.batch_size)

    def epoch(self, generator: torch.Generator, augment: bool) -> Iterator[Batch]:
        order = torch.randperm(self.inputs.shape[0], generator=generator)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            if len(idx) < self.min_batch:
                continue
            x = self.inputs[idx]
            yield (self.augment(x, generator) if augment and self.augment is not None else x), self.targets[idx]


__all__ = ["Amp", "Batch", "BatchSource", "Task", "TensorBatches", "TrainConfig", "autocast", "bf16_supported",
           "check_finite", "epoch_seed", "fit", "remove_with_sidecar", "to_device", "warmup_cosine"]
