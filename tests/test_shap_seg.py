"""SHAP for segmentation (notebook 07): exact band-group SHAP, partition SHAP, the masker, bad input."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
import scipy.cluster.hierarchy as sch
import torch
from captum.attr import ShapleyValues

from eoxai.xai.checks import MaskShapeError, ModelModeError
from eoxai.xai.shap_seg import (
    BlurMasker,
    MaxEvalsError,
    band_group_shap,
    band_group_table,
    coalitions,
    explain_partition,
    grid_partition_tree,
    min_evals,
    partition_table,
    shapley_matrix,
    largest_region_classes,
)
from eoxai.xai.targets import ScalarOutput, predicted_regions, region_mean
from tests.xai_helpers import BandModel, eolearn_groups, eolearn_test_tiles

GROUPS = {"a": [0, 1], "b": [2], "c": [3, 4]}


@pytest.fixture(scope="module")
def tiny():
    """A 5-band, 3-class model in float64 on which every band group matters, and one random image."""
    torch.manual_seed(0)
    model = BandModel(5, ["x", "y", "z"], used=range(5), seed=1).double()
    image = torch.randn(1, 5, 8, 8, dtype=torch.float64)
    return model, image


def brute_force_shapley(value, n: int) -> np.ndarray:
    """Shapley values from their definition: the mean marginal contribution over all n! orders."""
    phi = np.zeros(n)
    orders = list(permutations(range(n)))
    for order in orders:
        members: set[int] = set()
        for p in order:
            before = value(frozenset(members))
            members.add(p)
            phi[p] += value(frozenset(members)) - before
    return phi / len(orders)


def test_exact_band_group_shap_equals_brute_force_shapley(tiny):
    model, image = tiny
    regions = predicted_regions(model(image))
    result = band_group_shap(model, image, GROUPS, regions=regions, class_names=["x", "y", "z"])
    names = list(GROUPS)

    def value(coalition: frozenset, k: int) -> float:
        x = torch.zeros_like(image)  # absent groups at the baseline 0
        for i in coalition:
            x[:, GROUPS[names[i]]] = image[:, GROUPS[names[i]]]
        with torch.no_grad():
            return float(region_mean(regions[0])(model(x))[0, k])

    for k, cls in enumerate(["x", "y", "z"]):
        expected = brute_force_shapley(lambda s, k=k: value(s, k), len(names))
        got = result["shap"].sel(sample=0, **{"class": cls}).values
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
        assert np.abs(expected).min() > 1e-6  # every group matters: the check is not vacuous


def test_exact_band_group_shap_matches_captum_shapley_values(tiny):
    model, image = tiny
    regions = predicted_regions(model(image))
    result = band_group_shap(model, image, GROUPS, regions=regions)
    mask = torch.zeros(1, 5, 1, 1, dtype=torch.long)
    for i, bands in enumerate(GROUPS.values()):
        mask[0, bands] = i
    forward = ScalarOutput(model, region_mean(regions[0]))
    for k in range(3):
        ref = ShapleyValues(forward).attribute(image, baselines=0.0, target=k,
                                               feature_mask=mask.expand(1, 5, 8, 8).contiguous())
        expected = [float(ref[0, bands[0], 0, 0]) for bands in GROUPS.values()]
        np.testing.assert_allclose(result["shap"].isel(sample=0, **{"class": k}).values, expected, atol=1e-10)


def test_band_group_shap_sums_to_f_x_minus_f_baseline(tiny):
    model, image = tiny
    result = band_group_shap(model, image, GROUPS, baseline=0.3)
    with torch.no_grad():
        regions = predicted_regions(model(image))
        f_x = region_mean(regions[0])(model(image))[0].numpy()
        f_b = region_mean(regions[0])(model(torch.full_like(image, 0.3)))[0].numpy()
    total = result["shap"].sum("group").isel(sample=0).values
    np.testing.assert_allclose(total, f_x - f_b, atol=1e-10)
    np.testing.assert_allclose(result["score"].isel(sample=0).values, f_x, atol=1e-10)
    # leave-one-out and keep-one are read off the same coalition table
    loo = result["leave_one_out"].isel(sample=0, **{"class": 0}).values
    assert loo.shape == (3,) and np.all(np.isfinite(loo))


def test_shapley_matrix_is_the_shapley_value_of_any_game():
    rng = np.random.default_rng(0)
    n = 4
    v = rng.normal(size=2**n)
    v[0] = 0.0
    members = coalitions(n)
    index = {frozenset(np.flatnonzero(row)): j for j, row in enumerate(members)}
    expected = brute_force_shapley(lambda s: v[index[frozenset(s)]], n)
    np.testing.assert_allclose(shapley_matrix(n) @ v, expected, atol=1e-12)
    assert members[0].sum() == 0 and members[-1].all()


def test_partition_shap_sums_to_f_x_minus_f_blurred_on_real_tiles():
    tiles = eolearn_test_tiles()
    torch.manual_seed(0)
    from eoxai.models import build_model

    model = build_model("manet_mit", {"s2_t1": 13, "s2_t2": 13, "dem": 1}, tiles.class_names, "b0").eval()
    result = explain_partition(model, tiles.images, top_k=2, class_names=tiles.class_names, block=8, blur=5,
                               max_evals=min_evals(16) + 8, batch_size=16, seed=0, progress=False)
    explained = np.isfinite(result["shap"].values).all(axis=(2, 3))
    assert explained.sum(axis=1).tolist() == [2, 2]  # top-2 classes of each tile
    totals = result["shap"].sum(("y", "x")).values[explained]
    gap = (result["score"] - result["base_value"]).values[explained]
    np.testing.assert_allclose(totals, gap, atol=1e-5)
    # the base value is the model on the blurred tile, scored over the same region
    masker = BlurMasker(32, 32, 27, block=8, blur=5)
    blurred = torch.from_numpy(masker.background(tiles.images[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)
    k = int(np.flatnonzero(explained[0])[0])
    with torch.no_grad():
        f_blur = region_mean(torch.from_numpy(result["region"].values[0]))(model(blurred[None]))[0, k]
    assert float(result["base_value"][0, k]) == pytest.approx(float(f_blur), abs=1e-5)
    table = partition_table(result, tiles.origins)
    assert len(table) == 4 and (table["evaluations"] <= min_evals(16) + 8).all()
    np.testing.assert_allclose(table["shap_sum"], table["score"] - table["base_value"], atol=1e-5)


def test_partition_shap_is_reproducible_with_a_seed(tiny):
    model, image = tiny
    a = explain_partition(model, image, top_k=1, block=2, max_evals=60, seed=4, progress=False)
    b = explain_partition(model, image, top_k=1, block=2, max_evals=60, seed=4, progress=False)
    np.testing.assert_array_equal(a["shap"].values, b["shap"].values)


def test_blur_masker_keeps_shown_blocks_and_blurs_hidden_ones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8, 30)).astype(np.float32)  # more bands than OpenCV's blur takes
    masker = BlurMasker(8, 8, 30, block=4, blur=3)
    assert masker.n_features == 4 and masker.clustering.shape == (3, 4)
    blurred = masker.background(x)
    (all_on,) = masker(np.ones(4, dtype=bool), x)
    (all_off,) = masker(np.zeros(4, dtype=bool), x)
    np.testing.assert_array_equal(all_on[0], x)
    np.testing.assert_array_equal(all_off[0], blurred)
    (one,) = masker(np.array([False, True, False, False]), x)  # block (row 0, col 1) shown
    np.testing.assert_array_equal(one[0, :4, 4:], x[:4, 4:])
    np.testing.assert_array_equal(one[0, 4:, :], blurred[4:, :])
    assert not np.allclose(blurred, x)
    np.testing.assert_allclose(masker.to_pixels(np.arange(4.0)).sum(), 6.0)


def test_grid_partition_tree_is_a_valid_hierarchy_over_all_cells():
    tree = grid_partition_tree(3, 5)
    assert sch.is_valid_linkage(tree)
    assert tree.shape == (14, 4) and tree[-1, 3] == 15
    leaves = sorted(sch.leaves_list(tree))
    assert leaves == list(range(15))


def test_top_classes_orders_by_predicted_area_and_skips_empty():
    regions = torch.zeros(4, 2, 2, dtype=torch.bool)
    regions[2, :, :] = True
    regions[2, 0, 0] = False
    regions[0, 0, 0] = True
    assert largest_region_classes(regions, 3) == [2, 0]


# --------------------------------------------------------------------------- bad input


def test_class_the_model_lacks_is_a_clear_error(tiny):
    model, image = tiny
    with pytest.raises(ValueError, match=r"target class\(es\) \[7\] outside the model's 3 classes"):
        explain_partition(model, image, classes=[7], block=2, max_evals=100, progress=False)


def test_region_mask_of_the_wrong_shape_is_a_clear_error(tiny):
    model, image = tiny
    wrong = torch.ones(1, 3, 6, 6, dtype=torch.bool)
    with pytest.raises(MaskShapeError, match=r"regions has shape \(1, 3, 6, 6\).*expected \(\.\.\., 8, 8\)"):
        explain_partition(model, image, regions=wrong, block=2, max_evals=100, progress=False)
    with pytest.raises(MaskShapeError, match="2 class planes; the model has 3"):
        band_group_shap(model, image, GROUPS, regions=torch.ones(1, 2, 8, 8, dtype=torch.bool))


def test_max_evals_too_small_for_the_features_is_a_clear_error(tiny):
    model, image = tiny
    with pytest.raises(MaxEvalsError, match=r"max_evals=20 is too small for 16 features .*need at least 33"):
        explain_partition(model, image, block=2, max_evals=20, progress=False)
    with pytest.raises(MaxEvalsError, match=r"need all 2\^3 = 8 coalitions"):
        band_group_shap(model, image, GROUPS, max_evals=7)
    many = {f"g{i}": [i % 5] for i in range(13)}
    with pytest.raises(MaxEvalsError, match="limited to 12 players"):
        band_group_shap(model, image, many)


def test_model_in_training_mode_and_bad_band_group_are_errors(tiny):
    model, image = tiny
    model.train()
    try:
        with pytest.raises(ModelModeError):
            band_group_shap(model, image, GROUPS)
    finally:
        model.eval()
    with pytest.raises(ValueError, match=r"band group 'a' has band indices \[0, 9\]"):
        band_group_shap(model, image, {"a": [0, 9], "b": [1]})


def test_band_group_table_on_real_tiles_keeps_predicted_classes_only():
    tiles = eolearn_test_tiles()
    model = BandModel(27, tiles.class_names, used=eolearn_groups()["s2_t2"])
    result = band_group_shap(model, tiles.images, eolearn_groups(), class_names=tiles.class_names)
    table = band_group_table(result, tiles.origins)
    one_by_one = band_group_shap(model, tiles.images, eolearn_groups(), class_names=tiles.class_names, batch_size=8)
    np.testing.assert_allclose(one_by_one["shap"].values, result["shap"].values, atol=1e-6)  # batching is exact
    assert set(table["modality"]) == {"s2_t1", "s2_t2", "dem"}
    assert (table["region_pixels"] > 0).all()
    # the model ignores s2_t1 and dem: their Shapley values are exactly zero
    assert np.allclose(table.loc[table["modality"] != "s2_t2", "shap"], 0.0, atol=1e-6)
    assert (table.loc[table["modality"] == "s2_t2", "shap"].abs() > 0).any()
