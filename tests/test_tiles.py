"""Tiles of the fused cube as a torch dataset of dict samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from eoxai.errors import BandCountError
from eoxai.split import TEST, TRAIN
from eoxai.tiles import IGNORE_INDEX, TileDataset, select_bands


def test_tiles_stay_inside_their_split(sen1floods11_cube):
    ds = TileDataset(sen1floods11_cube, "train", 64)
    split = sen1floods11_cube["split"].values
    assert len(ds) >= 30
    for r, c in ds.origins:
        tile = split[r:r + 64, c:c + 64]
        assert not np.isin(tile, [1, 2]).any()
        assert (tile == TRAIN).any()
    s = ds[0]
    assert s["image"].shape == (15, 64, 64) and s["image"].dtype == torch.float32
    assert s["mask"].dtype == torch.int64 and set(s["mask"].unique().tolist()) <= {-1, 0, 1}
    assert torch.isfinite(s["image"]).all()


def test_buffer_pixels_are_ignored(sen1floods11_cube):
    ds = TileDataset(sen1floods11_cube, "test", 64)
    split = sen1floods11_cube["split"].values
    for i in range(len(ds)):
        r, c = ds.origins[i]
        mask = ds[i]["mask"].numpy()
        assert (mask[split[r:r + 64, c:c + 64] != TEST] == IGNORE_INDEX).all()


def test_overlapping_training_tiles(sen1floods11_cube):
    dense = TileDataset(sen1floods11_cube, "train", 64, stride=32)
    sparse = TileDataset(sen1floods11_cube, "train", 64)
    assert len(dense) > len(sparse)


def test_modality_subsets(eolearn_cube):
    assert len(select_bands(eolearn_cube, ["optical"])) == 26
    assert select_bands(eolearn_cube, ["dem"]) == ["dem.elevation"]
    ds = TileDataset(eolearn_cube, "validation", 32, modalities=["s2_t1", "dem"])
    assert ds.in_channels == 14 and ds[0]["image"].shape == (14, 32, 32)
    with pytest.raises(KeyError, match="s1"):
        select_bands(eolearn_cube, ["s1"])
    with pytest.raises(BandCountError):
        ds.check_batch(torch.zeros(2, 27, 32, 32))


def test_plot_returns_figure(eolearn_cube):
    ds = TileDataset(eolearn_cube, "train", 32)
    fig = ds.plot(ds[0], title="a tile")
    assert isinstance(fig, Figure)
    assert fig.axes[1].get_title() == "mask"
