"""The patch-size study: patches, splits, models, explanations, metrics, grid and selection."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score

from eoxai.data.enmap import EnMAPPotsdam
from eoxai.errors import BandCountError
from eoxai.hyperspectral.consistency import (
    bootstrap_interval,
    class_balanced_mean,
    concentration,
    js_divergence,
    macro_f1,
    pairwise_js_divergence,
    to_distribution,
    uniformity,
)
from eoxai.hyperspectral.explain import band_attributions
from eoxai.hyperspectral.models import PatchViT, build_patch_model, token_grid
from eoxai.hyperspectral.patches import (
    ClassAbsentError,
    PatchExtractor,
    PatchSizeError,
    Pixels,
    check_classes_present,
    check_patch_size,
    labelled_pixels,
    stratified_subsample,
)
from eoxai.hyperspectral.study import (
    Cell,
    StudyConfig,
    cell_table,
    evaluate_on_test,
    prepare_study,
    run_grid,
    select_patch_size,
    size_table,
    spectrum_table,
)
from eoxai.xai.checks import ModelModeError

DATA = Path(__file__).resolve().parents[1] / "data"
CLASSES = ["roof", "pavement", "low_vegetation", "tree", "soil"]


@pytest.fixture(scope="module")
def tiles():
    return EnMAPPotsdam(DATA).prepare()


# ------------------------------------------------------------------ patches and splits
def test_patch_content_around_known_pixels(tiles):
    image = tiles["image"].values
    ex = PatchExtractor(image, 9)
    t = 3
    px = Pixels(np.array([t, t, t]), np.array([10, 0, 31]), np.array([20, 0, 30]), np.zeros(3, int))
    patches = ex.extract(px, 5).numpy()
    assert patches.shape == (3, 218, 5, 5)
    # interior pixel: the patch is the tile's 5 x 5 window, centred on the pixel
    np.testing.assert_array_equal(patches[0], image[t, :, 8:13, 18:23])
    np.testing.assert_array_equal(patches[0][:, 2, 2], image[t, :, 10, 20])
    # corner pixel (0, 0): two rows and columns of zero padding, then the tile
    assert (patches[1][:, :2, :] == 0).all() and (patches[1][:, :, :2] == 0).all()
    np.testing.assert_array_equal(patches[1][:, 2:, 2:], image[t, :, :3, :3])
    # bottom-edge pixel (31, 30): two padded rows below, one padded column on the right
    assert (patches[2][:, 3:, :] == 0).all() and (patches[2][:, :, 4] == 0).all()
    np.testing.assert_array_equal(patches[2][:, :3, :4], image[t, :, 29:32, 28:32])
    # size 1 is the pixel's spectrum
    np.testing.assert_array_equal(ex.extract(px, 1).numpy()[0, :, 0, 0], image[t, :, 10, 20])


def test_no_spatial_leakage_between_splits(tiles):
    """Every value in a patch comes from a tile of the centre pixel's split (or is padding)."""
    codes = {"train": 1.0, "validation": 2.0, "test": 3.0}
    marker = np.broadcast_to(np.array([codes[s] for s in tiles.split.values], np.float32)[:, None, None, None],
                             (tiles.sizes["tile"], 1, 32, 32))
    ex = PatchExtractor(marker.copy(), 21)
    idx = check_classes_present(tiles, CLASSES, ["train", "validation", "test"])
    for split, code in codes.items():
        px = labelled_pixels(tiles, split, idx)
        assert len(px) > 0
        patches = ex.extract(px, 21).numpy()
        assert set(np.unique(patches)) <= {0.0, code}, split
    # and the pixels of different splits live in different tiles
    tile_sets = [set(labelled_pixels(tiles, s, idx).tile) for s in codes]
    assert all(not (a & b) for a, b in combinations(tile_sets, 2))


@pytest.mark.parametrize("size,match", [(4, "even"), (0, "positive"), (33, "larger than the 32x32"), (2.5, "integer")])
def test_bad_patch_sizes(size, match):
    with pytest.raises(PatchSizeError, match=match):
        check_patch_size(size, (32, 32))


def test_patch_size_beyond_extractor_and_bad_image():
    ex = PatchExtractor(np.zeros((1, 2, 8, 8), np.float32), 3)
    with pytest.raises(PatchSizeError, match="max_size"):
        ex.extract(Pixels(np.array([0]), np.array([1]), np.array([1]), np.array([0])), 5)
    with pytest.raises(ValueError, match="tile, band, y, x"):
        PatchExtractor(np.zeros((2, 8, 8), np.float32), 3)


def test_class_absent_from_a_split(tiles):
    with pytest.raises(ClassAbsentError, match="'water' in test"):
        check_classes_present(tiles, [*CLASSES, "water"], ["train", "validation", "test"])
    with pytest.raises(ClassAbsentError, match="not among"):
        check_classes_present(tiles, ["cloud"], ["train"])
    assert check_classes_present(tiles, CLASSES, ["train", "validation", "test"]) == [0, 1, 2, 3, 4]


def test_stratified_subsample_is_seeded_and_capped(tiles):
    px = labelled_pixels(tiles, "train", [0, 1, 2, 3, 4])
    a = stratified_subsample(px, 50, seed=1)
    b = stratified_subsample(px, 50, seed=1)
    c = stratified_subsample(px, 50, seed=2)
    assert np.bincount(a.label).tolist() == [50, 50, 50, 50, 41]  # soil has 41 training pixels
    np.testing.assert_array_equal(a.row, b.row)
    assert not np.array_equal(a.row, c.row)


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("p", [1, 3, 5, 7, 9, 11, 21])
def test_models_take_any_odd_patch(p):
    x = torch.randn(4, 12, p, p)
    for name in ("cnn2d", "vit"):
        opts = {"widths": (4, 8), "hidden": (8,)} if name == "cnn2d" else {"dim": 8, "depth": 1, "heads": 2, "mlp_dim": 16}
        model = build_patch_model(name, 12, 5, p, seed=0, **opts).eval()
        assert model(x).shape == (4, 5)


def test_vit_centres_the_patch_on_the_token_grid():
    for p in range(1, 23, 2):
        pad, side = token_grid(p)
        assert p + 2 * pad == 3 * side and side % 2 == 1 and 0 <= pad < 3
    # the centre pixel of a 5x5 patch sits at the centre of the centre token (pad 2 -> 9x9, 3x3 tokens)
    vit = PatchViT(2, 3, patch_size=5, n_comps=1, dim=8, depth=1, heads=2, mlp_dim=8)
    with torch.no_grad():
        vit.reduction[0].weight.zero_()
        vit.reduction[0].bias.zero_()
        vit.reduction[0].weight[0, 0] = 1.0
    x = torch.zeros(1, 2, 5, 5)
    x[0, 0, 2, 2] = 1.0
    tokens = vit.tokens(x)[0]  # (9 tokens, 1 * 3 * 3)
    assert tokens.shape == (9, 9)
    assert torch.nonzero(tokens).tolist() == [[4, 4]]  # token 4 (centre), element 4 (its centre)


def test_instances_differ_only_by_seed():
    a = build_patch_model("cnn2d", 10, 3, 5, seed=1, widths=(4,), hidden=(4,))
    b = build_patch_model("cnn2d", 10, 3, 5, seed=1, widths=(4,), hidden=(4,))
    c = build_patch_model("cnn2d", 10, 3, 5, seed=2, widths=(4,), hidden=(4,))
    wa, wb, wc = (m.reduction[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    with pytest.raises(KeyError, match="unknown hyperspectral model"):
        build_patch_model("resnet", 10, 3, 5, seed=0)


# ------------------------------------------------------------------ explanations
def test_band_attributions_shape_sign_and_determinism():
    model = build_patch_model("cnn2d", 6, 3, 3, seed=0, widths=(4,), hidden=(4,)).eval()
    x = torch.randn(5, 6, 3, 3, generator=torch.Generator().manual_seed(0))
    kw = {"nt_samples": 3, "n_steps": 4, "seed": 7}
    a = band_attributions(model, x, [0, 1, 2, 0, 1], **kw)
    b = band_attributions(model, x, [0, 1, 2, 0, 1], **kw)
    c = band_attributions(model, x, [0, 1, 2, 0, 1], **{**kw, "seed": 8})
    assert a.shape == (5, 6) and (a >= 0).all() and a.sum() > 0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_band_attributions_errors():
    model = build_patch_model("cnn2d", 6, 3, 3, seed=0, widths=(4,), hidden=(4,))
    x = torch.randn(2, 6, 3, 3)
    with pytest.raises(ModelModeError):
        band_attributions(model, x, [0, 1])
    model.eval()
    with pytest.raises(BandCountError, match="5 bands; the model takes 6"):
        band_attributions(model, torch.randn(2, 5, 3, 3), [0, 1])
    with pytest.raises(ValueError, match="outside the model's 3 classes"):
        band_attributions(model, x, [0, 3])


# ------------------------------------------------------------------ metrics
def test_uniformity_against_hand_computed_values():
    # one-hot over 4 bands vs uniform U: M = (5/8, 1/8, 1/8, 1/8)
    kl_p = np.log2(1 / (5 / 8))
    kl_u = 0.25 * np.log2(0.25 / (5 / 8)) + 0.75 * np.log2(0.25 / (1 / 8))
    one_hot = 1 - np.sqrt((kl_p + kl_u) / 2)
    # two bands (1/2, 1/2, 0, 0) vs U: M = (3/8, 3/8, 1/8, 1/8)
    kl_p2 = 2 * 0.5 * np.log2(0.5 / (3 / 8))
    kl_u2 = 2 * 0.25 * np.log2(0.25 / (3 / 8)) + 2 * 0.25 * np.log2(0.25 / (1 / 8))
    two_band = 1 - np.sqrt((kl_p2 + kl_u2) / 2)
    got = uniformity(np.array([[3.0, 0, 0, 0], [1.0, 1, 1, 1], [0, 5.0, 0, 5.0], [0, 0, 0, 0]]))
    assert got[0] == pytest.approx(one_hot) == pytest.approx(0.259193, abs=1e-6)
    assert got[1] == 1.0  # uniform: distance exactly 0 (the seed's "most consistent" is the flattest)
    assert got[2] == pytest.approx(two_band) == pytest.approx(0.442077, abs=1e-6)
    assert np.isnan(got[3])
    assert got[1] > got[2] > got[0]  # the flatter, the higher: it is not a concentration
    # the independent check's numbers: one-hot over 12 bands 0.11, over 224 bands 0.01
    assert uniformity(np.eye(12)[0]) == pytest.approx(0.1123, abs=1e-4)
    assert uniformity(np.eye(224)[0]) == pytest.approx(0.0104, abs=1e-4)
    with pytest.raises(ValueError, match="non-negative"):
        to_distribution(np.array([1.0, -1.0]))


def test_concentration_against_hand_computed_values():
    # 1 - H(p) / log2(C): one-hot H = 0; uniform H = log2 C; k equal bands H = log2 k
    got = concentration(np.array([[3.0, 0, 0, 0], [1.0, 1, 1, 1], [0, 5.0, 0, 5.0], [3.0, 1, 0, 0], [0, 0, 0, 0]]))
    entropy_31 = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))  # 0.811278
    assert got[0] == 1.0
    assert got[1] == pytest.approx(0.0, abs=1e-15)
    assert got[2] == pytest.approx(1 - 1 / 2)  # log2(2) / log2(4)
    assert got[3] == pytest.approx(1 - entropy_31 / 2) == pytest.approx(0.594361, abs=1e-6)
    assert np.isnan(got[4])
    assert got[0] > got[3] > got[2] > got[1]  # the fewer bands, the higher
    eight = np.zeros(8)
    eight[[1, 6]] = 2.0
    assert concentration(eight) == pytest.approx(1 - 1 / 3)  # two of 8 bands
    with pytest.raises(BandCountError, match="at least 2 bands"):
        concentration(np.array([[1.0]]))


def test_identical_and_near_uniform_distributions_give_zero_not_nan():
    rng = np.random.default_rng(0)
    p = rng.random((5, 224))
    assert (js_divergence(p, p) == 0.0).all()
    u = np.full(224, 1 / 224)
    near = u * (1 + np.random.default_rng(0).normal(0, 1e-9, 224))
    near /= near.sum()
    # the unclipped divergence of this pair (after the normalisation js_divergence does) is a
    # round-off below 0; scipy's jensenshannon takes its square root: NaN
    from scipy.special import rel_entr
    a, b = near / near.sum(), u / u.sum()
    m = (a + b) / 2
    assert rel_entr(a, m).sum() + rel_entr(b, m).sum() < 0
    assert js_divergence(near, u) == 0.0
    assert uniformity(near) == 1.0 and concentration(near) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(uniformity(np.stack([u, near]))).all()
    # three instances agree exactly on pixels 0 and 1, disagree on pixel 2
    pix = np.stack([p[0], p[1], np.eye(224)[0]])
    attrs = np.stack([pix, pix, np.stack([p[0], p[1], np.eye(224)[1]])])  # (3 instances, 3 pixels, 224)
    js = pairwise_js_divergence(attrs)
    assert js[0] == 0.0 and js[1] == 0.0 and js[2] == pytest.approx(2 / 3)  # pairs: 0, 1, 1
    # class_balanced_mean keeps the consistent pixels: class 0 = pixels {0, 2}, class 1 = pixel {1}
    assert class_balanced_mean(js, np.array([0, 1, 0]), 2) == pytest.approx(((0 + 2 / 3) / 2 + 0) / 2)


def test_js_divergence_and_pairwise_consistency_by_hand():
    p, q, r = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0.5, 0.5, 0])
    assert js_divergence(p, q) == pytest.approx(1.0)
    assert js_divergence(p, p) == pytest.approx(0.0)
    # JS(p, r) with M = (3/4, 1/4, 0): 1/2 log2(4/3) + 1/2 (1/2 log2(2/3) + 1/2 log2(2))
    expected_pr = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(2 / 3) + 0.5)
    assert js_divergence(p, r) == pytest.approx(expected_pr)
    attrs = np.stack([np.stack([p, p]), np.stack([q, p]), np.stack([r * 4, p * 2])])  # (3 instances, 2 pixels, 3)
    got = pairwise_js_divergence(attrs)
    assert got[0] == pytest.approx((1.0 + expected_pr + expected_pr) / 3)  # pairs (p,q), (p,r), (q,r)
    assert got[1] == pytest.approx(0.0)  # every instance gives pixel 2 the same distribution (scale-free)
    with pytest.raises(ValueError, match="instances >= 2"):
        pairwise_js_divergence(attrs[:1])


def test_macro_f1_matches_sklearn_and_class_balanced_mean():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    assert macro_f1(y, p, 4) == pytest.approx(f1_score(y, p, average="macro"))
    values = np.array([1.0, 3.0, 10.0, np.nan, 4.0])
    labels = np.array([0, 0, 1, 1, 2])
    assert class_balanced_mean(values, labels, 4) == pytest.approx((2.0 + 10.0 + 4.0) / 3)


def test_bootstrap_resamples_vary():
    rng = np.random.default_rng(1)
    values = rng.random(200)
    labels = rng.integers(0, 3, 200)
    est, lo, hi, dist = bootstrap_interval((values, labels), lambda v, l_: class_balanced_mean(v, l_, 3),
                                           n_resamples=300, seed=0)
    assert dist.shape == (300,)
    assert np.unique(dist).size > 250 and dist.std() > 0.005  # not one value repeated (the seed's bug)
    assert lo < est < hi
    # the interval shrinks with more pixels
    big = (np.tile(values, 10), np.tile(labels, 10))
    _, lo2, hi2, _ = bootstrap_interval(big, lambda v, l_: class_balanced_mean(v, l_, 3), n_resamples=300, seed=0)
    assert hi2 - lo2 < (hi - lo) / 2


# ------------------------------------------------------------------ selection rule
def _table(model, sizes, f1, js, js_high, conc, unif=None):
    return pd.DataFrame({"model": model, "patch_size": sizes, "val_f1": f1, "consistency_js": js,
                         "consistency_js_high": js_high, "concentration": conc,
                         "uniformity": conc if unif is None else unif})


def test_selection_rule():
    t = _table("cnn2d", [1, 3, 5, 7], f1=[0.50, 0.60, 0.70, 0.65], js=[0.10, 0.05, 0.12, 0.06],
               js_high=[0.12, 0.08, 0.15, 0.09], conc=[0.2, 0.3, 0.25, 0.4], unif=[0.5, 0.9, 0.6, 0.4])
    sel = select_patch_size(t).iloc[0]
    # most consistent: 3 (0.05, upper bound 0.08); eligible {3, 7}; best F1 among them: 7
    assert sel.chosen == 7 and sel.by_consistency == 3 and sel.by_val_f1 == 5
    # the fewest bands (concentration 0.4) at 7; the flattest spectrum (uniformity 0.9) at 3
    assert sel.by_concentration == 7 and sel.by_uniformity == 3 and sel.uniformity_agrees
    tie = _table("vit", [1, 3], f1=[0.5, 0.5], js=[0.1, 0.1], js_high=[0.2, 0.2], conc=[0.1, 0.2])
    assert select_patch_size(tie).iloc[0].chosen == 1  # ties go to the smaller patch
    empty = _table("vit", [1, 3], f1=[0.4, 0.5], js=[np.nan] * 2, js_high=[np.nan] * 2, conc=[np.nan] * 2)
    row = select_patch_size(empty).iloc[0]
    assert row.chosen == 3 and pd.isna(row.uniformity_agrees) and pd.isna(row.by_concentration)


def test_concentration_rule_picks_the_size_whose_explanations_use_fewest_bands():
    """Built from attributions: at size 3 every pixel's attribution is one-hot, at size 1 flat."""
    flat, one_hot = np.ones((4, 6)), np.eye(6)[[0, 2, 4, 5]]
    metrics = {size: (concentration(a).mean(), uniformity(a).mean()) for size, a in ((1, flat), (3, one_hot))}
    t = _table("cnn2d", [1, 3], f1=[0.5, 0.5], js=[0.1, 0.1], js_high=[0.2, 0.2],
               conc=[metrics[1][0], metrics[3][0]], unif=[metrics[1][1], metrics[3][1]])
    sel = select_patch_size(t).iloc[0]
    assert sel.by_concentration == 3 and sel.by_uniformity == 1


# ------------------------------------------------------------------ the grid, end to end (tiny)
def _tiny_config(**over):
    kw = {"patch_sizes": [1, 3], "instances": 2, "train_per_class": 12, "explain_per_class": 2, "seed": 3,
          "models": {"cnn2d": {"widths": [4], "hidden": [4]}, "vit": {"dim": 8, "depth": 1, "heads": 2, "mlp_dim": 8}},
          "train": {"epochs": 1, "batch_size": 32}, "ig": {"nt_samples": 2, "n_steps": 2}}
    kw.update(over)
    return StudyConfig.from_params(**kw)


def test_grid_resumes_from_its_cache_and_summarises(tiles, tmp_path):
    config = _tiny_config()
    data = prepare_study(tiles, CLASSES, config)
    first = run_grid(data, config, tmp_path, progress=False)
    assert len(first) == 8 and len(list(tmp_path.glob("*.pt"))) == 8
    second = run_grid(data, config, tmp_path, progress=False)
    assert all(r["cached"] for r in second.values())
    cell = Cell("vit", 3, 1)
    np.testing.assert_array_equal(first[cell]["attributions"], second[cell]["attributions"])
    # instances differ, but explain the same pixels
    a0, a1 = second[Cell("cnn2d", 3, 0)]["attributions"], second[Cell("cnn2d", 3, 1)]["attributions"]
    assert a0.shape == a1.shape == (len(data.explain), 218) and not np.array_equal(a0, a1)

    cells = cell_table(second, data)
    assert len(cells) == 8 and cells.val_macro_f1.between(0, 1).all()
    table = size_table(second, data, config, explain_pixels="all", n_resamples=50)
    assert len(table) == 4
    assert (table.val_f1_low <= table.val_f1).all() and (table.val_f1 <= table.val_f1_high).all()
    for metric in ("consistency_js", "concentration", "uniformity"):
        assert table[metric].between(0, 1).all(), metric
        assert (table[f"{metric}_low"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_high"]).all()
    selection = select_patch_size(table)
    scores = evaluate_on_test(data, config, selection, tmp_path, n_resamples=50)
    assert scores.test_pixels.tolist() == [len(data.test)] * 2 and scores.test_f1.between(0, 1).all()
    spectrum = spectrum_table(second, data, config, explain_pixels="all")
    shares = spectrum.groupby(["model", "patch_size"]).attribution_share.sum()
    assert shares.to_numpy() == pytest.approx(np.ones(4))
    assert {"wavelength_nm", "detector"} <= set(spectrum.columns)
    # a changed setting invalidates the cells it touches
    changed = _tiny_config(patch_sizes=[1], models={"cnn2d": {"widths": [4], "hidden": [4]}},
                           train={"epochs": 2, "batch_size": 32})
    third = run_grid(data, changed, tmp_path, progress=False)
    assert len(third) == 2 and not any(r["cached"] for r in third.values())


def test_study_config_errors(tiles):
    with pytest.raises(KeyError, match="unknown model"):
        _tiny_config(models={"resnet": {}})
    with pytest.raises(ValueError, match="at least 2 instances"):
        _tiny_config(instances=1)
    with pytest.raises(PatchSizeError, match="even"):
        prepare_study(tiles, CLASSES, _tiny_config(patch_sizes=[1, 4]))
    with pytest.raises(PatchSizeError, match="larger than"):
        prepare_study(tiles, CLASSES, _tiny_config(patch_sizes=[35]))
    with pytest.raises(ClassAbsentError, match="water"):
        prepare_study(tiles, [*CLASSES, "water"], _tiny_config())


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_profiles_define_a_valid_study(profile):
    """Each profile's section builds a study config whose patch sizes fit the shipped tiles."""
    from eoxai.config import load_profile, notebook_parameters

    root = Path(__file__).resolve().parents[1]
    p = notebook_parameters(load_profile(profile, root / "config"), "09_patch_size_hyperopt")
    config = StudyConfig.from_params(
        patch_sizes=p["patch_sizes"], instances=p["instances"], models=p["models"], train=p["train"], ig=p["ig"],
        train_per_class=p["train_per_class"], explain_per_class=p["explain_per_class"],
        explain_split=p["explain_split"], seed=p["seed"])
    assert set(config.models) == {"cnn2d", "vit"} and config.instances >= 2
    for size in config.patch_sizes:
        check_patch_size(size, (32, 32))
    assert p["explain_pixels"] in ("all", "correct_all") and p["dataset"] in ("enmap", "prisma")
    if profile == "quick":
        assert config.patch_sizes == (1, 3, 5, 7, 9) and config.instances == 3
    if profile == "paper":
        assert config.patch_sizes == tuple(range(5, 22, 2)) and config.instances == 5


@pytest.mark.slow
def test_split_jobs_fill_the_cache_the_notebook_reads(tmp_path, repo_root, monkeypatch):
    """A (model, size) job computes exactly the cells the notebook's full grid then finds cached."""
    import json

    from eoxai.config import load_profile, notebook_parameters
    from eoxai.hyperspectral.study import (
        StudyConfig,
        grid_cells,
        load_tile_set,
        main,
        prepare_study,
        run_grid,
    )

    monkeypatch.chdir(repo_root)
    p = notebook_parameters(load_profile("smoke"), "09_patch_size_hyperopt")
    model, size = next(iter(p["models"])), p["patch_sizes"][-1]
    done = tmp_path / "done.json"
    assert main(["--profile", "smoke", "--model", model, "--size", str(size), "--cache", str(tmp_path),
                 "--done", str(done)]) == 0
    marked = json.loads(done.read_text())
    assert len(marked) == p["instances"] and not any(marked.values())
    config = StudyConfig.from_params(
        patch_sizes=p["patch_sizes"], instances=p["instances"], models=p["models"], train=p.get("train"),
        ig=p.get("ig"), train_per_class=p.get("train_per_class"), explain_per_class=p.get("explain_per_class", 10),
        explain_split=p.get("explain_split", "validation"), seed=p["seed"],
    )
    data = prepare_study(load_tile_set(p["dataset"], p["data_dir"], p.get("prisma"), p["seed"]), p["classes"], config)
    cells = [c for c in grid_cells(config) if c.model == model and c.patch_size == size]
    again = run_grid(data, config, tmp_path, progress=False, only=cells)
    assert all(r["cached"] for r in again.values())
    with pytest.raises(KeyError, match="not in the profile's grid"):
        main(["--profile", "smoke", "--model", model, "--size", "99", "--cache", str(tmp_path), "--done", str(done)])


def test_a_cell_trains_the_same_whatever_ran_before_it(tiles):
    """Dropout masks come from the cell's seed, not from the process's history (split jobs, recomputed cells)."""
    from eoxai.hyperspectral.study import run_cell

    config = _tiny_config(patch_sizes=[3], models={"vit": {"dim": 8, "depth": 1, "heads": 2,
                                                                         "mlp_dim": 8, "dropout": 0.5}})
    data = prepare_study(tiles, CLASSES, config)
    cell = Cell("vit", 3, 0)
    first = run_cell(data, cell, config)
    torch.rand(1000)  # another cell, a notebook cell: anything that draws from the global generator
    second = run_cell(data, cell, config)
    assert first["losses"] == second["losses"]
    np.testing.assert_array_equal(first["attributions"], second["attributions"])
    state = torch.random.get_rng_state()
    run_cell(data, cell, config)
    assert torch.equal(torch.random.get_rng_state(), state), "fit must leave the caller's random state alone"


def test_patch_model_checkpoint_round_trip(tmp_path, tiles):
    """A patch model saved with save_patch_model loads back through the one loader, with the same outputs."""
    from eoxai.checkpoint import load_checkpoint
    from eoxai.hyperspectral.train import save_patch_model

    image = tiles["image"].values
    bands = [str(b) for b in tiles["band"].values]
    px = Pixels(np.zeros(4, int), np.array([3, 10, 20, 30]), np.array([5, 12, 8, 30]), np.zeros(4, int))
    x = PatchExtractor(image, 3).extract(px, 3)  # four real 3 x 3 patches
    for name, args in (("cnn2d", {"widths": [4, 8, 8, 8], "hidden": [8, 8]}),
                       ("vit", {"dim": 8, "depth": 1, "heads": 2, "mlp_dim": 8})):
        model = build_patch_model(name, len(bands), 5, 3, seed=1, **args).eval()
        path = save_patch_model(tmp_path / f"{name}.pt", model, name, 3, bands, CLASSES, args)
        loaded, meta = load_checkpoint(path)
        assert meta["arch"] == f"patch:{name}" and not loaded.training
        torch.testing.assert_close(loaded(x), model(x))
