"""Training on the real shipped data: input sets, overfitting, determinism, resume, error cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import eoxai.train as train_mod
from eoxai.checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from eoxai.config import load_profile, stack_declarations
from eoxai.errors import BandCountError, ConfigError, EmptyTileError
from eoxai.models import build_model
from eoxai.stacks import fuse_stack, load_stack
from eoxai.train import (
    NonFiniteError,
    RunSpec,
    TrainConfig,
    augment_d4,
    expected_meta,
    fit,
    input_sets,
    run_datasets,
    run_specs,
    train_run,
)

ROOT = Path(__file__).resolve().parents[1]
PROFILE = load_profile("quick", ROOT / "config")



@pytest.fixture(scope="module")
def cubes():
    """The two fused cubes of the quick profile, built from the shipped data."""
    nb = PROFILE["notebooks"]["01_data_fusion"]
    decls = stack_declarations(PROFILE)
    out = {}
    for name in nb["stacks"]:
        out[name] = fuse_stack(decls[name], *load_stack(decls[name], ROOT / "data"),
                               fractions=nb["split_fractions"], seed=PROFILE["seed"])
    return out


# tiny but real: eo-learn 32x32 tiles, a few epochs (seconds on one CPU thread)
TINY = TrainConfig(arch="unet", epochs=2, batch_size=4, train_stride=16, max_train_tiles=4, patience=0)


def _spec(cfg: TrainConfig = TINY, seed: int = 0, inputs: str = "all", stack: str = "eolearn") -> RunSpec:
    return RunSpec(stack, cfg.arch, inputs, seed, 32 if stack == "eolearn" else 64, cfg)


def test_input_sets_of_both_stacks(cubes) -> None:
    assert input_sets(cubes["sen1floods11"]) == {"all": ["s1", "s2"], "optical": ["s2"], "sar": ["s1"]}
    # optical + DEM is the whole eo-learn stack: not trained twice under two names
    assert input_sets(cubes["eolearn"]) == {"all": ["s2_t1", "s2_t2", "dem"], "optical": ["s2_t1", "s2_t2"]}
    train, val, mods = run_datasets(cubes["sen1floods11"], _spec(TINY, stack="sen1floods11", inputs="sar"))
    assert mods == {"s1": 2} and train.in_channels == 2 and val.split_name == "validation"


def test_run_specs_from_the_profiles() -> None:
    for profile in ("smoke", "quick", "paper"):
        cfg = load_profile(profile, ROOT / "config")
        nb = cfg["notebooks"]
        decls = stack_declarations(cfg)
        tiles = {s: decls[s].tiling.tile_size for s in nb["01_data_fusion"]["stacks"]}
        tr = nb["02_training"]
        specs = run_specs(tr["runs"], tr["seeds"], tiles, tr["train"])
        assert {(s.stack, s.arch, s.inputs, s.seed) for s in specs} >= {
            (stack, "manet_mit", "all", tr["seeds"][0]) for stack in tiles}
        assert nb["03_evaluation"]["runs"] == tr["runs"]  # 03 evaluates exactly what 02 trains
    with pytest.raises(ConfigError, match="unknown training option"):
        run_specs({"eolearn": [{"arch": "unet", "inputs": ["all"], "epoch": 3}]}, [0], {"eolearn": 32})
    with pytest.raises(ConfigError, match="no tile size"):
        run_specs({"other": [{"arch": "unet", "inputs": ["all"]}]}, [0], {"eolearn": 32})


def test_unavailable_input_set_is_named(cubes) -> None:
    with pytest.raises(ConfigError, match="'sar' is not available for stack 'eolearn'"):
        run_datasets(cubes["eolearn"], _spec(inputs="sar"))


def test_augmentation_keeps_image_and_mask_aligned() -> None:
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 5, (16, 8, 8), generator=g)
    image = torch.stack([mask.float(), -mask.float()], dim=1)
    img2, mask2 = augment_d4(image, mask, g)
    assert torch.equal(img2[:, 0].long(), mask2) and torch.equal(img2[:, 1].long(), -mask2)
    assert not torch.equal(mask2, mask)  # 16 samples: some were rotated or flipped


@pytest.mark.slow
def test_loss_falls_when_overfitting_real_tiles(cubes) -> None:
    cfg = TrainConfig(arch="unet", epochs=10, batch_size=4, lr=3e-3, train_stride=32, max_train_tiles=4,
                      augment=False, patience=0, warmup=0.05)
    train, val, mods = run_datasets(cubes["eolearn"], _spec(cfg))
    torch.manual_seed(0)
    model = build_model("unet", mods, train.class_names)
    _, hist, info = fit(model, train, val, cfg, seed=0, progress=False)
    assert hist["train_loss"].iloc[-1] < 0.5 * hist["train_loss"].iloc[0]
    assert info["epochs_run"] == 10 and 1 <= info["best_epoch"] <= 10


@pytest.mark.slow
def test_same_seed_same_metrics_csv(cubes, tmp_path) -> None:
    paths = []
    for i in range(2):
        hist, meta = train_run(cubes["eolearn"], _spec(), tmp_path / f"run{i}" / "unet-all-seed0.pt", progress=False)
        paths.append(tmp_path / f"history{i}.csv")
        hist.to_csv(paths[-1], index=False)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other, _ = train_run(cubes["eolearn"], _spec(seed=1), tmp_path / "run2" / "unet-all-seed1.pt", progress=False)
    assert not other.equals(pd.read_csv(paths[0]))  # a different seed trains differently


@pytest.mark.slow
def test_checkpoint_meta_and_config_check(cubes, tmp_path) -> None:
    spec = _spec()
    path = checkpoint_path(tmp_path, "eolearn", "unet", "all", 0)
    train_run(cubes["eolearn"], spec, path, progress=False)
    model, meta = load_checkpoint(path, expected=expected_meta(spec))
    for key in ("arch", "modalities", "bands", "class_names", "size", "stack", "inputs", "seed", "tile_size",
                "config", "config_hash"):
        assert key in meta
    assert meta["modalities"] == {"s2_t1": 13, "s2_t2": 13, "dem": 1} and len(meta["bands"]) == 27
    assert not model.training
    assert not path.with_suffix(".state.pt").exists()  # the resume state is removed after a finished run
    changed = RunSpec(spec.stack, spec.arch, spec.inputs, spec.seed, spec.tile_size,
                      TrainConfig(**{**TINY.as_dict(), "lr": 5e-4}))
    with pytest.raises(CheckpointError, match="another config"):
        load_checkpoint(path, expected=expected_meta(changed))


@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_run(cubes, tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(arch="unet", epochs=3, batch_size=4, train_stride=16, max_train_tiles=4, patience=0)
    spec = _spec(cfg)
    full, _ = train_run(cubes["eolearn"], spec, tmp_path / "full" / "unet-all-seed0.pt", progress=False)

    calls = {"n": 0}
    real_validate = train_mod.validate

    def interrupt_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_validate(*args, **kwargs)

    path = tmp_path / "resumed" / "unet-all-seed0.pt"
    monkeypatch.setattr(train_mod, "validate", interrupt_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_run(cubes["eolearn"], spec, path, progress=False)
    assert path.with_suffix(".state.pt").is_file() and not path.exists()
    monkeypatch.setattr(train_mod, "validate", real_validate)
    resumed, meta = train_run(cubes["eolearn"], spec, path, progress=False)
    pd.testing.assert_frame_equal(full, resumed)
    assert meta["epochs_run"] == 3


def test_error_cases(cubes) -> None:
    train, val, mods = run_datasets(cubes["eolearn"], _spec())
    wrong = build_model("unet", {"s2_t1": 13}, train.class_names)
    with pytest.raises(BandCountError, match="13 bands but the tiles have 27"):
        fit(wrong, train, val, TINY, seed=0, progress=False)

    model = build_model("unet", mods, train.class_names)
    train.image = train.image.copy()
    r, c = train.origins[0]
    train.image[3, r, c] = np.nan
    with pytest.raises(NonFiniteError, match="NaN/inf"):
        fit(model, train, val, TINY, seed=0, progress=False)

    train, val, mods = run_datasets(cubes["eolearn"], _spec())
    model = build_model("unet", mods, train.class_names)
    with torch.no_grad():
        model.segmentation_head[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="loss became nan"):
        fit(model, train, val, TINY, seed=0, progress=False)

    empty = cubes["eolearn"].copy(deep=True)
    empty["split"].values[empty["split"].values == 1] = 0  # no validation block left
    with pytest.raises(EmptyTileError, match="validation"):
        run_datasets(empty, _spec())
