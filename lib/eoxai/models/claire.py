"""CLAIRE-style dual-encoder fusion network (Sutradhar et al. 2025, arXiv 2509.11952).

The paper: two encoders extract modality-specific features from optical and SAR imagery; a
cross-modality attention-fusion module (CMAF) fuses them at each scale; a decoder segments the
fused features; training uses the RIFT loss (weighted focal + Tversky, :func:`eoxai.losses.rift_loss`).
No code is public, so this is an implementation from the paper's description. **Our choices**
(not stated in the paper):

- Encoders: two smp Mix-Vision-Transformer encoders ``mit_{size}`` (the same family as
  ``manet_mit``), one for the optical modalities and one for all other modalities (SAR, and DEM
  where a stack has one), so the model also runs on optical + DEM.
- CMAF at each of the four MiT stages (1/4 .. 1/32): both maps are projected to the stage width;
  bidirectional multi-head cross-attention (optical queries the other stream and vice versa;
  ``torch.nn.MultiheadAttention``, one head per 32 channels) with keys/values average-pooled to
  at most ``max_tokens`` positions (as in MiT's spatial-reduction attention) so large tiles stay
  affordable; residual scales initialised at 0 (ReZero), so training starts from plain
  concatenation fusion; then a 1x1 convolution of the concatenated streams (BN, ReLU) and a
  squeeze-and-excitation channel gate on the fused map.
- Decoder: smp's UNet decoder over the fused multi-scale features (skip connections at every
  scale), with a 3x3 segmentation head returning logits. The full-resolution "stage 0" skip is
  the raw input (smp's decoder drops it).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from eoxai.errors import InputError
from eoxai.models import mit_encoder, modality_sensor, modality_slices

DECODER_CHANNELS = (256, 128, 64, 32, 16)


class CMAF(nn.Module):
    """Cross-modality attention fusion of two maps ``(B, Ca, h, w)``, ``(B, Cb, h, w)`` -> ``(B, C, h, w)``.

    See the module docstring for the design. ``max_tokens`` bounds the key/value positions.
    """

    def __init__(self, ch_a: int, ch_b: int, channels: int, max_tokens: int = 256) -> None:
        super().__init__()
        heads = max(1, channels // 32)
        while channels % heads:
            heads -= 1
        self.max_tokens = int(max_tokens)
        self.proj_a = nn.Conv2d(ch_a, channels, 1)
        self.proj_b = nn.Conv2d(ch_b, channels, 1)
        self.norm_a = nn.LayerNorm(channels)
        self.norm_b = nn.LayerNorm(channels)
        self.attn_ab = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.attn_ba = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.gamma_a = nn.Parameter(torch.zeros(1))
        self.gamma_b = nn.Parameter(torch.zeros(1))
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(inplace=True))
        hidden = max(channels // 4, 8)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def _pooled_tokens(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h * w > self.max_tokens:
            scale = (h * w / self.max_tokens) ** 0.5
            x = F.adaptive_avg_pool2d(x, (max(1, int(h / scale)), max(1, int(w / scale))))
        return x.flatten(2).transpose(1, 2)

    def _cross(self, q: torch.Tensor, kv: torch.Tensor, attn: nn.MultiheadAttention,
               norm_q: nn.LayerNorm, norm_kv: nn.LayerNorm) -> torch.Tensor:
        b, c, h, w = q.shape
        tq = norm_q(q.flatten(2).transpose(1, 2))
        tk = norm_kv(self._pooled_tokens(kv))
        out, _ = attn(tq, tk, tk, need_weights=False)
        return out.transpose(1, 2).reshape(b, c, h, w)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = self.proj_a(a), self.proj_b(b)
        a2 = a + self.gamma_a * self._cross(a, b, self.attn_ab, self.norm_a, self.norm_b)
        b2 = b + self.gamma_b * self._cross(b, a, self.attn_ba, self.norm_b, self.norm_a)
        fused = self.fuse(torch.cat([a2, b2], dim=1))
        return fused * self.gate(fused)


class Claire(nn.Module):
    """Dual-encoder CLAIRE network: input ``(B, C, H, W)`` (modalities concatenated in order) -> logits ``(B, K, H, W)``.

    Stream A takes the optical modalities, stream B all others (see :func:`eoxai.models.modality_sensor`);
    both must be non-empty. H and W must be multiples of 32.
    """

    idx_a: torch.Tensor  # buffers: the band indices of each encoder
    idx_b: torch.Tensor

    def __init__(self, modalities: Mapping[str, int], n_classes: int, size: str = "b0",
                 weights: str | None = None, max_tokens: int = 256) -> None:
        super().__init__()
        from segmentation_models_pytorch.base import SegmentationHead
        from segmentation_models_pytorch.base import initialization as init
        from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder

        slices = modality_slices(modalities)
        optical = [m for m in modalities if modality_sensor(m) == "optical"]
        other = [m for m in modalities if modality_sensor(m) != "optical"]
        if not optical or not other:
            raise InputError(
                f"claire is a dual encoder: it needs optical and non-optical modalities, got "
                f"{ {m: modality_sensor(m) for m in modalities} }; use manet_mit or unet for one sensor group"
            )
        self.streams = {"optical": optical, "other": other}
        idx_a = [i for m in optical for i in range(slices[m].start, slices[m].stop)]
        idx_b = [i for m in other for i in range(slices[m].start, slices[m].stop)]
        self.register_buffer("idx_a", torch.tensor(idx_a), persistent=False)
        self.register_buffer("idx_b", torch.tensor(idx_b), persistent=False)
        self.encoder_a = mit_encoder(size, len(idx_a), weights)
        self.encoder_b = mit_encoder(size, len(idx_b), weights)
        chans = list(self.encoder_a.out_channels)
        self.fusion = nn.ModuleList(CMAF(c, c, c, max_tokens) for c in chans[2:])
        in_channels = len(idx_a) + len(idx_b)
        self.decoder = UnetDecoder(encoder_channels=[in_channels, *chans[1:]], decoder_channels=DECODER_CHANNELS,
                                   n_blocks=len(DECODER_CHANNELS))
        self.segmentation_head = SegmentationHead(DECODER_CHANNELS[-1], n_classes, kernel_size=3)
        init.initialize_decoder(self.decoder)
        init.initialize_head(self.segmentation_head)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Fused multi-scale features ``[x, (B, 0, H/2, W/2), (B, c1, H/4, W/4), ..., (B, c4, H/32, W/32)]``."""
        fa = self.encoder_a(x.index_select(1, self.idx_a))
        fb = self.encoder_b(x.index_select(1, self.idx_b))
        fused = [cmaf(a, b) for cmaf, a, b in zip(self.fusion, fa[2:], fb[2:], strict=True)]
        return [x, fa[1], *fused]

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest fused map ``(B, c4, H/32, W/32)``."""
        return self.features(x)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segmentation_head(self.decoder(self.features(x)))
