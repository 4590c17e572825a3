"""Loading the reference model and held-out tiles that the explanation notebooks explain."""

from __future__ import annotations

import pytest
import torch

from eoxai.checkpoint import save_checkpoint
from eoxai.errors import DatasetNotFoundError
from eoxai.explain_tiles import pick_tiles
from eoxai.fusion import write_cube
from eoxai.models import build_model
from eoxai.reference import load_reference, reference_checkpoint
from eoxai.tiles import TileDataset


def test_load_reference_round_trip(tmp_path, eolearn_cube):
    (tmp_path / "interim").mkdir()
    write_cube(eolearn_cube, str(tmp_path / "interim" / "eolearn.nc"))
    mods = {"s2_t1": 13, "s2_t2": 13, "dem": 1}
    classes = [str(c) for c in eolearn_cube["class"].values]
    model = build_model("manet_mit", mods, classes, "b0")
    bands = [str(b) for b in eolearn_cube.band.values]
    path = reference_checkpoint(tmp_path, "eolearn", 7)
    assert path == tmp_path / "models" / "eolearn" / "manet_mit-all-seed7.pt"
    save_checkpoint(path, model, {"arch": "manet_mit", "modalities": mods, "bands": bands, "class_names": classes,
                                  "size": "b0", "stack": "eolearn", "tile_size": 32})
    ref = load_reference(tmp_path, "eolearn", 7, "validation", sample=1, sample_seed=3)
    tiles = TileDataset(eolearn_cube, "validation", 32)
    # the same tile notebooks 07 and 08b explain
    i = pick_tiles(torch.stack([tiles[k]["mask"] for k in range(len(tiles))]), 1, 3)[0]
    assert ref.images.shape == (1, 27, 32, 32) and torch.equal(ref.images[0], tiles[i]["image"])
    assert ref.origins == [tiles.origins[i]] and not ref.model.training
    mean, std = ref.band_statistics()
    assert mean.shape == (27,) and (std > 0).all()
    assert ref.bands == bands and ref.modalities == mods
    with pytest.raises(DatasetNotFoundError, match="seed8"):
        load_reference(tmp_path, "eolearn", 8)
