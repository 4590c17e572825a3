"""Checkpoints that carry their config: reload a model without knowing how it was built.

A checkpoint is a ``torch.save`` dict ``{"state_dict", "meta", "format"}``; ``meta`` holds at least
``arch``, ``modalities`` (name -> band count, input order), ``bands`` (band names, input order),
``class_names``, ``size`` and, from training, ``stack``, ``inputs``, ``seed``, ``tile_size``,
``config`` and ``config_hash``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eoxai.errors import DatasetNotFoundError, EoxaiError
from eoxai.models import build_model

FORMAT = "eoxai-checkpoint-1"
REQUIRED_META = ("arch", "modalities", "bands", "class_names", "size")


class CheckpointError(EoxaiError, ValueError):
    """A checkpoint is corrupt, of another format, or does not match the expected config."""


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex) of the config as canonical JSON: equal configs, equal hashes."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_path(results_dir: str | Path, stack: str, arch: str, inputs: str, seed: int) -> Path:
    """``{results_dir}/models/{stack}/{arch}-{inputs}-seed{seed}.pt``: the compendium's checkpoint layout."""
    return Path(results_dir) / "models" / stack / f"{arch}-{inputs}-seed{int(seed)}.pt"


def save_checkpoint(path: str | Path, model: nn.Module, meta: Mapping[str, Any], **extra: Any) -> Path:
    """Save ``model``'s weights with ``meta`` (must hold :data:`REQUIRED_META`) and ``extra`` entries."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint meta lacks {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "state_dict": model.state_dict(), "meta": dict(meta), **extra}, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load the raw checkpoint dict, with clear errors for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"checkpoint {path} not found; run the training notebook (02) first")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise CheckpointError(f"checkpoint {path} cannot be read (corrupt or truncated?): {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an eoxai checkpoint (format {FORMAT!r})")
    return ckpt


def load_checkpoint(path: str | Path, expected: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of checkpoint ``path`` in eval mode; return ``(model, meta)``.

    ``expected`` (e.g. ``{"config_hash": ...}``) must match the stored meta, else
    :class:`CheckpointError` names the differing keys.
    """
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    if expected:
        diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
        if diff:
            raise CheckpointError(f"checkpoint {path} was made with another config: {diff} (stored, expected)")
    model = build_model(meta["arch"], meta["modalities"], meta["class_names"], meta["size"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {meta['arch']}: {exc}") from exc
    model.eval()
    return model, meta
