"""Reproducible anywhere: numbers that survive another CPU, results that name no machine.

The per-pixel logistic regression (the one result whose solver sums in BLAS) is rerun under what a
different CPU changes - thread counts and the OpenBLAS kernel - and must give the same metrics
bit for bit. The audit-level checks (another folder, 2 threads, another kernel, fault injection)
are in tests/test_audit.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.repro_helpers import absolute_paths

BASELINE = """
import json
from eoxai.data import EOLearnPatch, Sen1Floods11
from eoxai.accuracy import pixel_baseline
from eoxai.fusion import fuse
s = Sen1Floods11("data").load("Spain_7370579")
c1 = fuse({"s1": s["s1"], "s2": s["s2"]}, s["label"], block_size=128, buffer=8, seed=3, name="sen1floods11")
e = EOLearnPatch("data").load()
c2 = fuse({k: v for k, v in e.items() if k != "label"}, e["label"], block_size=32, buffer=2, seed=3, name="eolearn")
print(json.dumps({"sen1floods11": pixel_baseline(c1, ["s1", "s2"], 64, seed=0),
                  "eolearn": pixel_baseline(c2, ["s2_t1", "s2_t2"], 32, seed=0)}, sort_keys=True))
"""

#: what another CPU changes: the thread count of BLAS/OpenMP, the BLAS kernel, MKL's code path
MACHINES = {
    "one thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    "two threads, another OpenBLAS kernel": {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
                                              "OPENBLAS_CORETYPE": "Prescott", "MKL_CBWR": "COMPATIBLE"},
    "two threads, AVX-512 kernel": {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
                                    "OPENBLAS_CORETYPE": "SkylakeX"},
}


def _baseline(env: dict[str, str]) -> dict:
    run = subprocess.run([sys.executable, "-c", BASELINE], cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, **env})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_pixel_logreg_is_the_same_on_other_threads_and_blas_kernels():
    results = {name: _baseline(env) for name, env in MACHINES.items()}
    first = results["one thread"]
    assert first["eolearn"]["pixels"] == 1860 and 0 < first["eolearn"]["miou"] < 1
    for name, got in results.items():
        assert got == first, f"{name}: {got} != {first}"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pixel_logreg_refuses_to_stop_short(monkeypatch, eolearn_cube):
    from eoxai import accuracy
    from eoxai.errors import EoxaiError

    monkeypatch.setitem(accuracy.PIXEL_LOGREG, "max_iter", 2)
    with pytest.raises(EoxaiError, match="did not converge in 2 iterations"):
        accuracy.pixel_baseline(eolearn_cube, ["s2_t1"], 32)


def test_committed_results_name_no_folder_or_host():
    """No absolute path anywhere in the committed results (the quick profile, as git holds it)."""
    tracked = subprocess.run(["git", "ls-files", "-z", "results"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    tracked = [t for t in tracked if t]
    assert len(tracked) > 50
    needles = ["/work/", "/home/", "/Users/", "/tmp/", "/root/", "/scratch/", "C:\\\\", str(ROOT)]
    hits = []
    for rel in tracked:
        text = (ROOT / rel).read_bytes().decode("utf-8", errors="ignore")
        hits += [f"{rel}: {n}" for n in needles if n in text]
    assert hits == [], f"{len(hits)} committed result file(s) name a folder: {hits[:10]}"


def test_absolute_paths_helper_finds_what_it_looks_for(tmp_path):
    (tmp_path / "a.json").write_text('{"results_dir": "/work/main/results"}')
    (tmp_path / "b.csv").write_text("x\n1\n")
    assert absolute_paths(tmp_path, ["/work/"]) == ["a.json: /work/"]
    assert absolute_paths(tmp_path, ["/nowhere/"]) == []
