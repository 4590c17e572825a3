"""Reviewer audit: do the committed results come from the committed code and data?

``python -m eoxai.audit`` (= ``make audit``; usage and the four checks: :mod:`eoxai.audit.cli`).
One module per job:

- :mod:`~eoxai.audit.checks`    the checks: data checksums, the manifest, the comparison with a rerun
- :mod:`~eoxai.audit.rerun`     the rerun with Snakemake into a scratch folder the audit owns
- :mod:`~eoxai.audit.manifest`  reading a manifest: outputs, records, which files are audited
- :mod:`~eoxai.audit.compare`   one comparison per kind of file (table, figure, notebook, record)
- :mod:`~eoxai.audit.rules`     what "the same result" means and which values measure the run
- :mod:`~eoxai.audit.findings`  the report: one finding per checked item
- :mod:`~eoxai.audit.cli`       :func:`~eoxai.audit.cli.audit` (all four checks) and the command line

The names below are re-exported for callers that import the package.
"""

from __future__ import annotations

from eoxai.audit import rules
from eoxai.audit.checks import check_manifest, compare_trees, machine_notes, verify_data
from eoxai.audit.cli import audit, main
from eoxai.audit.compare import compare_csv, compare_file, compare_notebooks, compare_png, compare_records, read_png
from eoxai.audit.findings import Finding, Report
from eoxai.audit.manifest import (
    SCRATCH_MARKER,
    committed_outputs,
    figure_table,
    manifest_outputs,
    manifest_records,
    markdown_table,
    read_manifest,
)
from eoxai.audit.rerun import prepare_scratch, rerun, rerun_command
from eoxai.errors import AuditError

__all__ = ["SCRATCH_MARKER", "AuditError", "Finding", "Report", "audit", "check_manifest", "committed_outputs",
           "compare_csv", "compare_file", "compare_notebooks", "compare_png", "compare_records", "compare_trees",
           "figure_table", "machine_notes", "main", "manifest_outputs", "manifest_records", "markdown_table",
           "prepare_scratch", "read_manifest", "read_png", "rerun", "rerun_command", "rules", "verify_data"]
