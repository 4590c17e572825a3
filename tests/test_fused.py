"""One interface for both kinds of fused stack (eoxai.fused, issue 18): a single-scene cube and a
collection of scenes (a miniature Sen1Floods11 collection cut from the shipped real chip). The
collection's index round-trips; training, evaluation and the explained tiles run on either."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from eoxai.data.collection import open_collection, read_index, write_index
from eoxai.data.miniature import build_miniature
from eoxai.errors import ConfigError, DataFormatError, DatasetNotFoundError
from eoxai.explain_tiles import load_tiles
from eoxai.fused import (
    band_statistics,
    band_table,
    candidate_tiles,
    class_names,
    data_hash,
    open_fused,
    split_tiles,
    tile_scene,
)
from eoxai.layout import collection_index_path, fused_path
from tests.test_collections import SAMPLE, miniature_declaration


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("fused")
    decl = miniature_declaration("sen1floods11")
    build_miniature("sen1floods11", SAMPLE, root / decl.folder, n_scenes=10, size=128)
    return open_collection(decl, root)


@pytest.fixture()
def results(tmp_path, collection):
    write_index(collection, fused_path(tmp_path, "sen1floods11", collection=True))
    return tmp_path


def test_the_index_round_trips_the_collection(collection, results):
    back = open_fused(results, "sen1floods11")
    assert back.split_rule == collection.split_rule
    assert {k: [s.name for s in v] for k, v in back.splits.items()} == \
        {k: [s.name for s in v] for k, v in collection.splits.items()}
    assert back.shapes == collection.shapes
    np.testing.assert_array_equal(back.band_mean, collection.band_mean)
    assert data_hash(back) == data_hash(collection)
    doc = json.loads(collection_index_path(results, "sen1floods11").read_text())
    assert all(not f.startswith("/") for e in doc["splits"]["train"] for f in e["files"].values())


def test_the_data_hash_changes_with_the_statistics(collection):
    changed = dataclasses.replace(collection, band_std=collection.band_std * 2)
    assert data_hash(changed) != data_hash(collection)


def test_open_fused_names_both_files_when_the_stack_is_not_fused(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"sen1floods11\.nc.*sen1floods11\.collection\.json"):
        open_fused(tmp_path, "sen1floods11")


def test_an_index_of_another_kind_fails_clearly(tmp_path):
    path = collection_index_path(tmp_path, "x")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(DataFormatError, match="not a collection index"):
        read_index(path)


def test_bands_classes_and_statistics_read_alike_from_a_collection(collection):
    table = band_table(collection)
    assert list(table["band"][:2]) == ["s1.VV", "s1.VH"] and set(table["sensor"]) == {"sar", "optical"}
    assert class_names(collection) == ["not_water", "water"]
    mean, std = band_statistics(collection, ["s2.B2", "s1.VH"])
    np.testing.assert_allclose(mean, [collection.band_mean[3], collection.band_mean[1]])


def test_candidate_tiles_spread_over_the_scenes_and_depend_on_the_seed(collection):
    test = split_tiles(collection, "train", 64)
    scenes = {tile_scene(test, i) for i in range(len(test))}
    picked = candidate_tiles(test, len(scenes), seed=0)
    assert len(picked) == len(scenes) and {tile_scene(test, i) for i in picked} == scenes  # one per scene
    assert candidate_tiles(test, 3, seed=0) == candidate_tiles(test, 3, seed=0)
    assert any(candidate_tiles(test, 3, seed=s) != candidate_tiles(test, 3, seed=0) for s in range(1, 6))
    assert candidate_tiles(test, None, seed=0) == list(range(len(test)))


def test_explained_tiles_of_a_collection_come_from_its_test_scenes(collection):
    tiles = load_tiles(collection, "test", 64, max_tiles=3, seed=1)
    test_scenes = {s.name for s in collection.splits["test"]}
    assert len(tiles) == 3 and set(tiles.scenes) <= test_scenes and len(set(tiles.scenes)) == len(test_scenes)
    assert tiles.images.shape == (3, 15, 64, 64) and torch.isfinite(tiles.images).all()
    assert tiles.subset([2, 0]).scenes == [tiles.scenes[2], tiles.scenes[0]]
    assert "3 tiles from 2 scene(s)" == tiles.scene_summary()


def test_a_run_trains_and_is_scored_on_a_collection(collection, results):
    from eoxai.accuracy import evaluate_runs
    from eoxai.checkpoint import checkpoint_path
    from eoxai.train import input_sets, run_specs, train_run

    assert input_sets(collection) == {"all": ["s1", "s2"], "optical": ["s2"], "sar": ["s1"]}
    specs = run_specs({"sen1floods11": [{"arch": "manet_mit", "inputs": ["sar"]}]}, [0], {"sen1floods11": 64},
                      {"size": "b0", "epochs": 1, "batch_size": 4, "patience": 0, "max_train_tiles": 4})
    history, meta = train_run(collection, specs[0], checkpoint_path(results, "sen1floods11", "manet_mit", "sar", 0),
                              progress=False)
    assert meta["train_tiles"] == 4 and meta["bands"] == ["s1.VV", "s1.VH"] and meta["data_hash"] == data_hash(collection)
    ev = evaluate_runs({"sen1floods11": collection}, specs, results)
    assert set(ev.tiles["scene"]) == {s.name for s in collection.splits["test"]}
    assert 0 <= ev.runs["miou"].iloc[0] <= 1


def test_random_crops_are_refused_for_a_collection(collection):
    from eoxai.train import run_datasets, run_specs

    spec = run_specs({"sen1floods11": [{"arch": "manet_mit", "inputs": ["all"]}]}, [0], {"sen1floods11": 64},
                     {"random_crops": 8})[0]
    with pytest.raises(ConfigError, match="random_crops needs a single-scene stack"):
        run_datasets(collection, spec)


def test_a_dataset_folder_linked_from_another_disk_verifies(collection, tmp_path):
    """Checksums are matched on paths relative to the data root, links not followed."""
    root = tmp_path / "data"
    root.mkdir()
    (root / collection.declaration.folder).symlink_to(collection.root / collection.declaration.folder)
    linked = open_collection(collection.declaration, root)
    assert [s.name for s in linked.splits["test"]] == [s.name for s in collection.splits["test"]]


def test_batches_read_by_dataloader_workers_equal_those_read_in_process(collection):
    from eoxai.train import TileBatches

    train = split_tiles(collection, "train", 64)
    assert len(train) > 8
    plain, loaded = TileBatches(train, 4), TileBatches(train, 4, workers=1)
    a = list(plain.epoch(torch.Generator().manual_seed(3), augment=True))
    b = list(loaded.epoch(torch.Generator().manual_seed(3), augment=True))
    assert len(a) == len(b) == len(plain)
    for (ia, ma), (ib, mb) in zip(a, b, strict=True):
        assert torch.equal(ia, ib) and torch.equal(ma, mb)
