"""The audit's rerun: the profile run again with Snakemake into a scratch folder the audit owns."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eoxai.audit.manifest import SCRATCH_MARKER
from eoxai.errors import AuditError
from eoxai.runner import relative_path


def rerun_command(profile: str, cores: int, scratch: str | Path, targets: Sequence[str] = (),
                  force: Sequence[str] | None = None) -> list[str]:
    """The Snakemake command line of the rerun into ``scratch``: ``--forceall``, or with ``force``
    (rule names) ``--forcerun <rules>`` so that only those rules are forced."""
    options = ["--cores", str(int(cores)), "--config", f"profile={profile}", f"results_dir={Path(scratch).as_posix()}"]
    if force is None:
        return [sys.executable, "-m", "snakemake", *options, "--forceall", *targets]
    return [sys.executable, "-m", "snakemake", *targets, *options, "--forcerun", *force]



def prepare_scratch(scratch: str | Path, clear: bool = True) -> Path:
    """Create (or clear, if an earlier audit made it) the scratch folder; refuse any other folder.
    ``clear=False`` keeps what an earlier audit left there (``--only`` reuses it)."""
    scratch = Path(scratch)
    if scratch.exists() and any(scratch.iterdir()):
        if not (scratch / SCRATCH_MARKER).is_file():
            raise AuditError(f"scratch folder {scratch} exists and was not made by the audit; choose another --scratch")
        if clear:
            shutil.rmtree(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / SCRATCH_MARKER).write_text("made by python -m eoxai.audit; cleared by the next audit\n")
    return scratch



def rerun(profile: str, cores: int, scratch: str | Path, root: str | Path = ".",
          targets: Sequence[str] = (), force: Sequence[str] | None = None) -> int:
    """Run the profile into ``scratch`` with Snakemake from ``root``; return its exit status.
    ``scratch`` is passed relative to ``root``, so the rerun's records name no absolute folder."""
    cmd = rerun_command(profile, cores, relative_path(scratch, root), targets, force)
    print("audit: rerunning:", " ".join(cmd[2:]), flush=True)
    return subprocess.run(cmd, cwd=root, check=False).returncode



def write_partial_manifest(scratch: Path, root: Path, records: Sequence[Path], profile: str, seed: Any) -> None:
    """``scratch/manifest.json`` from the records of the jobs an ``--only`` rerun made."""
    from eoxai.provenance import build_manifest

    existing = [r for r in records if (root / r).is_file()]
    manifest = build_manifest([r.as_posix() for r in existing], results_dir=relative_path(scratch, root),
                              profile=profile, seed=seed, root=root)
    (scratch / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

