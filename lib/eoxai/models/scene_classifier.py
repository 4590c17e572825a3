"""A timm image classifier behind per-band normalisation: the scene classifier of notebook 10."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SceneClassifier(nn.Module):
    """Per-band normalisation followed by a timm image classifier.

    Parameters
    ----------
    arch:
        Any ``timm.create_model`` name (``resnet18``, ``resnet50``, ``regnetx_002``, ...).
    class_names:
        The K class names, in output order.
    bands:
        The C input band names, in input order.
    mean, std:
        Per-band statistics (length C) of the training split, in data units.
    pretrained:
        Load timm's pretrained weights (ImageNet; timm adapts the first convolution to C bands).
        Random initialisation when False (quick and smoke profiles: no downloads).

    ``forward(x)``: ``x`` float ``(B, C, H, W)`` in data units -> logits ``(B, K)``.
    """

    mean: torch.Tensor  # buffers (1, C, 1, 1): the training bands' statistics
    std: torch.Tensor

    def __init__(
        self,
        arch: str,
        class_names: Sequence[str],
        bands: Sequence[str],
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        pretrained: bool = False,
    ) -> None:
        import timm

        super().__init__()
        self.arch = arch
        self.class_names = list(class_names)
        self.bands = list(bands)
        self.in_channels = len(self.bands)
        self.net = timm.create_model(arch, pretrained=pretrained, num_classes=len(self.class_names),
                                     in_chans=self.in_channels)
        c = self.in_channels
        self.register_buffer("mean", torch.tensor(list(mean) if mean is not None else [0.0] * c).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(list(std) if std is not None else [1.0] * c).view(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)
