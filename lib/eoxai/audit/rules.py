"""What "the same result" means, per kind of file and value: the one place the audit reads.

Every rule has a short name that the audit prints on each report line, and a comment saying why it
is what it is. Change a tolerance here, nowhere else; the README's "Audit" section quotes this file.

A value that measures the run itself (a wall time, a rate, a date, the device, the machine) is not
a result: it differs between two runs on one machine. Such values live in places named by the
conventions below (table columns, record keys, marked text in notebook outputs); the audit only
checks that they are there. Everything else is a result and is compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """A named comparison rule and what it means (printed in the report)."""

    name: str
    meaning: str


# --- tables (CSV) ----------------------------------------------------------------------------------

#: Run-measuring table columns, by naming convention: wall times end in ``_s`` or ``_seconds`` or start
#: with ``seconds``, rates end in ``_per_s``; ``device`` and ``cached`` say where and whether a value
#: was computed. A notebook that writes a timing column must name it this way (and nothing else).
MEASURED_COLUMNS = re.compile(r"^(device|cached|seconds.*)$|(_s|_per_s|_seconds)$")

#: Float cells: |committed - rerun| <= ATOL + RTOL * |rerun|. 1e-6 relative is far below the weight
#: of one test pixel in any metric we report (the largest test split, sen1floods11 quick, has 43,200
#: labelled pixels: one pixel moves OA by 2.3e-5), so a single pixel changing class FAILS, while the
#: last-bit differences of a different BLAS kernel or thread count (about 1e-15) pass.
RTOL = 1e-6
ATOL = 1e-9

TABLE_FLOATS = Rule("table-floats", f"float cells |a - b| <= {ATOL:g} + {RTOL:g} * |b| (below one test pixel's "
                    "weight in any metric); integer, boolean and text cells exactly; NaN equals NaN; "
                    "run-measuring columns (MEASURED_COLUMNS) only present")

# Integer columns are compared as integers: a column that is integer in either table must hold the
# same numbers exactly (12 vs 12.0000001 FAILS), whatever dtype the other table was parsed as.

# --- figures (PNG) ---------------------------------------------------------------------------------

#: Share of a figure's pixels that may differ. 0: figures are drawn from the compared tables and
#: arrays with a fixed font and backend (Agg), so the same numbers give the same pixels; only PNG
#: metadata (which may hold a date or library version) is ignored by decoding.
PNG_TOLERANCE = 0.0
FIGURE_PIXELS = Rule("figure-pixels", "same decoded pixels (RGBA); PNG metadata ignored")

# --- executed notebooks ----------------------------------------------------------------------------

#: Text in notebook outputs that measures the run, replaced by ``<run>`` before comparing:
#: tqdm progress-bar states (``12/30 [00:03<00:24, 1.07cell/s, ...]``, to the end of the line where
#: the bar's width cut it, postfix values included: the tables keep those), durations printed with a unit
#: (``29.5 s``, ``120 ms``, ``3 min``), rates (``4.1 it/s``), ISO dates and times. A notebook that
#: prints a timing prints it with its unit, so this convention marks it.
MEASURED_TEXT = re.compile(
    r"\d+/\d+ \[\d+:\d\d[^\]\n]*\]?"            # tqdm: n/total [elapsed<eta, rate, postfix] (may be cut)
    r"|\b\d+(?:\.\d+)?\s?(?:s|ms|min|h)\b(?!/)"   # a duration with its unit
    r"|\b\d+(?:\.\d+)?\s?[a-z]*/s\b"              # a rate: tiles/s, it/s
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?"  # a date-time
)
#: A printed line that measures the run but has no unit to mark it (a ratio of two timings, a list of
#: seconds) starts with this mark; the audit replaces the whole line.
MEASURED_LINE_MARK = "\u23f1"  # the stopwatch sign
MEASURED_LINE = re.compile(rf"^[^\n]*{MEASURED_LINE_MARK}[^\n]*$", re.M)

# A table displayed in a notebook (a DataFrame's HTML) is compared cell by cell with its
# run-measuring columns (MEASURED_COLUMNS) replaced; its plain-text twin is compared with the same
# cells replaced and column padding ignored (a longer timing widens its column).

NOTEBOOK_OUTPUTS = Rule("notebook-outputs", "same code cells; same outputs (text, displayed tables cell by cell, "
                        "images by pixels) after replacing run-measuring text (MEASURED_TEXT, lines marked with "
                        "MEASURED_LINE_MARK, MEASURED_COLUMNS of displayed tables) and the results folder's name; "
                        "no error output")

# --- provenance records ----------------------------------------------------------------------------

#: Keys of a provenance record that measure the run (when, how long, on what machine).
RECORD_MEASURED_KEYS = ("wall_time_s", "finished", "device", "machine")
#: Record parameters that name where the run wrote (the rerun writes into a scratch folder).
RECORD_PLACE_PARAMETERS = ("results_dir",)
PROVENANCE_RECORD = Rule("record-fields", "same rule, notebook, parameters (results_dir mapped), input and output "
                         "lists and input hashes; run-measuring keys (RECORD_MEASURED_KEYS) only present")

# --- everything else -------------------------------------------------------------------------------

SHA256 = Rule("sha256", "byte-identical")
IDENTICAL = Rule("identical", "byte-identical (no tolerance needed)")

# --- what is not audited ---------------------------------------------------------------------------

#: Git-ignored, regenerable sub-folders of a results folder: never committed, never compared.
IGNORED_RESULT_DIRS = {
    "interim": "fused cubes: regenerable from data/, git-ignored",
    "models": "checkpoints: regenerable by training, git-ignored",
    "scratch": "per-run scratch space, git-ignored",
    "logs": "job logs (stdout/stderr, with timings), git-ignored",
    "benchmarks": "Snakemake benchmarks (wall times, memory), git-ignored",
}
#: A results folder of another profile nested in this one (results/smoke/, results/paper/) is that
#: profile's to audit (``--profile <name>``); any other nested folder, even one with its own
#: manifest.json, is audited as part of this results folder.
OTHER_PROFILE = "results folder of profile {name!r}: audit it with --profile {name}"
