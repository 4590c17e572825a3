"""The explainer registry (eoxai.xai.registry): names, settings types and labelled outputs of every method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from captum.attr import FeatureAblation

from eoxai.errors import ExplainerInputError, UnknownExplainerError
from eoxai.xai import registry
from eoxai.xai.methods import GradCAMSettings, SpectralSettings
from eoxai.xai.targets import ScalarOutput, predicted_regions, region_mean
from tests.xai_helpers import BandModel

BANDS = ["s1.vv", "s1.vh", "s2.b04", "s2.b08"]
MODALITIES = {"s1": 2, "s2": 2}
CLASSES = ["water", "land"]
#: settings that keep every method small on an 8 x 8 input
SMALL = {"gradcam": {"layer": "encoder"}, "interclass": {"layer": "encoder"}, "spectral_keep": {"layer": "encoder"},
         "spectral_loo": {"layer": "encoder"}, "ig": {"steps": 4}, "occlusion": {"grid": 4},
         "shap": {"grid": 2, "blur": 3, "max_evals": 20}, "scene_shap": {"max_evals": 20, "blur": (3, 3)}}
#: methods for scene classifiers ((B, C, H, W) -> logits (B, K)); the others explain segmentation models
SCENE = {"scene_shap"}


class SyntheticSceneModel(torch.nn.Module):
    """A scene classifier for shapes: BandModel's logits averaged over the pixels, ``(B, K)``."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = BandModel(4, CLASSES, used=range(4), seed=2)
        self.class_names = CLASSES
        self.in_channels = 4
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).mean(dim=(2, 3))


class SyntheticInfluenceModel(BandModel):
    """BandModel with a synthetic influence head: modality ``i``'s score is the sigmoid of the mean of
    its first band (Ekim & Schmitt's head is learned; this one is hand-built for the shapes)."""

    modality_names = list(MODALITIES)

    def influence(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x[:, [0, 2]].mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def toy():
    model = SyntheticInfluenceModel(4, CLASSES, used=range(4), seed=3)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    return model, x


def test_unknown_name_is_a_clear_error_listing_the_registered_names():
    with pytest.raises(UnknownExplainerError) as err:
        registry.get("lime")
    assert "unknown explainer 'lime'" in str(err.value)
    for name in registry.names():
        assert name in str(err.value)
    with pytest.raises(UnknownExplainerError, match="'lrp'"):
        registry.check_names(["gradcam", "lrp"])


def test_the_issue_methods_are_registered_once_each():
    names = registry.names()
    assert len(names) == len(set(names))
    assert {"gradcam", "interclass", "spectral_keep", "spectral_loo", "ig", "occlusion", "shap",
            "modality_occlusion", "influence", "random"} <= set(names)
    with pytest.raises(ExplainerInputError, match="already registered"):
        registry.register(registry.get("ig"))


@pytest.mark.parametrize("name", registry.names())
def test_every_method_returns_a_labelled_dataarray_with_its_declared_dims(toy, name):
    model, x = toy
    cls = registry.get(name)
    assert cls.name == name and cls.dims
    if name in SCENE:
        model = SyntheticSceneModel()
    explainer = cls(model, bands=BANDS, class_names=CLASSES, modalities=MODALITIES, **SMALL.get(name, {}))
    regions = None if name in SCENE else predicted_regions(model(x[:1]))[0]
    out = explainer.attribute(x[:1], 1, regions=regions, seed=0)
    assert isinstance(out, xr.DataArray)
    assert out.dims == cls.dims
    assert np.isfinite(np.asarray(out.values, dtype=np.float64)).all()
    if "band" in out.dims:
        assert list(out["band"].values) == BANDS
    if "class" in out.dims:
        assert list(out["class"].values) == ["land"]
    if "modality" in out.dims:
        assert list(out["modality"].values) == list(MODALITIES)
    if "y" in out.dims:
        assert (out.sizes["y"], out.sizes["x"]) == (8, 8)


def test_settings_are_frozen_typed_and_checked(toy):
    model, _ = toy
    with pytest.raises(ExplainerInputError, match=r"no setting\(s\) \['n_steps'\].*'steps'"):
        registry.get("ig")(model, n_steps=4)
    with pytest.raises(ExplainerInputError, match="takes IGSettings"):
        registry.get("ig")(model, GradCAMSettings())
    settings = registry.get("ig")(model, steps=7).settings
    assert settings.steps == 7
    with pytest.raises(AttributeError):
        settings.steps = 8  # type: ignore[misc]
    # a profile section holds several methods' keys: each method keeps its own
    assert registry.settings_of("occlusion", {"grid": 4, "steps": 9}).grid == 4


def test_one_upsampling_default_everywhere():
    assert registry.UPSAMPLE in ("nearest", "bilinear")
    assert GradCAMSettings().upsample == SpectralSettings().upsample == registry.UPSAMPLE


def test_upsampling_is_an_explicit_setting(toy):
    from torch import nn

    class Coarse(nn.Module):  # logits at half resolution, upsampled: the CAM layer is coarser than the input
        def __init__(self):
            super().__init__()
            self.inner = BandModel(4, CLASSES, used=range(4), seed=1)
            self.pool = nn.AvgPool2d(2)

        def forward(self, x):
            return nn.functional.interpolate(self.inner.head(self.pool(self.inner.bottleneck(x))), scale_factor=2)

    model, x = Coarse().eval(), toy[1]
    near = registry.get("gradcam")(model, layer="inner.head", upsample="nearest").attribute(x, 1)
    bil = registry.get("gradcam")(model, layer="inner.head", upsample="bilinear").attribute(x, 1)
    assert near.shape == bil.shape == (2, 1, 8, 8)
    assert np.array_equal(near.values[..., ::2, ::2], near.values[..., 1::2, 1::2])  # 2 x 2 blocks
    assert not np.allclose(near.values, bil.values)


def test_modality_occlusion_at_the_mean_is_captums_feature_ablation(toy):
    model, x = toy
    regions = predicted_regions(model(x[:1]))[0]
    out = registry.get("modality_occlusion")(model, modalities=MODALITIES).attribute(x[:1], 1, regions=regions)
    forward = ScalarOutput(model, region_mean(regions, registry.KIND))
    mask = torch.tensor([0, 0, 1, 1]).view(1, 4, 1, 1).expand(1, 4, 8, 8)
    ref = FeatureAblation(forward).attribute(x[:1], baselines=0.0, target=1, feature_mask=mask)[0, [0, 2], 0, 0]
    np.testing.assert_allclose(out.values[0], ref.double().numpy(), rtol=1e-5, atol=1e-7)


def test_the_influence_head_is_read_as_one_minus_its_score(toy):
    model, x = toy
    out = registry.get("influence")(model).attribute(x)
    np.testing.assert_allclose(out.values, 1 - model.influence(x).numpy(), rtol=1e-6)
    with pytest.raises(ExplainerInputError, match="no influence head"):
        registry.get("influence")(BandModel(4, CLASSES, used=[0])).attribute(x)


def test_the_random_map_ignores_the_model_and_follows_the_seed(toy):
    model, x = toy
    a = registry.get("random")(model).attribute(x, 0, seed=3)
    b = registry.get("random")(BandModel(4, CLASSES, used=[1])).attribute(x, 1, seed=3)
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values[0], a.values[1])


def test_profiles_name_scorecard_methods_by_registry_name():
    from pathlib import Path

    from eoxai.config import merge_profile, validate_profile
    from eoxai.errors import ConfigError

    config = Path(__file__).resolve().parents[1] / "config"
    for profile in ("smoke", "quick", "paper"):
        raw = merge_profile(config / f"{profile}.yaml", config)
        validate_profile(raw)
        assert set(raw["notebooks"]["08b_explanation_scorecard"]["methods"]) <= set(registry.names())
    raw["notebooks"]["08b_explanation_scorecard"]["methods"] = ["gradcam", "lime"]
    with pytest.raises(ConfigError, match="unknown explainer 'lime'; registered: gradcam, "):
        validate_profile(raw)
