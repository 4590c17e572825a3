"""Batch sizes of the explainers from a memory budget, not from a constant.

An explainer's cost is the model evaluations it needs (IG path points, occlusion windows, SHAP
coalitions, perturbed Grad-CAM inputs). Batched, they run faster per evaluation until a batch's
working set outgrows the caches and memory: on a CPU a fixed batch is too small for 32 x 32
tiles and too large for 256 x 256 ones (issue 17: at 256 px an IG batch of 4 beats 16, at 64 px
it loses to it). So the batch is the number of samples whose activations fit a budget in MB:

    batch = clamp(floor(budget / bytes per sample), 1, cap)

- the budget is the profile's ``explainer_memory_mb`` (a number of MB), or, when that is None,
  :func:`default_memory_mb` of the device (CPU: :data:`CPU_DEFAULT_MB`; CUDA: a quarter of the
  device's memory);
- the bytes per sample are measured once per model, tile shape and dtype
  (:func:`sample_bytes`): one sample goes forward with autograd recording, and the tensors
  autograd saves for the backward pass (activations, not parameters) are counted, plus the
  input. That is what a backward pass (IG, Grad-CAM) holds per sample; a forward-only pass
  (occlusion, SHAP) holds less, so the same figure bounds it from above;
- ``cap`` is the caller's upper limit: the evaluations there are to do, or a batch size the
  caller fixed (a profile's ``batch_size``), so batches never grow past what a profile asked for.

Peak memory then stays near the budget whatever the tile, and the cost per evaluation stays
flat as tiles grow (``benchmarks/seed_scale.py`` measures both).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch
from torch import nn

from eoxai.errors import MemoryBudgetError

#: budget on a CPU when the profile gives none: the quick models' profile batches (IG 50, SHAP 64
#: at 64 x 64 px, MiT-b0) fit in it, and at 256 px it leaves the few samples per pass that run fastest
CPU_DEFAULT_MB = 512.0
#: share of a GPU's memory an explainer may use when the profile gives no budget
GPU_SHARE = 0.25

_BYTES: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


def default_memory_mb(device: str | torch.device) -> float:
    """Budget in MB on ``device`` when the profile's ``explainer_memory_mb`` is None.

    CPU (and any device without a memory query): :data:`CPU_DEFAULT_MB`; CUDA: :data:`GPU_SHARE`
    of the device's total memory.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        total = torch.cuda.get_device_properties(dev.index or 0).total_memory
        return GPU_SHARE * total / 2**20
    return CPU_DEFAULT_MB


def memory_budget_mb(device: str | torch.device, explainer_memory_mb: float | None = None) -> float:
    """``explainer_memory_mb`` checked (a number > 0), or the device's default when None."""
    if explainer_memory_mb is None:
        return default_memory_mb(device)
    if isinstance(explainer_memory_mb, bool) or not isinstance(explainer_memory_mb, (int, float)) \
            or not explainer_memory_mb > 0:
        raise MemoryBudgetError(f"explainer_memory_mb must be a number of MB > 0 or None, got {explainer_memory_mb!r}")
    return float(explainer_memory_mb)


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def sample_bytes(model: nn.Module, sample_shape: Sequence[int], dtype: torch.dtype | None = None) -> int:
    """Bytes one input of ``sample_shape`` ``(C, H, W)`` holds in ``model`` during a forward pass
    recorded for backward: the non-parameter tensors autograd saves, plus the input and output.

    Measured once per (model, shape, dtype) on one zero-valued sample (the sizes do not depend
    on the values) and cached while the model lives.
    """
    device, p_dtype = _model_device_dtype(model)
    dtype = dtype or p_dtype
    key = (tuple(int(s) for s in sample_shape), dtype, device.type)
    cache = _BYTES.setdefault(model, {})
    if key in cache:
        return cache[key]
    params = {p.data_ptr() for p in model.parameters()} | {b.data_ptr() for b in model.buffers()}
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.data_ptr()
        if ptr not in params:
            n = t.untyped_storage().nbytes()
            seen[(ptr, n)] = n
        return t

    x = torch.zeros(1, *key[0], dtype=dtype, device=device, requires_grad=True)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
    finally:
        model.train(was_training)
    total = sum(seen.values()) + x.numel() * x.element_size()
    if isinstance(out, torch.Tensor):
        total += out.numel() * out.element_size()
    cache[key] = int(total)
    return cache[key]


def batch_size(
    model: nn.Module,
    sample_shape: Sequence[int],
    memory_mb: float | None = None,
    *,
    cap: int | None = None,
    dtype: torch.dtype | None = None,
) -> int:
    """Samples of ``sample_shape`` ``(C, H, W)`` per model pass so that they fit ``memory_mb``.

    ``memory_mb`` is the profile's ``explainer_memory_mb`` (None: the default of the model's
    device, :func:`default_memory_mb`); the result is at least 1 and at most ``cap`` (None: no cap).
    """
    device, _ = _model_device_dtype(model)
    budget = memory_budget_mb(device, memory_mb) * 2**20
    n = max(1, int(budget // max(1, sample_bytes(model, sample_shape, dtype))))
    return n if cap is None else max(1, min(n, int(cap)))


__all__ = ["CPU_DEFAULT_MB", "GPU_SHARE", "MemoryBudgetError", "batch_size", "default_memory_mb",
           "memory_budget_mb", "sample_bytes"]
