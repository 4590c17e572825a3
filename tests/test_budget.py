"""Explainer batch sizes from a memory budget: the arithmetic, the probe, and unchanged results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eoxai.errors import EoxaiError
from eoxai.models import build_model
from eoxai.xai import attribution
from eoxai.xai.budget import (
    CPU_DEFAULT_MB,
    MemoryBudgetError,
    batch_size,
    default_memory_mb,
    memory_budget_mb,
    sample_bytes,
)
from eoxai.xai.shap_seg import band_group_shap, explain_partition
from eoxai.xai.spectral import SpectralGradCAM
from tests.xai_helpers import BandModel

MODALITIES = {"s1": 2, "s2": 13}
BANDS = [f"b{i}" for i in range(15)]


@pytest.fixture(scope="module")
def mit() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("manet_mit", MODALITIES, ["a", "b", "c"], "b0").double().eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 15, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_budget_is_the_profile_value_or_the_device_default():
    assert memory_budget_mb("cpu") == default_memory_mb("cpu") == CPU_DEFAULT_MB
    assert memory_budget_mb("cpu", 256) == 256.0
    for bad in (0, -5, "512", True, float("nan")):
        with pytest.raises(MemoryBudgetError, match="explainer_memory_mb must be a number of MB > 0"):
            memory_budget_mb("cpu", bad)
    assert issubclass(MemoryBudgetError, EoxaiError)


def test_sample_bytes_grow_with_the_tile_and_are_cached(mit):
    small, large = sample_bytes(mit, (15, 32, 32)), sample_bytes(mit, (15, 64, 64))
    assert 3.0 < large / small < 5.0  # activations scale with pixels (4x here), not with the parameters
    assert sample_bytes(mit, (15, 32, 32)) == small  # cached: the same figure without a new probe


def test_batch_is_the_budget_over_the_sample_bytes_within_its_cap(mit):
    per = sample_bytes(mit, (15, 64, 64))
    mb = 10 * per / 2**20
    assert batch_size(mit, (15, 64, 64), mb) == 10
    assert batch_size(mit, (15, 64, 64), mb, cap=4) == 4
    assert batch_size(mit, (15, 64, 64), 1e-3) == 1  # never below one sample
    assert batch_size(mit, (15, 32, 32), mb) > batch_size(mit, (15, 64, 64), mb)  # smaller tiles, larger batches
    assert batch_size(mit, (15, 64, 64), mb) * per <= mb * 2**20  # the pass fits the budget


@pytest.mark.slow
def test_a_tight_budget_gives_the_same_integrated_gradients(mit, images):
    roomy = attribution.integrated_gradients(mit, images, [0, 2], BANDS, n_steps=8, internal_batch_size=None)
    tight = attribution.integrated_gradients(mit, images, [0, 2], BANDS, n_steps=8, internal_batch_size=None,
                                             memory_mb=1.5 * sample_bytes(mit, (15, 32, 32)) / 2**20)
    assert attribution.ig_batch(mit, images, 8, None, 1.5 * sample_bytes(mit, (15, 32, 32)) / 2**20) == 1
    assert float(abs(roomy["attribution"]).max()) > 1e-6
    np.testing.assert_allclose(tight["attribution"].values, roomy["attribution"].values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tight["delta"].values, roomy["delta"].values, atol=1e-9)


def test_a_tight_budget_gives_the_same_occlusion(mit, images):
    kw = {"window": (15, 8, 8), "strides": (15, 8, 8)}
    roomy = attribution.occlusion(mit, images, 1, BANDS, perturbations_per_eval=None, **kw)
    per = sample_bytes(mit, (15, 32, 32)) / 2**20
    assert attribution.occlusion_batch(mit, images, (15, 8, 8), (15, 8, 8), None, 5 * per) == 2  # 5 rows / 2 samples
    assert attribution.occlusion_batch(mit, images, (15, 8, 8), (15, 8, 8), None, 1e4) == 16  # every window
    tight = attribution.occlusion(mit, images, 1, BANDS, perturbations_per_eval=None, memory_mb=5 * per, **kw)
    assert float(abs(roomy).max()) > 1e-6
    np.testing.assert_allclose(tight.values, roomy.values, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_a_tight_budget_leaves_shap_unchanged(images):
    model = BandModel(15, ["a", "b", "c"], used=[0, 3, 7]).double()
    tiny = 3 * sample_bytes(model, (15, 32, 32)) / 2**20
    kw = {"top_k": 2, "block": 8, "blur": 3, "max_evals": 80, "batch_size": 16, "progress": False}
    roomy = explain_partition(model, images, **kw)
    tight = explain_partition(model, images, memory_mb=tiny, **kw)
    assert np.isfinite(roomy["shap"].values).any()
    np.testing.assert_allclose(tight["shap"].values, roomy["shap"].values, rtol=1e-9, atol=1e-12, equal_nan=True)
    groups = {"s1": [0, 1], "s2": list(range(2, 15))}
    exact_roomy = band_group_shap(model, images, groups)
    exact_tight = band_group_shap(model, images, groups, memory_mb=tiny)
    np.testing.assert_allclose(exact_tight["shap"].values, exact_roomy["shap"].values, rtol=1e-9, atol=1e-12)


def test_a_tight_budget_gives_the_same_spectral_gradcam(mit, images):
    groups = {"s1": [0, 1], "s2": list(range(2, 15)), "b3": [3]}
    roomy = SpectralGradCAM(mit, "decoder.blocks.3").attribute(images, groups, mode="drop")
    tight = SpectralGradCAM(mit, "decoder.blocks.3", memory_mb=2 * sample_bytes(mit, (15, 32, 32)) / 2**20)
    ds = tight.attribute(images, groups, mode="drop")
    assert float(abs(roomy["cam"]).max()) > 1e-6
    np.testing.assert_allclose(ds["cam"].values, roomy["cam"].values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ds["score"].values, roomy["score"].values, rtol=1e-9, atol=1e-12)
