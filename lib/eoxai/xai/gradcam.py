"""Grad-CAM for segmentation, every class from one forward pass and batched gradients.

Grad-CAM (Selvaraju et al., ICCV 2017) weights a layer's activations ``A`` ``(B, D, h, w)`` by the
spatial mean of the gradient of a scalar score ``y_c`` with respect to ``A``:
``CAM_c = sum_d mean_hw(dy_c/dA_d) * A_d`` (signed, as captum's ``LayerGradCam`` returns it; ReLU
on request). For segmentation the score must be chosen (see :mod:`eoxai.xai.targets`):

- ``'softmax_sum'`` - sum over pixels of the softmax of class ``c``: Ebrahimi & Kumar's target
  (their model ended in a softmax and they summed its channel ``c``);
- ``'softmax_mean'`` - the same, averaged over pixels;
- ``'masked_logit'`` - sum of the logit of ``c`` over a mask, by default the pixels predicted as
  ``c``: pytorch-grad-cam's ``SemanticSegmentationTarget`` (Gildenblat et al.);
- any callable ``score(logits (B, K, H, W), c) -> (B,)``.

The seed ran captum's ``LayerGradCam`` once per class and per image: ``B * K`` forward and
backward passes. :class:`AllClassGradCAM` runs one forward pass for the whole batch and one
*batched* backward pass (``torch.autograd.grad(..., is_grads_batched=True)``, i.e. ``vmap`` over
the ``K`` one-hot output cotangents), which gives the same maps (tested against captum in
float64) at a fraction of the cost (``benchmarks/xai_speed.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from eoxai.xai.checks import check_eval_mode, check_inputs, check_targets, resolve_layer
from eoxai.xai.targets import masked_logit, mean_softmax

ScoreFn = Callable[[torch.Tensor, int], torch.Tensor]
SCORES = ("softmax_sum", "softmax_mean", "masked_logit")


def score_function(score: str | ScoreFn, mask: torch.Tensor | None = None) -> ScoreFn:
    """The scalar target ``(logits (B, K, H, W), c) -> (B,)`` named by ``score`` (see module doc).

    ``mask`` ``(B, H, W)`` applies to ``'masked_logit'`` only; None there means "the pixels
    predicted as ``c``" (pytorch-grad-cam's convention).
    """
    if callable(score):
        return score
    if score == "softmax_sum":
        return lambda logits, c: mean_softmax(logits, c, reduce="sum")
    if score == "softmax_mean":
        return lambda logits, c: mean_softmax(logits, c, reduce="mean")
    if score == "masked_logit":
        def _masked(logits: torch.Tensor, c: int) -> torch.Tensor:
            m = mask if mask is not None else (logits.argmax(dim=1) == c)
            return masked_logit(logits, c, m, reduce="sum")
        return _masked
    raise ValueError(f"unknown score {score!r}; use one of {list(SCORES)} or a callable (logits, c) -> (B,)")


def class_scores(logits: torch.Tensor, classes: Sequence[int], score: ScoreFn) -> torch.Tensor:
    """Scores of every class in ``classes``: ``(B, K, H, W)`` logits -> ``(B, len(classes))``."""
    return torch.stack([score(logits, int(c)) for c in classes], dim=1)


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last ``nn.Conv2d`` in ``model.named_modules()`` (the logits layer of smp models)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise KeyError(f"{type(model).__name__} has no Conv2d layer; name the Grad-CAM layer explicitly")
    return names[-1]


@dataclass
class GradCAMResult:
    """What one all-class Grad-CAM pass computes.

    cams    ``(B, n, h, w)`` CAM per requested class (``n = len(classes)``), at the layer's
            resolution or upsampled to the input's
    scores  ``(B, n)`` the explained scalar per sample and class (detached)
    logits  ``(B, K, H, W)`` the model output (detached): predictions come for free
    classes the class indices of the ``n`` maps
    """

    cams: torch.Tensor
    scores: torch.Tensor
    logits: torch.Tensor
    classes: list[int]


def batched_class_gradients(scores: torch.Tensor, activation: torch.Tensor, batched: bool = True) -> torch.Tensor:
    """Gradient of each score column w.r.t. ``activation``: ``(B, n)``, ``(B, D, h, w)`` -> ``(n, B, D, h, w)``.

    Samples do not interact in an eval-mode model, so the gradient of ``scores[:, j].sum()`` holds
    every sample's own gradient. The ``n`` columns are one ``vmap``-ed backward pass
    (``is_grads_batched``); ``batched=False`` (or an operator ``vmap`` cannot batch) falls back to
    ``n`` backward passes over the same graph.
    """
    n = scores.shape[1]
    eye = torch.eye(n, dtype=scores.dtype, device=scores.device)
    cotangents = eye[:, None, :].expand(n, scores.shape[0], n)
    if batched:
        try:
            (grads,) = torch.autograd.grad(scores, activation, cotangents, retain_graph=True, is_grads_batched=True)
            return grads
        except RuntimeError as exc:  # an op without a batching rule: fall back, say so
            warnings.warn(f"batched gradients failed ({exc}); falling back to one backward pass per class",
                          RuntimeWarning, stacklevel=2)
    return torch.stack([
        torch.autograd.grad(scores, activation, cotangents[j], retain_graph=j < n - 1)[0] for j in range(n)
    ])


def gradcam_all_classes(
    model: nn.Module,
    layer: str | nn.Module,
    inputs: torch.Tensor,
    classes: Iterable[int] | None = None,
    score: str | ScoreFn = "softmax_sum",
    mask: torch.Tensor | None = None,
    relu_attributions: bool = False,
    upsample: Literal["nearest", "bilinear"] | None = "nearest",
    batched: bool = True,
) -> GradCAMResult:
    """Grad-CAM of every class in ``classes`` (default all) for ``inputs`` ``(B, C, H, W)``, one forward pass.

    ``layer`` is a module of ``model`` or its dotted name (e.g. ``'segmentation_head.0'``, the
    seed's logits layer, or a decoder block). ``upsample`` resizes the maps to ``(H, W)`` like
    captum's ``LayerAttribution.interpolate`` (default ``'nearest'``, as the seed); None keeps the
    layer's resolution. ``relu_attributions`` as in captum (default False: signed maps).
    Raises clear errors for a training-mode model, a wrong band count, an unknown layer or a class
    outside the model's classes.
    """
    check_eval_mode(model)
    check_inputs(model, inputs)
    module = resolve_layer(model, layer)
    fn = score_function(score, mask)
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"layer {layer!r} returns {type(out).__name__}; Grad-CAM needs a single tensor output")
        captured.append(out)

    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(inputs)
            if not captured:
                raise KeyError(f"layer {layer!r} was not called in the forward pass; choose a layer on the output path")
            activation = captured[-1]
            wanted = check_targets(range(logits.shape[1]) if classes is None else classes, logits.shape[1])
            scores = class_scores(logits, wanted, fn)
            grads = batched_class_gradients(scores, activation, batched)  # (n, B, D, h, w)
    finally:
        handle.remove()
    weights = grads.mean(dim=(3, 4), keepdim=True)  # (n, B, D, 1, 1)
    cams = (weights * activation.detach().unsqueeze(0)).sum(dim=2).transpose(0, 1)  # (B, n, h, w)
    if relu_attributions:
        cams = F.relu(cams)
    if upsample is not None and cams.shape[-2:] != inputs.shape[-2:]:
        cams = F.interpolate(cams, size=inputs.shape[-2:], mode=upsample,
                             **({} if upsample == "nearest" else {"align_corners": False}))
    return GradCAMResult(cams=cams.detach(), scores=scores.detach(), logits=logits.detach(), classes=wanted)


class AllClassGradCAM:
    """captum-style Grad-CAM for segmentation: ``AllClassGradCAM(model, layer).attribute(inputs, target=...)``.

    Parameters
    ----------
    model: any eval-mode ``nn.Module`` mapping ``(B, C, H, W)`` to logits ``(B, K, H, W)``.
    layer: the module (or its dotted name) whose output is explained; default the last Conv2d
        (the seed's choice: the logits layer).
    score: the scalar target per class (``'softmax_sum'``, the seed's; ``'softmax_mean'``;
        ``'masked_logit'``; or a callable ``(logits, c) -> (B,)``).
    batched: one ``vmap``-ed backward pass for all classes (True) or one per class.
    batch_size: images per forward pass (None: the whole batch at once).

    ``attribute(inputs, target=None)`` returns ``(B, n, H, W)`` maps for the ``n`` classes in
    ``target`` (an int, a list of ints, or None for all ``K``), in that order. Use
    :meth:`attribute_all` for the scores and logits of the same pass.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None,
                 score: str | ScoreFn = "softmax_sum", batched: bool = True, batch_size: int | None = None) -> None:
        self.model = model
        self.layer = last_conv_layer(model) if layer is None else layer
        resolve_layer(model, self.layer)  # fail early on a bad name
        self.score = score
        self.batched = batched
        self.batch_size = batch_size

    def attribute_all(self, inputs: torch.Tensor, target: int | Iterable[int] | None = None,
                      mask: torch.Tensor | None = None, relu_attributions: bool = False,
                      upsample: Literal["nearest", "bilinear"] | None = "nearest") -> GradCAMResult:
        """CAMs, scores and logits (see :func:`gradcam_all_classes`), ``batch_size`` images per pass."""
        classes = [target] if isinstance(target, int) else (None if target is None else list(target))
        step = self.batch_size or max(len(inputs), 1)
        parts = [
            gradcam_all_classes(self.model, self.layer, inputs[i:i + step], classes, self.score,
                                None if mask is None else mask[i:i + step], relu_attributions, upsample, self.batched)
            for i in range(0, max(len(inputs), 1), step)
        ]
        if len(parts) == 1:
            return parts[0]
        return GradCAMResult(cams=torch.cat([p.cams for p in parts]), scores=torch.cat([p.scores for p in parts]),
                             logits=torch.cat([p.logits for p in parts]), classes=parts[0].classes)

    def attribute(self, inputs: torch.Tensor, target: int | Iterable[int] | None = None,
                  mask: torch.Tensor | None = None, relu_attributions: bool = False,
                  upsample: Literal["nearest", "bilinear"] | None = "nearest") -> torch.Tensor:
        """Grad-CAM maps ``(B, n, H, W)`` for the classes in ``target`` (None: all classes)."""
        return self.attribute_all(inputs, target, mask, relu_attributions, upsample).cams
