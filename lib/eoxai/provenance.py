"""Provenance: what made each output, from which inputs, with which code, versions and time.

Each notebook run writes a *record* (JSON) via :func:`write_record`; :func:`build_manifest`
merges the records of a whole run into ``manifest.json``::

    {"profile", "seed", "results_dir", "created", "git": {"commit", "dirty"}, "python", "platform",
     "device", "packages": {name: version},
     "jobs": {job: {"rule", "notebook", "wall_time_s", "parameters", ...}},
     "files": {path: {"sha256", "bytes", "rule", "job", "notebook", "inputs": {path: sha256},
                      "profile", "seed"}}}

A *job* is one run of a rule, named after its record file (``02_training_seed0``): a rule with
wildcards runs several jobs.

Paths are relative to the working directory the pipeline runs in (the repository root).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from eoxai.checksums import sha256_file

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
    wall_time_s: float,
) -> dict[str, Any]:
    """Write one rule's provenance record (JSON) to ``path`` and return it."""
    record = {
        "rule": rule,
        "notebook": notebook,
        "profile": parameters.get("profile"),
        "seed": parameters.get("seed"),
        "parameters": {k: _jsonable(v) for k, v in parameters.items()},
        "inputs": hash_paths(inputs),
        "outputs": hash_paths(o for o in outputs if Path(o) != Path(path)),
        "wall_time_s": round(float(wall_time_s), 3),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device_description(),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def build_manifest(records: Iterable[str | Path], *, results_dir: str, profile: str | None = None,
                   seed: int | None = None) -> dict[str, Any]:
    """Merge rule records into the manifest described in the module docstring."""
    jobs: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for rec_path in sorted(map(str, records)):
        rec = json.loads(Path(rec_path).read_text())
        job = Path(rec_path).stem
        jobs[job] = {k: rec[k] for k in ("rule", "notebook", "wall_time_s", "parameters", "device", "finished")}
        jobs[job]["record"] = rec_path
        for out, digest in rec["outputs"].items():
            files[out] = {
                "sha256": digest,
                "bytes": Path(out).stat().st_size if Path(out).exists() else None,
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
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device_description(),
        "packages": package_versions(),
        "total_wall_time_s": round(sum(r["wall_time_s"] for r in jobs.values()), 3),
        "jobs": dict(sorted(jobs.items())),
        "files": dict(sorted(files.items())),
    }


def main(argv: list[str] | None = None) -> int:
    """``eoxai-manifest --out results/manifest.json --results-dir results RECORD.json ...``"""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("records", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--results-dir", required=True)
    ap.add_argument("--profile")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args(argv)
    manifest = build_manifest(a.records, results_dir=a.results_dir, profile=a.profile, seed=a.seed)
    Path(a.out).write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"manifest: {len(manifest['files'])} files from {len(manifest['jobs'])} jobs -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
