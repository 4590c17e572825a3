"""The results folder's layout (eoxai.layout): the paths the rules declare are the ones the code uses."""

from __future__ import annotations

from pathlib import Path

from eoxai.checkpoint import checkpoint_path
from eoxai.layout import (
    cube_path,
    patch_size_cell_path,
    pending_record_path,
    record_path,
    training_checkpoints,
    training_runs,
)
from eoxai.reference import reference_checkpoint

RUNS = {"s1": [{"arch": "manet_mit", "inputs": ["all", "optical"]}, {"arch": "unet", "inputs": ["all"], "loss": "ce"}],
        "s2": [{"arch": "manet_mit", "inputs": ["all"]}]}


def test_training_checkpoints_are_checkpoint_path_of_every_run_and_seed():
    assert training_runs(RUNS) == [("s1", "manet_mit", "all"), ("s1", "manet_mit", "optical"), ("s1", "unet", "all"),
                                   ("s2", "manet_mit", "all")]
    got = training_checkpoints("res", RUNS, [0, 2])
    assert got == [checkpoint_path("res", s, a, i, seed) for seed in (0, 2) for s, a, i in training_runs(RUNS)]
    assert reference_checkpoint("res", "s2", 2) in got


def test_a_wildcard_seed_stays_a_placeholder():
    got = training_checkpoints("res", RUNS, ["{seed}"])
    assert got[0] == Path("res/models/s1/manet_mit-all-seed{seed}.pt")
    assert [str(p).replace("{seed}", "3") for p in got] == [str(p) for p in training_checkpoints("res", RUNS, [3])]


def test_job_files_and_stage_paths():
    assert cube_path("res", "s1") == Path("res/interim/s1.nc")
    assert record_path("res", "02_training_seed0") == Path("res/provenance/02_training_seed0.json")
    assert pending_record_path("res", "01_data_fusion").parent.name == "logs"  # git-ignored, not a result
    assert patch_size_cell_path("res", "cnn2d", 3) == Path("res/interim/patch_size/done-cnn2d-p3.json")
