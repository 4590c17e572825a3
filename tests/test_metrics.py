"""Metrics from confusion matrices (checked by hand and against torchmetrics) and the statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassCohenKappa,
    MulticlassF1Score,
    MulticlassJaccardIndex,
)

from eoxai.metrics import confusion_matrix, confusion_table, per_class_table, scores, tile_confusion
from eoxai.stats import mean_ci, paired_test


def test_scores_by_hand() -> None:
    cm = np.array([[8, 2], [1, 4]])  # rows reference, columns prediction
    s = scores(cm)
    assert s["iou"][0] == pytest.approx(8 / 11) and s["iou"][1] == pytest.approx(4 / 7)
    assert s["miou"] == pytest.approx((8 / 11 + 4 / 7) / 2)
    assert s["f1_class"][1] == pytest.approx(8 / 11)
    assert s["oa"] == pytest.approx(12 / 15)
    pe = (9 * 10 + 6 * 5) / 15**2
    assert s["kappa"] == pytest.approx((12 / 15 - pe) / (1 - pe))


def test_absent_class_is_left_out_of_the_means() -> None:
    cm = np.array([[5, 0, 0], [1, 4, 0], [0, 0, 0]])
    s = scores(cm)
    assert math.isnan(s["iou"][2]) and math.isnan(s["f1_class"][2])
    assert s["miou"] == pytest.approx((5 / 6 + 4 / 5) / 2)


def test_scores_agree_with_torchmetrics() -> None:
    g = torch.Generator().manual_seed(3)
    k = 4
    target = torch.randint(-1, k, (6, 16, 16), generator=g)
    pred = torch.where(torch.rand(6, 16, 16, generator=g) < 0.6, target.clamp_min(0),
                       torch.randint(0, k, (6, 16, 16), generator=g))
    cm = confusion_matrix(pred, target, k)
    assert cm.sum() == int((target >= 0).sum())
    assert np.array_equal(tile_confusion(pred, target, k).sum(axis=0), cm)
    s = scores(cm)
    kw = {"num_classes": k, "ignore_index": -1}
    iou = MulticlassJaccardIndex(average=None, **kw)(pred, target).numpy()
    f1 = MulticlassF1Score(average=None, **kw)(pred, target).numpy()
    oa = float(MulticlassAccuracy(average="micro", **kw)(pred, target))
    kappa = float(MulticlassCohenKappa(**kw)(pred, target))
    assert np.allclose(s["iou"], iou, atol=1e-6)
    assert np.allclose(s["f1_class"], f1, atol=1e-6)
    assert s["oa"] == pytest.approx(oa, abs=1e-6) and s["kappa"] == pytest.approx(kappa, abs=1e-5)


def test_tables_and_shape_errors() -> None:
    cm = np.array([[3, 1], [0, 2]])
    t = per_class_table(cm, ["land", "water"])
    assert list(t["class"]) == ["land", "water"] and list(t["support"]) == [4, 2]
    c = confusion_table(cm, ["land", "water"])
    assert c.loc[(c.reference == "land") & (c.predicted == "water"), "share_of_reference"].item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(torch.zeros(2, 2), torch.zeros(3, 3), 2)
    with pytest.raises(ValueError, match=r"\(K, K\)"):
        scores(np.zeros((2, 3)))


def test_mean_ci_by_hand() -> None:
    m, lo, hi = mean_ci([0.70, 0.72, 0.74])
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n)
    assert m == pytest.approx(0.72) and lo == pytest.approx(0.72 - half) and hi == pytest.approx(0.72 + half)
    assert all(math.isnan(x) for x in mean_ci([0.5])[1:])
    assert math.isnan(mean_ci([])[0])


def test_paired_test() -> None:
    a, b = [0.80, 0.82, 0.79, 0.85, 0.83], [0.70, 0.71, 0.72, 0.74, 0.69]
    r = paired_test(a, b)
    assert r["n"] == 5 and r["diff"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert r["diff_low"] > 0 and r["p_ttest"] < 0.01
    assert r["p_wilcoxon"] == pytest.approx(0.0625)  # all 5 signs positive: exact two-sided 2/2**5
    single = paired_test([0.8], [0.7])
    assert single["n"] == 1 and math.isnan(single["p_ttest"]) and math.isnan(single["diff_low"])
    with pytest.raises(ValueError, match="equal lengths"):
        paired_test([1, 2], [1])


def _runs_and_tiles():
    import pandas as pd

    runs, tiles = [], []
    for seed, (fused, optical) in enumerate([(0.80, 0.78), (0.82, 0.79), (0.81, 0.80)]):
        for inputs, m in (("all", fused), ("optical", optical)):
            runs.append({"stack": "s", "arch": "manet_mit", "inputs": inputs, "seed": seed, "epochs": 3,
                         "test_tiles": 2, "miou": m, "f1": m + 0.1, "oa": 0.9, "kappa": 0.7, "pixels": 100})
            for t in range(2):
                tiles.append({"stack": "s", "arch": "manet_mit", "inputs": inputs, "seed": seed, "tile_row": 0,
                              "tile_col": 32 * t, "miou": m + 0.01 * t, "f1": m})
    return pd.DataFrame(runs), pd.DataFrame(tiles)


def test_comparisons_and_ablation_table() -> None:
    import pandas as pd

    from eoxai.accuracy import ablation_table, comparisons

    runs, tiles = _runs_and_tiles()
    tests = comparisons(runs, tiles)
    seed_row = tests[(tests.unit == "seed") & (tests.metric == "miou")].iloc[0]
    assert seed_row.comparison == "fused vs optical" and seed_row.n == 3
    assert seed_row["diff"] == pytest.approx(np.mean([0.02, 0.03, 0.01]))
    assert (seed_row.epochs_a, seed_row.epochs_b) == (3, 3)
    assert tests[(tests.unit == "tile") & (tests.metric == "miou")].iloc[0].n == 2
    base = pd.DataFrame([{"stack": "s", "inputs": "all", "miou": 0.9, "f1": 0.95, "oa": 0.96, "kappa": 0.9,
                          "pixels": 100}])
    table = ablation_table(runs, tests, baseline=base).set_index(["arch", "inputs"])
    fused = table.loc[("manet_mit", "all")]
    m, lo, hi = mean_ci([0.80, 0.82, 0.81])
    assert fused.miou_mean == pytest.approx(m) and fused.miou_ci_low == pytest.approx(lo)
    assert fused.miou_diff_vs_optical == pytest.approx(seed_row["diff"])
    assert math.isnan(table.loc[("manet_mit", "optical")].miou_diff_vs_optical)
    assert table.loc[("pixel_logreg", "all")].miou_mean == 0.9


def test_mosaic_and_influence_summary() -> None:
    import pandas as pd

    from eoxai.accuracy import influence_summary, mosaic

    m = mosaic((4, 6), np.array([[0, 0], [2, 4]]), np.array([[[1, 1], [1, 1]], [[2, 2], [2, 2]]]))
    assert m[0, 0] == 1 and m[3, 5] == 2 and m[0, 5] == -1
    rows = [{"stack": "s", "seed": 0, "tile_row": r, "tile_col": 0, "modality": mod, "score": sc}
            for r, (a, b) in enumerate([(0.9, 0.1), (0.8, 0.3), (0.2, 0.7)]) for mod, sc in (("s1", a), ("s2", b))]
    summ = influence_summary(pd.DataFrame(rows)).iloc[0]
    assert summ.mattered_most == "s2" and summ.score_s1 == pytest.approx(0.6333, abs=1e-3)
    assert summ.cross_modality_spearman == pytest.approx(-1.0)
