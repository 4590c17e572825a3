"""Explanation methods for any ``nn.Module`` that maps ``(B, C, H, W)`` to logits.

Import the submodules directly (``from eoxai.xai.gradcam import AllClassGradCAM``); this package
imports nothing itself, so one method's dependencies never slow another's import.

- ``checks``       input validation shared by every method (eval mode, band count, class, layer,
                   mask shape, modality names)
- ``targets``      scalar targets for segmentation outputs (the seed's sum of softmax, masked logits,
                   predicted-region means)
- ``gradcam``      all-class Grad-CAM from one forward and one batched backward pass
- ``interclass``   Interclass-Grad-CAM: the seed's sign counts and a magnitude version
- ``spectral``     Spectral-Grad-CAM per band and modality group, keep-one and leave-one-out
- ``attribution``  captum ``Occlusion`` and ``IntegratedGradients`` wrappers returning labelled maps
- ``maps``         tensors -> xarray with band and class coordinates
- ``shap_seg``     SHAP partition (blur masker on all bands) and exact band-group (modality) SHAP
- ``modality``     modality occlusion (IoU drop, embedding distance) and influence agreement
- ``evaluate``     deletion/insertion, randomisation sanity check, agreement, stability, scorecard
- ``instances``    the seeded choice of held-out tiles every explanation notebook explains
- ``explanation_figures``  shared figures of notebooks 07-08b
- ``synthetic``    a hand-built model whose output depends on known bands (for tests)
- ``known_answer`` synthetic labels with a known true explanation (band, modality, spatial rules)
                   and the grades of explainers against it (notebook 11)
"""
