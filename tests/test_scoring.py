"""Evaluating explanations (notebook 08b): deletion/insertion, the randomisation check, agreement, scorecard."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from eoxai.errors import UnknownExplainerError
from eoxai.xai.checks import MaskShapeError, ModelModeError
from eoxai.xai.scoring import (
    METHODS,
    method_settings,
    curve_auc,
    evaluate_explanations,
    explain,
    pairwise_agreement,
    perturbation_curves,
    pixel_order,
    randomize_model,
    rank_similarity,
    sanity_seed,
    scorecard,
)
from eoxai.xai.shap_seg import box_blur
from eoxai.xai.targets import ScalarOutput, predicted_regions, region_mean
from tests.xai_helpers import BandModel, eolearn_groups, eolearn_test_tiles

SMALL = method_settings(gradcam_layer="encoder", ig_steps=8, occlusion_grid=4, shap_grid=4, shap_blur=3,
                       shap_max_evals=40, batch_size=16)


class BandMean(nn.Module):
    """Logits (2 classes) = -/+ band 0 at each pixel: the class-1 score is the mean of band 0."""

    in_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([-x[:, 0], x[:, 0]], dim=1)


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    model = BandModel(4, ["a", "b"], used=range(4), seed=3)
    x = torch.randn(1, 4, 8, 8)
    regions = predicted_regions(model(x))[0]
    return model, x, regions


def test_deletion_curve_equals_quantus_pixel_flipping(toy):
    import quantus  # the reference implementation of pixel flipping (a dev dependency)
    model, x, regions = toy
    forward = ScalarOutput(model, region_mean(regions, "probability")).eval()
    saliency = np.random.default_rng(0).normal(size=(8, 8))
    steps = 8
    curve = perturbation_curves(lambda z: forward(z)[:, 1], x[0], saliency, steps=steps, baseline=0.0)
    metric = quantus.PixelFlipping(features_in_step=4 * 64 // steps, perturb_baseline=0.0, disable_warnings=True,
                                   display_progressbar=False)
    attributions = np.broadcast_to(saliency[None, None], x.shape).copy()  # every band of a pixel together
    reference = metric(model=forward, x_batch=x.numpy(), y_batch=np.array([1]), a_batch=attributions, device="cpu",
                       channel_first=True, softmax=False)
    np.testing.assert_allclose(curve["deletion"].to_numpy()[1:], np.asarray(reference[0]), atol=1e-6)


def test_curves_start_and_end_where_petsiuk_et_al_define_them(toy):
    model, x, regions = toy
    score = lambda z: ScalarOutput(model, region_mean(regions))(z)[:, 0]  # noqa: E731
    curve = perturbation_curves(score, x[0], np.random.default_rng(1).normal(size=(8, 8)), steps=4, baseline=0.5,
                                blur=3)
    with torch.no_grad():
        f_x, f_base = float(score(x)), float(score(torch.full_like(x, 0.5)))
        f_blur = float(score(box_blur(x[0], 3)[None]))
    assert curve["fraction"].tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert curve["deletion"].iloc[0] == pytest.approx(f_x, abs=1e-6)
    assert curve["deletion"].iloc[-1] == pytest.approx(f_base, abs=1e-6)
    assert curve["insertion"].iloc[0] == pytest.approx(f_blur, abs=1e-6)
    assert curve["insertion"].iloc[-1] == pytest.approx(f_x, abs=1e-6)
    assert curve_auc([0, 0.5, 1], [1, 1, 1]) == pytest.approx(1.0)
    assert curve_auc([0, 1], [0, 1]) == pytest.approx(0.5)


def test_deletion_and_insertion_rank_the_true_saliency_first():
    model = BandMean()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    score = lambda z: z[:, 0].mean(dim=(1, 2))  # noqa: E731  (what the model's class-1 region mean is)
    truth = x[0, 0].numpy()  # each pixel's own contribution to the score
    aucs = {}
    for name, sal in {"truth": truth, "random": np.random.default_rng(0).normal(size=(16, 16)),
                      "reversed": -truth}.items():
        c = perturbation_curves(score, x[0], sal, steps=16, baseline=0.0, start=torch.zeros(3, 16, 16))
        aucs[name] = (curve_auc(c["fraction"], c["deletion"]), curve_auc(c["fraction"], c["insertion"]))
    assert aucs["truth"][0] < aucs["random"][0] < aucs["reversed"][0]
    assert aucs["truth"][1] > aucs["random"][1] > aucs["reversed"][1]
    assert model(x).shape == (1, 2, 16, 16)


def test_pixel_order_breaks_ties_at_random_but_reproducibly():
    sal = np.zeros((4, 4))
    sal[0, 0] = 1.0
    a, b = pixel_order(sal, seed=0), pixel_order(sal, seed=1)
    assert a[0] == b[0] == 0
    assert not np.array_equal(a, b) and np.array_equal(a, pixel_order(sal, seed=0))
    with pytest.raises(ValueError, match="NaN or infinite"):
        pixel_order(np.full((2, 2), np.nan))


def test_randomisation_check_detects_a_randomised_model(toy):
    model, x, regions = toy
    groups = {"all": [0, 1, 2, 3]}
    same = copy.deepcopy(model)
    rand = randomize_model(model, seed=0)
    for method in ("ig", "gradcam", "occlusion"):
        trained = explain(method, model, x, 1, regions, groups, SMALL).spatial
        copy_map = explain(method, same, x, 1, regions, groups, SMALL).spatial
        assert rank_similarity(trained, copy_map) == pytest.approx(1.0)
        assert rank_similarity(trained, explain(method, rand, x, 1, regions, groups, SMALL).spatial) < 0.5, method
    # a map that ignores the model, drawn with the same seed for both models, scores 1 by construction ...
    control = explain("random", model, x, 1, regions, groups, SMALL, seed=5).spatial
    assert rank_similarity(control, explain("random", rand, x, 1, regions, groups, SMALL, seed=5).spatial) == (
        pytest.approx(1.0))
    # ... so the check draws it anew for the randomised model; model-dependent methods keep their seed
    assert sanity_seed("ig", 5) == 5 and sanity_seed("random", 5) not in (5, 6)
    assert sanity_seed("random", 5) == sanity_seed("random", 5) != sanity_seed("random", 6)
    redrawn = explain("random", rand, x, 1, regions, groups, SMALL, seed=sanity_seed("random", 5)).spatial
    assert rank_similarity(control, redrawn) < 0.9


def test_randomize_model_redraws_every_parameter_of_the_real_architecture():
    from eoxai.models import build_model

    model = build_model("manet_mit", {"s2_t1": 13, "s2_t2": 13, "dem": 1}, ["a", "b"], "b0").eval()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rand = randomize_model(model, seed=1)
    unchanged = [n for n, p in rand.named_parameters() if p.numel() > 1 and torch.equal(p, before[n])]
    assert unchanged == []
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # the original is untouched
    again = randomize_model(model, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(rand.parameters(), again.parameters(), strict=True))
    assert not rand.training


def test_pairwise_agreement_spearman_and_kendall():
    a = np.arange(10.0)
    out = pairwise_agreement({"a": a, "same": a * 2, "reversed": -a, "flat": np.ones(10)})
    row = out.set_index(["a", "b"])
    assert row.loc[("a", "same"), "spearman"] == pytest.approx(1)
    assert row.loc[("a", "same"), "kendall"] == pytest.approx(1)
    assert row.loc[("a", "reversed"), "spearman"] == pytest.approx(-1)
    assert np.isnan(row.loc[("a", "flat"), "spearman"])
    assert len(out) == 6
    with pytest.raises(ValueError, match="differ in size"):
        pairwise_agreement({"a": a, "b": a[:5]})


def test_explain_rejects_bad_input(toy):
    model, x, regions = toy
    groups = {"all": [0, 1, 2, 3]}
    with pytest.raises(UnknownExplainerError, match="unknown explainer 'lime'; registered: gradcam, "):
        explain("lime", model, x, 0, regions, groups, SMALL)
    with pytest.raises(ValueError, match=r"target class\(es\) \[2\] outside the model's 2 classes"):
        explain("ig", model, x, 2, regions, groups, SMALL)
    with pytest.raises(KeyError, match="layer 'decoder.blocks.2' not found"):
        explain("gradcam", model, x, 0, regions, groups, method_settings())
    with pytest.raises(MaskShapeError):
        explain("ig", model, x, 0, regions[:, :4], groups, SMALL)
    with pytest.raises(ValueError, match=r"one image \(1, C, H, W\)"):
        explain("ig", model, x.repeat(2, 1, 1, 1), 0, regions, groups, SMALL)
    model.train()
    try:
        with pytest.raises(ModelModeError):
            explain("ig", model, x, 0, regions, groups, SMALL)
    finally:
        model.eval()


def test_evaluate_explanations_and_scorecard_on_real_tiles():
    tiles = eolearn_test_tiles()
    groups = eolearn_groups()
    models = {s: BandModel(27, tiles.class_names, used=range(27), seed=s) for s in (0, 1)}
    out = evaluate_explanations(models, 0, tiles.images[:1], groups, band_names=tiles.bands,
                                class_names=tiles.class_names, origins=tiles.origins[:1], settings=SMALL, steps=4, blur=3,
                                seed=0, progress=False)
    assert set(out) == {"curves", "faithfulness", "sanity", "agreement", "stability", "attributions"}
    assert len(out["curves"]) == len(METHODS) * 5 and set(out["faithfulness"]["method"]) == set(METHODS)
    assert set(out["agreement"]["level"]) == {"spatial", "band", "modality"}
    assert len(out["agreement"][out["agreement"]["level"] == "spatial"]) == 6  # 4 methods, pairs
    assert set(out["stability"]["method"]) == {"gradcam", "ig", "occlusion", "shap"}
    bands = out["attributions"][out["attributions"]["level"] == "band"]
    assert set(bands["method"]) == {"ig", "occlusion", "random"} and len(bands) == 3 * 27
    card = scorecard({k: v.assign(stack="eolearn") for k, v in out.items()})
    assert list(card["method"]) == list(METHODS)
    random = card.set_index("method").loc["random"]
    # independent draws for the trained and the randomised model: the chance level, not 1 by design
    # (a 32x32 tile: Spearman of unrelated maps has sd about 1 / 32)
    assert abs(random["randomisation_spearman_abs"]) < 0.15 and pd.isna(random["sanity_passed"])
    assert card.set_index("method").loc["ig", "sanity_passed"]
    assert (card["n_instances"] == 1).all()


def test_scorecard_thresholds_the_randomisation_similarity():
    faith = pd.DataFrame({"method": ["a", "b", "random"], "deletion_auc": [0.2, 0.4, 0.5],
                          "insertion_auc": [0.8, 0.5, 0.5]})
    sanity = pd.DataFrame({"method": ["a", "b", "random"], "spearman_abs": [0.1, 0.9, 0.01],
                           "spearman": [0.0, 0.9, 0.0]})
    agree = pd.DataFrame({"level": ["spatial"], "a": ["a"], "b": ["b"], "spearman": [0.3], "kendall": [0.2]})
    stab = pd.DataFrame(columns=["method", "spearman", "kendall"])
    card = scorecard({"faithfulness": faith, "sanity": sanity, "agreement": agree, "stability": stab}, 0.5)
    row = card.set_index("method")
    assert row.loc["a", "sanity_passed"] and not row.loc["b", "sanity_passed"]
    assert pd.isna(row.loc["random", "sanity_passed"])  # the chance level neither passes nor fails
    assert row.loc["a", "insertion_minus_deletion"] == pytest.approx(0.6)
    assert row.loc["b", "agreement_spearman"] == pytest.approx(0.3)
    assert row["seed_stability_spearman"].isna().all()


def test_scorecard_maps_equal_the_notebooks_maps_on_a_real_tile():
    """08b grades the maps notebooks 04-06 show: the same registry explainer, settings and target
    give the same Grad-CAM (04, 06), IG and occlusion (06) maps, on a shipped eo-learn test tile."""
    from captum.attr import LayerAttribution, LayerGradCam

    from eoxai.xai import attribution, registry
    from eoxai.xai.maps import class_map

    tiles, groups = eolearn_test_tiles(), eolearn_groups()
    model = BandModel(27, tiles.class_names, used=range(27), seed=0)
    x = tiles.images[:1]
    regions = predicted_regions(model(x))[0]
    target = int(regions.flatten(1).sum(1).argmax())
    mods = {g: len(b) for g, b in groups.items()}

    def shown(method):  # the notebooks' call: registry explainer, the profile's settings, the same target
        return registry.get(method)(model, SMALL[method], bands=tiles.bands, class_names=tiles.class_names,
                                    modalities=mods).attribute(x, target, regions=regions)

    cam = shown("gradcam")
    assert cam.dims == ("sample", "class", "y", "x") and cam["class"].item() == tiles.class_names[target]
    notebook_maps = {"gradcam": cam.isel({"class": 0}).isel(sample=0).values,  # 04/06: the class's map
                     "ig": attribution.spatial_map(shown("ig")).isel(sample=0).values,  # 06: summed over bands
                     "occlusion": attribution.spatial_map(shown("occlusion")).isel(sample=0).values}
    for method, expected in notebook_maps.items():
        graded = explain(method, model, x, target, regions, groups, SMALL, seed=0).spatial
        np.testing.assert_array_equal(graded, expected.astype(np.float64), err_msg=method)
    # the graded Grad-CAM is captum's LayerGradCam upsampled with the registry's one default (nearest)
    forward = ScalarOutput(model, region_mean(regions, "probability"))
    ref = LayerAttribution.interpolate(LayerGradCam(forward, model.encoder).attribute(
        x, target=target, relu_attributions=False), tuple(x.shape[-2:]), interpolate_mode=registry.UPSAMPLE)
    np.testing.assert_allclose(notebook_maps["gradcam"], class_map(ref, ["c"]).values[0, 0], rtol=1e-4, atol=1e-6)
