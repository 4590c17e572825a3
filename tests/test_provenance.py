"""Provenance records and the manifest: hashes of inputs and outputs, versions, timings."""

from __future__ import annotations

import json

from eoxai.checksums import sha256_file
from eoxai.provenance import build_manifest, package_versions, write_record


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
