"""Provenance records and the manifest: hashes of inputs and outputs, versions, timings."""

from __future__ import annotations

import json
import subprocess

from eoxai.checksums import sha256_file
from eoxai.provenance import build_manifest, git_state, package_versions, write_record


def test_record_and_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "t.csv").write_text("x\n3\n")
    (tmp_path / "out" / "f.png").write_bytes(b"\x89PNG fake")
    rec = write_record("prov/r1.json", rule="r1", notebook="notebooks/01.ipynb",
                       parameters={"profile": "smoke", "seed": 7, "results_dir": "out"},
                       inputs=["in.csv"], outputs=["out"], wall_time_s=1.23456)
    assert rec["inputs"] == {"in.csv": sha256_file("in.csv")}
    assert set(rec["outputs"]) == {"out/t.csv", "out/f.png"}
    m = build_manifest(["prov/r1.json"], results_dir="out", profile="smoke", seed=7)
    assert m["files"]["out/t.csv"]["sha256"] == sha256_file("out/t.csv")
    assert m["files"]["out/t.csv"]["rule"] == "r1" and m["files"]["out/t.csv"]["seed"] == 7
    assert m["files"]["out/t.csv"]["inputs"] == {"in.csv": sha256_file("in.csv")}
    assert m["jobs"]["r1"]["wall_time_s"] == 1.235 and m["jobs"]["r1"]["rule"] == "r1"
    assert m["packages"]["torch"] and m["packages"]["xarray"]
    json.dumps(m)  # serialisable


def test_package_versions_reports_missing_as_none():
    v = package_versions(["numpy", "surely-not-installed-pkg"])
    assert v["numpy"] and v["surely-not-installed-pkg"] is None


def test_git_state_ignores_results_but_not_code(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("a\n1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "results" / "table.csv").write_text("a\n2\n")  # a rerun rewrote an output
    state = git_state(tmp_path)
    assert state["dirty"] is False and len(state["commit"]) == 40
    (tmp_path / "code.py").write_text("x = 2\n")  # the code changed: the record must say so
    assert git_state(tmp_path)["dirty"] is True
    assert git_state(tmp_path / "results")["dirty"] is True  # same answer from a subfolder
