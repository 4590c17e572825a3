"""Perturbation and path attributions for segmentation models: thin wrappers over captum.

captum's :class:`~captum.attr.Occlusion` (Zeiler & Fergus, ECCV 2014) and
:class:`~captum.attr.IntegratedGradients` (Sundararajan et al., ICML 2017) explain one scalar per
sample. For a segmentation model the scalar is chosen by a ``reduce`` of the logits
(:class:`eoxai.xai.targets.ScalarOutput`; default the spatial mean of the softmax, the forward
Ebrahimi & Kumar used for both), and ``target`` picks the class. The wrappers add the checks
(eval mode, band count, class), batching (``perturbations_per_eval``, ``internal_batch_size``:
the cost is set by the number of model evaluations, so they must run in batches, sized by a
memory budget, :mod:`eoxai.xai.budget`, so that large tiles do not thrash and small ones fill a
pass), and
return :mod:`xarray` maps whose ``band`` coordinate names the bands. The seed's settings are
the defaults: occlusion window ``(3, 15, 15)``, strides ``(3, 8, 8)``, baseline 0; IG 200 steps
from a zero baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import ceil, prod

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from eoxai.errors import BandCountError
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs, check_targets
from eoxai.xai.maps import band_map
from eoxai.xai.targets import ScalarOutput

Reduce = Callable[[torch.Tensor], torch.Tensor]


def _prepare(model: nn.Module, inputs: torch.Tensor, target: int | Sequence[int],
             reduce: Reduce | None) -> tuple[ScalarOutput, int | list[int]]:
    check_eval_mode(model)
    check_inputs(model, inputs)
    forward = ScalarOutput(model, reduce)
    with torch.no_grad():
        k = forward(inputs[:1]).shape[1]
    t = check_targets(target, k)
    if not isinstance(target, int) and len(t) != inputs.shape[0]:
        raise ValueError(f"{len(t)} targets for {inputs.shape[0]} samples: give one class or one per sample")
    return forward, (t[0] if isinstance(target, int) else t)


def _baseline(baseline: float | torch.Tensor, inputs: torch.Tensor) -> float | torch.Tensor:
    """A scalar, or per-band values ``(C,)`` -> ``(1, C, H, W)`` as captum expects."""
    if isinstance(baseline, (int, float)):
        return float(baseline)
    b = torch.as_tensor(baseline, dtype=inputs.dtype, device=inputs.device)
    if b.ndim == 1:
        if b.shape[0] != inputs.shape[1]:
            raise BandCountError(f"baseline has {b.shape[0]} values; inputs have {inputs.shape[1]} bands")
        b = b.view(1, -1, 1, 1).expand(1, *inputs.shape[1:])
    return b


def occlusion_evaluations(shape: Sequence[int], window: Sequence[int], strides: Sequence[int]) -> int:
    """Model evaluations captum's Occlusion needs per sample of ``shape`` ``(C, H, W)``: windows + 1.

    captum places ``ceil((size - window) / stride) + 1`` windows per dimension (the last one may
    stick out past the edge), plus one evaluation of the unoccluded input.
    """
    return prod(ceil((s - w) / st) + 1 for s, w, st in zip(shape, window, strides, strict=True)) + 1


def occlusion_batch(model: nn.Module, inputs: torch.Tensor, window: Sequence[int], strides: Sequence[int],
                    cap: int | None = None, memory_mb: float | None = None) -> int:
    """captum's ``perturbations_per_eval`` for ``inputs`` ``(B, C, H, W)``: windows per pass such
    that ``windows x B`` samples fit ``memory_mb``, at most ``cap`` (None: every window in one pass)."""
    windows = occlusion_evaluations(inputs.shape[1:], window, strides) - 1
    rows = budget_batch_size(model, inputs.shape[1:], memory_mb, dtype=inputs.dtype)
    return max(1, min(rows // max(1, inputs.shape[0]), windows if cap is None else min(int(cap), windows)))


def ig_batch(model: nn.Module, inputs: torch.Tensor, n_steps: int, cap: int | None = None,
             memory_mb: float | None = None) -> int:
    """Path points per IG pass for ``inputs`` ``(B, C, H, W)``: as many as fit ``memory_mb`` (the
    forward and backward of one point, :func:`eoxai.xai.budget.sample_bytes`), at most ``cap``
    (None: all ``n_steps x B`` in one pass)."""
    rows = n_steps * inputs.shape[0]
    return budget_batch_size(model, inputs.shape[1:], memory_mb, cap=rows if cap is None else min(int(cap), rows),
                             dtype=inputs.dtype)


def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int | Sequence[int],
    bands: Sequence[str],
    modalities: Mapping[str, int] | None = None,
    window: Sequence[int] = (3, 15, 15),
    strides: Sequence[int] = (3, 8, 8),
    baseline: float | torch.Tensor = 0.0,
    perturbations_per_eval: int | None = 32,
    reduce: Reduce | None = None,
    memory_mb: float | None = None,
) -> xr.DataArray:
    """captum Occlusion of class ``target``: ``(B, C, H, W)`` -> DataArray ``(sample, band, y, x)``.

    Each window ``(bands, rows, cols)`` is set to ``baseline`` (scalar or ``(C,)``) and the drop
    of the scalar output is spread over the window (averaged where windows overlap). A window
    ``(1, H, W)`` with the same strides occludes one whole band at a time.
    A pass holds ``perturbations_per_eval`` windows x ``B`` samples, fewer if they do not fit
    ``memory_mb`` (:func:`occlusion_batch`; None: the device's default budget).
    """
    from captum.attr import Occlusion

    forward, t = _prepare(model, inputs, target, reduce)
    per_eval = occlusion_batch(model, inputs, window, strides, perturbations_per_eval, memory_mb)
    with torch.no_grad():
        attr = Occlusion(forward).attribute(
            inputs, sliding_window_shapes=tuple(window), strides=tuple(strides),
            baselines=_baseline(baseline, inputs), target=t, perturbations_per_eval=per_eval)
    return band_map(attr, bands, modalities, name="occlusion",
                    attrs={"method": "occlusion", "window": list(window), "strides": list(strides),
                           "evaluations_per_sample": occlusion_evaluations(inputs.shape[1:], window, strides)})


def integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int | Sequence[int],
    bands: Sequence[str],
    modalities: Mapping[str, int] | None = None,
    baseline: float | torch.Tensor = 0.0,
    n_steps: int = 200,
    method: str = "gausslegendre",
    internal_batch_size: int | None = 64,
    reduce: Reduce | None = None,
    memory_mb: float | None = None,
) -> xr.Dataset:
    """captum Integrated Gradients of class ``target`` with its convergence delta.

    ``(B, C, H, W)`` -> Dataset with ``attribution`` ``(sample, band, y, x)``, ``delta``
    ``(sample,)`` = sum of attributions - (f(x) - f(baseline)) (completeness error; captum's
    convergence delta), ``output`` f(x) and ``output_baseline`` f(baseline) ``(sample,)``.
    ``internal_batch_size`` path points (at most; None: all) are evaluated per forward/backward
    pass, fewer if they do not fit ``memory_mb`` (:func:`ig_batch`; None: the device's default
    budget). When fewer points fit than there are samples, the samples go through in groups.
    """
    from captum.attr import IntegratedGradients

    forward, t = _prepare(model, inputs, target, reduce)
    base = _baseline(baseline, inputs)
    rows = ig_batch(model, inputs, n_steps, internal_batch_size, memory_mb)
    group = min(inputs.shape[0], rows)  # captum needs a pass to hold every sample of a call
    ig = IntegratedGradients(forward)
    parts = [
        ig.attribute(inputs[i:i + group], baselines=base, n_steps=n_steps, method=method,
                     target=t if isinstance(t, int) else t[i:i + group],
                     internal_batch_size=rows, return_convergence_delta=True)
        for i in range(0, inputs.shape[0], group)
    ]
    attr = torch.cat([a for a, _ in parts])
    delta = torch.cat([d for _, d in parts])
    idx = torch.as_tensor(t if isinstance(t, list) else [t] * inputs.shape[0], device=inputs.device).view(-1, 1)
    with torch.no_grad():
        out = forward(inputs).gather(1, idx)[:, 0]
        out_base = forward(torch.zeros_like(inputs) + base).gather(1, idx)[:, 0]
    ds = band_map(attr, bands, modalities, name="attribution").to_dataset()
    ds["delta"] = ("sample", delta.detach().cpu().numpy())
    ds["output"] = ("sample", out.cpu().numpy())
    ds["output_baseline"] = ("sample", out_base.cpu().numpy())
    ds.attrs.update({"method": "integrated_gradients", "n_steps": n_steps, "integration": method})
    return ds


def band_totals(attr: xr.DataArray, dims: Sequence[str] = ("y", "x")) -> pd.DataFrame:
    """Per ``(sample, band)``: the signed sum and the sum of absolute values of ``attr`` over ``dims``."""
    return xr.Dataset({"total": attr.sum(tuple(dims)), "abs_total": abs(attr).sum(tuple(dims))}).to_dataframe().reset_index()


def spatial_map(attr: xr.DataArray) -> xr.DataArray:
    """Collapse the ``band`` dimension of a ``(sample, band, y, x)`` attribution by summing it: ``(sample, y, x)``."""
    return attr.sum("band")


def map_agreement(maps: Mapping[str, xr.DataArray]) -> pd.DataFrame:
    """Spearman rank correlation between every pair of ``(sample, y, x)`` maps, per sample.

    Columns ``sample, method_a, method_b, spearman``. Maps must share their sample, y, x sizes.
    """
    from scipy.stats import spearmanr

    names = list(maps)
    rows = []
    first = maps[names[0]]
    for s in range(first.sizes["sample"]):
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                va = np.asarray(maps[a].isel(sample=s)).ravel()
                vb = np.asarray(maps[b].isel(sample=s)).ravel()
                rho = spearmanr(va, vb).statistic if va.std() > 0 and vb.std() > 0 else np.nan
                rows.append({"sample": first["sample"].values[s], "method_a": a, "method_b": b, "spearman": float(rho)})
    return pd.DataFrame(rows)
