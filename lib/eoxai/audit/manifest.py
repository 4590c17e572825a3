"""Reading a results folder's ``manifest.json``: its outputs, records, and which files are audited.

Paths in a manifest are relative to the folder the pipeline ran in; these functions map them
onto the folder being checked through the manifest's ``results_dir``, so a copied results tree
audits too. Also the reviewer's figure table (figure -> notebook -> rule -> inputs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eoxai.audit import rules
from eoxai.config import load_profile
from eoxai.errors import AuditError, EoxaiError

#: marker file written into a scratch folder the audit made (so it may clear it next time)
SCRATCH_MARKER = ".eoxai-audit-scratch"

def read_manifest(results_dir: str | Path) -> dict[str, Any]:
    """Load ``results_dir/manifest.json``; :class:`AuditError` naming the file if absent or broken."""
    path = Path(results_dir) / "manifest.json"
    if not path.is_file():
        raise AuditError(f"{path} not found: no committed results to audit (run the profile and commit results/)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AuditError(f"{path} is not valid JSON: {exc}") from exc



def relative_to_results(path: str, manifest_results_dir: str) -> str | None:
    """Path of a manifest key relative to the results folder it was written in (None if outside)."""
    p, base = Path(path), Path(manifest_results_dir)
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        return None



def manifest_outputs(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{path relative to the results folder: file entry}`` of a manifest."""
    base = str(manifest.get("results_dir", ""))
    out = {}
    for key, entry in manifest.get("files", {}).items():
        rel = relative_to_results(key, base)
        out[rel if rel is not None else key] = entry
    return out



def is_committed(rel: str) -> bool:
    """Whether a path relative to a results folder is a committed result (not a git-ignored folder)."""
    return Path(rel).parts[0] not in rules.IGNORED_RESULT_DIRS



def committed_outputs(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`manifest_outputs` without the regenerable, git-ignored ones (fused cubes, checkpoints)."""
    return {rel: entry for rel, entry in manifest_outputs(manifest).items() if is_committed(rel)}



def manifest_records(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{record path relative to its results folder: job entry}`` of a manifest."""
    base = str(manifest.get("results_dir", ""))
    recs = {}
    for job in manifest.get("jobs", {}).values():
        if job.get("record"):
            rel = relative_to_results(job["record"], base)
            recs[rel if rel is not None else job["record"]] = job
    return recs



def notebook_jobs(manifest: dict[str, Any], notebook: str) -> dict[str, dict[str, Any]]:
    """``{record path relative to the results folder: job}`` of the jobs that ran ``notebook`` (its
    stem, e.g. ``04_interclass_gradcam``)."""
    return {rel: job for rel, job in manifest_records(manifest).items() if Path(str(job.get("notebook"))).stem == notebook}



def other_profile_dirs(results_dir: str | Path, root: str | Path = ".", config_dir: str | Path = "config",
                       ) -> dict[str, str]:
    """``{folder relative to results_dir: profile}`` of other profiles' results folders nested in it."""
    results_dir, out = Path(results_dir).resolve(), {}
    for path in sorted((Path(root) / config_dir).glob("*.yaml")):
        try:
            other = (Path(root) / str(load_profile(path)["results_dir"])).resolve()
        except (EoxaiError, KeyError, OSError, ValueError):
            continue
        if other != results_dir and other.is_relative_to(results_dir):
            out[other.relative_to(results_dir).as_posix()] = path.stem
    return out



def exclusion_rule(rel: str, other_profiles: dict[str, str]) -> str | None:
    """Why a file of a results folder is not audited (None: it is audited)."""
    first = Path(rel).parts[0]
    if first in rules.IGNORED_RESULT_DIRS:
        return f"{first}/: {rules.IGNORED_RESULT_DIRS[first]}"
    if Path(rel).name == SCRATCH_MARKER:
        return "the audit's own scratch marker"
    for folder, name in other_profiles.items():
        if rel.startswith(folder.rstrip("/") + "/"):
            return f"{folder}/: " + rules.OTHER_PROFILE.format(name=name)
    return None



def result_files(results_dir: str | Path, root: str | Path = ".") -> tuple[list[str], dict[str, int]]:
    """Files of a results folder (relative) that are audited, and ``{exclusion rule: file count}``
    of the others (:func:`exclusion_rule`). A nested ``manifest.json`` excludes nothing."""
    base = Path(results_dir)
    others = other_profile_dirs(base, root)
    audited: list[str] = []
    excluded: dict[str, int] = {}
    for f in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = f.relative_to(base).as_posix()
        why = exclusion_rule(rel, others)
        if why is None:
            audited.append(rel)
        else:
            excluded[why] = excluded.get(why, 0) + 1
    return audited, excluded



def summarise_inputs(paths: Iterable[str]) -> str:
    """``'data/x/ (12 files), results/interim/a.nc'``: inputs grouped by folder where several share one."""
    groups: dict[str, list[str]] = {}
    for p in sorted(paths):
        groups.setdefault(Path(p).parent.as_posix(), []).append(p)
    parts = [f"{folder}/ ({len(files)} files)" if len(files) > 2 else ", ".join(files)
             for folder, files in groups.items()]
    return ", ".join(parts)



def figure_table(manifest: dict[str, Any], suffixes: Sequence[str] = (".png",)) -> pd.DataFrame:
    """Where each figure comes from: ``figure, notebook, rule, inputs`` (the README's reviewer table)."""
    rows = []
    for rel, entry in sorted(committed_outputs(manifest).items()):
        if Path(rel).suffix in suffixes:
            inputs = [p for p in entry.get("inputs", {}) if p != entry.get("notebook")]
            rows.append({"figure": rel, "notebook": entry.get("notebook"), "rule": entry.get("rule"),
                         "inputs": summarise_inputs(inputs)})
    return pd.DataFrame(rows, columns=["figure", "notebook", "rule", "inputs"])



def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``df`` (no extra dependency)."""
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(f"`{v}`" if i < 2 else str(v) for i, v in enumerate(row)) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)

