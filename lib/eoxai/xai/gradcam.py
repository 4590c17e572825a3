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
backward passes, each recording the whole network for autograd. :class:`AllClassGradCAM` runs
one forward pass for the whole batch in which nothing below the explained layer is recorded
(the layer's output becomes a leaf of the graph, so no gradient can flow into the encoder or
its parameters), computes the shared part of the targets once (one softmax, or one argmax mask,
for all classes), then takes the ``K`` gradients with respect to the layer by the cheapest of
three backward strategies (:data:`STRATEGIES`): ``K`` plain backward passes over the retained
graph (``'loop'``), one ``vmap``-ed backward over the ``K`` one-hot cotangents
(``'vmap'``, ``is_grads_batched``), or ``vmap`` over chunks of classes (``'chunked'``).
``'auto'`` takes ``'loop'`` on the CPU (``benchmarks/seed_scale.py``: within 0.90-1.13 of
``'vmap'`` at K = 2, 5, 9, both layers, MiT-b0 64 px and MiT-b5 256 px, never slower beyond the
noise, and the same choice on every run) and elsewhere times the strategies once per model,
layer and shape (``'probe'``) and keeps the fastest. The maps equal captum's class by class (tested in float64).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from eoxai.errors import ExplainerInputError, LayerError, StrategyError
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs, check_targets, resolve_layer
from eoxai.xai.targets import masked_logit, mean_softmax

ScoreFn = Callable[[torch.Tensor, int], torch.Tensor]
SCORES = ("softmax_sum", "softmax_mean", "masked_logit")
Strategy = Literal["auto", "loop", "vmap", "chunked", "probe"]
#: backward strategies for the ``n`` class gradients (see the module doc)
STRATEGIES = ("auto", "loop", "vmap", "chunked", "probe")


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
    raise ExplainerInputError(f"unknown score {score!r}; use one of {list(SCORES)} or a callable (logits, c) -> (B,)")


def class_scores(logits: torch.Tensor, classes: Sequence[int], score: ScoreFn) -> torch.Tensor:
    """Scores of every class in ``classes``: ``(B, K, H, W)`` logits -> ``(B, len(classes))``."""
    return torch.stack([score(logits, int(c)) for c in classes], dim=1)


def all_class_scores(logits: torch.Tensor, classes: Sequence[int], score: str | ScoreFn,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`class_scores` with the shared work done once: ``(B, K, H, W)`` -> ``(B, len(classes))``.

    The named scores compute one softmax (or one argmax mask) for all classes instead of one per
    class; the values equal :func:`score_function`'s class by class. A callable is called per class.
    """
    idx = torch.as_tensor(list(classes), dtype=torch.long, device=logits.device)
    if score in ("softmax_sum", "softmax_mean"):
        prob = logits.softmax(dim=1).index_select(1, idx)
        return prob.sum(dim=(2, 3)) if score == "softmax_sum" else prob.mean(dim=(2, 3))
    if score == "masked_logit":
        chosen = logits.index_select(1, idx)  # (B, n, H, W)
        if mask is None:  # the pixels predicted as each class: one argmax for all classes
            weight = (logits.argmax(dim=1, keepdim=True) == idx.view(1, -1, 1, 1)).to(logits.dtype)
        else:
            weight = mask.to(logits.dtype).unsqueeze(1)
        return (chosen * weight).sum(dim=(2, 3))
    return class_scores(logits, classes, score_function(score, mask))


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last ``nn.Conv2d`` in ``model.named_modules()`` (the logits layer of smp models)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise LayerError(f"{type(model).__name__} has no Conv2d layer; name the Grad-CAM layer explicitly")
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


def class_gradient_means(scores: torch.Tensor, activation: torch.Tensor, strategy: str = "loop",
                         chunk: int | None = None) -> torch.Tensor:
    """Spatial mean of the gradient of each score column w.r.t. ``activation``: ``(B, n)``,
    ``(B, D, h, w)`` -> ``(n, B, D)`` (the Grad-CAM weights).

    Samples do not interact in an eval-mode model, so the gradient of ``scores[:, j].sum()`` holds
    every sample's own gradient. ``strategy`` ``'loop'``: ``n`` backward passes over the retained
    graph; ``'vmap'``: one backward ``vmap``-ed over the ``n`` one-hot cotangents
    (``is_grads_batched``); ``'chunked'``: ``vmap`` over ``chunk`` classes at a time. An operator
    ``vmap`` cannot batch falls back to the loop, with a warning.
    """
    n = scores.shape[1]
    if strategy not in ("loop", "vmap", "chunked"):
        raise StrategyError(f"unknown backward strategy {strategy!r}; use 'loop', 'vmap' or 'chunked'")
    step = n if strategy == "vmap" else max(1, int(chunk or 1)) if strategy == "chunked" else 1
    if strategy == "chunked" and chunk is not None and chunk < 1:
        raise StrategyError(f"chunk must be >= 1, got {chunk}")
    eye = torch.eye(n, dtype=scores.dtype, device=scores.device)
    out = []
    for start in range(0, n, step):
        stop = min(n, start + step)
        last = stop == n
        if stop - start == 1:
            (g,) = torch.autograd.grad(scores, activation, eye[start].expand_as(scores), retain_graph=not last)
            out.append(g.mean(dim=(2, 3)).unsqueeze(0))
            continue
        cot = eye[start:stop, None, :].expand(stop - start, scores.shape[0], n)
        try:
            (g,) = torch.autograd.grad(scores, activation, cot, retain_graph=not last, is_grads_batched=True)
        except RuntimeError as exc:  # an op without a batching rule: fall back, say so
            warnings.warn(f"batched gradients failed ({exc}); falling back to one backward pass per class",
                          RuntimeWarning, stacklevel=2)
            return torch.cat(out + [class_gradient_means(scores[:, start:], activation, "loop")]) if start else \
                class_gradient_means(scores, activation, "loop")
        out.append(g.mean(dim=(3, 4)))
    return torch.cat(out)


def batched_class_gradients(scores: torch.Tensor, activation: torch.Tensor, batched: bool = True) -> torch.Tensor:
    """Full gradient of each score column w.r.t. ``activation``: ``(B, n)``, ``(B, D, h, w)`` -> ``(n, B, D, h, w)``.

    One ``vmap``-ed backward (``batched``) or ``n`` plain ones; kept for callers that need the
    gradient fields themselves (Grad-CAM needs only their means: :func:`class_gradient_means`).
    """
    n = scores.shape[1]
    eye = torch.eye(n, dtype=scores.dtype, device=scores.device)
    cotangents = eye[:, None, :].expand(n, scores.shape[0], n)
    if batched:
        try:
            (grads,) = torch.autograd.grad(scores, activation, cotangents, retain_graph=True, is_grads_batched=True)
            return grads
        except RuntimeError as exc:
            warnings.warn(f"batched gradients failed ({exc}); falling back to one backward pass per class",
                          RuntimeWarning, stacklevel=2)
    return torch.stack([
        torch.autograd.grad(scores, activation, cotangents[j], retain_graph=True)[0] for j in range(n)
    ])


def _forward_from_layer(model: nn.Module, module: nn.Module, layer: str | nn.Module,
                        inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the layer's output, with autograd recording only what lies above the layer.

    The forward pass starts without gradients; the layer's forward hook switches them on and
    hands the rest of the network a leaf copy of its output, so nothing below the layer (encoder
    activations, parameters) enters the graph. Call it under ``torch.enable_grad()``: leaving the
    ``no_grad`` block restores that mode for the targets computed from the logits.
    """
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
        if not isinstance(out, torch.Tensor):
            raise LayerError(f"layer {layer!r} returns {type(out).__name__}; Grad-CAM needs a single tensor output")
        torch.set_grad_enabled(True)  # from here on, record (restored when the outer no_grad exits)
        leaf = out.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf.clone()  # a non-leaf, so in-place ops further up (inplace ReLU) stay legal

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = model(inputs)
        if not captured:
            raise LayerError(f"layer {layer!r} was not called in the forward pass; choose a layer on the output path")
        return logits, captured[-1]
    finally:
        handle.remove()


_PROBED: dict[tuple, str] = {}


def _probe(key: tuple, scores: torch.Tensor, activation: torch.Tensor, chunk: int | None) -> str:
    """Time each strategy once on this graph (the last run frees it) and remember the fastest for ``key``."""
    if key in _PROBED:
        return _PROBED[key]
    sync = torch.cuda.synchronize if activation.is_cuda else (lambda: None)
    n = scores.shape[1]
    candidates = ["loop", "vmap"] + (["chunked"] if 1 < (chunk or max(1, n // 2)) < n else [])
    times = {}
    for name in candidates:
        sync()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            eye = torch.eye(n, dtype=scores.dtype, device=scores.device)
            cot = eye[:, None, :].expand(n, scores.shape[0], n)
            try:
                if name == "loop":
                    for j in range(n):
                        torch.autograd.grad(scores, activation, cot[j], retain_graph=True)
                else:
                    step = n if name == "vmap" else (chunk or max(1, n // 2))
                    for s in range(0, n, step):
                        torch.autograd.grad(scores, activation, cot[s:s + step], retain_graph=True,
                                            is_grads_batched=True)
            except RuntimeError:
                continue
        sync()
        times[name] = time.perf_counter() - t0
    _PROBED[key] = min(times, key=times.__getitem__)
    return _PROBED[key]


def resolve_strategy(strategy: str, device: torch.device) -> str:
    """``'auto'`` -> ``'loop'`` on the CPU, ``'probe'`` elsewhere; other names are checked and kept."""
    if strategy not in STRATEGIES:
        raise StrategyError(f"unknown backward strategy {strategy!r}; use one of {list(STRATEGIES)}")
    if strategy == "auto":
        return "loop" if device.type == "cpu" else "probe"
    return strategy


def gradcam_all_classes(
    model: nn.Module,
    layer: str | nn.Module,
    inputs: torch.Tensor,
    classes: Iterable[int] | None = None,
    score: str | ScoreFn = "softmax_sum",
    mask: torch.Tensor | None = None,
    relu_attributions: bool = False,
    upsample: Literal["nearest", "bilinear"] | None = "nearest",
    strategy: Strategy = "auto",
    chunk: int | None = None,
) -> GradCAMResult:
    """Grad-CAM of every class in ``classes`` (default all) for ``inputs`` ``(B, C, H, W)``, one forward pass.

    ``layer`` is a module of ``model`` or its dotted name (e.g. ``'segmentation_head.0'``, the
    seed's logits layer, or a decoder block); it must be called once per forward pass.
    ``upsample`` resizes the maps to ``(H, W)`` like captum's ``LayerAttribution.interpolate``
    (default ``'nearest'``, as the source paper); None keeps the layer's resolution.
    ``relu_attributions`` as in captum (default False: signed maps). ``strategy`` and ``chunk``
    choose how the ``n`` class gradients are taken (module doc; the maps do not depend on it).
    Raises clear errors for a training-mode model, a wrong band count, an unknown layer or a class
    outside the model's classes.
    """
    check_eval_mode(model)
    check_inputs(model, inputs)
    module = resolve_layer(model, layer)
    if not callable(score) and score not in SCORES:
        score_function(score)  # raises the error naming the valid scores
    how = resolve_strategy(strategy, inputs.device)
    with torch.enable_grad():
        logits, activation = _forward_from_layer(model, module, layer, inputs)
        wanted = check_targets(range(logits.shape[1]) if classes is None else classes, logits.shape[1])
        scores = all_class_scores(logits, wanted, score, mask)
        if how == "probe":
            key = (id(model), id(module), inputs.device.type, tuple(inputs.shape), inputs.dtype, len(wanted), chunk)
            how = _probe(key, scores, activation, chunk)
        weights = class_gradient_means(scores, activation, how, chunk or max(1, len(wanted) // 2))  # (n, B, D)
    act = activation.detach()
    cams = torch.einsum("nbd,bdhw->bnhw", weights, act)
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
        (the source paper's choice: the logits layer).
    score: the scalar target per class (``'softmax_sum'``, the source paper's; ``'softmax_mean'``;
        ``'masked_logit'``; or a callable ``(logits, c) -> (B,)``).
    strategy: how the class gradients are taken: ``'auto'`` (default), ``'loop'``, ``'vmap'``,
        ``'chunked'`` (``chunk`` classes per ``vmap``) or ``'probe'`` (time them once, keep the fastest).
    batch_size: images per forward pass at most (None: the whole batch at once).
    memory_mb: if given (the profile's ``explainer_memory_mb``), fewer images per pass when
        ``batch_size`` of them do not fit it (:func:`eoxai.xai.budget.batch_size`). None keeps
        ``batch_size``: Grad-CAM records only the layers above the explained one, so the budget's
        per-sample figure (the whole network recorded) would make its batches needlessly small.

    ``attribute(inputs, target=None)`` returns ``(B, n, H, W)`` maps for the ``n`` classes in
    ``target`` (an int, a list of ints, or None for all ``K``), in that order. Use
    :meth:`attribute_all` for the scores and logits of the same pass.
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None,
                 score: str | ScoreFn = "softmax_sum", strategy: Strategy = "auto",
                 batch_size: int | None = None, chunk: int | None = None, memory_mb: float | None = None) -> None:
        self.model = model
        self.layer = last_conv_layer(model) if layer is None else layer
        resolve_layer(model, self.layer)  # fail early on a bad name
        resolve_strategy(strategy, torch.device("cpu"))  # and on a bad strategy
        self.score = score
        self.strategy = strategy
        self.batch_size = batch_size
        self.chunk = chunk
        self.memory_mb = memory_mb

    def attribute_all(self, inputs: torch.Tensor, target: int | Iterable[int] | None = None,
                      mask: torch.Tensor | None = None, relu_attributions: bool = False,
                      upsample: Literal["nearest", "bilinear"] | None = "nearest") -> GradCAMResult:
        """CAMs, scores and logits (see :func:`gradcam_all_classes`), ``batch_size`` images per pass."""
        classes = [target] if isinstance(target, int) else (None if target is None else list(target))
        check_eval_mode(self.model)
        check_inputs(self.model, inputs)  # before the budget's probe runs the model
        step = self.batch_size or max(len(inputs), 1)
        if self.memory_mb is not None:  # a profile's budget limits the batch further
            step = budget_batch_size(self.model, inputs.shape[1:], self.memory_mb, cap=step, dtype=inputs.dtype)
        parts = [
            gradcam_all_classes(self.model, self.layer, inputs[i:i + step], classes, self.score,
                                None if mask is None else mask[i:i + step], relu_attributions, upsample,
                                self.strategy, self.chunk)
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
