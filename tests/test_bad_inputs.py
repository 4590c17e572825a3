"""Bad input gives an error (or a warning) that names the culprit: file, key, sizes, remedy.

Every case writes real shipped rasters as a new dataset (:func:`tests.test_byod.make_dataset`),
breaks one thing and checks the message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import yaml

from eoxai.config import load_profile, stack_declarations, validate_declaration
from eoxai.data.stack import open_stack
from eoxai.errors import (
    BandCountError,
    ClassLabelError,
    DatasetNotFoundError,
    EmptyTileError,
    GridMismatchError,
    MissingCRSError,
    RasterReadError,
    TileSizeError,
)
from eoxai.stacks import DegenerateLabelWarning, explained_target, fuse_stack, load_stack
from tests.conftest import ROOT
from tests.test_byod import make_dataset

SAR = "floodplain/sar/tile_a_backscatter.tif"
MSI = "floodplain/msi/tile_a_l1c.tif"
LABEL = "floodplain/reference/tile_a_classes.tif"


@pytest.fixture()
def byod(tmp_path):
    """(data root, declaration mapping) of a fresh copy of the new dataset."""
    root = tmp_path / "data"
    return root, make_dataset(root, size=128)


def rewrite(path: Path, transform=None, crs="keep", values=None) -> None:
    """Rewrite a GeoTIFF in place with another transform, CRS (None: none) or values."""
    with rasterio.open(path) as f:
        prof, data = f.profile, f.read()
    if transform is not None:
        prof["transform"] = transform
    if crs != "keep":
        prof["crs"] = crs
    if values is not None:
        data = values.astype(data.dtype)
        prof["count"] = data.shape[0]
    path.unlink()
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)


def load(root: Path, decl: dict, name: str = "floodplain", **kwargs):
    """Read the stack without checksums (the cases break files on purpose)."""
    declaration = validate_declaration(name, {**decl, **kwargs})
    sample = open_stack(declaration, root, checksum=False).load()
    return declaration, sample


def test_shipped_declarations_give_the_cubes_of_the_former_readers(sen1floods11_sample, eolearn_sample):
    """The declared stacks read exactly what the dedicated readers read (so the quick cubes are unchanged)."""
    import xarray as xr

    from eoxai.fusion import fuse

    decls = stack_declarations(load_profile("quick", ROOT / "config"))
    former = {"sen1floods11": sen1floods11_sample, "eolearn": eolearn_sample}
    for name, decl in decls.items():
        mods, label = load_stack(decl, ROOT / "data")
        old = former[name]
        assert list(mods) == [k for k in old if k != "label"]
        t = decl.tiling
        new_cube = fuse_stack(decl, mods, label, fractions=[0.6, 0.2, 0.2], seed=5)
        old_cube = fuse({k: v for k, v in old.items() if k != "label"}, old["label"], block_size=t.block_size,
                        buffer=t.buffer, fractions=[0.6, 0.2, 0.2], seed=5, name=name)
        assert new_cube.attrs.pop("declaration")
        xr.testing.assert_identical(new_cube, old_cube)


def test_truncated_raster_names_the_file_and_what_failed(byod):
    root, decl = byod
    f = root / MSI
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(RasterReadError, match=rf"{MSI}: cannot read the raster \(.+\).*truncated or corrupt"):
        load(root, decl)


def test_raster_without_crs_names_the_file(byod):
    root, decl = byod
    rewrite(root / SAR, crs=None)
    with pytest.raises(MissingCRSError, match=rf"{SAR}: the raster has no coordinate reference system"):
        load(root, decl)


def test_crs_mismatch_names_both_files_both_crss_and_the_reproject_key(byod, tmp_path):
    root, decl = byod
    with rasterio.open(root / SAR) as f:
        crs = f.crs
    # the same pixels, declared in another CRS: the partner is changed, the reference (msi) is not
    rewrite(root / SAR, crs="EPSG:3857")
    declaration, sample = load(root, decl)
    with pytest.raises(GridMismatchError) as err:
        fuse_stack(declaration, {m: sample[m] for m in declaration.modalities}, sample["label"],
                   fractions=[0.6, 0.2, 0.2], seed=0)
    msg = str(err.value)
    assert f"'radar' ({root / SAR}, CRS EPSG:3857)" in msg
    assert f"reference 'msi' ({root / MSI}, CRS {crs})" in msg
    assert "`stacks.floodplain.reproject: true`" in msg
    # ... and that key exists: a profile may set it, and the stack then fuses
    (tmp_path / "fp.yaml").write_text(yaml.safe_dump(decl))
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"profile": "p", "data_dir": str(root),
                                       "stacks": {"floodplain": {"declaration": "fp.yaml", "reproject": True}},
                                       "notebooks": {"01_data_fusion": {"stacks": ["floodplain"]}}}))
    reproject = stack_declarations(load_profile(profile, ROOT / "config"))["floodplain"]
    assert reproject.reproject is True


def test_grid_offset_is_given_in_pixels(byod):
    root, decl = byod
    with rasterio.open(root / SAR) as f:
        t = f.transform
    rewrite(root / SAR, transform=rasterio.Affine(t.a, t.b, t.c + 3 * t.a, t.d, t.e, t.f))
    declaration, sample = load(root, decl)
    with pytest.raises(GridMismatchError, match=r"x origin .*\(offset [-+0-9.e]+, \+3 px\)"):
        fuse_stack(declaration, {m: sample[m] for m in declaration.modalities}, sample["label"],
                   fractions=[0.6, 0.2, 0.2], seed=0)


def test_all_nodata_label_names_the_file(byod):
    root, decl = byod
    rewrite(root / LABEL, values=np.full((1, 128, 128), 255))
    with pytest.raises(EmptyTileError, match=rf"every pixel of {root / LABEL} is nodata \(255\)"):
        load(root, decl)


def test_label_values_outside_the_legend_are_listed(byod):
    root, decl = byod
    with rasterio.open(root / LABEL) as f:
        lab = f.read()
    lab[0, :5, :5] = 7
    lab[0, 5:9, :5] = 42
    rewrite(root / LABEL, values=lab)
    with pytest.raises(ClassLabelError, match=r"label values \[7, 42\] are not among the declared classes"):
        load(root, decl)


def test_wrong_band_count_names_file_and_bands(byod):
    root, decl = byod
    decl["modalities"]["msi"]["bands"] = ["blue", "green", "red"]
    decl["modalities"]["msi"]["wavelengths_nm"] = {"blue": 490}
    with pytest.raises(BandCountError, match=rf"{MSI} \(msi\): found 4 band\(s\), expected 3 \(blue, green, red\)"):
        load(root, decl)


def test_missing_modality_file_is_named(byod):
    root, decl = byod
    (root / SAR).unlink()
    with pytest.raises(DatasetNotFoundError, match=rf"missing file\(s\) \['{root / SAR}'\]"):
        load(root, decl)


def test_tile_larger_than_the_scene_names_both_sizes(byod):
    root, decl = byod
    decl["tiling"] = {"block_size": 256, "buffer": 4, "tile_size": 200}
    declaration, sample = load(root, decl)
    with pytest.raises(TileSizeError, match=r"tile_size 200 px is larger than the scene \(128 x 128 px\)"):
        fuse_stack(declaration, {m: sample[m] for m in declaration.modalities}, sample["label"],
                   fractions=[0.6, 0.2, 0.2], seed=0)


def test_single_class_training_split_and_absent_explained_class_warn(byod):
    import warnings

    root, decl = byod
    rewrite(root / LABEL, values=np.full((1, 128, 128), 20))  # open water everywhere
    declaration, sample = load(root, decl)
    with pytest.warns(DegenerateLabelWarning, match=r"training split holds a single class \['open_water'\]"):
        cube = fuse_stack(declaration, {m: sample[m] for m in declaration.modalities}, sample["label"],
                          fractions=[0.6, 0.2, 0.2], seed=0)
    masks = cube["label"].values[None]
    # no target named: the legend's last class, dry_land, which no explained pixel holds
    with pytest.warns(DegenerateLabelWarning, match="explained class 'dry_land' is absent"):
        assert explained_target(cube, {}, masks=masks) == "dry_land"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert explained_target(cube, {"floodplain": "open_water"}, masks=masks) == "open_water"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eoxai.data.download", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_download_cli_fails_with_one_line_exit_2_and_no_empty_folder(tmp_path):
    root = tmp_path / "new_data"
    out = run_cli("sen1floods11", "--root", str(root), "--chips", "Spain_7370579",
                  "--base-url", "http://127.0.0.1:9", "--timeout", "2")
    assert out.returncode == 2
    # (tqdm's progress lines may precede it) one line of error, the last, and no traceback
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in out.stderr and len(errors) == 1 and out.stderr.strip().endswith(errors[0])
    assert errors[0].startswith("error: cannot download http://127.0.0.1:9/")
    assert not root.exists(), f"left behind: {[p.as_posix() for p in root.rglob('*')]}"
    for args in (("imagenet",), ("whu_opt_sar", "--root", str(root))):
        out = run_cli(*args)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: ")
    assert not root.exists()


def snakemake(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.pipeline
def test_paper_dry_run_lists_every_missing_dataset_with_its_download_command(tmp_path):
    out = snakemake("-n", "--cores", "1", "--config", "profile=paper", f"results_dir={tmp_path}")
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "Missing datasets (5)" in text
    # a collection's split files and folder are its inputs while the download is missing
    assert "data/sen1floods11: missing data/sen1floods11/splits/flood_handlabeled/flood_train_data.csv" in text
    assert "`python -m eoxai.data.download sen1floods11 --root data`" in text
    for name in ("whu_opt_sar", "mapinwild", "dfc2020"):
        assert f"data/{name}: missing data/{name}" in text
        assert f"`python -m eoxai.data.download {name} --root data` (prints the manual steps)" in text
    # rule scene_shap's split lists are inputs even while missing (no rule hides a missing input)
    assert "data/eurosat_ms: missing data/eurosat_ms/eurosat-train.txt" in text
    assert "`python -m eoxai.data.download eurosat_ms --root data`" in text


@pytest.mark.pipeline
def test_a_profile_typo_stops_snakemake_before_any_job(tmp_path):
    profile = tmp_path / "typo.yaml"
    profile.write_text(yaml.safe_dump({"profile": "typo", "results_dir": str(tmp_path / "r"),
                                       "notebooks": {"07_shap_segmentation": {"max_eval": 10}}}))
    out = snakemake("-n", "--cores", "1", "--configfile", str(profile))
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "notebooks.07_shap_segmentation.max_eval: unknown key; did you mean 'max_evals'?" in text
    assert "Building DAG of jobs" not in text
    assert not (tmp_path / "r").exists()


def test_no_training_tile_names_tile_block_and_scene_sizes(byod):
    root, decl = byod
    decl["tiling"] = {"block_size": 16, "buffer": 2, "tile_size": 100}  # fits the scene, not one block
    declaration, sample = load(root, decl)
    with pytest.raises(TileSizeError, match=r"no 100 x 100 px training tile with labels fits the 128 x 128 px scene "
                                            r"split into blocks of 16 px \(buffer 2\)"):
        fuse_stack(declaration, {m: sample[m] for m in declaration.modalities}, sample["label"],
                   fractions=[0.6, 0.2, 0.2], seed=0)
