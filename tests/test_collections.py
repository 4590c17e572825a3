"""Scene collections (issue 18): the four paper datasets' layouts, read from miniature copies cut from
the shipped real Sen1Floods11 chip, split by scene, normalised with training-scene statistics and
streamed from disk; bad layouts and splits fail naming the scene and file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import yaml

from eoxai.config import load_profile, validate_declaration
from eoxai.data.download import REGISTRY
from eoxai.data.collection import RunningMoments, open_collection, pattern_regex
from eoxai.data.miniature import build_miniature
from eoxai.data.streaming import SceneTileDataset, collection_datasets, tile_loader
from eoxai.errors import BandCountError, ClassAbsentError, GridMismatchError, LayoutError, SceneNotFoundError
from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "sen1floods11_sample"
#: the miniatures hold water / not water (the source chip's real labels) in each layout's codes
TWO_CLASSES = {"sen1floods11": None, "whu_opt_sar": ({10: "not_water", 40: "water"}, 0),
               "mapinwild": ({0: "not_water", 1: "water"}, 255), "dfc2020": ({1: "not_water", 10: "water"}, 0)}


def paper_declarations() -> dict[str, dict]:
    """The paper profile's stacks, and the shipped declarations of the other paper datasets (mappings)."""
    stacks = {n: yaml.safe_load((ROOT / "config" / "stacks" / f"{n}.yaml").read_text()) for n in TWO_CLASSES}
    return {**stacks, **load_profile("paper", ROOT / "config")["stacks"]}


def miniature_declaration(name: str, **label: object):
    """The paper declaration of ``name`` as a collection at test size, with the miniature's two classes."""
    d = paper_declarations()[name]
    d["chip"] = None
    d.pop("_file", None)
    d.get("collection", {}).pop("cache_dir", None)
    d["tiling"]["tile_size"] = 64
    if TWO_CLASSES[name]:
        d["label"]["legend"], d["label"]["nodata"] = TWO_CLASSES[name]
        d["label"]["target"] = "water"
    d["label"].update(label)
    return validate_declaration(name, d)


@pytest.fixture(scope="module")
def minis(tmp_path_factory):
    root = tmp_path_factory.mktemp("collections")
    for name in TWO_CLASSES:
        build_miniature(name, SAMPLE, root / miniature_declaration(name).folder, n_scenes=10, size=128)
    return root


def copy_of(minis: Path, tmp_path: Path, name: str) -> Path:
    """A copy of the miniature ``name``; returns its dataset folder (under a root of its own)."""
    folder = miniature_declaration(name).folder
    shutil.copytree(minis / folder, tmp_path / folder)
    return tmp_path / folder


@pytest.mark.parametrize("name", list(TWO_CLASSES))
def test_each_paper_dataset_layout_reads_as_a_collection_split_by_scene(minis, name):
    decl = miniature_declaration(name)
    assert decl.is_collection and REGISTRY[decl.download].seed_target
    col = open_collection(decl, minis)
    names = {s: {x.name for x in sc} for s, sc in col.splits.items()}
    assert sum(map(len, names.values())) == 10
    assert not (names["train"] & names["test"]) and not (names["train"] & names["validation"])
    assert all(names.values())
    expected_rule = {"sen1floods11": "official split files", "mapinwild": "official split files",
                     "dfc2020": "official split by the 'group' field", "whu_opt_sar": "seeded scene-level split"}[name]
    assert col.split_rule.startswith(expected_rule)
    assert (col.summary()["rule"] == col.split_rule).all()
    train, val, bands = collection_datasets(col, 64, train_stride=64)
    assert bands == {m: len(md.bands) for m, md in decl.modalities.items()}
    batch = next(iter(tile_loader(train, 4, shuffle=True, seed=0, workers=0)))
    assert batch["image"].shape == (4, sum(bands.values()), 64, 64) and batch["image"].dtype == torch.float32
    assert batch["mask"].dtype == torch.int64 and set(batch["mask"].unique().tolist()) <= {-1, 0, 1}
    assert torch.isfinite(batch["image"]).all()
    assert len(val) > 0 and train.class_pixel_counts().min() > 0


def test_official_split_files_decide_the_scenes_of_each_split(minis):
    col = open_collection(miniature_declaration("sen1floods11"), minis)
    listed = (minis / col.declaration.folder / "splits/flood_handlabeled/flood_test_data.csv").read_text().splitlines()
    assert sorted(s.name for s in col.splits["test"]) == sorted(line.split("_S1Hand.tif")[0] for line in listed)


def test_seeded_split_depends_on_the_seed_only(minis):
    a = open_collection(miniature_declaration("whu_opt_sar"), minis)
    b = open_collection(miniature_declaration("whu_opt_sar"), minis)
    assert {k: [s.name for s in v] for k, v in a.splits.items()} == {k: [s.name for s in v] for k, v in b.splits.items()}
    d = miniature_declaration("whu_opt_sar").model_dump()
    d["collection"]["split"]["seed"] = 1
    c = open_collection(validate_declaration("whu_opt_sar", d), minis)
    assert [s.name for s in c.splits["train"]] != [s.name for s in a.splits["train"]]


def test_statistics_come_from_training_scenes_in_one_streaming_pass(minis):
    decl = miniature_declaration("sen1floods11").model_dump()
    decl["collection"]["statistics_rows"] = 7  # many partial merges per scene
    col = open_collection(validate_declaration("sen1floods11", decl), minis)
    stacked = []
    for scene in col.splits["train"]:
        parts = []
        for m, md in col.declaration.modalities.items():
            with rasterio.open(scene.files[m]) as ds:
                raw = ds.read().astype(np.float64)
                nod = md.nodata if md.nodata is not None else ds.nodata
            v = raw * md.scale
            v[(raw == nod) | ~np.isfinite(raw)] = np.nan
            parts.append(v.reshape(len(md.bands), -1))
        stacked.append(np.concatenate(parts))
    values = np.concatenate(stacked, axis=1)
    np.testing.assert_allclose(col.band_mean, np.nanmean(values, axis=1), rtol=1e-6)  # float32 scaling
    np.testing.assert_allclose(col.band_std, np.nanstd(values, axis=1), rtol=1e-5)
    everything = open_collection(validate_declaration("sen1floods11", {**decl, "collection": {
        **decl["collection"], "split": {"rule": "seeded", "fractions": [1.0, 0.0, 0.0]}}}), minis)
    assert not np.allclose(everything.band_mean, col.band_mean)  # test scenes do not leak into the statistics


def test_running_moments_merge_equals_the_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(3, 1000))
    x[1, ::7] = np.nan
    m = RunningMoments(3)
    for chunk in np.array_split(x, 9, axis=1):
        m.update(chunk)
    np.testing.assert_allclose(m.mean, np.nanmean(x, axis=1))
    np.testing.assert_allclose(m.std(), np.nanstd(x, axis=1))


def test_streamed_tiles_equal_the_tiles_of_the_whole_scene_in_memory(minis, tmp_path):
    col = open_collection(miniature_declaration("sen1floods11"), minis)
    disk = SceneTileDataset(col, "test", 64, memory_mb=0)
    cached = SceneTileDataset(col, "test", 64, memory_mb=0, cache_dir=tmp_path)
    memory = SceneTileDataset(col, "test", 64, memory_mb=1024, cache_dir=tmp_path)
    assert not disk.keep_scenes and memory.keep_scenes and memory.cache_dir is None
    for i in range(len(disk)):
        a, b, c = disk[i], memory[i], cached[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
        assert torch.equal(a["image"], c["image"]) and torch.equal(a["mask"], c["mask"])
    assert cached.cache_dir_writes == len(cached.scenes)
    assert len(list((tmp_path / col.name / cached.cache_key()).glob("*.npy"))) == 2 * len(cached.scenes)
    again = SceneTileDataset(col, "test", 64, memory_mb=0, cache_dir=tmp_path)
    assert torch.equal(again[0]["image"], disk[0]["image"]) and again.cache_dir_writes == 0  # written once
    scene, r, c = disk.origins[-1]
    with rasterio.open(disk.scenes[scene].files["label"]) as ds:
        raw = ds.read(1)[r:r + 64, c:c + 64].astype(np.int64)
    mask = disk[len(disk) - 1]["mask"].numpy()
    assert np.array_equal(mask[mask >= 0], raw[mask >= 0]) and (raw[mask < 0] == -1).sum() <= (mask < 0).sum()


def test_dataloader_workers_give_the_batches_of_the_main_process(minis):
    col = open_collection(miniature_declaration("sen1floods11"), minis)
    ds = SceneTileDataset(col, "train", 64, memory_mb=0)
    one = [b["image"] for b in tile_loader(ds, 8, shuffle=True, seed=3, workers=0)]
    two = [b["image"] for b in tile_loader(ds, 8, shuffle=True, seed=3, workers=2)]
    assert len(one) == len(two) and all(torch.equal(a, b) for a, b in zip(one, two, strict=True))


def test_pattern_regex_reads_the_fields_of_a_path():
    m = pattern_regex("ROIs0000_{group}/s1_0/ROIs0000_{group}_s1_0_p{chip}.tif").match(
        "ROIs0000_test/s1_0/ROIs0000_test_s1_0_p12.tif")
    assert m and m.groupdict() == {"group": "test", "chip": "12"}
    assert pattern_regex("ROIs0000_{group}/s1_0/ROIs0000_{group}_p{chip}.tif").match(
        "ROIs0000_test/s1_0/ROIs0000_validation_p12.tif") is None


# --- bad input --------------------------------------------------------------------------------


def test_a_split_file_naming_a_missing_scene_fails_naming_scene_and_file(minis, tmp_path):
    folder = copy_of(minis, tmp_path, "sen1floods11")
    split = folder / "splits/flood_handlabeled/flood_valid_data.csv"
    split.write_text(split.read_text() + "Ghana_000001_S1Hand.tif,Ghana_000001_LabelHand.tif\n")
    with pytest.raises(SceneNotFoundError, match=r"flood_valid_data\.csv.*'Ghana_000001'"):
        open_collection(miniature_declaration("sen1floods11"), tmp_path, checksum=False)


def test_a_scene_without_one_of_its_modalities_fails_naming_it(minis, tmp_path):
    victim = sorted((copy_of(minis, tmp_path, "whu_opt_sar") / "sar").glob("*.tif"))[0]
    victim.unlink()
    # the reference is optical: the scene is found and its SAR file is missing
    with pytest.raises(SceneNotFoundError, match=rf"{victim.stem}.*sar file .*{victim.name}"):
        open_collection(miniature_declaration("whu_opt_sar"), tmp_path, checksum=False)


def test_a_scene_whose_modalities_do_not_align_fails_naming_scene_and_file(minis, tmp_path):
    victim = sorted((copy_of(minis, tmp_path, "mapinwild") / "s1").glob("*.tif"))[3]
    with rasterio.open(victim, "r+") as ds:
        t = ds.transform
        ds.transform = rasterio.Affine(t.a, t.b, t.c + 50 * t.a, t.d, t.e, t.f)
    with pytest.raises(GridMismatchError, match=rf"scene '{victim.stem}'.*{victim.name} \(s1\) is on another grid"):
        open_collection(miniature_declaration("mapinwild"), tmp_path, checksum=False)


def test_a_class_absent_from_the_training_scenes_fails_naming_it(minis):
    decl = miniature_declaration("dfc2020", legend={1: "not_water", 9: "barren", 10: "water"})
    with pytest.raises(ClassAbsentError, match=r"\['barren'\].*training scenes.*label .*dfc_0"):
        open_collection(decl, minis)


def test_a_layout_matching_no_declared_pattern_fails_naming_patterns_and_files(minis, tmp_path):
    folder = copy_of(minis, tmp_path, "sen1floods11")
    (folder / "S1").rename(folder / "S1Hand")
    with pytest.raises(LayoutError, match=r"S1/\{chip\}_S1Hand\.tif.*found \['Labels/"):
        open_collection(miniature_declaration("sen1floods11"), tmp_path, checksum=False)


def test_a_changed_scene_file_fails_its_checksum(minis, tmp_path):
    from eoxai.errors import ChecksumError

    victim = sorted((copy_of(minis, tmp_path, "sen1floods11") / "S2").glob("*.tif"))[0]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0" * 10)
    with pytest.raises(ChecksumError):
        open_collection(miniature_declaration("sen1floods11"), tmp_path)


def test_the_single_scene_stacks_of_smoke_and_quick_are_no_collections():
    for profile in ("smoke", "quick"):
        cfg = load_profile(profile, ROOT / "config")
        for name, decl in cfg["stacks"].items():
            assert not validate_declaration(name, decl).is_collection, (profile, name)


def test_rule_inputs_of_a_collection_are_its_split_files_and_every_scene_file(minis, tmp_path):
    from eoxai.data.stack import declared_inputs

    decl = miniature_declaration("sen1floods11")
    files = declared_inputs(decl, minis)
    folder = minis / decl.folder
    assert files[:3] == [folder / f"splits/flood_handlabeled/flood_{s}_data.csv" for s in ("train", "valid", "test")]
    assert len([f for f in files if f.suffix == ".tif"]) == 3 * 10 and all(f.is_file() for f in files)
    # not downloaded yet: the folder itself is a missing input that names the dataset
    assert declared_inputs(miniature_declaration("whu_opt_sar"), tmp_path) == [tmp_path / "whu_opt_sar"]


def test_stacks_open_a_collection_and_refuse_to_read_it_as_one_scene(minis):
    from eoxai.errors import ConfigError
    from eoxai.stacks import load_stack, open_scenes

    decl = miniature_declaration("mapinwild")
    col = open_scenes(decl, minis)
    assert col.bands[:2] == ["s1.VV", "s1.VH"] and len(col.band_statistics()) == 12
    with pytest.raises(ConfigError, match="collection of scenes"):
        load_stack(decl, minis)


def test_a_model_of_the_paper_runs_trains_a_step_on_streamed_tiles(minis):
    """Smoke size of the paper code path: collection -> streamed tiles -> MiT model -> loss -> step."""
    from eoxai.models import build_model

    torch.manual_seed(0)
    col = open_collection(miniature_declaration("dfc2020"), minis)
    train, _, bands = collection_datasets(col, 64, modalities=["s1", "s2"], max_train_tiles=4)
    assert len(train) == 4
    model = build_model("manet_mit", bands, train.class_names, size="b0")
    batch = next(iter(tile_loader(train, 4, shuffle=True, seed=0, workers=0)))
    train.check_batch(batch["image"])
    with pytest.raises(BandCountError):
        train.check_batch(batch["image"][:, :3])
    logits = model(batch["image"])
    assert logits.shape == (4, len(train.class_names), 64, 64)
    loss = torch.nn.functional.cross_entropy(logits, batch["mask"], ignore_index=-1)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_single_scene_declarations_dump_as_before_collections_existed():
    cfg = load_profile("quick", ROOT / "config")
    for name, decl in cfg["stacks"].items():
        assert "collection" not in validate_declaration(name, decl).model_dump()


def test_dry_run_with_a_miniature_collection_schedules_every_notebook_and_reads_every_scene(minis, tmp_path):
    """A profile whose Sen1Floods11 stack is the miniature collection (the paper profile's
    declaration with chip: null; the other stacks the shipped samples): Snakemake's dry run."""
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    for entry in (ROOT / "data").iterdir():
        (data / entry.name).symlink_to(entry)
    (data / "sen1floods11").symlink_to(minis / "sen1floods11")
    stack = {k: v for k, v in load_profile("paper", ROOT / "config")["stacks"]["sen1floods11"].items() if k != "_file"}
    stack.update(chip=None, folder="sen1floods11", tiling={**stack["tiling"], "tile_size": 64})
    profile = tmp_path / "collection.yaml"
    profile.write_text(yaml.safe_dump({
        "extends": str(ROOT / "config" / "quick.yaml"), "profile": "collection", "data_dir": str(data),
        "results_dir": str(tmp_path / "results"),
        "stacks": {"sen1floods11": stack, "eolearn": {"declaration": str(ROOT / "config/stacks/eolearn.yaml")}}}))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(profile)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    scheduled = load_profile(profile)["notebooks"]
    assert len(scheduled) >= 10
    for nb in scheduled:
        assert f"/notebooks/{nb}" in out.stdout, f"no job runs {nb}"
    fusion = out.stdout.split("rule fusion:", 1)[1].split("output:", 1)[0]
    scene_files = {p.name for p in (minis / "sen1floods11").rglob("*") if p.suffix in (".tif", ".csv")}
    assert scene_files and all(name in fusion for name in scene_files)


def test_paper_profile_dry_run_schedules_every_notebook_on_the_full_collections(minis, tmp_path):
    """The paper profile itself, with the miniature of each dataset in place of the full download:
    every notebook is scheduled, every collection is fused into an index that 02-08b read, and the
    fusion rule reads every scene file of every collection (issue 18's done-when)."""
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    for entry in (ROOT / "data").iterdir():
        (data / entry.name).symlink_to(entry)
    folders = {name: miniature_declaration(name).folder for name in TWO_CLASSES}
    for folder in folders.values():
        (data / folder).symlink_to(minis / folder)
    (data / "eurosat_ms").mkdir()  # notebook 10's full EuroSAT-MS: its split lists are its rule inputs
    for split in ("train", "val", "test"):
        (data / "eurosat_ms" / f"eurosat-{split}.txt").write_text("")
    paper = load_profile("paper", ROOT / "config")
    stacks = {name: {k: v for k, v in decl.items() if k != "_file"} for name, decl in paper["stacks"].items()}
    chip = open_collection(miniature_declaration("sen1floods11"), minis).splits["train"][0].name
    stacks["sen1floods11_chip"]["chip"] = chip  # notebook 11's single scene: one of the miniature's chips
    profile = tmp_path / "paper_miniature.yaml"
    profile.write_text(yaml.safe_dump({"extends": str(ROOT / "config" / "paper.yaml"), "profile": "paper_miniature",
                                       "data_dir": str(data), "results_dir": str(tmp_path / "results"),
                                       "stacks": stacks}))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(profile)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    for nb in paper["notebooks"]:
        assert f"/notebooks/{nb}" in out.stdout, f"no job runs {nb}"
    for seed in paper["notebooks"]["02_training"]["seeds"]:
        assert f"02_training_seed{seed}.ipynb" in out.stdout
    collections = [n for n, d in stacks.items() if validate_declaration(n, d).is_collection]
    assert sorted(collections) == sorted(TWO_CLASSES)
    fusion = out.stdout.split("rule fusion:", 1)[1].split("\nrule ", 1)[0]
    for name in collections:
        assert f"interim/{name}.collection.json" in fusion
        scene_files = {p.name for p in (minis / folders[name]).rglob("*.tif")}
        assert scene_files and all(f in fusion for f in scene_files), name
    scorecard = out.stdout.split("rule score_explanations:", 1)[1].split("\nrule ", 1)[0]
    assert all(f"interim/{name}.collection.json" in scorecard for name in collections)
    assert "interim/sen1floods11_chip.nc" in out.stdout.split("rule known_answer:", 1)[1].split("\nrule ", 1)[0]


@pytest.mark.pipeline
@pytest.mark.slow
def test_the_paper_code_path_runs_end_to_end_on_a_miniature_collection(minis, tmp_path):
    """Smoke size of the paper code path: the workflow on a profile whose Sen1Floods11 stack is the
    miniature collection (official split files, streamed through a memory-mapped scene cache: a
    memory budget of 0 MB) beside the shipped single-scene eo-learn cube; notebooks 01-08b and 11
    with the smoke profile's parameters. Every job runs; 01 writes the collection's index, 03
    scores the test scenes' tiles, and the XAI notebooks explain tiles of test scenes."""
    import json
    import subprocess
    import sys

    import pandas as pd

    data = tmp_path / "data"
    data.mkdir()
    for entry in (ROOT / "data").iterdir():
        (data / entry.name).symlink_to(entry)
    (data / "sen1floods11").symlink_to(minis / "sen1floods11")
    smoke = load_profile("smoke", ROOT / "config")
    stack = {k: v for k, v in load_profile("paper", ROOT / "config")["stacks"]["sen1floods11"].items() if k != "_file"}
    stack.update(chip=None, tiling={**stack["tiling"], "tile_size": 64},
                 collection={**stack["collection"], "memory_mb": 0, "cache_dir": str(tmp_path / "scenes")})
    notebooks = {k: v for k, v in smoke["notebooks"].items() if k not in ("09_patch_size_hyperopt", "10_scene_shap")}
    for nb in ("04_interclass_gradcam", "06_occlusion_ig_gradcam"):
        notebooks[nb] = {**notebooks[nb], "stacks": ["sen1floods11"]}
    results = tmp_path / "results"
    profile = tmp_path / "collection_smoke.yaml"
    profile.write_text(yaml.safe_dump({
        "profile": "collection_smoke", "data_dir": str(data), "results_dir": str(results),
        "stacks": {"sen1floods11": stack, "eolearn": {"declaration": str(ROOT / "config/stacks/eolearn.yaml")}},
        "notebooks": notebooks}))
    out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(profile)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    index = json.loads((results / "interim" / "sen1floods11.collection.json").read_text())
    scenes = {s: {e["fields"][0][1] for e in v} for s, v in index["splits"].items()}
    assert index["split_rule"].startswith("official split files") and all(scenes.values())
    assert (results / "interim" / "eolearn.nc").is_file()  # the single scene is still a cube
    summary = pd.read_csv(results / "tables" / "fusion_summary.csv").set_index("stack")
    assert summary.loc["sen1floods11", "scenes_test"] == len(scenes["test"])
    tiles = pd.read_csv(results / "tables" / "evaluation_tiles.csv")
    s1f = tiles[tiles["stack"] == "sen1floods11"]
    assert len(s1f) and set(s1f["scene"]) <= scenes["test"]  # 03 scores tiles of the test scenes only
    assert list((tmp_path / "scenes").rglob("*.image.npy"))  # streamed through the scene cache
    for nb in ("07_shap_segmentation", "08b_explanation_scorecard"):
        text = (results / "notebooks" / f"{nb}.ipynb").read_text()
        assert "sen1floods11: " in text and "tiles from" in text
    assert (results / "manifest.json").is_file()
