"""Band attributions of a pixel-patch classifier: Integrated Gradients inside a NoiseTunnel.

As in the source paper (Linardi, Dabo & Paris, IGARSS 2025): captum's
:class:`~captum.attr.IntegratedGradients` (Sundararajan, Taly & Yan 2017, *Axiomatic attribution
for deep networks*, ICML) with a zero baseline (the training mean after normalisation), wrapped
in :class:`~captum.attr.NoiseTunnel` with ``smoothgrad_sq``, 10 noisy samples and sigma 0.2
(Smilkov et al. 2017, *SmoothGrad*), target the pixel's reference class; negative values are
clipped and the map is averaged over the patch into one non-negative vector over bands.

The noise is drawn from a generator seeded by ``seed``, so independently trained instances are
explained with the same noisy inputs and their attributions differ only by the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from captum.attr import IntegratedGradients, NoiseTunnel
from torch import nn

from eoxai.errors import ExplainerInputError
from eoxai.xai.checks import check_eval_mode, check_inputs, check_targets


def band_attributions(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int] | np.ndarray | torch.Tensor,
    *,
    nt_samples: int = 10,
    stdevs: float = 0.2,
    n_steps: int = 50,
    nt_type: str = "smoothgrad_sq",
    batch_size: int = 16,
    internal_batch_size: int = 1024,
    seed: int = 0,
) -> np.ndarray:
    """Spectral attribution ``(N, C)`` for ``inputs`` ``(N, C, p, p)`` towards ``targets`` ``(N,)``.

    Computed in chunks of ``batch_size`` pixels (each chunk runs ``batch_size * nt_samples *
    n_steps`` forward/backward passes, at most ``internal_batch_size`` patches at a time). Raises :class:`~eoxai.xai.checks.ModelModeError` if the
    model is training, :class:`~eoxai.errors.BandCountError` if the band count is not the model's
    and :class:`ValueError` for a target outside the model's classes.
    """
    check_eval_mode(model)
    check_inputs(model, inputs)
    n_classes = getattr(model, "n_classes", None)
    t = [int(x) for x in (targets.tolist() if torch.is_tensor(targets) else targets)]
    if n_classes is not None:
        check_targets(t, int(n_classes))
    if len(t) != inputs.shape[0]:
        raise ExplainerInputError(f"{len(t)} targets for {inputs.shape[0]} inputs")
    tunnel = NoiseTunnel(IntegratedGradients(model))
    out = []
    rng_state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))  # NoiseTunnel draws its noise from torch's global generator
    try:
        for b in range(0, inputs.shape[0], batch_size):
            x = inputs[b:b + batch_size]
            attr = tunnel.attribute(
                x, nt_type=nt_type, nt_samples=nt_samples, stdevs=stdevs, target=t[b:b + batch_size],
                baselines=torch.zeros_like(x), n_steps=n_steps,
                internal_batch_size=max(len(x) * nt_samples, internal_batch_size),
            )
            out.append(attr.detach().clamp_min(0).mean(dim=(2, 3)).cpu().numpy())
    finally:
        torch.random.set_rng_state(rng_state)
    return np.concatenate(out) if out else np.empty((0, inputs.shape[1]), np.float32)


def as_spectrum(attributions: np.ndarray, bands: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """Wrap ``(..., C)`` attributions as a DataArray whose last dim is ``band`` with its coordinates.

    ``bands`` is any object with a ``band`` coordinate (and ``wavelength_nm``, ``detector``).
    """
    coords: dict[str, Any] = {"band": bands["band"].values}
    for k in ("wavelength_nm", "fwhm_nm", "detector"):
        if k in bands.coords:
            coords[k] = ("band", bands[k].values)
    dims = tuple(f"dim_{i}" for i in range(attributions.ndim - 1)) + ("band",)
    return xr.DataArray(attributions, dims=dims, coords=coords, name="attribution",
                        attrs={"method": "IntegratedGradients in NoiseTunnel (smoothgrad_sq)",
                               "units": "mean positive attribution over the patch"})
