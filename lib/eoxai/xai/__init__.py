"""Explanation methods for any ``nn.Module`` that maps ``(B, C, H, W)`` to logits.

Import the submodules directly (``from eoxai.xai.gradcam import AllClassGradCAM``); this package
imports nothing itself, so one method's dependencies never slow another's import.

- ``registry``     every method by name with its settings type: ``get(name)(model, **settings)
                   .attribute(x, target)`` -> labelled DataArray; ``names()``; the one upsampling default
- ``methods``      the registered explainer classes (one class + one ``register`` line per method)
- ``checks``       input validation shared by every method (eval mode, band count, class, layer,
                   mask shape, modality names)
- ``targets``      scalar targets for segmentation outputs (the seed's sum of softmax, masked logits,
                   predicted-region means)
- ``gradcam``      all-class Grad-CAM from one forward pass (nothing below the layer recorded) and
                   the fastest backward strategy for the K class gradients
- ``budget``       explainer batch sizes from a memory budget (``explainer_memory_mb``)
- ``interclass``   Interclass-Grad-CAM: the seed's sign counts and a magnitude version
- ``spectral``     Spectral-Grad-CAM per band and modality group, keep-one and leave-one-out
- ``attribution``  captum ``Occlusion`` and ``IntegratedGradients`` wrappers returning labelled maps
- ``maps``         tensors -> xarray with band and class coordinates
- ``shap_seg``     SHAP partition (blur masker on all bands) and exact band-group (modality) SHAP
- ``modality``     modality occlusion (IoU drop, embedding distance) and influence agreement

The project's tiles become tensors on the notebooks' side (:mod:`eoxai.explain_tiles`); nothing
here imports the project's datasets.
- ``scoring``      scoring explanations (not models): deletion/insertion, randomisation sanity check,
                   agreement, stability, scorecard; explains through the registry
- ``scene_shap``   partition SHAP of scene classifiers and the blur drop (notebook 10)
- ``explanation_figures``  the XAI stage's figures (SHAP maps, occlusion, scorecard, scene SHAP)
- ``synthetic``    a hand-built model whose output depends on known bands (for tests)
- ``known_answer`` synthetic labels with a known true explanation (band, modality, spatial rules)
                   and the grades of explainers against them (building blocks of the known-answer
                   benchmark; no notebook runs it yet)
"""
