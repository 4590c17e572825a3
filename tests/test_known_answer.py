"""Known-answer benchmark: each synthetic rule's truth is what the code says, and the grades are right."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from eoxai.errors import EoxaiError
from eoxai.split import TRAIN
from eoxai.xai.known_answer import (
    CLASS_NAMES,
    ExplainerSettings,
    Explained,
    KnownAnswerError,
    SyntheticRule,
    Truth,
    evidence_auroc,
    grade,
    permute_bands,
    pointing_game,
    precision_at_k,
    reciprocal_rank,
    run_explainers,
    summarise,
    synthetic_cube,
    top_is_true,
)
from eoxai.xai.synthetic import KnownBandsModel

# --------------------------------------------------------------------------- rules on the real cubes


def _raw(cube, band):
    return cube["image"].sel(band=band).values.astype(np.float64) * float(cube["band_std"].sel(band=band)) + float(
        cube["band_mean"].sel(band=band))


def test_band_rule_is_the_normalised_difference_of_the_named_bands_at_the_training_median(sen1floods11_cube):
    cube = sen1floods11_cube
    rule = SyntheticRule("band_ndwi", "band", bands=("s2.B3", "s2.B8"))
    out = rule.apply(cube)
    g, n = _raw(cube, "s2.B3"), _raw(cube, "s2.B8")
    nd = (g - n) / (g + n)
    ok = cube["valid"].sel(band=["s2.B3", "s2.B8"]).values.all(0) & np.isfinite(nd)
    threshold = np.quantile(nd[ok & (cube["split"].values == TRAIN)], 0.5)
    expected = np.where(ok, nd > threshold, -1)
    np.testing.assert_array_equal(out.label, expected)
    assert out.threshold == pytest.approx(threshold)
    assert out.truth == Truth(("s2.B3", "s2.B8"), "s2", None)
    train = out.label[(cube["split"].values == TRAIN) & (out.label >= 0)]
    assert abs(train.mean() - 0.5) < 0.01  # the median: balanced classes on training pixels


def test_modality_rule_uses_every_band_of_that_modality_only(eolearn_cube):
    cube = eolearn_cube
    rule = SyntheticRule("modality_dem", "modality", modality="dem")
    out = rule.apply(cube)
    assert out.truth.bands == ("dem.elevation",) and out.truth.modality == "dem"
    z = cube["image"].sel(band="dem.elevation").values
    threshold = np.quantile(z[(cube["split"].values == TRAIN) & np.isfinite(z)], 0.5)
    np.testing.assert_array_equal(out.label[np.isfinite(z)], (z > threshold)[np.isfinite(z)])


def test_modality_rule_on_sar_is_the_mean_z_score_of_vv_and_vh(sen1floods11_cube):
    cube = sen1floods11_cube
    out = SyntheticRule("modality_s1", "modality", modality="s1").apply(cube)
    assert out.truth.bands == ("s1.VV", "s1.VH") and out.truth.modality == "s1"
    z = cube["image"].sel(band=["s1.VV", "s1.VH"]).values.mean(0)
    np.testing.assert_allclose(out.index[np.isfinite(out.index)], z[np.isfinite(out.index)], rtol=1e-6)


def test_spatial_rule_marks_the_top_pixels_and_labels_their_neighbourhood(eolearn_cube):
    cube = eolearn_cube
    rule = SyntheticRule("spatial", "spatial", bands=("s2_t1.B11",), quantile=0.9, radius=2)
    out = rule.apply(cube)
    z = cube["image"].sel(band="s2_t1.B11").values.astype(np.float64)
    ok = cube["valid"].sel(band="s2_t1.B11").values.astype(bool) & np.isfinite(z)
    threshold = np.quantile(z[ok & (cube["split"].values == TRAIN)], 0.9)
    marks = ok & (z > threshold)
    np.testing.assert_array_equal(out.truth.evidence, marks)
    near = ndimage.distance_transform_edt(~marks) <= 2
    np.testing.assert_array_equal(out.label, np.where(ok, near, -1))
    assert out.label[marks].min() == 1  # every mark is its own neighbour
    r, c = np.argwhere(marks)[0]
    assert out.label[r, min(c + 2, z.shape[1] - 1)] == 1 or not ok[r, min(c + 2, z.shape[1] - 1)]


def test_rules_read_band_and_modality_names_from_the_cube_and_refuse_what_is_not_there(eolearn_cube):
    with pytest.raises(KnownAnswerError, match="not in the cube"):
        SyntheticRule("x", "band", bands=("s1.VH",)).apply(eolearn_cube)
    with pytest.raises(KnownAnswerError, match="span the modalities"):
        SyntheticRule("x", "band", bands=("s2_t1.B8", "s2_t2.B4")).apply(eolearn_cube)
    with pytest.raises(KnownAnswerError, match="modality"):
        SyntheticRule("x", "modality", modality="s1").apply(eolearn_cube)
    with pytest.raises(KnownAnswerError):
        SyntheticRule("x", "spatial", bands=("s2_t1.B8",), radius=0)
    with pytest.raises(KnownAnswerError, match="unknown rule option"):
        SyntheticRule.from_mapping({"name": "x", "kind": "band", "bands": ["a"], "colour": 1})
    assert issubclass(KnownAnswerError, EoxaiError)


def test_synthetic_cube_replaces_the_real_labels_and_classes(eolearn_cube):
    out = SyntheticRule("band_ndvi", "band", bands=("s2_t2.B8", "s2_t2.B4")).apply(eolearn_cube)
    syn = synthetic_cube(eolearn_cube, out)
    assert list(syn["class"].values) == list(CLASS_NAMES)
    np.testing.assert_array_equal(syn["label"].values, out.label)
    np.testing.assert_array_equal(syn["image"].values, eolearn_cube["image"].values)
    assert syn.attrs["synthetic_rule"] == "band_ndvi"
    assert list(eolearn_cube["class"].values)[0] == "cultivated_land"  # the original is untouched


def test_permute_bands_shuffles_only_the_named_bands_within_each_tile():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    y = permute_bands(x, [0, 2], seed=1)
    assert torch.equal(y[:, 1], x[:, 1])
    assert not torch.equal(y[:, 0], x[:, 0])
    for i in range(2):
        assert torch.equal(y[i, 0].flatten().sort().values, x[i, 0].flatten().sort().values)
        # one permutation shared by the permuted bands: their pairs stay together
        assert torch.equal((y[i, 2] - y[i, 0]), (x[i, 2] - x[i, 0]))


# --------------------------------------------------------------------------- grades against hand values


def test_reciprocal_rank_and_precision_at_k_by_hand():
    names = ["a", "b", "c", "d"]
    scores = [0.1, -0.9, 0.5, 0.2]  # magnitudes rank b, c, d, a
    assert reciprocal_rank(scores, names, ["b"]) == 1.0
    assert reciprocal_rank(scores, names, ["d"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(scores, names, ["a", "c"]) == pytest.approx(1 / 2)
    assert precision_at_k(scores, names, ["b", "c"]) == 1.0
    assert precision_at_k(scores, names, ["b", "a"]) == 0.5
    assert precision_at_k(scores, names, ["a"], k=3) == 0.0
    # a constant score is the chance level, whatever the band order
    assert precision_at_k([1.0] * 4, names, ["a"]) == pytest.approx(0.25)
    assert reciprocal_rank([1.0] * 4, names, ["a"]) == pytest.approx(1 / 2.5)


def test_top_is_true_pointing_and_auroc_by_hand():
    assert top_is_true({"s1": 0.2, "s2": -0.7}, "s2") == 1.0
    assert top_is_true({"s1": 0.2, "s2": 0.1}, "s2") == 0.0
    assert top_is_true({"s1": 0.5, "s2": 0.5}, "s2") == 0.5
    evidence = np.zeros((3, 3), bool)
    evidence[0, 0] = evidence[1, 1] = True
    sal = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.3], [0.0, 0.4, 0.5]])
    assert pointing_game(sal, evidence) == 1.0
    assert pointing_game(-sal.T[::-1], evidence) == 0.0  # the largest |value| now lies at (2, 0): no evidence
    assert evidence_auroc(sal, evidence) == 1.0
    # evidence 0.9 and 0.8 score above all 7 others
    sal2 = sal.copy()
    sal2[1, 1] = 0.35  # now above 0.1, 0, 0.2, 0.3, 0 (5 of 7) and below 0.4, 0.5
    assert evidence_auroc(sal2, evidence) == pytest.approx((7 + 5) / 14)
    assert np.isnan(evidence_auroc(sal, np.zeros((3, 3), bool)))
    assert np.isnan(pointing_game(sal, np.zeros((3, 3), bool)))


def test_grade_and_summarise_rows():
    truth = Truth(("b",), "m2", np.array([[True, False], [False, False]]))
    e = Explained("x", bands=np.array([[0.0, 2.0, 1.0], [3.0, 1.0, 2.0]]),
                  modalities=np.array([[0.1, 0.9], [0.9, 0.1]]), maps=np.array([[[5, 1], [0, 0]], [[0, 1], [0, 0]]]),
                  modality_names=["m1", "m2"])
    table = grade(e, ["a", "b", "c"], truth, evidence=np.stack([truth.evidence] * 2))
    np.testing.assert_allclose(table["band_reciprocal_rank"], [1.0, 1 / 3])
    np.testing.assert_allclose(table["modality_top1"], [1.0, 0.0])
    np.testing.assert_allclose(table["pointing_game"], [1.0, 0.0])
    s = summarise(table.assign(rule="r"), ["rule", "method"])
    row = s[s["grade"] == "band_reciprocal_rank"].iloc[0]
    assert row["mean"] == pytest.approx(2 / 3) and row["n"] == 2 and row["ci_low"] < row["mean"] < row["ci_high"]


# --------------------------------------------------------------------------- exact methods find the known band


class _BandModel(KnownBandsModel):
    """KnownBandsModel with the bottleneck modality occlusion measures."""

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x)


@pytest.fixture(scope="module")
def band_model():
    return _BandModel(8, relevant=[5], n_classes=2, hidden=4, seed=2)


def test_a_model_that_uses_only_band_b_gets_b_ranked_first_by_the_exact_methods(band_model):
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(3, 8, 8, 8, generator=gen)
    names = [f"m{i // 4}.b{i}" for i in range(8)]
    modalities = {"m0": 4, "m1": 4}
    masks = band_model(images).argmax(1)
    settings = ExplainerSettings(gradcam_layers={"head": "head"}, spectral_layer="head", ig_steps=16,
                                 occlusion_window=4, shap_block=4, shap_max_evals=40, replacements=["mean"],
                                 batch_size=64)
    results = {e.method: e for e in run_explainers(band_model, images, masks, names, modalities, settings,
                                                   band_mean=np.zeros(8), band_std=np.ones(8), seed=0)}
    assert set(results) >= {"gradcam_head", "spectral_gradcam_keep", "spectral_gradcam_drop", "integrated_gradients",
                            "occlusion", "shap_partition", "band_shapley_exact", "modality_occlusion_mean", "random"}
    truth = Truth(("m1.b5",), "m1")
    for method in ("band_shapley_exact", "integrated_gradients", "occlusion"):
        table = grade(results[method], names, truth)
        assert (table["band_reciprocal_rank"] == 1.0).all(), method
        assert (table["band_precision_at_k"] == 1.0).all(), method
        assert (table["modality_top1"] == 1.0).all(), method
        # the other bands get exactly nothing from the exact methods
        others = np.delete(results[method].bands, 5, axis=1)
        if method != "integrated_gradients":
            np.testing.assert_allclose(others, 0.0, atol=1e-6)
    assert results["band_shapley_exact"].bands.shape == (3, 8)
    # Grad-CAM gives maps only, modality occlusion modalities only: the grades say so with NaN
    assert grade(results["gradcam_head"], names, truth)["band_reciprocal_rank"].isna().all()
    assert grade(results["modality_occlusion_mean"], names, truth)["band_reciprocal_rank"].isna().all()


def test_random_map_is_near_chance_on_a_known_evidence_mask():
    rng_evidence = np.zeros((16, 16), bool)
    rng_evidence[4:8, 4:8] = True
    e = Explained("random", maps=np.random.default_rng(0).standard_normal((50, 16, 16)))
    table = grade(e, [], Truth((), "m"), evidence=np.stack([rng_evidence] * 50))
    assert abs(table["evidence_auroc"].mean() - 0.5) < 0.05


def test_scorecard_columns_average_the_matching_methods_over_rules():
    import pandas as pd

    from eoxai.xai.known_answer import scorecard_columns

    summary = pd.DataFrame([
        # stack, rule, method, grade, mean
        ("s", "r1", "integrated_gradients", "band_reciprocal_rank", 1.0),
        ("s", "r2", "integrated_gradients", "band_reciprocal_rank", 0.5),
        ("s", "r3", "gradcam_decoder", "evidence_auroc", 0.7),
        ("s", "r3", "gradcam_logits", "evidence_auroc", 0.1),  # another layer than 08b's: not merged
        ("s", "r1", "band_shapley_exact", "modality_top1", 1.0),
        ("s", "r3", "shap_partition", "evidence_auroc", 0.9),
    ], columns=["stack", "synthetic_rule", "method", "grade", "mean"])
    card = pd.DataFrame({"stack": ["s"] * 4, "method": ["gradcam", "ig", "shap", "random"], "deletion_auc": 0.0})
    out = scorecard_columns(card, summary).set_index("method")
    assert out.loc["ig", "known_band_mrr"] == pytest.approx(0.75) and out.loc["ig", "known_rules"] == 2
    assert out.loc["gradcam", "known_evidence_auroc"] == pytest.approx(0.7)
    assert out.loc["shap", "known_modality_top1"] == 1.0 and out.loc["shap", "known_evidence_auroc"] == 0.9
    assert np.isnan(out.loc["gradcam", "known_band_mrr"])
    assert out.loc["random", "known_rules"] == 0 and np.isnan(out.loc["random", "known_evidence_auroc"])
    assert len(out) == 4 and "deletion_auc" in out
    # a profile without notebook 11: the columns are there, every value NaN, no rule graded
    none = scorecard_columns(card, None)
    assert none["known_band_mrr"].isna().all() and (none["known_rules"] == 0).all() and len(none) == 4


def test_maps_false_skips_the_map_only_methods(band_model):
    images = torch.randn(1, 8, 8, 8, generator=torch.Generator().manual_seed(1))
    settings = ExplainerSettings(gradcam_layers={"head": "head"}, spectral_layer="head", ig_steps=4,
                                 occlusion_window=4, shap_block=4, shap_max_evals=40, replacements=["mean"])
    names = [e.method for e in run_explainers(band_model, images, band_model(images).argmax(1),
                                              [f"m{i // 4}.b{i}" for i in range(8)], {"m0": 4, "m1": 4}, settings,
                                              band_mean=np.zeros(8), band_std=np.ones(8), maps=False)]
    assert "gradcam_head" not in names and "shap_partition" not in names
    assert {"integrated_gradients", "occlusion", "band_shapley_exact", "random"} <= set(names)


def test_smoothed_rule_is_the_smoothed_index_of_the_named_bands_only(sen1floods11_cube):
    cube = sen1floods11_cube
    rule = SyntheticRule("band_sar_nd", "band", bands=("s1.VV", "s1.VH"), smooth=2.0)
    out = rule.apply(cube)
    vv, vh = _raw(cube, "s1.VV"), _raw(cube, "s1.VH")
    ok = cube["valid"].sel(band=["s1.VV", "s1.VH"]).values.all(0) & np.isfinite(vv) & np.isfinite(vh) & (vv + vh != 0)
    nd = np.where(ok, (vv - vh) / np.where(ok, vv + vh, 1.0), 0.0)
    smoothed = ndimage.gaussian_filter(nd, 2.0) / ndimage.gaussian_filter(ok.astype(np.float64), 2.0)
    threshold = np.quantile(smoothed[ok & (cube["split"].values == TRAIN)], 0.5)
    np.testing.assert_array_equal(out.label, np.where(ok, smoothed > threshold, -1))
    # the truth is still the named bands: scrambling every other band leaves the labels as they are
    other = cube.copy(deep=True)
    rest = [b for b in map(str, cube["band"].values) if b not in ("s1.VV", "s1.VH")]
    rng = np.random.default_rng(0)
    other["image"].loc[{"band": rest}] = rng.standard_normal(other["image"].sel(band=rest).shape)
    np.testing.assert_array_equal(rule.apply(other).label, out.label)
    with pytest.raises(KnownAnswerError):
        SyntheticRule("bad", "band", bands=("s1.VV",), smooth=-1.0)


def test_learned_rule_needs_accuracy_and_a_loss_when_the_rule_bands_are_permuted():
    import pandas as pd

    from eoxai.xai.known_answer import learned_rule

    models = pd.DataFrame({"synthetic_accuracy": [0.95, 0.95, 0.70],
                           "accuracy_rule_bands_permuted": [0.55, 0.90, 0.50]})
    # learned; accurate but no loss without the rule's bands (a proxy); loss but not accurate
    assert learned_rule(models, min_accuracy=0.8).tolist() == [True, False, False]
