"""A project in another folder: the pipeline's files linked into a temporary root, so a rule runs
there exactly as a fresh clone elsewhere would, writing results below that root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from eoxai.provenance import build_manifest

ROOT = Path(__file__).resolve().parents[1]
#: what a rule reads from the project (code, notebooks, profiles, data); results are written fresh
PROJECT_ENTRIES = ("Snakefile", "workflow", "notebooks", "config", "data", "lib", "pyproject.toml", "requirements.lock")
FUSION_RECORD = "provenance/01_data_fusion.json"


def project_copy(where: Path) -> Path:
    """A project root at ``where`` whose entries link to this checkout's (results not included)."""
    where.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_ENTRIES:
        if (ROOT / name).exists() and not (where / name).exists():
            (where / name).symlink_to(ROOT / name)
    return where


def run_rules(project: Path, results: str, records: Sequence[str] = (FUSION_RECORD,), profile: str = "smoke",
              env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the jobs that make ``records`` (relative to the results folder) into ``project/results``,
    then write that folder's manifest; ``env`` adds environment variables (threads, BLAS kernel)."""
    targets = [f"{results}/{r}" for r in records]
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--config", f"profile={profile}",
                          f"results_dir={results}", "--forceall", *targets], cwd=project, capture_output=True,
                         text=True, env={**os.environ, **(env or {})}, timeout=1800)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    manifest = build_manifest(targets, results_dir=results, profile=profile, seed=20261123, root=project)
    (project / results / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return run


def absolute_paths(folder: Path, needles: Sequence[str]) -> list[str]:
    """``['file: needle', ...]`` for every file under ``folder`` whose text names one of ``needles``."""
    hits = []
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = f.read_bytes().decode("utf-8", errors="ignore")
        hits += [f"{f.relative_to(folder)}: {n}" for n in needles if n and n in text]
    return hits
