"""Validation shared by every explanation method, each failure a clear error naming the cause."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from eoxai.errors import (
    BandCountError,
    ExplainerInputError,
    LayerError,
    MaskShapeError,
    ModalityError,
    ModelModeError,
)


def check_eval_mode(model: nn.Module) -> None:
    """Raise :class:`ModelModeError` unless ``model`` and all its submodules are in eval mode."""
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise ModelModeError(
            f"model is in training mode ({len(training)} module(s), e.g. {training[0]!r}); "
            "call model.eval() before explaining it"
        )


def in_channels(model: nn.Module) -> int | None:
    """Input band count of ``model`` from its first convolution or linear layer (None if unknown)."""
    declared = getattr(model, "in_channels", None)
    if isinstance(declared, int):
        return declared
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Conv3d)):
            return int(m.in_channels)
        if isinstance(m, nn.Linear):
            return int(m.in_features)
    return None


def check_inputs(model: nn.Module, inputs: torch.Tensor) -> None:
    """Raise :class:`BandCountError` unless ``inputs`` is ``(B, C, H, W)`` with the model's C."""
    if inputs.ndim != 4:
        raise BandCountError(f"inputs must be (B, C, H, W), got shape {tuple(inputs.shape)}")
    expected = in_channels(model)
    if expected is not None and inputs.shape[1] != expected:
        raise BandCountError(f"inputs have {inputs.shape[1]} bands; the model takes {expected}")


def check_targets(targets: int | Iterable[int], n_classes: int) -> list[int]:
    """Return ``targets`` as a list; ``ValueError`` naming any class index outside ``0..n_classes-1``."""
    t = [int(targets)] if isinstance(targets, int) else [int(x) for x in targets]
    bad = [x for x in t if not 0 <= x < n_classes]
    if bad:
        raise ExplainerInputError(f"target class(es) {bad} outside the model's {n_classes} classes (0..{n_classes - 1})")
    return t


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The submodule named ``layer`` (dotted, as in ``model.named_modules()``), or ``layer`` itself.

    Raises ``KeyError`` listing a few valid names when the name does not exist.
    """
    if isinstance(layer, nn.Module):
        return layer
    modules = dict(model.named_modules())
    if layer not in modules:
        convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)][-5:]
        raise LayerError(f"layer {layer!r} not found in {type(model).__name__}; last conv layers: {convs}")
    return modules[layer]


def check_mask(mask: torch.Tensor, output_shape: tuple[int, ...] | torch.Size, what: str = "mask") -> None:
    """Raise :class:`MaskShapeError` unless ``mask``'s last two dims equal ``output_shape``'s ``(H, W)``
    and, when ``mask`` has a class dim (``(K, H, W)`` or ``(B, K, H, W)``), K matches too."""
    out = tuple(output_shape)
    m = tuple(mask.shape)
    if len(m) < 2 or m[-2:] != out[-2:]:
        raise MaskShapeError(f"{what} has shape {m}; the model's output is {out}: expected (..., {out[-2]}, {out[-1]})")
    if len(m) >= 3 and len(out) >= 3 and m[-3] != out[-3]:
        raise MaskShapeError(f"{what} has {m[-3]} class planes; the model has {out[-3]} classes")
    if len(m) == 4 and len(out) == 4 and m[0] not in (1, out[0]):
        raise MaskShapeError(f"{what} is for {m[0]} samples; the batch has {out[0]}")


def check_modalities(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """Return ``names`` as a list; :class:`ModalityError` naming any not in ``known``."""
    names, known = list(names), list(known)
    bad = [n for n in names if n not in known]
    if bad:
        raise ModalityError(f"modality name(s) {bad} not in the data; it has {known}")
    return names
