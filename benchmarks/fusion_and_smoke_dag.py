"""Benchmark: wall time of the fusion step (read + align + split + normalise + write) per stack,
and of the whole smoke DAG (every notebook, 2 cores), on this machine.

    python benchmarks/fusion_and_smoke_dag.py [--repeats 3] [--skip-dag]

Prints a table; timings are wall-clock medians. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_fusion(repeats: int) -> list[tuple[str, float, float]]:
    from eoxai.config import load_profile, stack_declarations
    from eoxai.fusion import write_cube
    from eoxai.stacks import fuse_stack, load_stack

    cfg = load_profile("quick", ROOT / "config")
    section = cfg["notebooks"]["01_data_fusion"]
    decls = stack_declarations(cfg)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in section["stacks"]:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                mods, label = load_stack(decls[name], ROOT / cfg["data_dir"])
                cube = fuse_stack(decls[name], mods, label, fractions=section["split_fractions"], seed=cfg["seed"])
                write_cube(cube, Path(tmp) / f"{name}.nc")
                times.append(time.perf_counter() - t0)
            pixels = cube.sizes["y"] * cube.sizes["x"] * cube.sizes["band"]
            rows.append((name, statistics.median(times), pixels / statistics.median(times) / 1e6))
    return rows


def time_smoke_dag(cores: int) -> tuple[float, dict[str, float]]:
    """Wall time of the whole smoke DAG, and each notebook job's own wall time (from the manifest, which
    takes it from Snakemake's benchmark of the job)."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--forceall", "--quiet",
                        "--config", "profile=smoke", f"results_dir={tmp}/results"], cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        jobs = json.loads((Path(tmp) / "results" / "manifest.json").read_text())["jobs"]
        return wall, {k: v["wall_time_s"] for k, v in jobs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-dag", action="store_true")
    a = ap.parse_args()
    print(f"{'step':34s} {'wall s':>8s} {'Mvalues/s':>10s}")
    for name, wall, rate in time_fusion(a.repeats):
        print(f"{'fusion ' + name:34s} {wall:8.2f} {rate:10.1f}")
    if not a.skip_dag:
        wall, jobs = time_smoke_dag(a.cores)
        for job, seconds in jobs.items():
            print(f"{'  smoke ' + job:34s} {seconds:8.1f}")
        print(f"{f'whole smoke DAG ({a.cores} cores)':34s} {wall:8.1f}")


if __name__ == "__main__":
    main()
