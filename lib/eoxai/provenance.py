"""Provenance: what made each output, from which inputs, with which code, versions and time.

Each notebook run writes a *record* (JSON) via :func:`write_record`; :func:`build_manifest`
merges the records of a whole run into ``manifest.json``::

    {"profile", "seed", "results_dir", "created", "git": {"commit", "dirty"}, "python", "platform",
     "device", "machine": {fingerprint, see machine_fingerprint}, "packages": {name: version},
     "jobs": {job: {"rule", "notebook", "wall_time_s", "parameters", "record", "record_sha256", ...}},
     "files": {path: {"sha256", "bytes", "rule", "job", "notebook", "inputs": {path: sha256},
                      "profile", "seed"}}}

A *job* is one run of a rule, named after its record file (``02_training_seed0``): a rule with
wildcards runs several jobs.

The wall time is Snakemake's: every notebook rule declares a ``benchmark:`` file
(:func:`eoxai.layout.benchmark_path`), which Snakemake writes once the job has ended, so the runner
writes the record without it (:func:`write_record`, into :func:`eoxai.layout.pending_record_path`)
and :func:`complete_record` adds the benchmark's wall time (``wall_time_s``) to make the final record.

Paths are relative to the working directory the pipeline runs in (the repository root).

The machine fingerprint (:func:`machine_fingerprint`) says what could move a number between two
machines: CPU model and the SIMD flags BLAS kernels are chosen by, core count, BLAS/OpenMP
libraries and their thread counts (threadpoolctl), the thread and kernel environment variables,
torch's determinism flags, the GPU, and the locked environment (:data:`LOCK_FILE`, its sha256 and
which installed packages differ from it). ``python -m eoxai.audit`` prints the fields that differ.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from eoxai.checksums import sha256_file
from eoxai.errors import WorkflowError

#: the locked environment (exact versions of every package; see the README, "Installation")
LOCK_FILE = "requirements.lock"
#: CPU flags that decide which SIMD kernels BLAS and torch pick (the full list is hashed)
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile",
              "asimd", "sve")
#: environment variables that set thread counts or kernel choices of the numeric libraries
NUMERIC_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "MKL_CBWR",
               "MKL_ENABLE_INSTRUCTIONS", "CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED")

#: packages whose versions every manifest records
PACKAGES = (
    "eoxai", "torch", "torchvision", "segmentation-models-pytorch", "timm", "captum", "shap",
    "torchmetrics", "numpy", "pandas", "scipy", "scikit-learn", "xarray", "rioxarray", "rasterio",
    "h5netcdf", "matplotlib", "seaborn", "papermill", "snakemake", "jupytext",
)


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None where not installed)."""
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_state(cwd: str | Path = ".") -> dict[str, Any]:
    """Commit hash and whether tracked files differ from it (None outside a git checkout).

    ``results/`` is left out of the dirty check: it holds the pipeline's own outputs, which a
    rerun rewrites, so a rerun of a clean checkout is recorded as clean.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                     ":(top)", ":(top,exclude)results"], cwd=cwd,
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def device_description() -> str:
    """'cpu (<processor>, N threads)' or the CUDA device name."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
        return f"cpu: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    except ImportError:
        return f"cpu: {platform.processor() or platform.machine()}"


def cpu_description() -> dict[str, Any]:
    """CPU model, SIMD flags (:data:`SIMD_FLAGS`), a hash of all flags, logical cores, usable cores."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        model = m.group(1).strip() if m else model
        f = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
        flags = sorted(f.group(1).split()) if f else []
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "machine": platform.machine(), "cores": os.cpu_count(), "usable_cores": usable,
            "simd_flags": [f for f in SIMD_FLAGS if f in flags],
            "flags_sha256": hashlib.sha256(" ".join(flags).encode()).hexdigest() if flags else None}


def blas_description() -> dict[str, dict[str, Any]]:
    """``{library file name: settings}`` of the BLAS/LAPACK/OpenMP libraries loaded in this process,
    with their thread counts and kernel architecture (threadpoolctl); never their folder."""
    import numpy  # noqa: F401 - loads the BLAS whose settings are described
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture")
    return {Path(str(i.get("filepath", ""))).name: {k: i.get(k) for k in keys}
            for i in sorted(threadpool_info(), key=lambda d: str(d.get("filepath")))}


def torch_description() -> dict[str, Any]:
    """torch version, threads, determinism flags and the GPU (None without CUDA)."""
    try:
        import torch
    except ImportError:
        return {"version": None}
    cuda = torch.cuda.is_available()
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cuda": torch.version.cuda if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
    }


def read_lock(path: str | Path = LOCK_FILE) -> dict[str, str]:
    """``{normalised name: version}`` of a lock file of ``name==version`` lines (comments ignored)."""
    out: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[normalise_name(name.split("[", 1)[0])] = version.strip()
    return out


def normalise_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503: lower case, runs of ``-_.`` -> ``-``)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def lock_description(path: str | Path = LOCK_FILE) -> dict[str, Any]:
    """The lock file's sha256 and the installed packages whose version differs from it."""
    path = Path(path)
    if not path.is_file():
        return {"file": path.as_posix(), "sha256": None, "differs": None}
    differs = {}
    for name, version in sorted(read_lock(path).items()):
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            got = None
        if got != version and name != "eoxai":
            differs[name] = {"locked": version, "installed": got}
    return {"file": path.as_posix(), "sha256": sha256_file(path), "differs": differs}


def machine_fingerprint(lock: str | Path = LOCK_FILE) -> dict[str, Any]:
    """What could make a number differ between two machines (module docstring); JSON-ready."""
    return {
        "cpu": cpu_description(),
        "blas": blas_description(),
        "env": {k: os.environ.get(k) for k in NUMERIC_ENV},
        "torch": torch_description(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "lock": lock_description(lock),
    }


def fingerprint_differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``['cpu.model: X -> Y', ...]``: the leaves of two fingerprints that differ."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y, name = a.get(key), b.get(key), f"{prefix}{key}"
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            out += fingerprint_differences(x, y, name + ".")
        elif x != y:
            out.append(f"{name}: {json.dumps(x)} -> {json.dumps(y)}")
    return out


def hash_paths(paths: Iterable[str | Path]) -> dict[str, str]:
    """``{path: sha256}`` for files; folders are expanded to the files below them."""
    out: dict[str, str] = {}
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            out[f.as_posix()] = sha256_file(f)
    return out


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def write_record(
    path: str | Path,
    *,
    rule: str,
    notebook: str,
    parameters: Mapping[str, Any],
    inputs: Iterable[str | Path],
    outputs: Iterable[str | Path],
    wall_time_s: float | None = None,
) -> dict[str, Any]:
    """Write one rule's provenance record (JSON) to ``path`` and return it.

    ``wall_time_s`` is None in the record a job writes for itself (its wall time is not known
    before the job ends); :func:`complete_record` fills it from the job's benchmark file.
    """
    record = {
        "rule": rule,
        "notebook": notebook,
        "profile": parameters.get("profile"),
        "seed": parameters.get("seed"),
        "parameters": {k: _jsonable(v) for k, v in parameters.items()},
        "inputs": hash_paths(inputs),
        "outputs": hash_paths(o for o in outputs if Path(o) != Path(path)),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "device": device_description(),
        "machine": machine_fingerprint(),
    }
    _write_json(path, record)
    return record


def _write_json(path: str | Path, record: Mapping[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def benchmark_wall_time(path: str | Path) -> float:
    """The wall time in seconds (column ``s``) of a Snakemake ``benchmark:`` file (TSV, one header
    line and one line per repetition; the first repetition is the job's run)."""
    lines = [line.split("\t") for line in Path(path).read_text().splitlines() if line.strip()]
    if len(lines) < 2 or "s" not in lines[0]:
        raise WorkflowError(f"{path} is not a Snakemake benchmark file (a header with column 's' and one "
                            "line per run); rerun the rule that wrote it")
    return float(lines[1][lines[0].index("s")])


def complete_record(pending: str | Path, benchmark: str | Path, path: str | Path) -> dict[str, Any]:
    """Write the record ``pending`` (:func:`write_record`'s, written inside the job) to ``path`` with
    ``wall_time_s`` from the job's Snakemake ``benchmark`` file (:func:`benchmark_wall_time`); return it."""
    record = json.loads(Path(pending).read_text())
    record["wall_time_s"] = round(benchmark_wall_time(benchmark), 3)
    _write_json(path, record)
    return record


def build_manifest(records: Iterable[str | Path], *, results_dir: str, profile: str | None = None,
                   seed: int | None = None, root: str | Path = ".") -> dict[str, Any]:
    """Merge rule records into the manifest described in the module docstring; paths (records,
    outputs) are relative to ``root``, the folder the pipeline ran in."""
    root = Path(root)
    jobs: dict[str, Any] = {}
    files: dict[str, Any] = {}
    machines: dict[str, list[str]] = {}
    for rec_path in sorted(map(str, records)):
        rec = json.loads((root / rec_path).read_text())
        job = Path(rec_path).stem
        jobs[job] = {k: rec[k] for k in ("rule", "notebook", "wall_time_s", "parameters", "device", "finished")}
        jobs[job]["record"] = rec_path
        jobs[job]["record_sha256"] = sha256_file(root / rec_path)
        machines.setdefault(json.dumps(rec.get("machine"), sort_keys=True), []).append(job)
        for out, digest in rec["outputs"].items():
            files[out] = {
                "sha256": digest,
                "bytes": (root / out).stat().st_size if (root / out).exists() else None,
                "rule": rec["rule"],
                "job": job,
                "notebook": rec["notebook"],
                "inputs": rec["inputs"],
                "profile": rec["profile"],
                "seed": rec["seed"],
            }
    return {
        "profile": profile,
        "seed": seed,
        "results_dir": results_dir,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git": git_state(root),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device_description(),
        "machine": json.loads(next(iter(machines))) if len(machines) == 1 else
        {"per_job": {job: json.loads(m) for m, js in machines.items() for job in js}},
        "packages": package_versions(),
        "total_wall_time_s": round(sum(r["wall_time_s"] for r in jobs.values()), 3),
        "jobs": dict(sorted(jobs.items())),
        "files": dict(sorted(files.items())),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m eoxai.provenance --out results/manifest.json --results-dir results RECORD.json ...`` (the
    manifest) or ``python -m eoxai.provenance --complete PENDING.json BENCHMARK.tsv --out RECORD.json`` (a
    job's record with the wall time of its benchmark)."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("records", nargs="*")
    ap.add_argument("--out", required=True)
    ap.add_argument("--complete", nargs=2, metavar=("PENDING", "BENCHMARK"),
                    help="write the record PENDING with the wall time of the Snakemake BENCHMARK file to --out")
    ap.add_argument("--results-dir")
    ap.add_argument("--profile")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args(argv)
    if a.complete:
        pending, benchmark = a.complete
        record = complete_record(pending, benchmark, a.out)
        print(f"{a.out}: wall time {record['wall_time_s']} s from {a.complete[1]}")
        return 0
    if not a.records or not a.results_dir:
        ap.error("the manifest needs --results-dir and at least one record")
    manifest = build_manifest(a.records, results_dir=a.results_dir, profile=a.profile, seed=a.seed)
    Path(a.out).write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"manifest: {len(manifest['files'])} files from {len(manifest['jobs'])} jobs -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
