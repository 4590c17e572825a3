"""Modality occlusion and influence (notebook 08) on the real eo-learn test tiles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from eoxai.xai.checks import MaskShapeError, ModalityError
from eoxai.xai.modality import (
    REPLACEMENTS,
    band_groups,
    influence_agreement,
    modality_occlusion,
    occlude,
    occlusion_influence,
    replacement,
    select_groups,
)
from tests.xai_helpers import BandModel, eolearn_cube, eolearn_groups, eolearn_test_tiles


@pytest.fixture(scope="module")
def occlusion_s2_t2():
    """Modality occlusion of a model that reads only the second S2 date, on the real test tiles.

    The labels are the model's own clean prediction, so the clean IoU is 1 for predicted classes.
    """
    tiles = eolearn_test_tiles()
    cube = eolearn_cube()
    model = BandModel(27, tiles.class_names, used=eolearn_groups()["s2_t2"], seed=2)
    with torch.no_grad():
        labels = model(tiles.images).argmax(1)
    return modality_occlusion(model, tiles.images, labels, eolearn_groups(), class_names=tiles.class_names,
                              band_mean=cube["band_mean"].values, band_std=cube["band_std"].values,
                              origins=tiles.origins, seed=0)


def test_occlusion_ranks_first_the_modality_the_model_uses(occlusion_s2_t2):
    split, tiles = occlusion_s2_t2
    for how in REPLACEMENTS:
        drop = split[split["replacement"] == how].groupby("modality")["iou_drop"].mean()
        assert drop.idxmax() == "s2_t2", how
        assert drop["s2_t2"] > 0.05
        assert drop[["s2_t1", "dem"]].abs().max() == 0.0  # unused modalities change nothing
        emb = tiles[tiles["replacement"] == how].groupby("modality")["embedding_l2"].mean()
        assert emb.idxmax() == "s2_t2" and emb["s2_t1"] == 0.0 and emb["dem"] == 0.0
    assert (split["iou_clean"].dropna() == 1.0).all()


def test_occlusion_tables_have_one_row_per_condition(occlusion_s2_t2):
    split, tiles = occlusion_s2_t2
    n_mod, n_rep, n_cls = 3, len(REPLACEMENTS), 5
    assert len(split) == n_mod * n_rep * n_cls
    assert len(tiles) == 2 * n_mod * n_rep * n_cls
    assert set(tiles[["tile_row", "tile_col"]].itertuples(index=False, name=None)) == {(32, 64), (64, 64)}
    per = tiles.drop_duplicates(["tile_row", "tile_col", "modality", "replacement"])
    np.testing.assert_allclose(per["miou_drop"], per["miou_clean"] - per["miou_occluded"])


def test_replacements_are_defined_in_z_score_space():
    cube = eolearn_cube()
    mean, std = cube["band_mean"].values, cube["band_std"].values
    bands = [0, 26]
    z = replacement("zeros", (1, 27, 4, 4), bands, band_mean=mean, band_std=std)
    np.testing.assert_allclose(z[0, :, 0, 0].numpy(), -mean[bands] / std[bands], rtol=1e-6)
    assert torch.equal(replacement("mean", (1, 27, 4, 4), bands), torch.zeros(1, 2, 4, 4))
    g = torch.Generator().manual_seed(0)
    u = replacement("uniform", (64, 27, 16, 16), bands, generator=g)
    assert u.abs().max() <= math.sqrt(3) and abs(float(u.var()) - 1) < 0.05 and abs(float(u.mean())) < 0.02
    n = replacement("normal", (64, 27, 16, 16), bands, generator=torch.Generator().manual_seed(0))
    assert abs(float(n.std()) - 1) < 0.02
    x = torch.ones(2, 27, 4, 4)
    out = occlude(x, [5, 6], "mean")
    assert torch.equal(out[:, [5, 6]], torch.zeros(2, 2, 4, 4)) and torch.equal(out[:, 7], x[:, 7])
    assert torch.equal(x, torch.ones(2, 27, 4, 4))  # the input is not modified
    with pytest.raises(ValueError, match="needs band_mean and band_std"):
        replacement("zeros", (1, 27, 4, 4), bands)
    with pytest.raises(ValueError, match="unknown replacement 'ones'"):
        replacement("ones", (1, 27, 4, 4), bands)


def test_band_groups_follow_the_checkpoint_modalities():
    groups = band_groups({"s2_t1": 13, "s2_t2": 13, "dem": 1})
    assert groups == eolearn_groups()
    assert select_groups(groups, ["dem"]) == {"dem": [26]}


def test_unknown_modality_name_is_a_clear_error():
    with pytest.raises(ModalityError,
                       match=r"modality name\(s\) \['s1'\] not in the data; it has \['s2_t1', 's2_t2', 'dem'\]"):
        select_groups(eolearn_groups(), ["s2_t1", "s1"])
    occl = pd.DataFrame({"tile_row": [0, 0], "tile_col": [0, 0], "modality": ["s2", "dem"], "influence": [1.0, 0.0]})
    head = pd.DataFrame({"tile_row": [0], "tile_col": [0], "modality": ["sar"], "score": [0.5]})
    with pytest.raises(ModalityError, match=r"\['sar'\] not in the data"):
        influence_agreement(occl, head)


def test_mask_of_the_wrong_shape_is_a_clear_error():
    tiles = eolearn_test_tiles()
    model = BandModel(27, tiles.class_names, used=[0])
    with pytest.raises(MaskShapeError, match=r"masks has shape \(2, 16, 16\)"):
        modality_occlusion(model, tiles.images, tiles.masks[:, :16, :16], eolearn_groups(),
                           class_names=tiles.class_names)
    with pytest.raises(ValueError, match=r"unknown replacement\(s\) \['ones'\]"):
        modality_occlusion(model, tiles.images, tiles.masks, eolearn_groups(), class_names=tiles.class_names,
                           replacements=["ones"])


def test_influence_agreement_reads_the_head_score_as_ekim_and_schmitt_define_it():
    rng = np.random.default_rng(0)
    rows = [(r, 0, m) for r in range(6) for m in ("s2_t1", "s2_t2", "dem")]
    occl = pd.DataFrame(rows, columns=["tile_row", "tile_col", "modality"]).assign(influence=rng.normal(size=18))
    # the head scores higher when the occluded modality mattered less: score = 1 - influence
    head = occl.assign(score=1 - occl["influence"] / 10)[["tile_row", "tile_col", "modality", "score"]]
    merged, agg = influence_agreement(occl, head)
    assert agg["n"] == 18 and agg["spearman"] == pytest.approx(1.0) and agg["kendall"] == pytest.approx(1.0)
    assert agg["top_modality_agreement"] == 1.0
    _, flipped = influence_agreement(occl, head, higher_score_means_less_influence=False)
    assert flipped["spearman"] == pytest.approx(-1.0) and flipped["top_modality_agreement"] == 0.0
    assert "head_influence" in merged


def test_occlusion_influence_picks_the_replacement(occlusion_s2_t2):
    _, tiles = occlusion_s2_t2
    inf = occlusion_influence(tiles, "mean", "miou_drop")
    assert len(inf) == 2 * 3
    assert inf.groupby(["tile_row", "tile_col"])["influence"].idxmax().map(inf["modality"]).eq("s2_t2").all()
    with pytest.raises(ValueError, match="no rows with replacement 'blur'"):
        occlusion_influence(tiles, "blur")
