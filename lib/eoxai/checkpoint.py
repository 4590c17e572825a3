"""Checkpoints that carry their config: reload a model without knowing how it was built.

A checkpoint is a ``torch.save`` dict ``{"format", "state_dict", "meta", ...}`` holding tensors and
plain types only (dicts, lists, strings, numbers), so it is read with ``torch.load(weights_only=True)``
and loading one can never run code. ``meta`` holds at least ``arch``, ``modalities`` (name -> band
count, input order), ``bands`` (band names, input order), ``class_names``, ``size`` and, from
training, ``stack``, ``inputs``, ``seed``, ``tile_size``, ``config``, ``config_hash`` and ``data_hash``.

Every file written by :func:`save_torch_file` (checkpoints, training resume states, hyperspectral
cache cells) is written atomically and gets a SHA-256 sidecar ``<file>.sha256``;
:func:`load_torch_file` verifies it before unpickling anything. A checkpoint that fails the check
is an error naming the file and the remedy; callers that can recompute (resume states, caches)
catch :class:`CheckpointError` and recompute.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eoxai.checksums import sha256_file, sidecar_path, verify_sidecar, write_sidecar
from eoxai.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    ChecksumError,
    CorruptFileError,
    UnsafeFileError,
)
from eoxai.models import build_model

FORMAT = "eoxai-checkpoint-2"
REQUIRED_META = ("arch", "modalities", "bands", "class_names", "size")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex) of the config as canonical JSON: equal configs, equal hashes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_path(results_dir: str | Path, stack: str, arch: str, inputs: str, seed: int) -> Path:
    """``{results_dir}/models/{stack}/{arch}-{inputs}-seed{seed}.pt``: the compendium's checkpoint layout."""
    return Path(results_dir) / "models" / stack / f"{arch}-{inputs}-seed{int(seed)}.pt"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise CheckpointError(f"{type(obj).__name__} cannot be stored in a checkpoint's metadata (plain types only)")


def plain(obj: Any) -> Any:
    """``obj`` as JSON types (dict, list, str, int, float, bool, None): numpy scalars and arrays,
    tuples and paths converted; what ``torch.load(weights_only=True)`` reads back unchanged."""
    return json.loads(json.dumps(obj, default=_jsonable))


def rerun_hint(path: str | Path) -> str:
    """The remedy for a damaged output: delete it and let Snakemake rerun the rule that wrote it."""
    path = Path(path)
    return (f"delete {shlex.quote(path.as_posix())} and {shlex.quote(sidecar_path(path).as_posix())} and rerun the "
            f"rule that wrote it: snakemake --cores 2 {shlex.quote(path.as_posix())} (with the same --config)")


def save_torch_file(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (tensors and plain types only) to ``path`` atomically, with its SHA-256 sidecar.

    The file is written to ``<path>.tmp`` and renamed, so a killed process never leaves a
    half-written ``path``; the sidecar ``<path>.sha256`` is written after the rename, so a crash in
    between leaves a mismatch that :func:`load_torch_file` reports rather than a silent one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(dict(payload), tmp)
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    write_sidecar(path, digest)
    return path


def load_torch_file(path: str | Path, *, what: str = "checkpoint", remedy: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Verify ``path`` against its sidecar, then ``torch.load(..., weights_only=True)`` it.

    ``what`` names the file in messages (``checkpoint``, ``resume state``, ``cache cell``);
    ``remedy`` is appended to them (default: :func:`rerun_hint`).

    Raises
    ------
    CheckpointNotFoundError
        ``path`` does not exist.
    CorruptFileError
        The sidecar is missing or the SHA-256 differs (nothing is unpickled).
    UnsafeFileError
        The file holds pickled objects other than tensors and plain data; they are not loaded.
    CheckpointError
        The file cannot be read as a torch file, or is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"{what} {path} not found")
    remedy = remedy or rerun_hint(path)
    try:
        verify_sidecar(path)
    except ChecksumError as exc:
        raise CorruptFileError(f"{what} {path} failed its integrity check: {exc}. Not loaded; {remedy}") from exc
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeFileError(f"{what} {path} holds pickled objects other than tensors and plain data (code could "
                              f"run on loading); refused without loading them. Do not use files from an untrusted "
                              f"source; {remedy}") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for an unreadable file
        raise CheckpointError(f"{what} {path} cannot be read (corrupt or truncated?): {exc}; {remedy}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} {path} holds a {type(obj).__name__}, not a dict; {remedy}")
    return obj


def save_checkpoint(path: str | Path, model: nn.Module, meta: Mapping[str, Any], **extra: Any) -> Path:
    """Save ``model``'s weights with ``meta`` (must hold :data:`REQUIRED_META`) and ``extra`` entries.

    ``meta`` and ``extra`` are stored as plain types (:func:`plain`); the file gets a SHA-256 sidecar.
    """
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint meta lacks {missing}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_torch_file(path, {"format": FORMAT, "state_dict": state, "meta": plain(dict(meta)), **plain(extra)})


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load the raw checkpoint dict after verifying its SHA-256; clear errors for a missing,
    corrupt, unsafe or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint {path} not found; run the notebook that trains it first "
                                      "(02 for the segmentation models, 10 for the scene classifier)")
    ckpt = load_torch_file(path, what="checkpoint")
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an eoxai checkpoint of format {FORMAT!r} (found {ckpt.get('format')!r}); "
                              f"{rerun_hint(path)}")
    return ckpt


def build_from_meta(meta: Mapping[str, Any]) -> nn.Module:
    """An untrained model of the architecture a checkpoint's ``meta`` names.

    ``arch`` ``timm:<name>``: the scene classifier (:class:`~eoxai.models.scene_classifier.SceneClassifier`);
    ``patch:<name>``: a hyperspectral patch model (:func:`~eoxai.hyperspectral.models.build_patch_model`
    with ``meta["model_args"]``); otherwise a segmentation model (:func:`~eoxai.models.build_model`).
    """
    arch = str(meta["arch"])
    if arch.startswith("timm:"):
        from eoxai.models.scene_classifier import SceneClassifier

        return SceneClassifier(arch.removeprefix("timm:"), meta["class_names"], meta["bands"])
    if arch.startswith("patch:"):
        from eoxai.hyperspectral.models import build_patch_model

        return build_patch_model(arch.removeprefix("patch:"), len(meta["bands"]), len(meta["class_names"]),
                                 int(meta["size"]), seed=0, **dict(meta.get("model_args", {})))
    return build_model(arch, meta["modalities"], meta["class_names"], meta["size"])


def load_checkpoint(path: str | Path, expected: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of checkpoint ``path`` (any kind: :func:`build_from_meta`) in eval mode; return ``(model, meta)``.

    ``expected`` (e.g. ``{"config_hash": ...}``) must match the stored meta, else
    :class:`CheckpointError` names the differing keys.
    """
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    if expected:
        diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
        if diff:
            raise CheckpointError(f"checkpoint {path} was made with another config: {diff} (stored, expected)")
    model = build_from_meta(meta)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {meta['arch']}: {exc}") from exc
    model.eval()
    return model, meta
