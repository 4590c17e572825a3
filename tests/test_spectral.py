"""Spectral-Grad-CAM: batched over bands, both perturbations, and it finds the bands a model uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eoxai.errors import BandCountError
from eoxai.tiles import TileDataset
from eoxai.xai import spectral
from eoxai.xai.checks import ModelModeError
from eoxai.xai.gradcam import AllClassGradCAM
from eoxai.xai.synthetic import KnownBandsModel

MODALITIES = {"s1": 2, "s2": 13}


@pytest.fixture(scope="module")
def real(sen1floods11_cube):
    ds = TileDataset(sen1floods11_cube, "test", 64)
    x = torch.stack([ds[i]["image"] for i in range(3)])
    return x, ds.bands


@pytest.fixture(scope="module")
def known():
    # VH (index 1) and B8 (index 9) drive the output; VH more strongly
    return KnownBandsModel(15, relevant=[1, 9], n_classes=3)


def test_groups_bands_and_modalities(real):
    _, bands = real
    groups = spectral.band_groups(bands, MODALITIES)
    assert groups["s1.VV"] == [0] and groups["s1"] == [0, 1] and groups["s2"] == list(range(2, 15))
    assert len(groups) == 17
    kinds = spectral.group_kinds({**groups, "VV only": [0]}, bands)
    assert kinds["s1.VV"] == "band" and kinds["s1"] == "modality" and kinds["VV only"] == "modality"
    with pytest.raises(BandCountError):
        spectral.band_groups(bands, {"s1": 2, "s2": 12})


def test_perturbations_and_baselines():
    x = torch.arange(2 * 3 * 1 * 1, dtype=torch.float32).view(2, 3, 1, 1) + 1
    keep = spectral.perturb(x, [1], "keep", torch.tensor([-1.0, -2.0, -3.0]))
    drop = spectral.perturb(x, [1], "drop", 0.0)
    assert keep[0, :, 0, 0].tolist() == [-1.0, 2.0, -3.0]
    assert drop[1, :, 0, 0].tolist() == [4.0, 0.0, 6.0]
    b = spectral.baseline_values([10.0, 0.5], [2.0, 0.25], "zero")
    assert b.tolist() == [-5.0, -2.0]
    assert spectral.baseline_values([10.0, 0.5], [2.0, 0.25], "mean").tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="unknown perturbation"):
        spectral.perturb(x, [0], "swap")


@pytest.mark.parametrize("mode", ["keep", "drop"])
@pytest.mark.parametrize("layer", ["mix", "head"])
def test_known_bands_rank_first(known, real, mode, layer):
    x, bands = real
    groups = spectral.band_groups(bands, MODALITIES)
    ds = spectral.SpectralGradCAM(known, layer, batch_size=16).attribute(x, groups, mode=mode, baseline=0.0)
    table = spectral.rank_groups(spectral.spectral_table(ds))
    for cls, t in table[table.kind == "band"].groupby("class"):
        top = t.sort_values("rank")["group"].tolist()[:2]
        assert set(top) == {"s1.VH", "s2.B8"}, (cls, top)
        others = t[~t.group.isin(top)]
        assert others["cam_effect"].abs().max() < 1e-6  # bands the model never reads change nothing
        assert others["score_effect"].abs().max() < 1e-3


def test_batched_result_equals_one_band_at_a_time(known, real):
    """Each group's maps equal plain all-class Grad-CAM of the perturbed input (no mix-up in batching)."""
    x, bands = real
    groups = spectral.band_groups(bands[:4], None)
    ds = spectral.SpectralGradCAM(known, "mix", batch_size=5).attribute(x, groups, mode="keep", baseline=0.5)
    gc = AllClassGradCAM(known, "mix")
    for name, idx in groups.items():
        expected = gc.attribute(spectral.perturb(x, idx, "keep", 0.5)).numpy()
        np.testing.assert_allclose(ds["cam"].sel(group=name).values, expected, atol=1e-6)
    np.testing.assert_allclose(ds["cam_input"].values, gc.attribute(x).numpy(), atol=1e-6)
    assert ds["cam"].dims == ("group", "sample", "class", "y", "x")


def test_violin_values_are_clipped(known, real):
    x, bands = real
    ds = spectral.SpectralGradCAM(known, "mix", class_names=["u", "v", "w"]).attribute(
        x, spectral.band_groups(bands, None), mode="keep")
    df = spectral.violin_values(ds, "v", max_pixels=100, seed=1)
    assert len(df) == 15 * 100 and df["value"].between(-1, 1).all()
    assert df.groupby("group")["value"].apply(lambda v: v.abs().max()).loc["s1.VH"] > 0


def test_bad_inputs(known, real):
    x, bands = real
    sg = spectral.SpectralGradCAM(known, "mix")
    with pytest.raises(BandCountError, match="outside"):
        sg.attribute(x, {"bad": [15]})
    with pytest.raises(BandCountError, match="baseline has"):
        sg.attribute(x, {"VV": [0]}, baseline=torch.zeros(3))
    with pytest.raises(BandCountError, match="bands; the model takes 15"):
        sg.attribute(x[:, :3], {"VV": [0]})
    with pytest.raises(ValueError, match="outside the model's 3 classes"):
        sg.attribute(x, {"VV": [0]}, target=[5])
    with pytest.raises(KeyError, match="not found"):
        spectral.SpectralGradCAM(known, "conv9")
    known.train()
    try:
        with pytest.raises(ModelModeError):
            sg.attribute(x, {"VV": [0]})
    finally:
        known.eval()
