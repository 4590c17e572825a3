"""Explanation methods for any ``nn.Module`` that maps ``(B, C, H, W)`` to logits.

Import the submodules directly (``from eoxai.xai.gradcam import AllClassGradCAM``); this package
imports nothing itself, so one method's dependencies never slow another's import.

- ``checks``   input validation shared by every method (eval mode, band count, class, layer)
- ``targets``  scalar targets for segmentation outputs (the seed's sum of softmax, masked logits)
"""
