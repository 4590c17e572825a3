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
import sys
from pathlib import Path

from eoxai.audit import rules
from eoxai.audit.checks import check_manifest, compare_trees, machine_notes, verify_data
from eoxai.audit.findings import Finding, Report
from eoxai.audit.manifest import (
    committed_outputs,
    figure_table,
    manifest_outputs,
    markdown_table,
    notebook_jobs,
    read_manifest,
    result_files,
)
from eoxai.audit.rerun import prepare_scratch, rerun, write_partial_manifest
from eoxai.config import load_profile
from eoxai.errors import AuditError, EoxaiError
from eoxai.runner import relative_path


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
    rtol: float = rules.RTOL,
    atol: float = rules.ATOL,
    png_tolerance: float = rules.PNG_TOLERANCE,
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
            write_partial_manifest(other, root, [Path(relative_path(other, root)) / rel for rel in sorted(jobs)],
                                    profile, mc.get("seed"))
    report.extend(compare_trees(committed, other, rtol, atol, png_tolerance, only=only))
    mr = read_manifest(other)
    skipped = len(manifest_outputs(mc)) - len(committed_outputs(mc))
    if skipped:
        report.notes.append(f"{skipped} regenerable output(s) listed in the manifest lie in git-ignored folders "
                            f"({', '.join(rules.IGNORED_RESULT_DIRS)}): never committed, not compared")
    for key in ("profile", "seed"):
        if mc.get(key) != mr.get(key):
            report.findings.append(Finding("compare", f"manifest.json:{key}", False,
                                           f"committed {mc.get(key)!r}, rerun {mr.get(key)!r}", "identical"))
    report.notes.append(f"committed results made at git commit {mc.get('git', {}).get('commit')} "
                        f"(dirty: {mc.get('git', {}).get('dirty')}) on {mc.get('device')}; "
                        f"rerun at {mr.get('git', {}).get('commit')} on {mr.get('device')}")
    report.notes += machine_notes(mc, mr)
    return report



def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m eoxai.audit``: 0 all checks pass, 1 any fails, 2 a usage error."""
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
    ap.add_argument("--rtol", type=float, default=rules.RTOL, help=f"relative float tolerance of table cells ({rules.RTOL:g})")
    ap.add_argument("--atol", type=float, default=rules.ATOL, help=f"absolute float tolerance of table cells ({rules.ATOL:g})")
    ap.add_argument("--png-tolerance", type=float, default=rules.PNG_TOLERANCE,
                    help=f"share of pixels that may differ per figure ({rules.PNG_TOLERANCE:g})")
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

