"""Reviewer audit: do the committed results come from the committed code and data?

::

    python -m eoxai.audit --profile quick --cores 2              # = make audit
    python -m eoxai.audit --profile quick --only 04_interclass_gradcam   # one notebook (and what it needs)
    python -m eoxai.audit --profile quick --compare-only DIR     # compare an existing rerun only
    python -m eoxai.audit --profile quick --figure-table         # figure -> notebook -> rule -> inputs

Four checks, each listing every file it checks with the rule applied and PASS/FAIL; the exit status
is 0 when all pass, 1 when any fails, 2 for a usage error (an unknown profile, no committed results):

1. **data** - every file under ``data/`` matches ``data/SHA256SUMS``, none is missing, and no data
   file is left out of the list;
2. **manifest** - ``<results>/manifest.json`` against the committed files: every file under the
   results folder is listed (outputs by sha256, provenance records by ``record_sha256``) or excluded
   by a rule the report prints (:data:`rules.IGNORED_RESULT_DIRS`, another profile's results folder);
   a nested ``manifest.json`` hides nothing; the inputs it records (notebooks, data) still have the
   recorded sha256 in this checkout;
3. **rerun** - the profile is run again into a scratch folder:
   ``snakemake --cores N --config profile=<p> results_dir=<scratch> --forceall`` (with ``--only``:
   only that notebook's jobs are forced, whatever they need is made or reused from the scratch folder);
4. **compare** - every committed output and provenance record against the rerun's, under the rules of
   :mod:`eoxai.audit.rules` (tables cell by cell, integers exactly, floats within a tolerance below one
   test pixel's weight; figures by pixels; executed notebooks by code and outputs modulo the declared
   run-measuring text; records modulo run-measuring keys; anything else by sha256).

The report also lists which fields of the machine fingerprint (:func:`eoxai.provenance.machine_fingerprint`)
differ between the committed run and the rerun, so a reviewer sees why a number could move.

Paths in a manifest are relative to the folder the pipeline ran in; the audit maps them onto the
folder being checked through the manifest's ``results_dir``, so a copied results tree audits too.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eoxai.audit import rules
from eoxai.audit.compare import compare_csv, compare_file, compare_notebooks, compare_png, compare_records, read_png
from eoxai.checksums import read_sha256sums, sha256_file
from eoxai.config import load_profile
from eoxai.errors import AuditError, EoxaiError
from eoxai.provenance import fingerprint_differences
from eoxai.runner import relative_path

RTOL, ATOL, PNG_TOLERANCE = rules.RTOL, rules.ATOL, rules.PNG_TOLERANCE
MEASURED_COLUMNS = rules.MEASURED_COLUMNS
IGNORED_RESULT_DIRS = tuple(rules.IGNORED_RESULT_DIRS)
#: files of a data folder that SHA256SUMS does not list on purpose
DATA_UNLISTED_OK = ("README.md", "SHA256SUMS")
#: checks whose passing items are counted, not listed (thousands of data files, the recorded inputs)
SUMMARISED_CHECKS = ("data", "inputs")
#: marker file written into a scratch folder the audit made (so it may clear it next time)
SCRATCH_MARKER = ".eoxai-audit-scratch"

__all__ = ["ATOL", "PNG_TOLERANCE", "RTOL", "AuditError", "Finding", "Report", "audit", "check_manifest",
           "compare_csv", "compare_file", "compare_notebooks", "compare_png", "compare_records", "compare_trees",
           "main", "read_manifest", "read_png", "rules", "verify_data"]


@dataclass
class Finding:
    """One checked item: which check, which file (or key), passed or not, and why."""

    check: str
    path: str
    ok: bool
    message: str = ""
    rule: str = ""


@dataclass
class Report:
    """All findings of an audit, rendered as a readable pass/fail report."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, items: Iterable[Finding]) -> None:
        self.findings.extend(items)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def failures(self, check: str | None = None) -> list[Finding]:
        return [f for f in self.findings if not f.ok and (check is None or f.check == check)]

    def render(self, every_file: bool = True) -> str:
        """The report: per check a PASS/FAIL summary, then one line per file (``PASS|FAIL path
        [rule] message``; only failures when ``every_file`` is False, and for the checks of
        :data:`SUMMARISED_CHECKS`), then notes and the result."""
        lines = ["eoxai audit report", "=" * 18]
        for check in dict.fromkeys(f.check for f in self.findings):
            items = [f for f in self.findings if f.check == check]
            bad = [f for f in items if not f.ok]
            lines.append(f"\n[{'PASS' if not bad else 'FAIL'}] {check}: {len(items) - len(bad)} of {len(items)} ok")
            for f in (items if every_file and check not in SUMMARISED_CHECKS else bad):
                rule = f" [{f.rule}]" if f.rule else ""
                lines.append(f"  {'PASS' if f.ok else 'FAIL'} {f.path}{rule}" + (f": {f.message}" if f.message else ""))
        if self.notes:
            lines.append("\nnotes:")
            lines += [f"  * {n}" for n in self.notes]
        n_bad = len(self.failures())
        lines.append("\nRESULT: " + ("PASS - the committed results match the rerun and their records" if self.ok
                                     else f"FAIL - {n_bad} difference(s) listed above"))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# 1. data checksums


def verify_data(data_dir: str | Path) -> list[Finding]:
    """Check every file listed in ``data_dir/SHA256SUMS`` and list data files it leaves out."""
    data_dir = Path(data_dir)
    sums_path = data_dir / "SHA256SUMS"
    if not sums_path.is_file():
        return [Finding("data", sums_path.as_posix(), False, "checksum list not found")]
    sums = read_sha256sums(sums_path)
    out = []
    for rel, expected in sorted(sums.items()):
        f = data_dir / rel
        if not f.is_file():
            out.append(Finding("data", f.as_posix(), False, "listed in SHA256SUMS but missing"))
            continue
        got = sha256_file(f)
        out.append(Finding("data", f.as_posix(), got == expected,
                           "" if got == expected else f"checksum changed: SHA256SUMS has {expected}, file has {got}",
                           rules.SHA256.name))
    listed = set(sums)
    for f in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        rel = f.relative_to(data_dir).as_posix()
        if rel not in listed and f.name not in DATA_UNLISTED_OK:
            out.append(Finding("data", f.as_posix(), False, "data file not listed in SHA256SUMS (unverifiable)"))
    return out


# --------------------------------------------------------------------------------------------
# 2. manifest


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
    audited, excluded = [], {}
    for f in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = f.relative_to(base).as_posix()
        why = exclusion_rule(rel, others)
        if why is None:
            audited.append(rel)
        else:
            excluded[why] = excluded.get(why, 0) + 1
    return audited, excluded


def check_manifest(results_dir: str | Path, root: str | Path = ".") -> list[Finding]:
    """``results_dir/manifest.json`` against the files: sha256s of outputs and provenance records,
    missing and unlisted files, inputs.

    Outputs in git-ignored folders (``interim/``, ``models/``) are regenerable, never committed,
    and not checked here. ``root`` is the checkout the recorded inputs (notebooks, data) are looked
    up in; inputs that live in a results folder (fused cubes, checkpoints) are regenerable.
    """
    results_dir, root = Path(results_dir), Path(root)
    manifest = read_manifest(results_dir)
    outputs = committed_outputs(manifest)
    records = manifest_records(manifest)
    name = (results_dir / "manifest.json").as_posix()
    out: list[Finding] = []
    listed = {rel: (entry.get("sha256"), f"made by rule {entry.get('rule')!r} from {entry.get('notebook')}")
              for rel, entry in outputs.items()}
    for rel, job in records.items():
        listed[rel] = (job.get("record_sha256"), f"provenance record of rule {job.get('rule')!r}")
    for rel, (digest, origin) in sorted(listed.items()):
        f = results_dir / rel
        if not f.is_file():
            out.append(Finding("manifest", f.as_posix(), False, f"listed in {name} but missing ({origin})", "sha256"))
            continue
        got = sha256_file(f)
        if digest is None:
            msg = f"{name} holds no sha256 for it ({origin}; made by an older eoxai: rerun the profile)"
        else:
            msg = "" if got == digest else f"modified: {name} lists sha256 {digest}, the file has {got} ({origin})"
        out.append(Finding("manifest", f.as_posix(), got == digest, msg, rules.SHA256.name))
    known = set(manifest_outputs(manifest)) | set(records) | {"manifest.json"}
    audited, _ = result_files(results_dir, root)
    for rel in audited:
        if rel not in known:
            out.append(Finding("manifest", (results_dir / rel).as_posix(), False,
                               f"file not listed in {name} (where does it come from?)", "listed"))
    base = str(manifest.get("results_dir", ""))
    inputs: dict[str, tuple[str, set[str]]] = {}
    for rel, entry in outputs.items():
        for path, digest in entry.get("inputs", {}).items():
            if relative_to_results(path, base) is None and not Path(path).is_absolute():
                inputs.setdefault(path, (digest, set()))[1].add(rel)
    for path, (digest, users) in sorted(inputs.items()):
        f = root / path
        used_by = f"recorded as input of {len(users)} result(s), e.g. {sorted(users)[0]}"
        if not f.is_file():
            out.append(Finding("inputs", path, False, f"missing in this checkout; {used_by}", rules.SHA256.name))
            continue
        got = sha256_file(f)
        out.append(Finding("inputs", path, got == digest, "" if got == digest else
                           f"changed since the results were made: manifest has sha256 {digest}, checkout has {got}; "
                           f"{used_by}. Rerun the profile and commit its results.", rules.SHA256.name))
    return out


# --------------------------------------------------------------------------------------------
# 3. rerun


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


# --------------------------------------------------------------------------------------------
# 4. compare


def notebook_jobs(manifest: dict[str, Any], notebook: str) -> dict[str, dict[str, Any]]:
    """``{record path relative to the results folder: job}`` of the jobs that ran ``notebook`` (its
    stem, e.g. ``04_interclass_gradcam``)."""
    return {rel: job for rel, job in manifest_records(manifest).items() if Path(str(job.get("notebook"))).stem == notebook}


def compare_trees(committed: str | Path, rerun: str | Path, rtol: float = RTOL, atol: float = ATOL,
                  png_tolerance: float = PNG_TOLERANCE, only: str | None = None) -> list[Finding]:
    """Compare every committed output and provenance record listed in the two manifests (committed
    and rerun), file by file; with ``only`` (a notebook stem) just that notebook's.

    Regenerable outputs in git-ignored folders (``interim/``, ``models/``) are not compared.
    """
    committed, rerun = Path(committed), Path(rerun)
    mc, mr = read_manifest(committed), read_manifest(rerun)
    dirs = (str(mc.get("results_dir", "")), str(mr.get("results_dir", "")))
    a, b = committed_outputs(mc), committed_outputs(mr)
    ra, rb = manifest_records(mc), manifest_records(mr)
    if only is not None:
        a = {k: v for k, v in a.items() if Path(str(v.get("notebook"))).stem == only}
        b = {k: v for k, v in b.items() if Path(str(v.get("notebook"))).stem == only}
        ra, rb = notebook_jobs(mc, only), notebook_jobs(mr, only)
    out = []
    for rel in sorted(set(a) | set(b) | set(ra) | set(rb)):
        c, r = committed / rel, rerun / rel
        record = rel in ra or rel in rb
        in_a, in_b = (rel in ra, rel in rb) if record else (rel in a, rel in b)
        if not in_b:
            out.append(Finding("compare", c.as_posix(), False, "committed, but the rerun does not make it (stale result?)"))
        elif not in_a or not c.is_file():
            out.append(Finding("compare", c.as_posix(), False,
                               f"missing committed result: the rerun makes {r.as_posix()}"))
        elif not r.is_file():
            out.append(Finding("compare", c.as_posix(), False, f"the rerun's manifest lists {r.as_posix()}, which is missing"))
        else:
            ok, rule, msg = compare_file(c, r, rtol, atol, png_tolerance, record=record, results_dirs=dirs)
            out.append(Finding("compare", c.as_posix(), ok, "" if ok and rule == rules.IDENTICAL.name else msg, rule))
    return out


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


# --------------------------------------------------------------------------------------------
# CLI


def audit(
    profile: str,
    *,
    cores: int = 2,
    scratch: str | Path | None = None,
    compare_only: str | Path | None = None,
    results: str | Path | None = None,
    data_dir: str | Path | None = None,
    root: str | Path = ".",
    config_dir: str | Path = "config",
    only: str | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    png_tolerance: float = PNG_TOLERANCE,
) -> Report:
    """Run the four checks of the module docstring and return the report (see :func:`main`).

    ``only`` (a notebook stem) reruns and compares just that notebook's jobs; what they need is
    made, or reused from an earlier audit's scratch folder (which is then not cleared)."""
    root = Path(root)
    cfg = load_profile(profile, root / config_dir)
    committed = Path(results) if results is not None else root / str(cfg["results_dir"])
    data = Path(data_dir) if data_dir is not None else root / str(cfg["data_dir"])
    mc = read_manifest(committed)  # fail early, naming the missing file
    jobs = notebook_jobs(mc, only) if only is not None else {}
    if only is not None and not jobs:
        known = sorted({Path(str(j.get("notebook"))).stem for j in mc.get("jobs", {}).values()})
        raise AuditError(f"--only {only!r}: no job of {committed / 'manifest.json'} ran that notebook; known: {known}")
    report = Report()
    report.notes.append(f"profile {profile!r}; committed results {committed.as_posix()}; data {data.as_posix()}"
                        + (f"; only notebook {only}" if only else ""))
    report.notes.append("rules applied (lib/eoxai/audit/rules.py):")
    report.notes += [f"  {r.name}: {r.meaning}" for r in (rules.TABLE_FLOATS, rules.FIGURE_PIXELS,
                                                          rules.NOTEBOOK_OUTPUTS, rules.PROVENANCE_RECORD,
                                                          rules.SHA256, rules.IDENTICAL)]
    if (rtol, atol, png_tolerance) != (rules.RTOL, rules.ATOL, rules.PNG_TOLERANCE):
        report.notes.append(f"tolerances overridden on the command line: rtol {rtol:g}, atol {atol:g}, "
                            f"png {png_tolerance:g}")
    report.extend(verify_data(data))
    report.extend(check_manifest(committed, root))
    _, excluded = result_files(committed, root)
    for why, n in sorted(excluded.items()):
        report.notes.append(f"not audited: {n} file(s) under {why}")
    if compare_only is not None:
        other = Path(compare_only)
        report.notes.append(f"compared with the existing rerun {other.as_posix()} (no new run)")
    else:
        other = prepare_scratch(Path(scratch) if scratch is not None else root / ".audit" / profile,
                                clear=only is None)
        targets = [(Path(relative_path(other, root)) / rel).as_posix() for rel in sorted(jobs)]
        force = sorted({str(j.get("rule")) for j in jobs.values()}) if only is not None else None
        rc = rerun(profile, cores, other, root, targets=targets, force=force)
        report.findings.append(Finding("rerun", other.as_posix(), rc == 0,
                                       "" if rc == 0 else f"snakemake exited with status {rc} (see its log above)"))
        if rc != 0:
            return report
        if only is not None:  # the scratch folder has no manifest of its own: build it from the rerun's records
            _write_partial_manifest(other, root, [Path(relative_path(other, root)) / rel for rel in sorted(jobs)],
                                    profile, mc.get("seed"))
    report.extend(compare_trees(committed, other, rtol, atol, png_tolerance, only=only))
    mr = read_manifest(other)
    skipped = len(manifest_outputs(mc)) - len(committed_outputs(mc))
    if skipped:
        report.notes.append(f"{skipped} regenerable output(s) listed in the manifest lie in git-ignored folders "
                            f"({', '.join(IGNORED_RESULT_DIRS)}): never committed, not compared")
    for key in ("profile", "seed"):
        if mc.get(key) != mr.get(key):
            report.findings.append(Finding("compare", f"manifest.json:{key}", False,
                                           f"committed {mc.get(key)!r}, rerun {mr.get(key)!r}", "identical"))
    report.notes.append(f"committed results made at git commit {mc.get('git', {}).get('commit')} "
                        f"(dirty: {mc.get('git', {}).get('dirty')}) on {mc.get('device')}; "
                        f"rerun at {mr.get('git', {}).get('commit')} on {mr.get('device')}")
    report.notes += machine_notes(mc, mr)
    return report


def machine_notes(committed: dict[str, Any], rerun: dict[str, Any]) -> list[str]:
    """Report notes naming the machine-fingerprint fields that differ between two manifests."""
    a, b = committed.get("machine"), rerun.get("machine")
    if not a or not b:
        return ["machine fingerprint: " + ("the committed" if not a else "the rerun's") +
                " manifest has none (made by an older eoxai), so it cannot say what differs"]
    diffs = fingerprint_differences(a, b)
    if not diffs:
        return ["machine fingerprint: identical (same CPU, BLAS, threads, torch flags and locked environment)"]
    return [f"machine fingerprint differs in {len(diffs)} field(s) (committed -> rerun); a number that moved "
            "may move because of these:"] + [f"  {d}" for d in diffs]


def _write_partial_manifest(scratch: Path, root: Path, records: Sequence[Path], profile: str, seed: Any) -> None:
    """``scratch/manifest.json`` from the records of the jobs an ``--only`` rerun made."""
    from eoxai.provenance import build_manifest

    existing = [r for r in records if (root / r).is_file()]
    manifest = build_manifest([r.as_posix() for r in existing], results_dir=relative_path(scratch, root),
                              profile=profile, seed=seed, root=root)
    (scratch / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eoxai.audit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", help="profile whose committed results are audited (default quick)")
    ap.add_argument("--cores", "--jobs", type=int, default=2, dest="cores",
                    help="cores (parallel jobs) for the rerun (snakemake --cores)")
    ap.add_argument("--only", metavar="NOTEBOOK",
                    help="rerun and compare only this notebook's jobs (e.g. 04_interclass_gradcam); reuses the "
                         "scratch folder of an earlier audit for what they need")
    ap.add_argument("--scratch", help="folder for the rerun (default .audit/<profile>; cleared if the audit made it)")
    ap.add_argument("--compare-only", metavar="DIR", help="skip the rerun; compare with the results in DIR")
    ap.add_argument("--results", help="committed results folder (default: the profile's results_dir)")
    ap.add_argument("--data-dir", help="data folder (default: the profile's data_dir)")
    ap.add_argument("--rtol", type=float, default=RTOL, help=f"relative float tolerance of table cells ({RTOL:g})")
    ap.add_argument("--atol", type=float, default=ATOL, help=f"absolute float tolerance of table cells ({ATOL:g})")
    ap.add_argument("--png-tolerance", type=float, default=PNG_TOLERANCE,
                    help=f"share of pixels that may differ per figure ({PNG_TOLERANCE:g})")
    ap.add_argument("--failures-only", action="store_true", help="list only failing files (default: every file)")
    ap.add_argument("--report", help="also write the report to this file")
    ap.add_argument("--figure-table", action="store_true",
                    help="only print where each committed figure comes from (figure, notebook, rule, inputs)")
    a = ap.parse_args(argv)
    try:
        if a.figure_table:
            cfg = load_profile(a.profile)
            print(markdown_table(figure_table(read_manifest(a.results or cfg["results_dir"]))))
            return 0
        report = audit(a.profile, cores=a.cores, scratch=a.scratch, compare_only=a.compare_only, results=a.results,
                       data_dir=a.data_dir, only=a.only, rtol=a.rtol, atol=a.atol, png_tolerance=a.png_tolerance)
    except EoxaiError as exc:
        print(f"audit: error: {exc}", file=sys.stderr)
        return 2
    text = report.render(every_file=not a.failures_only)
    print(text)
    if a.report:
        Path(a.report).write_text(text + "\n")
    return 0 if report.ok else 1
