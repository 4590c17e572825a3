"""Known-answer models for checking explainers: the truth about which bands matter is built in.

An explainer that cannot find the bands a model provably uses cannot be trusted on a model
whose use of bands is unknown (the "sanity check" idea of Adebayo et al., NeurIPS 2018, applied
to bands).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from eoxai.errors import ExplainerInputError


class KnownBandsModel(nn.Module):
    """A segmentation model whose logits depend on the bands ``relevant`` only.

    ``(B, C, H, W)`` -> ``mix`` (1x1 conv, zero weight on every other band, no bias) -> tanh ->
    ``head`` (1x1 conv) -> logits ``(B, K, H, W)``. Weights are fixed by ``seed`` and the
    relevant bands get decreasing weight magnitudes in the order given, so explainers should
    rank them first (and in that order, for most inputs). Layers: ``'mix'``, ``'head'``.
    """

    def __init__(self, in_channels: int, relevant: Sequence[int], n_classes: int = 2, hidden: int = 4,
                 seed: int = 0) -> None:
        super().__init__()
        if not relevant or any(not 0 <= b < in_channels for b in relevant):
            raise ExplainerInputError(f"relevant bands {list(relevant)} must lie in 0..{in_channels - 1}")
        g = torch.Generator().manual_seed(seed)
        self.in_channels = in_channels
        self.relevant = [int(b) for b in relevant]
        self.mix = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.head = nn.Conv2d(hidden, n_classes, 1)
        with torch.no_grad():
            self.mix.weight.zero_()
            for rank, b in enumerate(self.relevant):
                signs = torch.randint(0, 2, (hidden,), generator=g) * 2 - 1
                self.mix.weight[:, b, 0, 0] = signs * (1.0 / (1 + rank))
            self.head.weight.copy_(torch.randn(n_classes, hidden, 1, 1, generator=g))
            self.head.bias.zero_()  # type: ignore[union-attr]  # Conv2d made with bias=True
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.mix(x)))
