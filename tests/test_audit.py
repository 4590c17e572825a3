"""The reviewer audit: data checksums, manifest against files, rerun comparison, clear messages.

The "committed" and "rerun" trees are two real runs of the cheap ``fusion`` rule on the smoke
profile into temporary folders (plus their manifests), so the comparison also shows that the rule
repeats exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eoxai import audit
from eoxai.provenance import build_manifest

ROOT = Path(__file__).resolve().parents[1]


def _run_fusion(out: Path) -> Path:
    out = audit.prepare_scratch(out)
    record = out / "provenance" / "01_data_fusion.json"
    rc = audit.rerun("smoke", 1, out, root=ROOT, targets=[record.as_posix()])
    assert rc == 0, "the smoke fusion rule failed"
    manifest = build_manifest([record], results_dir=out.as_posix(), profile="smoke", seed=20261123)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("audit")
    return _run_fusion(base / "committed"), _run_fusion(base / "rerun")


@pytest.fixture
def committed_copy(trees, tmp_path) -> Path:
    dst = tmp_path / "committed"
    shutil.copytree(trees[0], dst)
    return dst


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = audit.main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_identical_runs_pass(trees, capsys, monkeypatch):
    committed, rerun = trees
    assert audit.manifest_outputs(audit.read_manifest(committed))  # the trees hold outputs
    findings = audit.compare_trees(committed, rerun)
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]
    assert {Path(f.path).suffix for f in findings} == {".csv", ".png", ".ipynb"}  # cubes: regenerable
    assert all(f.ok for f in audit.check_manifest(committed, ROOT))
    monkeypatch.chdir(ROOT)
    rc, out, _ = _cli(capsys, "--profile", "smoke", "--results", str(committed), "--compare-only", str(rerun))
    assert rc == 0, out
    assert "[PASS] data" in out and "[PASS] manifest" in out and "[PASS] compare" in out
    assert "RESULT: PASS" in out
    assert "2 regenerable output(s) in git-ignored folders" in out  # the two fused cubes under interim/


def test_an_altered_table_cell_fails_with_a_readable_report(trees, committed_copy, capsys, monkeypatch):
    table = committed_copy / "tables" / "fusion_summary.csv"
    df = pd.read_csv(table)
    col = next(c for c in df.columns if pd.api.types.is_float_dtype(df[c]))
    df.loc[0, col] = df.loc[0, col] * 1.01 + 1.0
    df.to_csv(table, index=False)
    monkeypatch.chdir(ROOT)
    rc, out, _ = _cli(capsys, "--profile", "smoke", "--results", str(committed_copy), "--compare-only", str(trees[1]))
    assert rc == 1
    assert "[FAIL] compare" in out and "[FAIL] manifest" in out and "RESULT: FAIL" in out
    assert f"fusion_summary.csv: row 0 column {col!r}: committed" in out
    assert "fusion_summary.csv: modified" in out  # its sha256 no longer matches manifest.json
    assert "[PASS] data" in out


def test_compare_csv_cell_rules(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"n": [1, 2], "x": [0.5, np.nan], "sha": ["ab12", "cd34"]}).to_csv(a, index=False)
    pd.DataFrame({"n": [1, 2], "x": [0.5 + 1e-9, np.nan], "sha": ["ab12", "cd34"]}).to_csv(b, index=False)
    assert audit.compare_csv(a, b) == []  # float within tolerance, NaN equals NaN
    pd.DataFrame({"n": [1, 3], "x": [0.6, np.nan], "sha": ["ab12", "cd35"]}).to_csv(b, index=False)
    diffs = audit.compare_csv(a, b)
    assert len(diffs) == 3
    assert "row 1 column 'n': committed '2', rerun '3' (must be equal)" in diffs
    assert "row 0 column 'x': committed 0.5, rerun 0.6 (|diff| 0.1 > 1e-09 + 1e-06 * |rerun|)" in diffs
    assert any("column 'sha'" in d for d in diffs)
    assert audit.compare_csv(a, b, rtol=0.5, atol=0.0)[0].startswith("row 1 column 'n'")
    pd.DataFrame({"n": [1, 2]}).to_csv(b, index=False)
    assert audit.compare_csv(a, b)[0].startswith("columns differ")


def test_measurements_of_the_run_are_not_compared(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"miou": [0.8], "wall_s": [10.0], "tiles_per_s": [40.0], "seconds_IG": [1.0],
                  "device": ["cpu"], "cached": [False]}).to_csv(a, index=False)
    pd.DataFrame({"miou": [0.8], "wall_s": [12.5], "tiles_per_s": [31.0], "seconds_IG": [2.0],
                  "device": ["cuda"], "cached": [True]}).to_csv(b, index=False)
    assert audit.compare_csv(a, b) == []
    pd.DataFrame({"miou": [0.7], "wall_s": [12.5], "tiles_per_s": [31.0], "seconds_IG": [2.0],
                  "device": ["cuda"], "cached": [True]}).to_csv(b, index=False)
    assert [d.split(":")[0] for d in audit.compare_csv(a, b)] == ["row 0 column 'miou'"]


def test_compare_png_by_pixels(tmp_path):
    from PIL import Image

    px = np.zeros((20, 30, 3), dtype=np.uint8)
    Image.fromarray(px).save(tmp_path / "a.png")
    Image.fromarray(px).save(tmp_path / "b.png", pnginfo=_pnginfo("other metadata"))
    assert audit.compare_file(tmp_path / "a.png", tmp_path / "b.png") == (True, "same pixels")
    px[3, 4] = 255
    Image.fromarray(px).save(tmp_path / "c.png")
    why = audit.compare_png(tmp_path / "a.png", tmp_path / "c.png")
    assert why is not None and why.startswith("1 of 600 pixels differ") and "255" in why
    assert audit.compare_png(tmp_path / "a.png", tmp_path / "c.png", tolerance=0.01) is None
    Image.fromarray(px[:10]).save(tmp_path / "d.png")
    assert "image size differs" in audit.compare_png(tmp_path / "a.png", tmp_path / "d.png")


def _pnginfo(text: str):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", text)
    return info


def test_missing_extra_and_modified_committed_results_are_named(trees, committed_copy):
    figure = sorted((committed_copy / "figures").glob("*.png"))[0]
    figure.unlink()
    (committed_copy / "tables" / "stray.csv").write_text("a\n1\n")
    findings = {f.path: f for f in audit.check_manifest(committed_copy, ROOT) if not f.ok}
    assert set(findings) == {figure.as_posix(), (committed_copy / "tables" / "stray.csv").as_posix()}
    assert findings[figure.as_posix()].message.startswith("listed in")
    assert "but missing (made by rule 'fusion' from notebooks/01_data_fusion.ipynb)" in findings[figure.as_posix()].message
    assert "not listed" in findings[(committed_copy / "tables" / "stray.csv").as_posix()].message
    compared = {f.path: f for f in audit.compare_trees(committed_copy, trees[1]) if not f.ok}
    assert list(compared) == [figure.as_posix()]
    assert compared[figure.as_posix()].message.startswith("missing committed result")


def test_results_made_from_other_inputs_are_flagged(committed_copy):
    manifest = json.loads((committed_copy / "manifest.json").read_text())
    for entry in manifest["files"].values():
        entry["inputs"]["notebooks/01_data_fusion.ipynb"] = "0" * 64
    (committed_copy / "manifest.json").write_text(json.dumps(manifest))
    bad = [f for f in audit.check_manifest(committed_copy, ROOT) if not f.ok]
    assert [f.path for f in bad] == ["notebooks/01_data_fusion.ipynb"]
    assert bad[0].check == "inputs" and "changed since the results were made" in bad[0].message


def test_data_checksum_messages(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "y.txt").write_text("y")
    from eoxai.checksums import sha256_file

    (tmp_path / "SHA256SUMS").write_text(
        f"{sha256_file(tmp_path / 'a' / 'x.txt')}  ./a/x.txt\n{sha256_file(tmp_path / 'y.txt')}  ./y.txt\n"
        f"{'0' * 64}  ./gone.txt\n")
    (tmp_path / "README.md").write_text("provenance")
    assert [f.ok for f in audit.verify_data(tmp_path)] == [True, False, True]
    (tmp_path / "a" / "x.txt").write_text("changed")
    (tmp_path / "new.tif").write_text("?")
    bad = {Path(f.path).name: f.message for f in audit.verify_data(tmp_path) if not f.ok}
    assert bad["x.txt"].startswith("checksum changed: SHA256SUMS has ")
    assert bad["gone.txt"] == "listed in SHA256SUMS but missing"
    assert bad["new.tif"] == "data file not listed in SHA256SUMS (unverifiable)"
    assert "README.md" not in bad


def test_unknown_profile_and_missing_results_are_usage_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    rc, _, err = _cli(capsys, "--profile", "nope")
    assert rc == 2 and "profile 'nope' does not exist" in err and "Known profiles" in err
    rc, _, err = _cli(capsys, "--profile", "smoke", "--results", str(tmp_path), "--compare-only", str(tmp_path))
    assert rc == 2 and f"{tmp_path / 'manifest.json'} not found" in err


def test_rerun_command_and_scratch_safety(tmp_path):
    cmd = audit.rerun_command("quick", 2, tmp_path / "s")
    assert cmd[1:] == ["-m", "snakemake", "--cores", "2", "--config", "profile=quick",
                       f"results_dir={(tmp_path / 's').as_posix()}", "--forceall"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(audit.AuditError, match="was not made by the audit"):
        audit.prepare_scratch(tmp_path / "mine")
    s = audit.prepare_scratch(tmp_path / "s")
    (s / "old.csv").write_text("stale")
    audit.prepare_scratch(s)  # an audit scratch folder is cleared for the next run
    assert [p.name for p in s.iterdir()] == [audit.SCRATCH_MARKER]


def test_figure_table_says_where_each_figure_comes_from(trees, capsys, monkeypatch):
    table = audit.figure_table(audit.read_manifest(trees[0]))
    assert len(table) == 6 and set(table["rule"]) == {"fusion"}
    assert set(table["notebook"]) == {"notebooks/01_data_fusion.ipynb"}
    assert table["figure"].str.startswith("figures/fusion_").all()
    assert "data/sen1floods11_sample/S1" in table["inputs"].iloc[0]
    monkeypatch.chdir(ROOT)
    rc, out, _ = _cli(capsys, "--profile", "smoke", "--results", str(trees[0]), "--figure-table")
    assert rc == 0 and out.startswith("| figure | notebook | rule | inputs |")
    assert "| `figures/fusion_eolearn_panel.png` | `notebooks/01_data_fusion.ipynb` | fusion |" in out
