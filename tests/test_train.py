"""Training on the real shipped data: input sets, overfitting, determinism, resume, error cases."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import eoxai.train as train_mod
from eoxai.checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from eoxai.config import load_profile, stack_declarations
from eoxai.errors import BandCountError, ConfigError, EmptyTileError, NonFiniteError
from eoxai.models import build_model
from eoxai.stacks import fuse_stack, load_stack
from eoxai.engine import Task, TensorBatches, TrainConfig, bf16_supported, fit, warmup_cosine
from eoxai.train import (
    RunSpec,
    TileBatches,
    augment_d4,
    expected_meta,
    fit_tiles,
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
            (stack, "manet_mit", "all", tr["seeds"][0]) for stack in tiles if stack in tr["runs"]}
        # a fused stack 02 does not train is there for notebook 11's synthetic-label models only
        assert set(tiles) - set(tr["runs"]) <= set(nb["11_known_answer_benchmark"]["stacks"])
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
    _, hist, info = fit_tiles(model, train, val, cfg, seed=0, progress=False)
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
        fit_tiles(wrong, train, val, TINY, seed=0, progress=False)

    model = build_model("unet", mods, train.class_names)
    train.image = train.image.copy()
    r, c = train.origins[0]
    train.image[3, r, c] = np.nan
    with pytest.raises(NonFiniteError, match="NaN/inf"):
        fit_tiles(model, train, val, TINY, seed=0, progress=False)

    train, val, mods = run_datasets(cubes["eolearn"], _spec())
    model = build_model("unet", mods, train.class_names)
    with torch.no_grad():
        model.segmentation_head[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="loss became nan"):
        fit_tiles(model, train, val, TINY, seed=0, progress=False)

    empty = cubes["eolearn"].copy(deep=True)
    empty["split"].values[empty["split"].values == 1] = 0  # no validation block left
    with pytest.raises(EmptyTileError, match="validation"):
        run_datasets(empty, _spec())


# ---------------------------------------------------------------- the engine itself (eoxai.engine)


def test_schedule_is_warmup_then_cosine_by_hand() -> None:
    """10 steps, warm-up 0.2 (2 steps), floor 0.1: factors (s+1)/3 for s < 2,
    then 0.1 + 0.9 (1 + cos(pi (s-2)/8)) / 2."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = warmup_cosine(opt, total_steps=10, warmup=0.2, floor=0.1)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"])
    hand = [2 * 1 / 3, 2 * 2 / 3] + [2 * (0.1 + 0.9 * (1 + np.cos(np.pi * k / 8)) / 2) for k in range(9)]
    np.testing.assert_allclose(lrs, hand, rtol=1e-6)
    assert lrs[2] == pytest.approx(2.0) and lrs[-1] == pytest.approx(0.2)  # peak after the warm-up, floor at the end
    plain = warmup_cosine(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 4, warmup=0.0, floor=0.0)
    assert plain.get_last_lr()[0] == pytest.approx(1.0)  # no warm-up: cosine from the first step


def _real_pixels(cubes, n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` labelled training pixels of the eo-learn cube as ``(n, 27)`` features and ``(n,)`` labels."""
    train, _, _ = run_datasets(cubes["eolearn"], _spec())
    rows, cols = np.nonzero(train.mask >= 0)
    pick = np.random.default_rng(0).choice(len(rows), n, replace=False)
    x = torch.from_numpy(train.image[:, rows[pick], cols[pick]].T.copy())
    return x, torch.from_numpy(train.mask[rows[pick], cols[pick]])


def test_early_stopping_stops_when_validation_does_not_improve(cubes) -> None:
    x, y = _real_pixels(cubes)
    scores = iter([0.5, 0.4, 0.45, 0.3, 0.9, 0.9])  # best at epoch 1, then two epochs without a better score

    def validate_stub(model, amp):
        return {"score": next(scores), "loss": 0.0}

    cfg = TrainConfig(epochs=6, batch_size=16, patience=2, lr=1e-2, augment=False)
    torch.manual_seed(0)
    model = torch.nn.Linear(27, 7)
    _, hist, info = fit(model, Task(TensorBatches(x, y, 16), torch.nn.CrossEntropyLoss(), validate_stub), cfg, seed=0,
                        progress=False)
    assert info["stopped_early"] and info["epochs_run"] == 3 and info["best_epoch"] == 1
    assert list(hist.columns) == ["epoch", "lr", "train_loss", "val_loss"]
    improving = iter([0.1, 0.2, 0.3, 0.4])
    _, _, info = fit(torch.nn.Linear(27, 7), Task(TensorBatches(x, y, 16), torch.nn.CrossEntropyLoss(),
                                                   lambda m, a: {"score": next(improving)}),
                     TrainConfig(epochs=4, batch_size=16, patience=2), seed=0, progress=False)
    assert not info["stopped_early"] and info["epochs_run"] == 4 and info["best_epoch"] == 4
    with pytest.raises(ConfigError, match="keep='best' needs a validation"):
        fit(torch.nn.Linear(27, 7), Task(TensorBatches(x, y, 16), torch.nn.CrossEntropyLoss()), cfg, seed=0,
            progress=False)


def test_best_weights_are_kept_not_the_last(cubes) -> None:
    x, y = _real_pixels(cubes)
    seen = []

    def remember(model, amp):
        seen.append(copy.deepcopy(model.state_dict()))
        return {"score": [0.2, 0.9, 0.1][len(seen) - 1]}

    model, _, info = fit(torch.nn.Linear(27, 7), Task(TensorBatches(x, y, 16), torch.nn.CrossEntropyLoss(), remember),
                         TrainConfig(epochs=3, batch_size=16, patience=0, lr=0.1), seed=0, progress=False)
    assert info["best_epoch"] == 2 and not info["stopped_early"]
    assert all(torch.equal(v, seen[1][k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, seen[2][k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("bf16", [False, True])
def test_two_fits_with_one_seed_give_the_same_weights(cubes, bf16) -> None:
    cfg = TrainConfig(arch="unet", epochs=2, batch_size=4, train_stride=16, max_train_tiles=4, patience=0,
                      bf16=bf16, channels_last=bf16)
    train, val, mods = run_datasets(cubes["eolearn"], _spec(cfg))
    weights, infos = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model, _, info = fit_tiles(build_model("unet", mods, train.class_names), train, val, cfg, seed=0,
                                   progress=False)
        weights.append(model.state_dict())
        infos.append(info)
    assert all(torch.equal(a, b) for a, b in zip(weights[0].values(), weights[1].values(), strict=True))
    # bf16 runs where this CPU computes it natively (AVX512-BF16/AMX), and only when asked
    assert infos[0]["bf16"] == (bf16 and bf16_supported(torch.device("cpu")))


def _tile_origins_by_loop(split, label, which, t, stride):
    """The former loop over every grid position (the reference for the summed-area version)."""
    from eoxai.split import BUFFER

    out = []
    for r in range(0, split.shape[0] - t + 1, stride):
        for c in range(0, split.shape[1] - t + 1, stride):
            s = split[r:r + t, c:c + t]
            if np.all((s == which) | (s == BUFFER)) and np.any((s == which) & (label[r:r + t, c:c + t] >= 0)):
                out.append((r, c))
    return out


def test_tile_origins_match_the_loop_on_the_real_cube(cubes) -> None:
    from eoxai.tiles import tile_origins

    cube = cubes["eolearn"]
    split, label = cube["split"].values, cube["label"].values
    for which in (0, 1, 2):
        for t, stride in ((32, 1), (32, 8), (16, 5)):
            assert tile_origins(split, label, which, t, stride) == _tile_origins_by_loop(split, label, which, t, stride)


def test_random_crops_are_seeded_and_cover_the_training_area(cubes) -> None:
    cfg = TrainConfig(arch="unet", epochs=1, batch_size=8, random_crops=20, patience=0)
    train, _, _ = run_datasets(cubes["eolearn"], _spec(cfg))
    fixed, _, _ = run_datasets(cubes["eolearn"], _spec(TrainConfig(arch="unet", train_stride=32)))
    assert set(fixed.origins) < set(train.origins)  # every fixed tile is one possible crop, among many more
    batches = TileBatches(train, 8, crops=20)
    assert len(batches) == 3

    def draw(seed):
        out = list(batches.epoch(torch.Generator().manual_seed(seed), augment=False))
        return torch.cat([img for img, _ in out]), torch.cat([m for _, m in out])

    (img_a, mask_a), (img_b, _), (img_c, _) = draw(1), draw(1), draw(2)
    assert img_a.shape == (20, 27, 32, 32) and torch.equal(img_a, img_b) and not torch.equal(img_a, img_c)
    assert all((m >= 0).any() for m in mask_a)  # every crop holds training labels
    assert (train.mask[cubes["eolearn"]["split"].values != 0] == -1).all()  # other splits never carry a label


def test_a_last_batch_of_one_tile_joins_the_batch_before(cubes) -> None:
    """Batch norm cannot train on one sample: 17 crops in batches of 8 are 8 + 9, never 8 + 8 + 1."""
    cfg = TrainConfig(arch="unet", epochs=1, batch_size=8, random_crops=17, patience=0)
    train, _, _ = run_datasets(cubes["eolearn"], _spec(cfg))
    sizes = [img.shape[0] for img, _ in TileBatches(train, 8, crops=17).epoch(torch.Generator().manual_seed(0), False)]
    assert sizes == [8, 9]
    assert [img.shape[0] for img, _ in TileBatches(train, 8, crops=18).epoch(torch.Generator().manual_seed(0), False)] == [8, 8, 2]
    assert len(TileBatches(train, 8, crops=1)) == 1  # a single tile is still one batch
