"""Early-fusion UNet with a modality occluder and an influence head (Ekim & Schmitt 2023).

B. Ekim and M. Schmitt, *Explaining multimodal data fusion: occlusion analysis for wilderness
mapping*, IGARSS 2023 (arXiv 2304.02407). The framework:

1. a modality occluder (MODO) makes N copies of the input, copy ``i`` with modality ``i``
   replaced by 0 (the training mean, as inputs are z-scored);
2. each copy passes the (shared) encoder; an influence head on its bottleneck outputs a sigmoid
   score in [0, 1], read as "how well the network does without modality i": a high score means
   the occluded modality mattered little;
3. the N scores are upsampled to the tile and concatenated to the last decoder block, before
   the classifier.

**Our choices**: the encoder is smp's MiT (``mit_{size}``, as every model here) with smp's UNet
decoder; the influence head is global average pooling -> Linear -> ReLU -> Linear -> sigmoid;
the N occluded copies go through the encoder in the same batch as the intact input; nothing but
the segmentation loss trains the head (as in the paper), so the "mattered little" reading is the
paper's interpretation, not a constraint. ``influence=False`` gives the plain UNet twin (same
encoder, decoder and head, no MODO) for the framework's ablation.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from eoxai.errors import InputError, MissingHeadError
from eoxai.models import mit_encoder, modality_slices

DECODER_CHANNELS = (256, 128, 64, 32, 16)


class InfluenceUNet(nn.Module):
    """UNet on the fused input ``(B, C, H, W)`` -> logits ``(B, K, H, W)``; with the influence framework if ``influence``.

    H and W must be multiples of 32. With ``influence``, at least two modalities are needed.
    """

    keep: torch.Tensor  # buffer: (N modalities, C) ones, zero on modality i's bands

    def __init__(self, modalities: Mapping[str, int], n_classes: int, size: str = "b0",
                 weights: str | None = None, influence: bool = True) -> None:
        super().__init__()
        from segmentation_models_pytorch.base import SegmentationHead
        from segmentation_models_pytorch.base import initialization as init
        from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder

        self.modality_names = list(modalities)
        if influence and len(self.modality_names) < 2:
            raise InputError(f"unet_influence occludes one modality per pass and needs at least 2; got "
                             f"{self.modality_names}. Use 'unet' for a single modality")
        in_channels = int(sum(modalities.values()))
        self.encoder = mit_encoder(size, in_channels, weights)
        self.decoder = UnetDecoder(encoder_channels=self.encoder.out_channels, decoder_channels=DECODER_CHANNELS,
                                   n_blocks=len(DECODER_CHANNELS))
        self.use_influence = bool(influence)
        n_scores = len(self.modality_names) if influence else 0
        if influence:
            depth = self.encoder.out_channels[-1]
            self.influence_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(depth, depth // 4),
                                                nn.ReLU(inplace=True), nn.Linear(depth // 4, 1))
            keep = torch.ones(len(self.modality_names), in_channels)
            for i, sl in enumerate(modality_slices(modalities).values()):
                keep[i, sl] = 0.0
            self.register_buffer("keep", keep, persistent=False)
        self.segmentation_head = SegmentationHead(DECODER_CHANNELS[-1] + n_scores, n_classes, kernel_size=3)
        init.initialize_decoder(self.decoder)
        init.initialize_head(self.segmentation_head)

    def occlude(self, x: torch.Tensor) -> torch.Tensor:
        """MODO: ``(B, C, H, W)`` -> ``(N * B, C, H, W)``, block ``i`` with modality ``i`` set to 0."""
        n = self.keep.shape[0]
        return (x.unsqueeze(0) * self.keep[:, None, :, None, None]).reshape(n * x.shape[0], *x.shape[1:])

    def _scores(self, deepest: torch.Tensor, batch: int) -> torch.Tensor:
        n = len(self.modality_names)
        return torch.sigmoid(self.influence_head(deepest)).reshape(n, batch).T

    def influence(self, x: torch.Tensor) -> torch.Tensor:
        """Influence scores ``(B, N)`` in [0, 1], column ``i`` for modality ``i`` occluded (``self.modality_names``)."""
        if not self.use_influence:
            raise MissingHeadError("the plain UNet twin has no influence head")
        return self._scores(self.encoder(self.occlude(x))[-1], x.shape[0])

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest encoder map ``(B, D, H/32, W/32)`` of the intact input."""
        return self.encoder(x)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        if not self.use_influence:
            return self.segmentation_head(self.decoder(self.encoder(x)))
        feats = self.encoder(torch.cat([x, self.occlude(x)], dim=0))
        scores = self._scores(feats[-1][b:], b)
        decoded = self.decoder([f[:b] for f in feats])
        maps = scores[:, :, None, None].expand(-1, -1, *decoded.shape[-2:])
        return self.segmentation_head(torch.cat([decoded, maps], dim=1))
