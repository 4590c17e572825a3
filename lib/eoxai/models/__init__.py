"""Segmentation models for fused multisensor inputs, built by name. Every model returns logits.

``build_model(name, modalities, classes, size)``:

- ``manet_mit`` - :class:`segmentation_models_pytorch.MAnet` with a Mix-Vision-Transformer
  (SegFormer) encoder on N bands: Ebrahimi & Kumar's fused-input model (``size`` b0..b5).
- ``claire`` - a CLAIRE-style dual encoder (optical | the other modalities) with cross-modality
  attention fusion at every scale (Sutradhar et al., arXiv 2509.11952): :mod:`eoxai.models.claire`.
- ``unet_influence`` - an early-fusion UNet with Ekim & Schmitt's modality occluder and influence
  head; ``unet`` is its plain twin without them (the framework's ablation):
  :mod:`eoxai.models.unet_influence`.

Every model uses the same MiT encoder family (``mit_{size}``), so architectures differ only in
what the paper they follow changes. ``modalities`` maps each modality name to its band count, in
input order; ``classes`` lists the class names. Built models carry ``.modalities``,
``.class_names`` and ``.in_channels``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from eoxai.errors import InputError, MissingHeadError

MODELS = ("manet_mit", "claire", "unet", "unet_influence")
SIZES = ("b0", "b1", "b2", "b3", "b4", "b5")

#: sensor group of each modality name the compendium uses (others: see :func:`modality_sensor`)
SENSORS = {"s1": "sar", "s2": "optical", "s2_t1": "optical", "s2_t2": "optical", "dem": "elevation"}


def modality_sensor(name: str) -> str:
    """Sensor group (``'optical'``, ``'sar'``, ``'elevation'`` or ``'other'``) of a modality name.

    Known names come from :data:`SENSORS`; otherwise ``s2*``/``optical*``/``rgb*`` are optical,
    ``s1*``/``sar*`` SAR and ``dem*``/``elevation*`` elevation.
    """
    if name in SENSORS:
        return SENSORS[name]
    low = name.lower()
    for prefixes, sensor in ((("s2", "optical", "rgb", "landsat"), "optical"), (("s1", "sar"), "sar"),
                             (("dem", "elevation"), "elevation")):
        if low.startswith(prefixes):
            return sensor
    return "other"


def modality_slices(modalities: Mapping[str, int]) -> dict[str, slice]:
    """Channel slice of every modality in the concatenated input, e.g. ``{'s1': slice(0, 2), ...}``."""
    out, start = {}, 0
    for name, count in modalities.items():
        out[name] = slice(start, start + int(count))
        start += int(count)
    return out


def mit_encoder(size: str, in_channels: int, weights: str | None = None) -> Any:  # smp's untyped encoder
    """smp's Mix-Vision-Transformer encoder ``mit_{size}`` for ``in_channels`` bands.

    Features for input ``(B, C, H, W)``: ``[x, empty (B, 0, H/2, W/2), (B, c1, H/4, W/4), ...,
    (B, c4, H/32, W/32)]``. Where ``weights`` (e.g. ``'imagenet'``) cannot be downloaded, warns
    with the reason and falls back to random initialisation.
    """
    import segmentation_models_pytorch as smp

    if size not in SIZES:
        raise InputError(f"unknown MiT size {size!r}; expected one of {list(SIZES)}")
    try:
        return smp.encoders.get_encoder(f"mit_{size}", in_channels=in_channels, depth=5, weights=weights)
    except Exception as exc:  # noqa: BLE001 - download failures come in many types
        if weights is None:
            raise
        warnings.warn(f"encoder weights {weights!r} for mit_{size} could not be loaded ({exc}); "
                      "using random initialisation instead", stacklevel=2)
        return smp.encoders.get_encoder(f"mit_{size}", in_channels=in_channels, depth=5, weights=None)


def build_model(
    name: str,
    modalities: Mapping[str, int],
    classes: Sequence[str],
    size: str = "b0",
    weights: str | None = None,
) -> nn.Module:
    """Build model ``name`` for ``sum(modalities.values())`` input bands and ``len(classes)`` classes.

    ``weights`` names encoder weights (e.g. ``'imagenet'``); None is random initialisation (also
    the fallback, with a warning, where weights cannot be downloaded).
    Input ``(B, C, H, W)`` with H, W multiples of 32 -> logits ``(B, K, H, W)``.
    """
    in_channels = int(sum(modalities.values()))
    if in_channels <= 0:
        raise InputError(f"modalities {dict(modalities)} give no input bands")
    if len(classes) < 2:
        raise InputError(f"a segmentation model needs at least 2 classes, got {list(classes)}")
    if name == "manet_mit":
        import segmentation_models_pytorch as smp

        if size not in SIZES:
            raise InputError(f"unknown MiT size {size!r}; expected one of {list(SIZES)}")
        model = smp.MAnet(encoder_name=f"mit_{size}", encoder_weights=None, in_channels=in_channels,
                          classes=len(classes))
        if weights is not None:
            model.encoder = mit_encoder(size, in_channels, weights)
    elif name == "claire":
        from eoxai.models.claire import Claire

        model = Claire(modalities, len(classes), size=size, weights=weights)
    elif name in ("unet", "unet_influence"):
        from eoxai.models.unet_influence import InfluenceUNet

        model = InfluenceUNet(modalities, len(classes), size=size, weights=weights,
                              influence=name == "unet_influence")
    else:
        raise InputError(f"unknown model {name!r}; known: {list(MODELS)}")
    model.modalities = dict(modalities)
    model.class_names = list(classes)
    model.in_channels = in_channels
    model.arch = name
    return model


def bottleneck(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The deepest encoder feature map ``(B, D, h, w)`` of ``model`` for input ``(B, C, H, W)``.

    Used by modality-occlusion analyses (embedding distance, Ekim & Schmitt).
    """
    if hasattr(model, "bottleneck"):
        return model.bottleneck(x)  # type: ignore[operator]  # Module.__getattr__ reads as Tensor | Module
    if hasattr(model, "encoder"):
        return model.encoder(x)[-1]  # type: ignore[operator]  # (as above)
    raise MissingHeadError(f"{type(model).__name__} exposes neither .bottleneck() nor .encoder")
