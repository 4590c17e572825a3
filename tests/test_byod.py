"""Bring your own data: a new stack is a data folder and a few lines of YAML, no code.

The end-to-end test writes real shipped rasters (the Sen1Floods11 chip) as a new dataset: one
GeoTIFF per modality under new file names, new modality names (``radar``, ``msi``), four of the
thirteen optical bands, a recoded label with new class names in a different legend order and
another nodata value; declares it in a new profile and runs notebooks 01-08b on it with
Snakemake in smoke settings.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from eoxai.checksums import sha256_file
from tests.conftest import DATA, ROOT

CHIP = "Spain_7370579"
SHIPPED = ("sen1floods11", "eolearn", "eolearn_patch", "sen1floods11_sample")


def write_geotiff(path: Path, values: np.ndarray, profile: dict, nodata: float | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    prof = {**profile, "count": values.shape[0], "dtype": values.dtype.name, "nodata": nodata}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(values)


def make_dataset(root: Path, size: int = 256) -> dict:
    """``root/floodplain/``: per-modality GeoTIFFs of the shipped chip's top-left ``size`` pixels."""
    src = DATA / "sen1floods11_sample"
    with rasterio.open(src / "S1" / f"{CHIP}_S1Hand.tif") as f:
        s1, prof = f.read()[:, :size, :size], f.profile
        prof.update(width=size, height=size, transform=f.transform)
    with rasterio.open(src / "S2" / f"{CHIP}_S2Hand.tif") as f:
        s2 = f.read()[[1, 2, 3, 7], :size, :size]  # B2, B3, B4, B8
    with rasterio.open(src / "Labels" / f"{CHIP}_LabelHand.tif") as f:
        lab = f.read()[:, :size, :size]
    prof = {k: v for k, v in prof.items() if k in ("driver", "width", "height", "crs", "transform")}
    folder = root / "floodplain"
    write_geotiff(folder / "sar" / "tile_a_backscatter.tif", s1.astype(np.float32), prof, None)
    write_geotiff(folder / "msi" / "tile_a_l1c.tif", s2.astype(np.uint16), prof, 0)
    recoded = np.full(lab.shape, 255, dtype=np.uint8)
    recoded[lab == 0] = 10
    recoded[lab == 1] = 20
    write_geotiff(folder / "reference" / "tile_a_classes.tif", recoded, prof, 255)
    files = sorted(p for p in folder.rglob("*.tif"))
    (folder / "SHA256SUMS").write_text("".join(f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}\n"
                                               for p in files))
    return {
        "description": "Sentinel-1 VV/VH + four Sentinel-2 bands, recoded flood labels (test dataset)",
        "source": "test fixture: the shipped Sen1Floods11 chip written as a new dataset",
        "folder": "floodplain",
        "chip": "tile_a",
        "modalities": {
            "radar": {"file": "sar/{chip}_backscatter.tif", "bands": ["co_pol", "cross_pol"], "sensor": "sar",
                      "units": "dB"},
            "msi": {"file": "msi/{chip}_l1c.tif", "bands": ["blue", "green", "red", "nir"], "sensor": "optical",
                    "units": "reflectance (0-1)", "scale": 1.0e-4, "nodata": 0,
                    "wavelengths_nm": {"blue": 490, "green": 560, "red": 665, "nir": 842}},
        },
        "label": {"file": "reference/{chip}_classes.tif", "nodata": 255,
                  "legend": {20: "open_water", 10: "dry_land"}},
        "reference": "msi",
        "rgb": ["msi.red", "msi.green", "msi.blue"],
        "tiling": {"block_size": 64, "buffer": 4, "tile_size": 32},
    }


def smoke_profile(data_dir: Path, results_dir: Path) -> dict:
    runs = {"floodplain": [{"arch": "manet_mit", "inputs": ["all", "optical"]}]}
    train = {"epochs": 1, "patience": 0, "train_stride": None, "max_train_tiles": 4}
    return {
        "profile": "floodplain_smoke",
        "data_dir": str(data_dir),
        "results_dir": str(results_dir),
        "stacks": {"floodplain": {"declaration": "floodplain.yaml"}},
        "notebooks": {
            "01_data_fusion": {"stacks": ["floodplain"]},
            "02_training": {"seeds": [0], "train": train, "runs": runs},
            "03_evaluation": {"seeds": [0], "train": train, "runs": runs},
            "04_interclass_gradcam": {"stacks": ["floodplain"], "max_tiles": 2, "batch_size": 2},
            "05_spectral_gradcam": {"stacks": ["floodplain"], "max_tiles": {"floodplain": 1}, "violin_pixels": 100},
            "06_occlusion_ig_gradcam": {"stacks": ["floodplain"], "n_instances": 1, "ig_steps": 4, "ig_batch": 4},
            "07_shap_segmentation": {"n_instances": 1, "grid": 4, "blur": 5, "max_evals": 40},
            "08_modality_influence": {},
            "08b_explanation_scorecard": {"n_instances": 1, "ig_steps": 4, "occlusion_grid": 4, "shap_grid": 4,
                                          "shap_blur": 5, "shap_max_evals": 40, "curve_steps": 4},
        },
    }


def snakemake(*args: str, timeout: int = 3000) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture()
def new_dataset(tmp_path) -> tuple[Path, Path]:
    """(profile file, results folder) of the new dataset."""
    data = tmp_path / "data"
    decl = make_dataset(data)
    (tmp_path / "floodplain.yaml").write_text(yaml.safe_dump(decl, sort_keys=False))
    results = tmp_path / "results"
    profile = tmp_path / "my_profile.yaml"
    profile.write_text(yaml.safe_dump(smoke_profile(data, results), sort_keys=False))
    return profile, results


def test_new_dataset_reads_and_fuses_without_code(new_dataset):
    from eoxai.config import load_profile, stack_declarations
    from eoxai.stacks import fuse_stack, load_stack

    profile, _ = new_dataset
    cfg = load_profile(profile)
    decl = stack_declarations(cfg)["floodplain"]
    modalities, label = load_stack(decl, cfg["data_dir"])
    assert list(modalities) == ["radar", "msi"]
    assert list(modalities["msi"].band.values) == ["blue", "green", "red", "nir"]
    assert label.attrs["class_names"] == ["open_water", "dry_land"]  # legend order, not value order
    cube = fuse_stack(decl, modalities, label, fractions=[0.6, 0.2, 0.2], seed=1)
    assert cube.attrs["reference_modality"] == "msi"
    assert list(cube["class"].values) == ["open_water", "dry_land"]
    assert cube.sizes["band"] == 6 and "msi.nir" in cube["band"].values
    # water (raw 20) is class 0 now: the shipped chip's water pixels
    with rasterio.open(DATA / "sen1floods11_sample" / "Labels" / f"{CHIP}_LabelHand.tif") as f:
        water = f.read(1)[:256, :256] == 1
    np.testing.assert_array_equal(cube["label"].values == 0, water)


def test_dry_run_schedules_only_the_listed_notebooks_with_the_new_files_as_inputs(new_dataset):
    profile, results = new_dataset
    out = snakemake("-n", "--cores", "1", "--forceall", "--printshellcmds", "--configfile", str(profile))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "tile_a_backscatter.tif" in out.stdout  # a declared file is an input of rule fusion
    assert "notebooks/09_patch_size_hyperopt" not in out.stdout and "10_scene_shap" not in out.stdout
    assert "sen1floods11_sample" not in out.stdout and "eolearn_patch" not in out.stdout
    assert f"{results}/interim/floodplain.nc" in out.stdout


@pytest.mark.pipeline
def test_notebooks_01_to_08b_run_end_to_end_on_a_new_dataset(new_dataset):
    profile, results = new_dataset
    run = snakemake("--cores", "2", "--configfile", str(profile))
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    for nb in ("01_data_fusion", "02_training_seed0", "03_evaluation", "04_interclass_gradcam", "05_spectral_gradcam",
               "06_occlusion_ig_gradcam", "07_shap_segmentation", "08_modality_influence",
               "08b_explanation_scorecard"):
        assert (results / "notebooks" / f"{nb}.ipynb").is_file(), nb
    assert (results / "interim" / "floodplain.nc").is_file()
    assert (results / "figures" / "fusion_floodplain_panel.png").is_file()
    assert (results / "reports" / "sample_report_floodplain.md").is_file()
    summary = pd.read_csv(results / "tables" / "fusion_summary.csv")
    assert summary["stack"].tolist() == ["floodplain"]
    assert summary["modalities"].iloc[0] == "radar + msi"
    assert summary["classes"].iloc[0] == "open_water | dry_land"
    bands = pd.read_csv(results / "tables" / "fusion_band_statistics.csv")
    assert set(bands["band"]) == {"radar.co_pol", "radar.cross_pol", "msi.blue", "msi.green", "msi.red", "msi.nir"}
    for table in (results / "tables").glob("*.csv"):
        text = table.read_text()
        assert not any(name in text for name in SHIPPED), f"{table.name} names a shipped stack"


NAME_SWITCH = re.compile(r"""["'](sen1floods11|eolearn)["']""")
#: the download registry names datasets (a declaration's `download:` points at an entry); its
#: entries may spell those names, but nothing may compare against them
#: registries keyed by dataset name: the download entries and the miniature layouts of the same datasets
REGISTRY_FILES = ("lib/eoxai/data/download.py", "lib/eoxai/data/miniature.py")


def _lib_offenders(path: Path) -> list[str]:
    """Shipped stack names as string constants in code (docstrings excluded)."""
    import ast

    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    rel = path.relative_to(ROOT).as_posix()
    out = []
    for node in ast.walk(tree):
        names = [c for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in ("sen1floods11", "eolearn")]
        if isinstance(node, ast.Compare) and names:
            out.append(f"{rel}:{node.lineno}: compares with {names[0].value!r}")
        elif isinstance(node, ast.Constant) and node.value in ("sen1floods11", "eolearn") and id(node) not in docstrings \
                and rel not in REGISTRY_FILES:
            out.append(f"{rel}:{node.lineno}: {node.value!r}")
    return out


def _code_cells(path: Path) -> str:
    """A notebook's code without its parameters cell (which mirrors the quick profile) and markdown."""
    import jupytext

    nb = jupytext.read(path)
    return "\n".join(c.source for c in nb.cells
                     if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))


def test_no_stack_name_switches_outside_config_data_and_tests():
    """Nothing in the lib, the rules or the notebooks' code compares against or looks up a shipped stack."""
    offenders = [o for path in sorted(ROOT.joinpath("lib").rglob("*.py")) for o in _lib_offenders(path)]
    for path in [ROOT / "Snakefile", *sorted(ROOT.joinpath("workflow").rglob("*.smk"))]:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if NAME_SWITCH.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    for path in sorted(ROOT.joinpath("notebooks").glob("0[1-8]*.py")):
        for line in _code_cells(path).splitlines():
            if re.search(r"\b(sen1floods11|eolearn)\b", line):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders, "stack names in code:\n" + "\n".join(offenders)


def test_the_readme_example_declaration_and_profile_are_valid(tmp_path):
    """The YAML a reader copies from README "Bring your own data" loads and schedules 01-08b."""
    from eoxai.config import load_profile, stack_declarations

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Bring your own data"):]
    declaration, profile = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    (tmp_path / "mysite.yaml").write_text(declaration)
    (tmp_path / "my.yaml").write_text(profile)
    cfg = load_profile(tmp_path / "my.yaml", ROOT / "config")
    assert list(cfg["notebooks"])[-1] == "08b_explanation_scorecard" and "09_patch_size_hyperopt" not in cfg["notebooks"]
    decl = stack_declarations(cfg)["mysite"]
    assert decl.reference_modality == "msi" and decl.label.class_names == ["water", "forest", "cropland"]
