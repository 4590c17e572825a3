"""The reviewer audit: data checksums, manifest against files, rerun comparison, clear messages.

The "committed" and "rerun" trees are two real runs of the cheap ``fusion`` rule on the smoke
profile, each in a project of its own in a temporary folder (another folder than this checkout, as
on a reviewer's machine). The rerun changes what another CPU would change: two BLAS/OpenMP threads
instead of one and another OpenBLAS kernel (``OPENBLAS_CORETYPE``). The audit must PASS on them and
FAIL, naming the file, on each fault injected into a copy of the committed tree.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eoxai import audit
from eoxai.checksums import sha256_file
from tests.repro_helpers import FUSION_RECORD, absolute_paths, project_copy, run_rules

ROOT = Path(__file__).resolve().parents[1]
#: what the rerun changes, as another CPU would
OTHER_MACHINE = {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                 "OPENBLAS_CORETYPE": "Prescott", "MKL_CBWR": "COMPATIBLE"}


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("audit")
    committed, elsewhere = project_copy(base / "a"), project_copy(base / "b" / "deeper")
    run_rules(committed, "committed")
    run_rules(elsewhere, "rerun", env=OTHER_MACHINE)
    return committed, elsewhere


@pytest.fixture(scope="module")
def trees(projects) -> tuple[Path, Path]:
    return projects[0] / "committed", projects[1] / "rerun"


@pytest.fixture
def committed_copy(trees, tmp_path) -> Path:
    dst = tmp_path / "committed"
    shutil.copytree(trees[0], dst)
    return dst


def _rehash(tree: Path, rel: str) -> None:
    """Record the current sha256 of ``tree/rel`` in ``tree/manifest.json`` (a forger's last step)."""
    path = tree / "manifest.json"
    manifest = json.loads(path.read_text())
    base = manifest["results_dir"]
    digest = sha256_file(tree / rel)
    for key, entry in manifest["files"].items():
        if key == f"{base}/{rel}":
            entry["sha256"] = digest
    for job in manifest["jobs"].values():
        if job["record"] == f"{base}/{rel}":
            job["record_sha256"] = digest
    path.write_text(json.dumps(manifest, indent=1))


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = audit.main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.pipeline
def test_identical_runs_pass(trees, capsys, monkeypatch):
    committed, rerun = trees
    assert audit.manifest_outputs(audit.read_manifest(committed))  # the trees hold outputs
    findings = audit.compare_trees(committed, rerun)
    assert findings and all(f.ok for f in findings), [f for f in findings if not f.ok]
    # cubes are regenerable; the provenance record is compared too
    assert {Path(f.path).suffix for f in findings} == {".csv", ".png", ".ipynb", ".json"}
    assert all(f.ok for f in audit.check_manifest(committed, ROOT))
    monkeypatch.chdir(ROOT)
    rc, out, _ = _cli(capsys, "--profile", "smoke", "--results", str(committed), "--compare-only", str(rerun))
    assert rc == 0, out
    assert "[PASS] data" in out and "[PASS] manifest" in out and "[PASS] compare" in out
    assert "RESULT: PASS" in out
    assert "2 regenerable output(s) listed in the manifest lie in git-ignored folders" in out  # fused cubes
    assert "not audited: 2 file(s) under interim/" in out and "rules applied (lib/eoxai/audit/rules.py):" in out
    # one line per file: PASS/FAIL, the file, the rule applied
    assert f"  PASS {committed.as_posix()}/notebooks/01_data_fusion.ipynb [" in out
    assert f"  PASS {committed.as_posix()}/provenance/01_data_fusion.json [record-fields]" in out
    assert f"  PASS {committed.as_posix()}/tables/fusion_summary.csv [" in out
    # the fingerprint names what the other machine changed
    assert "machine fingerprint differs" in out
    assert re.search(r'env\.OPENBLAS_CORETYPE: \S+ -> "Prescott"', out), out


@pytest.mark.pipeline
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
    assert f"fusion_summary.csv [table-floats]: row 0 column {col!r}: committed" in out
    assert "fusion_summary.csv [sha256]: modified" in out  # its sha256 no longer matches manifest.json
    assert "[PASS] data" in out


def test_compare_csv_cell_rules(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"n": [1, 2], "x": [0.5, np.nan], "sha": ["ab12", "cd34"]}).to_csv(a, index=False)
    pd.DataFrame({"n": [1, 2], "x": [0.5 + 1e-9, np.nan], "sha": ["ab12", "cd34"]}).to_csv(b, index=False)
    assert audit.compare_csv(a, b) == []  # float within tolerance, NaN equals NaN
    pd.DataFrame({"n": [1, 3], "x": [0.6, np.nan], "sha": ["ab12", "cd35"]}).to_csv(b, index=False)
    diffs = audit.compare_csv(a, b)
    assert len(diffs) == 3
    assert "row 1 column 'n': committed 2, rerun 3 (integer column: must be equal)" in diffs
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
    assert audit.compare_file(tmp_path / "a.png", tmp_path / "b.png") == (True, "figure-pixels", "same pixels")
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


@pytest.mark.pipeline
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


@pytest.mark.pipeline
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


@pytest.mark.pipeline
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


# --------------------------------------------------------------------------------------------
# fault injection: each must FAIL with a line naming the file, even with the manifest re-hashed


def _compare_only(capsys, monkeypatch, committed: Path, rerun: Path) -> tuple[int, str]:
    monkeypatch.chdir(ROOT)
    rc, out, _ = _cli(capsys, "--profile", "smoke", "--results", str(committed), "--compare-only", str(rerun))
    return rc, out


@pytest.mark.pipeline
def test_an_integer_cell_is_compared_as_an_integer(trees, committed_copy, capsys, monkeypatch):
    table = committed_copy / "tables" / "fusion_summary.csv"
    df = pd.read_csv(table)
    col = next(c for c in df.columns if pd.api.types.is_integer_dtype(df[c]) and not audit.rules.MEASURED_COLUMNS.search(c))
    df[col] = df[col].astype(float)
    df.loc[0, col] = df.loc[0, col] + 1e-7  # 12 -> 12.0000001: within any float tolerance
    df.to_csv(table, index=False)
    _rehash(committed_copy, "tables/fusion_summary.csv")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1 and "[PASS] manifest" in out and "[FAIL] compare" in out
    assert f"FAIL {table.as_posix()} [table-floats]: row 0 column {col!r}: committed" in out
    assert "(integer column: must be equal)" in out


@pytest.mark.pipeline
def test_one_changed_pixel_fails(trees, committed_copy, capsys, monkeypatch):
    from PIL import Image

    figure = committed_copy / "figures" / "fusion_eolearn_panel.png"
    px = np.array(Image.open(figure))
    px[0, 0, 0] = (int(px[0, 0, 0]) + 1) % 256
    Image.fromarray(px).save(figure)
    _rehash(committed_copy, "figures/fusion_eolearn_panel.png")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1 and "[PASS] manifest" in out
    assert f"FAIL {figure.as_posix()} [figure-pixels]: 1 of " in out


@pytest.mark.pipeline
def test_a_fabricated_notebook_output_fails(trees, committed_copy, capsys, monkeypatch):
    nb_path = committed_copy / "notebooks" / "01_data_fusion.ipynb"
    nb = json.loads(nb_path.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
               if "text/plain" in o.get("data", {})]
    assert outputs, "the fusion notebook shows no table"
    text = outputs[0]["data"]["text/plain"]
    outputs[0]["data"]["text/plain"] = ("".join(text) if isinstance(text, list) else text).replace("0", "9", 1)
    nb_path.write_text(json.dumps(nb, indent=1))
    _rehash(committed_copy, "notebooks/01_data_fusion.ipynb")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1 and "[PASS] manifest" in out
    assert f"FAIL {nb_path.as_posix()} [notebook-outputs]: code cell " in out and "text/plain differs" in out


@pytest.mark.pipeline
def test_a_fabricated_embedded_figure_fails(trees, committed_copy, capsys, monkeypatch):
    from PIL import Image
    import io

    nb_path = committed_copy / "notebooks" / "01_data_fusion.ipynb"
    nb = json.loads(nb_path.read_text())
    out_png = next(o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    px = audit.read_png(base64.b64decode("".join(out_png["data"]["image/png"])))
    px = px.copy()
    px[1, 1, 1] ^= 0xFF
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="PNG")
    out_png["data"]["image/png"] = base64.b64encode(buf.getvalue()).decode()
    nb_path.write_text(json.dumps(nb, indent=1))
    _rehash(committed_copy, "notebooks/01_data_fusion.ipynb")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1 and f"FAIL {nb_path.as_posix()} [notebook-outputs]" in out and "embedded image: 1 of" in out


@pytest.mark.pipeline
def test_an_edited_provenance_record_fails(trees, committed_copy, capsys, monkeypatch):
    record = committed_copy / FUSION_RECORD
    rec = json.loads(record.read_text())
    rec["parameters"]["seed"] = 1
    record.write_text(json.dumps(rec, indent=1))
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1
    assert f"FAIL {record.as_posix()} [sha256]: modified:" in out  # records are hashed in the manifest
    _rehash(committed_copy, FUSION_RECORD)
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1 and "[PASS] manifest" in out
    assert f"FAIL {record.as_posix()} [record-fields]: record parameters differ: seed" in out


@pytest.mark.pipeline
def test_a_nested_manifest_hides_nothing(trees, committed_copy, capsys, monkeypatch):
    nested = committed_copy / "tables" / "extra"
    nested.mkdir()
    (nested / "manifest.json").write_text(json.dumps({"results_dir": "x", "files": {}, "jobs": {}}))
    (nested / "hidden.csv").write_text("a\n1\n")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, trees[1])
    assert rc == 1 and "[FAIL] manifest" in out
    assert f"FAIL {(nested / 'hidden.csv').as_posix()} [listed]: file not listed in" in out
    assert f"FAIL {(nested / 'manifest.json').as_posix()} [listed]" in out


@pytest.mark.pipeline
def test_a_changed_real_cell_fails_but_a_timing_column_does_not(trees, committed_copy, capsys, monkeypatch):
    table = committed_copy / "tables" / "fusion_class_balance.csv"
    df = pd.read_csv(table)
    df["wall_s"] = 1.0  # a run-measuring column by the naming convention
    df.to_csv(table, index=False)
    rerun = committed_copy.parent / "rerun"
    shutil.copytree(trees[1], rerun)
    df2 = pd.read_csv(rerun / "tables" / "fusion_class_balance.csv")
    df2["wall_s"] = 99.0
    df2.to_csv(rerun / "tables" / "fusion_class_balance.csv", index=False)
    _rehash(committed_copy, "tables/fusion_class_balance.csv")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, rerun)
    assert rc == 0, out
    num = next(c for c in df.columns if pd.api.types.is_float_dtype(df[c]) and c != "wall_s")
    df.loc[0, num] += 0.01
    df.to_csv(table, index=False)
    _rehash(committed_copy, "tables/fusion_class_balance.csv")
    rc, out = _compare_only(capsys, monkeypatch, committed_copy, rerun)
    assert rc == 1 and f"row 0 column {num!r}" in out


@pytest.mark.pipeline
def test_no_absolute_path_in_a_run_made_elsewhere(projects):
    for project, results in ((projects[0], "committed"), (projects[1], "rerun")):
        needles = [str(project), str(project.resolve()), str(ROOT), str(project.parent.parent)]
        assert absolute_paths(project / results, needles) == []


@pytest.mark.pipeline
def test_only_one_notebook_reruns_and_compares_just_its_jobs(projects, capsys, monkeypatch):
    project = projects[0]
    monkeypatch.chdir(project)
    rc, out, _ = _cli(capsys, "--profile", "smoke", "--results", "committed", "--only", "01_data_fusion",
                      "--scratch", "scratch_only", "--jobs", "1")
    assert rc == 0, out
    assert "only notebook 01_data_fusion" in out and "[PASS] rerun" in out and "RESULT: PASS" in out
    assert "PASS committed/provenance/01_data_fusion.json" in out
    assert absolute_paths(project / "scratch_only", [str(project), str(ROOT)]) == []
    rc, _, err = _cli(capsys, "--profile", "smoke", "--results", "committed", "--only", "99_nope")
    assert rc == 2 and "no job of committed/manifest.json ran that notebook" in err


def _nb_with(tmp_path: Path, name: str, outputs: list[dict]) -> Path:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "source": "show()", "metadata": {}, "outputs": outputs}]}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


def test_notebook_outputs_compare_modulo_declared_run_measuring_values(tmp_path):
    def table(miou: float, wall: float) -> dict:
        df = pd.DataFrame({"run": ["a"], "miou": [miou], "wall_s": [wall]})
        return {"output_type": "display_data", "metadata": {},
                "data": {"text/html": df.to_html(), "text/plain": df.to_string()}}

    def stream(text: str) -> dict:
        return {"output_type": "stream", "name": "stdout", "text": text}

    committed = _nb_with(tmp_path, "a.ipynb", [
        table(0.75, 12.0), stream("trained in 29.5 s, 4.10 it/s\n\u23f1 epoch time ratio 1.21x\nwrote results/t.csv\n")])
    rerun = _nb_with(tmp_path, "b.ipynb", [
        table(0.75, 99.0), stream("trained in 31.0 s, 3.90 it/s\n\u23f1 epoch time ratio 1.35x\nwrote .audit/q/t.csv\n")])
    assert audit.compare_notebooks(committed, rerun, results_dirs=("results", ".audit/q")) is None
    changed = _nb_with(tmp_path, "c.ipynb", [
        table(0.76, 99.0), stream("trained in 31.0 s, 3.90 it/s\n\u23f1 epoch time ratio 1.35x\nwrote .audit/q/t.csv\n")])
    why = audit.compare_notebooks(committed, changed, results_dirs=("results", ".audit/q"))
    assert why is not None and why.startswith("code cell 1, output 1: displayed table differs") and "0.76" in why
    text = _nb_with(tmp_path, "d.ipynb", [
        table(0.75, 99.0), stream("trained in 31.0 s, 3.90 it/s\n\u23f1 epoch time ratio 1.35x\nwrote .audit/q/u.csv\n")])
    why = audit.compare_notebooks(committed, text, results_dirs=("results", ".audit/q"))
    assert why is not None and why.startswith("code cell 1, output 2: stdout text differs")
    error = _nb_with(tmp_path, "e.ipynb", [{"output_type": "error", "ename": "ValueError", "evalue": "", "traceback": []}])
    assert "error output(s): ['ValueError']" in audit.compare_notebooks(committed, error)


def test_a_displayed_tables_plain_text_twin_is_compared_too(tmp_path):
    def table(miou: float, wall: float, fake: str = "") -> dict:
        df = pd.DataFrame({"run": ["a"], "miou": [miou], "wall_s": [wall]})
        return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/html": df.to_html(), "text/plain": df.to_string() + fake}}

    committed = _nb_with(tmp_path, "a.ipynb", [table(0.75, 2.5)])
    assert audit.compare_notebooks(committed, _nb_with(tmp_path, "b.ipynb", [table(0.75, 1234.5)])) is None
    why = audit.compare_notebooks(committed, _nb_with(tmp_path, "c.ipynb", [table(0.75, 2.5, fake=" 9")]))
    assert why is not None and "displayed table's text/plain differs" in why


def test_a_multiindex_table_blanks_its_timing_column_in_every_row(tmp_path):
    """pandas writes a MultiIndex level once per group (``rowspan``): the rows below it hold fewer
    cells, and their timing cell must still be recognised (notebook 03's epoch-time table)."""
    def table(seconds: list[float], miou: float = 0.75) -> dict:
        idx = pd.MultiIndex.from_tuples([("eolearn", "manet", "all"), ("eolearn", "manet", "optical"),
                                         ("s1f", "unet", "all")], names=["stack", "arch", "inputs"])
        df = pd.DataFrame({"miou": [miou] * 3, "epoch_s": seconds}, index=idx)
        return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/html": df.to_html(), "text/plain": df.to_string()}}

    committed = _nb_with(tmp_path, "a.ipynb", [table([1.00, 1.05, 5.59])])
    assert audit.compare_notebooks(committed, _nb_with(tmp_path, "b.ipynb", [table([1.01, 1.06, 5.71])])) is None
    why = audit.compare_notebooks(committed, _nb_with(tmp_path, "c.ipynb", [table([1.01, 1.06, 5.71], 0.76)]))
    assert why is not None and "displayed table differs" in why and "0.76" in why


def test_a_real_cell_equal_to_a_timing_value_is_treated_alike_on_both_sides(tmp_path):
    """The plain-text twin has no columns: a real value that equals a timing value of one side only
    (notebook 06: ig_delta 0.0186 vs a committed seconds cell 0.0186) must not make the sides differ."""
    def table(delta: float, seconds: float) -> dict:
        df = pd.DataFrame({"run": ["a", "b"], "delta": [0.5, delta], "seconds_ig": [seconds, 0.3]})
        return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                "data": {"text/html": df.to_html(), "text/plain": df.to_string()}}

    committed = _nb_with(tmp_path, "a.ipynb", [table(0.0186, 0.0186)])
    assert audit.compare_notebooks(committed, _nb_with(tmp_path, "b.ipynb", [table(0.0186, 0.0201)])) is None
    why = audit.compare_notebooks(committed, _nb_with(tmp_path, "c.ipynb", [table(0.0187, 0.0201)]))
    assert why is not None and "displayed table differs" in why


def test_progress_bars_cut_by_their_width_are_run_measuring():
    from eoxai.audit.compare import normalise_text

    a = "seed0: 100%|#| 1/1 [00:01<00:00,  1.04s/it, loss=0.849, val_miou=0.3\nbest mIoU 0.782 at epoch 7\n"
    b = "seed0: 100%|#| 1/1 [00:00<00:00,  1.31it/s, loss=0.849, val_miou=0.3\nbest mIoU 0.782 at epoch 7\n"
    assert normalise_text(a) == normalise_text(b)
    assert normalise_text(a) != normalise_text(b.replace("0.782", "0.781"))
