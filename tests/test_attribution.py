"""Occlusion and Integrated Gradients wrappers: completeness, known bands, labelled maps, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eoxai.errors import BandCountError
from eoxai.models import build_model
from eoxai.tiles import TileDataset
from eoxai.xai import attribution
from eoxai.xai.checks import ModelModeError
from eoxai.xai.synthetic import KnownBandsModel

MODALITIES = {"s1": 2, "s2": 13}


@pytest.fixture(scope="module")
def real(sen1floods11_cube):
    ds = TileDataset(sen1floods11_cube, "test", 64)
    return torch.stack([ds[i]["image"][:, :32, :32] for i in range(2)]), ds.bands


@pytest.fixture(scope="module")
def known():
    return KnownBandsModel(15, relevant=[1, 9], n_classes=2)


def test_ig_completeness_on_a_real_model(real):
    """Sum of IG attributions = f(x) - f(baseline) up to the reported convergence delta."""
    x, bands = real
    torch.manual_seed(0)
    model = build_model("manet_mit", MODALITIES, ["not_water", "water"], "b0").double().eval()
    base = torch.linspace(-1, 1, 15, dtype=torch.float64)
    ig = attribution.integrated_gradients(model, x[:1].double(), 1, bands, MODALITIES, baseline=base,
                                          n_steps=32, internal_batch_size=32)
    total = float(ig["attribution"].sum())
    gap = float(ig["output"][0] - ig["output_baseline"][0])
    delta = float(ig["delta"][0])
    assert abs(gap) > 1e-4
    assert total - gap == pytest.approx(delta, abs=1e-9)  # captum's delta is exactly this error
    assert abs(delta) < 0.05 * abs(gap)  # and the path integral has converged
    assert ig["attribution"].dims == ("sample", "band", "y", "x")
    assert list(ig["attribution"]["modality"].values[:3]) == ["s1", "s1", "s2"]


def test_ig_and_occlusion_rank_the_known_bands_first(known, real):
    x, bands = real
    ig = attribution.integrated_gradients(known, x, 1, bands, n_steps=50, internal_batch_size=100)
    occ = attribution.occlusion(known, x, 1, bands, window=(1, 32, 32), strides=(1, 32, 32),
                                perturbations_per_eval=15)
    assert occ.attrs["evaluations_per_sample"] == 16
    for attr in (ig["attribution"], occ):
        totals = attribution.band_totals(attr).groupby("band")["abs_total"].sum().sort_values(ascending=False)
        assert set(totals.index[:2]) == {"s1.VH", "s2.B8"}
        assert totals.iloc[2:].max() < 1e-4 * totals.iloc[1]  # float32 rounding only


def test_seed_occlusion_window_and_per_sample_targets(known, real):
    x, bands = real
    occ = attribution.occlusion(known, x, [0, 1], bands, perturbations_per_eval=64)  # the seed's (3, 15, 15)
    assert occ.shape == (2, 15, 32, 32) and occ.attrs["window"] == [3, 15, 15]
    assert occ.attrs["evaluations_per_sample"] == attribution.occlusion_evaluations((15, 32, 32), (3, 15, 15), (3, 8, 8))
    assert occ.attrs["evaluations_per_sample"] == 5 * 4 * 4 + 1  # captum: ceil((32 - 15) / 8) + 1 = 4 windows per axis
    # the first window of bands (VV, VH, B1) holds VH: its occlusion changes the output, the last one's does not
    vh, b12 = float(abs(occ.sel(band="s1.VH")).sum()), float(abs(occ.sel(band="s2.B12")).sum())
    assert b12 < 1e-4 * vh
    # a window-wise constant map: the classes' mean-softmax scores sum to 1, so the attributions cancel
    both = attribution.occlusion(known, x[:1], 0, bands) + attribution.occlusion(known, x[:1], 1, bands)
    np.testing.assert_allclose(both.values, 0.0, atol=1e-6)


def test_occlusion_evaluations_match_captum(known, real):
    """Count the samples captum actually feeds the model."""
    x, _ = real
    seen = []
    counting = torch.nn.Module()
    counting.forward = lambda inp: (seen.append(len(inp)), known(inp).mean(dim=(2, 3)))[1]
    from captum.attr import Occlusion

    for window, strides in (((3, 15, 15), (3, 8, 8)), ((1, 32, 32), (1, 32, 32)), ((2, 7, 5), (2, 4, 5))):
        seen.clear()
        with torch.no_grad():
            Occlusion(counting).attribute(x[:1], sliding_window_shapes=window, strides=strides, target=0,
                                          perturbations_per_eval=7)
        assert sum(seen) == attribution.occlusion_evaluations((15, 32, 32), window, strides)


def test_spatial_map_and_agreement(known, real):
    x, bands = real
    ig = attribution.integrated_gradients(known, x, 1, bands, n_steps=20)
    occ = attribution.occlusion(known, x, 1, bands)
    maps = {"ig": attribution.spatial_map(ig["attribution"]), "occlusion": attribution.spatial_map(occ)}
    agree = attribution.map_agreement(maps)
    assert len(agree) == 2 and agree["spearman"].between(-1, 1).all()
    same = attribution.map_agreement({"a": maps["ig"], "b": maps["ig"]})
    assert (same["spearman"] > 0.999).all()


def test_bad_inputs(known, real):
    x, bands = real
    with pytest.raises(ValueError, match="outside the model's 2 classes"):
        attribution.occlusion(known, x, 2, bands)
    with pytest.raises(ValueError, match="one per sample"):
        attribution.integrated_gradients(known, x, [0, 1, 1], bands)
    with pytest.raises(BandCountError, match="the model takes 15"):
        attribution.integrated_gradients(known, x[:, :14], 0, bands[:14])
    with pytest.raises(BandCountError, match="baseline has 3 values"):
        attribution.occlusion(known, x, 0, bands, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match=r"expected \(B, 14"):
        attribution.occlusion(known, x, 0, bands[:14])
    known.train()
    try:
        with pytest.raises(ModelModeError):
            attribution.occlusion(known, x, 0, bands)
    finally:
        known.eval()
