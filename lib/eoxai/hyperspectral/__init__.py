"""Hyperspectral patch-size selection driven by explanation consistency (notebook 09).

Reproduces and corrects Linardi, Dabo & Paris (2025), *Optimizing Deep Learning for Satellite
Hyperspectral Data: an xAI-Driven Approach to Hyperparameter Selection*, IGARSS
(``ds4xai/xAIDrivenHyperOpt``). Import the submodules directly:

- ``patches``      pixel-centred patches per tile, patch-size and class checks
- ``models``       the source paper's CNN2D and ViT (timm blocks), built by name and seed
- ``train``        the patch models on the training engine (AdamW, warm-up + cosine) and prediction
- ``explain``      Integrated Gradients in a NoiseTunnel -> one attribution vector over bands
- ``consistency``  uniformity, concentration, cross-instance JS divergence, macro-F1, bootstrap intervals
- ``study``        the resumable (model x patch size x instance) grid, summary tables, selection
- ``plots``        the study's figures
"""
