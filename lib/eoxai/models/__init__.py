"""Segmentation models for fused multisensor inputs, built by name. Every model returns logits.

``build_model(name, modalities, classes, size)``:

- ``manet_mit`` - :class:`segmentation_models_pytorch.MAnet` with a Mix-Vision-Transformer
  (SegFormer) encoder on N bands: Ebrahimi & Kumar's fused-input model (``size`` b0..b5).

(Issue 4 adds ``claire`` and ``unet_influence``.) ``modalities`` maps each modality name to its
band count, in input order; ``classes`` lists the class names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

MODELS = ("manet_mit",)


def build_model(
    name: str,
    modalities: Mapping[str, int],
    classes: Sequence[str],
    size: str = "b0",
    weights: str | None = None,
) -> nn.Module:
    """Build model ``name`` for ``sum(modalities.values())`` input bands and ``len(classes)`` classes.

    ``weights`` names encoder weights (e.g. ``'imagenet'``); None is random initialisation.
    Input ``(B, C, H, W)`` with H, W multiples of 32 -> logits ``(B, K, H, W)``.
    """
    in_channels = int(sum(modalities.values()))
    if in_channels <= 0:
        raise ValueError(f"modalities {dict(modalities)} give no input bands")
    if name == "manet_mit":
        import segmentation_models_pytorch as smp

        model = smp.MAnet(encoder_name=f"mit_{size}", encoder_weights=weights, in_channels=in_channels,
                          classes=len(classes))
    else:
        raise KeyError(f"unknown model {name!r}; known: {list(MODELS)}")
    model.modalities = dict(modalities)  # type: ignore[assignment]
    model.class_names = list(classes)  # type: ignore[assignment]
    model.in_channels = in_channels  # type: ignore[assignment]
    return model


def bottleneck(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The deepest encoder feature map ``(B, D, h, w)`` of ``model`` for input ``(B, C, H, W)``.

    Used by modality-occlusion analyses (embedding distance, Ekim & Schmitt).
    """
    if hasattr(model, "bottleneck"):
        return model.bottleneck(x)
    if hasattr(model, "encoder"):
        return model.encoder(x)[-1]
    raise TypeError(f"{type(model).__name__} exposes neither .bottleneck() nor .encoder")
