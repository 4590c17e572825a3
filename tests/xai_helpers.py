"""Small shared pieces of the XAI tests (notebooks 07-08): a hand-built model and real test tiles."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch
import yaml
from torch import nn

DATA = Path(__file__).resolve().parents[1] / "data"


class BandModel(nn.Module):
    """A hand-built segmentation model whose logits depend on the bands ``used`` only.

    ``encoder``: 3x3 convolution (weights of the other bands are zero) + tanh, so bands interact;
    ``head``: 1x1 convolution to ``classes`` logits. ``bottleneck(x)`` is the encoder output.
    """

    def __init__(self, in_channels: int, classes: Sequence[str], used: Sequence[int], width: int = 6,
                 seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.encoder = nn.Conv2d(in_channels, width, 3, padding=1)
        self.head = nn.Conv2d(width, len(classes), 1)
        with torch.no_grad():
            w = torch.randn(self.encoder.weight.shape, generator=g)
            keep = torch.zeros(in_channels, dtype=torch.bool)
            keep[list(used)] = True
            self.encoder.weight.copy_(w * keep.view(1, -1, 1, 1))
            self.encoder.bias.copy_(torch.randn(width, generator=g) * 0.1)
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=g))
            self.head.bias.zero_()
        self.in_channels = in_channels
        self.class_names = list(classes)
        self.eval()

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bottleneck(x))


@lru_cache(maxsize=1)
def eolearn_cube():
    """The eo-learn stack (two S2 dates + DEM) fused from the shipped data, as notebook 01 does."""
    from eoxai.config import validate_declaration
    from eoxai.fusion import fuse
    from eoxai.stacks import load_stack

    decl = validate_declaration("eolearn", yaml.safe_load((DATA.parent / "config" / "stacks" / "eolearn.yaml").read_text()))
    mods, label = load_stack(decl, DATA)
    return fuse(mods, label, block_size=32, buffer=2, seed=3, name="eolearn")


@lru_cache(maxsize=1)
def eolearn_test_tiles():
    """The eo-learn test tiles (32 x 32, 27 bands), as :class:`eoxai.explain_tiles.Tiles`."""
    from eoxai.explain_tiles import load_tiles

    return load_tiles(eolearn_cube(), "test", 32)


def eolearn_groups() -> dict[str, list[int]]:
    """Band indices per modality of the eo-learn cube (input order)."""
    cube = eolearn_cube()
    out: dict[str, list[int]] = {}
    for i, m in enumerate(cube["modality"].values):
        out.setdefault(str(m), []).append(i)
    return out
