"""The Snakemake DAG: every notebook has a rule, and the whole smoke DAG runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.pipeline
@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_dry_run_lists_every_notebook(profile, tmp_path):
    out = run_snakemake("-n", "--cores", "2", "--forceall", "--printshellcmds",
                        "--config", f"profile={profile}", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")):
        assert f"notebooks/{nb.name}" in out.stdout, f"no rule runs {nb.name}"
    assert "manifest" in out.stdout


@pytest.mark.pipeline
def test_paper_profile_names_the_missing_full_dataset(tmp_path):
    out = run_snakemake("-n", "--cores", "2", "--config", "profile=paper", f"results_dir={tmp_path}")
    assert out.returncode != 0
    assert "Missing input files" in out.stdout + out.stderr
    assert "data/sen1floods11" in out.stdout + out.stderr


@pytest.mark.pipeline
def test_unknown_profile_fails_clearly():
    out = run_snakemake("-n", "--cores", "1", "--config", "profile=nope")
    assert out.returncode != 0
    assert "profile 'nope' does not exist" in out.stdout + out.stderr


@pytest.mark.pipeline
def test_smoke_dag_end_to_end(tmp_path):
    results = tmp_path / "results"
    run = run_snakemake("--cores", "2", "--config", "profile=smoke", f"results_dir={results}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    summary = run_snakemake("--summary", "--cores", "1", "--config", "profile=smoke", f"results_dir={results}")
    assert summary.returncode == 0, summary.stderr[-3000:]
    declared = [line.split("\t")[0] for line in summary.stdout.splitlines()[1:] if line.strip()]
    assert len(declared) > 10
    for f in declared:
        p = Path(f)
        assert p.is_file(), f"declared output {f} missing"
        assert p.stat().st_size > 0, f"declared output {f} is empty"
    executed = sorted(p.stem for p in (results / "notebooks").glob("*.ipynb"))
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")):
        # a rule split by wildcards runs its notebook once per job (02_training_seed0, ...)
        assert any(e == source.stem or e.startswith(source.stem + "_") for e in executed), (
            f"{source.name} was not executed")
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["profile"] == "smoke"
    tables = [f for f in declared if f.endswith(".csv")]
    figures = [f for f in declared if f.endswith(".png")]
    assert tables and figures
    for f in tables + figures:
        rel = str(Path(f).relative_to(ROOT)) if Path(f).is_relative_to(ROOT) else f
        assert rel in manifest["files"], f"{f} not in the manifest"
        assert manifest["files"][rel]["job"] in manifest["jobs"]
