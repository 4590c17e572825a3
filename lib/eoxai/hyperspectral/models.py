"""Pixel-patch classifiers for hyperspectral patches: the source paper's CNN2D and ViT.

Both follow Linardi, Dabo & Paris (IGARSS 2025, ``ds4xai/xAIDrivenHyperOpt``): a 1 x 1
convolution reduces the bands to ``n_comps`` (15) components with a tanh, then

- :class:`CNN2D`: four 3 x 3 convolutions (32, 64, 128, 256 channels, batch norm, ReLU), global
  average pooling and an MLP (256, 128; layer norm, ReLU, dropout 0.5);
- :class:`PatchViT`: 3 x 3-pixel tokens embedded by a linear layer + GELU, a class token, learned
  positions and six pre-norm transformer blocks (width 128, 4 heads, MLP 256, dropout 0.1;
  :class:`timm.models.vision_transformer.Block`).

Fix: the seed padded the reduced patch on the right and bottom only to a multiple of 3, so the
centre pixel fell off the centre token for p = 5, 7, 11, ...; here the patch is padded
symmetrically to the nearest odd multiple of the token size, so the centre pixel is always the
centre of the centre token. Widths are parameters so the quick profile can run a narrower copy
of the same architecture on a CPU. Input ``(B, C, p, p)`` -> logits ``(B, K)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from eoxai.errors import InputError, PatchSizeError

MODELS: tuple[str, ...] = ("cnn2d", "vit")


class SpectralReduction(nn.Sequential):
    """1 x 1 convolution ``C -> n_comps`` and tanh: the learned band reduction both models share."""

    def __init__(self, n_bands: int, n_comps: int) -> None:
        super().__init__(nn.Conv2d(n_bands, n_comps, kernel_size=1), nn.Tanh())


class CNN2D(nn.Module):
    """The source paper's 2-D CNN: reduction, 3 x 3 conv blocks, global average pooling, MLP head."""

    def __init__(self, n_bands: int, n_classes: int, n_comps: int = 15,
                 widths: Sequence[int] = (32, 64, 128, 256), hidden: Sequence[int] = (256, 128),
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.in_channels = n_bands
        self.reduction = SpectralReduction(n_bands, n_comps)
        layers: list[nn.Module] = []
        c = n_comps
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = []
        for h in hidden:
            head += [nn.Linear(c, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(dropout)]
            c = h
        head.append(nn.Linear(c, n_classes))
        self.classifier = nn.Sequential(*head)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, p, p)`` -> logits ``(B, K)``."""
        x = self.features(self.reduction(x))
        return self.classifier(x.mean(dim=(2, 3)))


def token_grid(patch_size: int, token_size: int = 3) -> tuple[int, int]:
    """``(pad, tokens_per_side)``: symmetric padding that centres the patch on the token grid.

    The padded side is the smallest odd multiple of ``token_size`` not below ``patch_size``
    (``patch_size`` odd), e.g. p = 5 -> pad 2 (9 pixels, 3 x 3 tokens), p = 7 -> pad 1.
    """
    side = -(-patch_size // token_size) * token_size
    if (side // token_size) % 2 == 0:
        side += token_size
    return (side - patch_size) // 2, side // token_size


class PatchViT(nn.Module):
    """The source paper's small ViT over 3 x 3-pixel tokens of the reduced patch (see the module docstring)."""

    def __init__(self, n_bands: int, n_classes: int, patch_size: int, n_comps: int = 15, token_size: int = 3,
                 dim: int = 128, depth: int = 6, heads: int = 4, mlp_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        if patch_size % 2 == 0:
            raise PatchSizeError(f"patch_size must be odd, got {patch_size}")
        self.in_channels = n_bands
        self.patch_size = patch_size
        self.token_size = token_size
        self.pad, side = token_grid(patch_size, token_size)
        self.reduction = SpectralReduction(n_bands, n_comps)
        self.embed = nn.Sequential(nn.Linear(n_comps * token_size**2, dim), nn.GELU())
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + side * side, dim))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[
            Block(dim, heads, mlp_ratio=mlp_dim / dim, qkv_bias=True, proj_drop=dropout) for _ in range(depth)
        ])
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, n_classes))
        self.apply(_init_weights)
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Reduced, symmetrically padded patch ``(B, C, p, p)`` -> tokens ``(B, T, n_comps * t * t)``."""
        x = self.reduction(x)
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)
        t = self.token_size
        x = F.unfold(x, kernel_size=t, stride=t)  # (B, n_comps * t * t, T), row-major tokens
        return x.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, p, p)`` -> logits ``(B, K)``."""
        if x.shape[-1] != self.patch_size or x.shape[-2] != self.patch_size:
            raise PatchSizeError(f"this ViT takes {self.patch_size}x{self.patch_size} patches, got {tuple(x.shape[-2:])}")
        z = self.embed(self.tokens(x))
        z = torch.cat([self.cls_token.expand(z.shape[0], -1, -1), z], dim=1) + self.pos_embed
        z = self.blocks(self.drop(z))
        return self.head(z[:, 0])


def _init_weights(m: nn.Module) -> None:
    """The source paper's initialisation: Kaiming (fan-out) for convolutions, Xavier for linear layers."""
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def build_patch_model(name: str, n_bands: int, n_classes: int, patch_size: int, seed: int,
                      **options: object) -> nn.Module:
    """Build ``cnn2d`` or ``vit`` with weights drawn from ``seed`` (independent instances differ only in it).

    ``options`` go to the model's constructor (widths, depth, ...). Raises :class:`KeyError` for
    an unknown name.
    """
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if name == "cnn2d":
            model: nn.Module = CNN2D(n_bands, n_classes, **options)  # type: ignore[arg-type]
        elif name == "vit":
            model = PatchViT(n_bands, n_classes, patch_size, **options)  # type: ignore[arg-type]
        else:
            raise InputError(f"unknown hyperspectral model {name!r}; known: {list(MODELS)}")
    finally:
        torch.random.set_rng_state(gen_state)
    model.n_classes = n_classes  # type: ignore[assignment]
    return model
