"""Interclass-Grad-CAM: the seed's sign counts, the magnitude shares, and where they disagree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eoxai.models import build_model
from eoxai.tiles import TileDataset
from eoxai.xai import interclass
from eoxai.xai.gradcam import AllClassGradCAM

NAMES = ["a", "b", "c"]


def hand_case():
    """One 2 x 4 image: left half predicted 'a', right half 'b'; class 'c' absent everywhere.

    CAM of 'a': +1 on three left pixels, -1 on one left pixel, +0.01 on all four right pixels.
    CAM of 'b': +5 on one right pixel, 0 elsewhere. CAM of 'c' (absent): +1 everywhere.
    """
    pred = np.array([[[0, 0, 1, 1], [0, 0, 1, 1]]])
    cams = np.zeros((1, 3, 2, 4))
    cams[0, 0] = [[1, 1, 0.01, 0.01], [1, -1, 0.01, 0.01]]
    cams[0, 1, 0, 3] = 5.0
    cams[0, 2] = 1.0
    return cams, pred


def test_sign_counts_follow_the_seed():
    cams, pred = hand_case()
    counts = interclass.sign_counts(cams, pred, NAMES, label=pred)
    pos = counts["positive"].to_pandas()
    assert pos.loc["a", "a"] == 3 and pos.loc["a", "b"] == 4 and counts["negative"].sel(target="a", region="a") == 1
    assert pos.loc["b", "b"] == 1 and pos.loc["b", "a"] == 0
    assert pos.loc["c"].sum() == 0  # a class absent from label and prediction is not explained
    assert counts["images"].sel(target="c") == 0 and counts["images"].sel(target="a") == 1
    norm = interclass.seed_normalise(counts)
    assert norm["positive"].sel(target="a").max() == 1.0
    assert norm["net"].sel(target="a", region="a") == pytest.approx(0.75 - 1.0)


def test_magnitude_disagrees_with_counts_when_mass_and_count_differ():
    cams, pred = hand_case()
    counts = interclass.sign_counts(cams, pred, NAMES, label=pred)
    shares = interclass.magnitude_shares(cams, pred, NAMES)
    assert shares["positive"].sel(target="a", region="a") == pytest.approx(3 / 3.04)
    rows = shares["positive"].sum("region").values
    assert rows[:2] == pytest.approx([1.0, 1.0])
    table = interclass.compare_variants(counts, shares)
    a = table[table.target == "a"].set_index("region")
    # four tiny positive pixels outnumber three large ones: counts say 'b', mass says 'a'
    assert a.loc["b", "count_rank"] == 1 and a.loc["a", "mass_rank"] == 1
    assert a["top_region_differs"].all()
    assert not table[table.target == "b"]["top_region_differs"].any()
    assert set(interclass.to_long(shares, "magnitude").columns) >= {"variant", "target", "region", "positive"}


def test_sign_matches_prediction():
    cams, pred = hand_case()
    share = interclass.sign_matches_prediction(cams, pred, NAMES)
    # 'a': positive on 3 of 4 'a' pixels and on all 4 'b' pixels -> 3 of 8 agree
    assert share["a"] == pytest.approx(3 / 8) and share["b"] == pytest.approx(5 / 8) and share["c"] == 0.0


def test_two_class_logits_layer_cam_sign_is_the_prediction(sen1floods11_cube):
    """With two classes and the softmax-sum target, the logits-layer CAM of c is a positive multiple of z_c - z_other."""
    ds = TileDataset(sen1floods11_cube, "test", 64)
    x = torch.stack([ds[i]["image"][:, :32, :32] for i in range(3)])
    torch.manual_seed(1)
    model = build_model("manet_mit", {"s1": 2, "s2": 13}, ["not_water", "water"], "b0").eval()
    r = AllClassGradCAM(model, "segmentation_head.0").attribute_all(x)
    share = interclass.sign_matches_prediction(r.cams, r.logits.argmax(1), ["not_water", "water"])
    assert (share > 0.999).all()


def test_valid_mask_restricts_pixels():
    cams, pred = hand_case()
    valid = np.zeros_like(pred, bool)
    valid[..., :2] = True
    counts = interclass.sign_counts(cams, pred, NAMES, valid=valid)
    assert counts["positive"].sel(region="b").sum() == 0


def test_shape_errors():
    cams, pred = hand_case()
    with pytest.raises(ValueError, match="for all classes"):
        interclass.sign_counts(cams[:, :2], pred, NAMES)
    with pytest.raises(ValueError, match="do not match"):
        interclass.magnitude_shares(cams, pred[:, :1], NAMES)


def test_on_real_tiles_rows_are_shares(eolearn_cube):
    ds = TileDataset(eolearn_cube, "validation", 32)
    x = torch.stack([ds[i]["image"] for i in range(len(ds))])
    y = torch.stack([ds[i]["mask"] for i in range(len(ds))])
    names = [str(c) for c in eolearn_cube["class"].values]
    torch.manual_seed(0)
    model = build_model("manet_mit", {"s2_t1": 13, "s2_t2": 13, "dem": 1}, names, "b0").eval()
    r = AllClassGradCAM(model).attribute_all(x)
    pred = r.logits.argmax(1)
    counts = interclass.sign_counts(r.cams, pred, names, y, y >= 0)
    shares = interclass.magnitude_shares(r.cams, pred, names, y >= 0)
    explained = counts["images"].values > 0
    assert explained.any()
    np.testing.assert_allclose(shares["positive"].sum("region").values[explained], 1.0, rtol=1e-6)
    assert counts["positive"].values.sum() + counts["negative"].values.sum() <= explained.sum() * int((y >= 0).sum())


def test_to_matrix_is_k_by_k_per_stack_and_layer():
    import pandas as pd

    from eoxai.xai.interclass import to_matrix

    rows = [{"stack": s, "layer": "logits", "target": t, "region": r, "net": float(i)}
            for s, classes in (("a", ["x", "y"]), ("b", ["x", "y", "z"]))
            for i, (t, r) in enumerate((t, r) for t in classes for r in classes)]
    wide = to_matrix(pd.DataFrame(rows), "net")
    assert list(wide.columns) == ["stack", "layer", "target", "x", "y", "z"]
    a = wide[wide["stack"] == "a"]
    assert a[["x", "y"]].to_numpy().tolist() == [[0.0, 1.0], [2.0, 3.0]] and a["z"].isna().all()
    assert wide[wide["stack"] == "b"].shape[0] == 3
