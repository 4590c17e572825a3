"""Provenance records and the manifest: hashes of inputs and outputs, versions, timings."""

from __future__ import annotations

import json
import subprocess

from eoxai.checksums import sha256_file
import pytest

from eoxai.errors import WorkflowError
from eoxai.provenance import benchmark_wall_time, build_manifest, complete_record, git_state, package_versions, write_record

#: a benchmark file as Snakemake 9 writes it (header + one line per run)
BENCHMARK = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
             "12.3456\t0:00:12\t4.70\t7.11\t0.41\t0.72\t0.00\t0.00\t0.00\t0.00\n")


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


def test_machine_fingerprint_says_what_could_move_a_number(tmp_path, monkeypatch):
    from eoxai.provenance import fingerprint_differences, machine_fingerprint

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    fp = machine_fingerprint()
    assert fp["cpu"]["cores"] >= 1 and fp["cpu"]["model"]
    assert any(b["user_api"] == "blas" and b["num_threads"] >= 1 for b in fp["blas"].values())
    assert all("/" not in name for name in fp["blas"])  # library names, never their folder
    assert fp["env"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert set(fp["torch"]) >= {"version", "threads", "deterministic_algorithms", "cudnn_deterministic", "gpu"}
    assert fp["lock"]["file"] == "requirements.lock" and fp["lock"]["sha256"]
    json.dumps(fp)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    other = machine_fingerprint()
    assert fingerprint_differences(fp, other) == ['env.OPENBLAS_CORETYPE: "Haswell" -> "Prescott"']


def test_lock_description_names_packages_that_differ_from_the_lock(tmp_path):
    from eoxai.provenance import lock_description

    (tmp_path / "lock").write_text("# comment\nnumpy==0.0.1\nNot_Installed.pkg==1.0\n")
    desc = lock_description(tmp_path / "lock")
    assert desc["sha256"] == sha256_file(tmp_path / "lock")
    assert desc["differs"]["numpy"]["locked"] == "0.0.1" and desc["differs"]["numpy"]["installed"]
    assert desc["differs"]["not-installed-pkg"] == {"locked": "1.0", "installed": None}
    assert lock_description(tmp_path / "missing")["sha256"] is None


def test_the_record_takes_its_wall_time_from_the_snakemake_benchmark(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "t.csv").write_text("x\n3\n")
    pending = write_record("logs/r1.record.json", rule="r1", notebook="nb.ipynb", parameters={"results_dir": "out"},
                           inputs=[], outputs=["out/t.csv"])
    assert pending["wall_time_s"] is None  # the job cannot know its own wall time
    (tmp_path / "r1.tsv").write_text(BENCHMARK)
    assert benchmark_wall_time("r1.tsv") == 12.3456
    done = complete_record("logs/r1.record.json", "r1.tsv", "out/prov/r1.json")
    assert done["wall_time_s"] == 12.346
    assert {k: v for k, v in done.items() if k != "wall_time_s"} == {k: v for k, v in pending.items()
                                                                     if k != "wall_time_s"}
    assert json.loads((tmp_path / "out/prov/r1.json").read_text()) == done
    assert build_manifest(["out/prov/r1.json"], results_dir="out")["jobs"]["r1"]["wall_time_s"] == 12.346
    from eoxai.provenance import main

    assert main(["--complete", "logs/r1.record.json", "r1.tsv", "--out", "out/prov/r3.json"]) == 0
    assert json.loads((tmp_path / "out/prov/r3.json").read_text()) == done  # the rule's command line
    (tmp_path / "bad.tsv").write_text("not a benchmark\n")
    with pytest.raises(WorkflowError, match="not a Snakemake benchmark file"):
        complete_record("logs/r1.record.json", "bad.tsv", "out/prov/r2.json")


def test_manifest_hashes_records_and_carries_the_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "t.csv").write_text("x\n3\n")
    write_record("out/prov/r1.json", rule="r1", notebook="nb.ipynb", parameters={"results_dir": "out"},
                 inputs=[], outputs=["out/t.csv"], wall_time_s=1.0)
    m = build_manifest(["out/prov/r1.json"], results_dir="out")
    assert m["jobs"]["r1"]["record_sha256"] == sha256_file("out/prov/r1.json")
    assert m["machine"]["cpu"] and m["machine"]["lock"]
    assert str(tmp_path) not in json.dumps(m)  # relative paths only
