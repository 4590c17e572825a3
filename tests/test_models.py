"""Model shapes for every architecture and modality subset, the fusion blocks, checkpoints."""

from __future__ import annotations

import pytest
import torch

from eoxai.checkpoint import CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint
from eoxai.models import MODELS, bottleneck, build_model, modality_sensor, modality_slices
from eoxai.models.claire import CMAF

# the modality structure of the two fused stacks (band counts as in the shipped data)
SEN1FLOODS11 = {"s1": 2, "s2": 13}
EOLEARN = {"s2_t1": 13, "s2_t2": 13, "dem": 1}



SUBSETS = [
    (SEN1FLOODS11, ["not_water", "water"]),
    ({"s2": 13}, ["not_water", "water"]),
    ({"s1": 2}, ["not_water", "water"]),
    (EOLEARN, ["a", "b", "c", "d", "e"]),
    ({"s2_t1": 13, "s2_t2": 13}, ["a", "b", "c", "d", "e"]),
]


def _needs_two_groups(name: str, mods: dict[str, int]) -> bool:
    groups = {modality_sensor(m) == "optical" for m in mods}
    return (name == "claire" and len(groups) < 2) or (name == "unet_influence" and len(mods) < 2)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("mods", "classes"), SUBSETS, ids=lambda v: "+".join(v) if isinstance(v, dict) else "")
def test_shapes_for_every_model_and_subset(name: str, mods: dict[str, int], classes: list[str]) -> None:
    torch.manual_seed(0)
    if _needs_two_groups(name, mods):
        with pytest.raises(ValueError, match="needs"):
            build_model(name, mods, classes)
        return
    model = build_model(name, mods, classes).eval()
    c = sum(mods.values())
    assert model.in_channels == c and model.modalities == mods and model.class_names == classes
    x = torch.randn(2, c, 32, 32)
    with torch.no_grad():
        logits = model(x)
        deep = bottleneck(model, x)
    assert logits.shape == (2, len(classes), 32, 32)
    assert torch.isfinite(logits).all()
    assert deep.ndim == 4 and deep.shape[0] == 2 and deep.shape[-1] == 1  # 32 / 32


def test_models_return_logits_not_probabilities() -> None:
    torch.manual_seed(1)
    model = build_model("manet_mit", SEN1FLOODS11, ["a", "b"]).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 15, 32, 32))
    assert not torch.allclose(out.sum(1), torch.ones(1, 32, 32))


def test_unknown_model_and_size() -> None:
    with pytest.raises(KeyError, match="known"):
        build_model("segformer", SEN1FLOODS11, ["a", "b"])
    with pytest.raises(ValueError, match="MiT size"):
        build_model("manet_mit", SEN1FLOODS11, ["a", "b"], size="b9")
    with pytest.raises(ValueError, match="no input bands"):
        build_model("unet", {}, ["a", "b"])


def test_wrong_band_count_fails() -> None:
    model = build_model("unet", SEN1FLOODS11, ["a", "b"]).eval()
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 13, 32, 32))


def test_modality_slices_and_sensors() -> None:
    assert modality_slices(EOLEARN) == {"s2_t1": slice(0, 13), "s2_t2": slice(13, 26), "dem": slice(26, 27)}
    assert [modality_sensor(m) for m in ("s1", "s2_t2", "dem", "sar_vv", "lidar")] == \
        ["sar", "optical", "elevation", "sar", "other"]


def test_occluder_zeroes_exactly_one_modality_per_copy() -> None:
    model = build_model("unet_influence", EOLEARN, list("abcde"))
    x = torch.randn(2, 27, 32, 32) + 5.0
    occ = model.occlude(x).reshape(3, 2, 27, 32, 32)
    for i, sl in enumerate(modality_slices(EOLEARN).values()):
        assert (occ[i][:, sl] == 0).all()
        others = torch.ones(27, dtype=torch.bool)
        others[sl] = False
        assert torch.equal(occ[i][:, others], x[:, others])


def test_influence_scores_in_unit_interval_and_used_by_the_classifier() -> None:
    torch.manual_seed(2)
    model = build_model("unet_influence", SEN1FLOODS11, ["a", "b"]).eval()
    x = torch.randn(3, 15, 32, 32)
    with torch.no_grad():
        s = model.influence(x)
        base = model(x)
        model.influence_head[-1].bias += 3.0  # other scores -> other logits
        moved = model(x)
    assert s.shape == (3, 2) and ((s > 0) & (s < 1)).all()
    assert not torch.allclose(base, moved)
    assert model.segmentation_head[0].in_channels == 16 + 2
    plain = build_model("unet", SEN1FLOODS11, ["a", "b"])
    assert plain.segmentation_head[0].in_channels == 16
    with pytest.raises(AttributeError, match="no influence head"):
        plain.influence(x)


def test_claire_streams_and_cmaf() -> None:
    model = build_model("claire", EOLEARN, list("abcde"))
    assert model.streams == {"optical": ["s2_t1", "s2_t2"], "other": ["dem"]}
    assert model.idx_b.tolist() == [26]
    torch.manual_seed(3)
    cmaf = CMAF(8, 8, 8, max_tokens=16).eval()
    a, b = torch.randn(2, 8, 8, 8), torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        out = cmaf(a, b)
        cmaf.gamma_a += 1.0
        attended = cmaf(a, b)
    assert out.shape == (2, 8, 8, 8)
    assert not torch.allclose(out, attended)  # attention contributes once its residual scale is non-zero


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip(name: str, tmp_path) -> None:
    torch.manual_seed(4)
    model = build_model(name, SEN1FLOODS11, ["not_water", "water"]).eval()
    meta = {"arch": name, "modalities": SEN1FLOODS11, "bands": [f"b{i}" for i in range(15)],
            "class_names": ["not_water", "water"], "size": "b0", "config_hash": "abc"}
    path = save_checkpoint(checkpoint_path(tmp_path, "sen1floods11", name, "all", 0), model, meta)
    assert path.name == f"{name}-all-seed0.pt" and path.parent.name == "sen1floods11"
    loaded, meta2 = load_checkpoint(path, expected={"config_hash": "abc"})
    x = torch.randn(1, 15, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training and meta2["arch"] == name
    with pytest.raises(CheckpointError, match="another config"):
        load_checkpoint(path, expected={"config_hash": "xyz"})


def test_corrupt_checkpoint(tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
