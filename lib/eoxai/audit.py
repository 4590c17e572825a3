"""Reviewer audit: do the committed results come from the committed code and data?

::

    python -m eoxai.audit --profile quick --cores 2              # = make audit
    python -m eoxai.audit --profile quick --compare-only DIR     # compare an existing rerun only
    python -m eoxai.audit --profile quick --figure-table         # figure -> notebook -> rule -> inputs

Four checks, each listing every difference it finds; the exit status is 0 when all pass, 1 when
any fails, 2 for a usage error (an unknown profile, no committed results):

1. **data** - every file under ``data/`` matches ``data/SHA256SUMS``, none is missing, and no data
   file is left out of the list;
2. **manifest** - ``<results>/manifest.json`` against the committed files: each listed file exists
   and has the listed sha256, no result file is unlisted, and the inputs it records (notebooks,
   data) still have the recorded sha256 in this checkout;
3. **rerun** - the profile is run again into a scratch folder:
   ``snakemake --cores N --config profile=<p> results_dir=<scratch> --forceall``;
4. **compare** - every committed output against the rerun's: CSV tables cell by cell (integers,
   strings and hashes exactly; floats within ``|a - b| <= atol + rtol * |b|``; columns that hold
   measurements of the run itself, not results - wall times ``*_s``, rates ``*_per_s``,
   ``seconds*``, ``device``, ``cached`` (see :data:`MEASURED_COLUMNS`) - only have to be present),
   PNG figures by
   sha256 or else pixel by pixel (at most ``png_tolerance`` of the pixels may differ), executed
   notebooks by their code cells and the absence of errors (their outputs hold timings), any other
   file by sha256.

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

from eoxai.checksums import read_sha256sums, sha256_file
from eoxai.config import load_profile
from eoxai.errors import EoxaiError

#: default float tolerance for table cells: |committed - rerun| <= ATOL + RTOL * |rerun|
RTOL = 1e-6
ATOL = 1e-9
#: default share of pixels that may differ between a committed and a rerun figure
PNG_TOLERANCE = 0.0
#: files of a data folder that SHA256SUMS does not list on purpose
DATA_UNLISTED_OK = ("README.md", "SHA256SUMS")
#: git-ignored, regenerable sub-folders of a results folder (never committed, never compared)
IGNORED_RESULT_DIRS = ("interim", "models", "scratch", "smoke")
#: marker file written into a scratch folder the audit made (so it may clear it next time)
SCRATCH_MARKER = ".eoxai-audit-scratch"
MAX_CELLS_LISTED = 10
#: columns that record how a run went on its machine (wall times, rates, device, cache hits), not
#: results: they differ between machines and reruns, so the audit checks only that they exist
MEASURED_COLUMNS = re.compile(r"^(device|cached|seconds.*)$|(_s|_per_s|_seconds)$")


class AuditError(EoxaiError, RuntimeError):
    """The audit cannot run (no committed results, a scratch folder it must not overwrite)."""


@dataclass
class Finding:
    """One checked item: which check, which file (or key), passed or not, and why."""

    check: str
    path: str
    ok: bool
    message: str = ""


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

    def render(self) -> str:
        lines = ["eoxai audit report", "=" * 18]
        for check in dict.fromkeys(f.check for f in self.findings):
            items = [f for f in self.findings if f.check == check]
            bad = [f for f in items if not f.ok]
            lines.append(f"\n[{'PASS' if not bad else 'FAIL'}] {check}: {len(items) - len(bad)} of {len(items)} ok")
            for f in bad:
                lines.append(f"  - {f.path}: {f.message}")
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
                           "" if got == expected else f"checksum changed: SHA256SUMS has {expected}, file has {got}"))
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
    return Path(rel).parts[0] not in IGNORED_RESULT_DIRS


def committed_outputs(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`manifest_outputs` without the regenerable, git-ignored ones (fused cubes, checkpoints)."""
    return {rel: entry for rel, entry in manifest_outputs(manifest).items() if is_committed(rel)}


def manifest_records(manifest: dict[str, Any]) -> set[str]:
    """Provenance records of a manifest, relative to its results folder."""
    base = str(manifest.get("results_dir", ""))
    recs = set()
    for rule in manifest.get("jobs", {}).values():
        if rule.get("record"):
            rel = relative_to_results(rule["record"], base)
            recs.add(rel if rel is not None else rule["record"])
    return recs


def result_files(results_dir: str | Path) -> list[str]:
    """Files of a results folder (relative), without git-ignored folders and nested profiles' trees."""
    root = Path(results_dir)
    nested = {p.parent for p in root.rglob("manifest.json") if p.parent != root}
    out = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root)
        if not is_committed(rel.as_posix()) or any(n in f.parents for n in nested) or f.name == SCRATCH_MARKER:
            continue
        out.append(rel.as_posix())
    return out


def check_manifest(results_dir: str | Path, root: str | Path = ".") -> list[Finding]:
    """``results_dir/manifest.json`` against the files: sha256s, missing and unlisted files, inputs.

    Outputs in git-ignored folders (``interim/``, ``models/``) are regenerable, never committed,
    and not checked here. ``root`` is the checkout the recorded inputs (notebooks, data) are looked up in; inputs that
    live in a results folder (fused cubes, checkpoints) are regenerable and not committed.
    """
    results_dir, root = Path(results_dir), Path(root)
    manifest = read_manifest(results_dir)
    outputs = committed_outputs(manifest)
    name = (results_dir / "manifest.json").as_posix()
    out: list[Finding] = []
    for rel, entry in sorted(outputs.items()):
        f = results_dir / rel
        origin = f"made by rule {entry.get('rule')!r} from {entry.get('notebook')}"
        if not f.is_file():
            out.append(Finding("manifest", f.as_posix(), False, f"listed in {name} but missing ({origin})"))
            continue
        got = sha256_file(f)
        ok = got == entry.get("sha256")
        out.append(Finding("manifest", f.as_posix(), ok, "" if ok else
                           f"modified: {name} lists sha256 {entry.get('sha256')}, the file has {got} ({origin})"))
    known = set(manifest_outputs(manifest)) | manifest_records(manifest) | {"manifest.json"}
    for rel in result_files(results_dir):
        if rel not in known:
            out.append(Finding("manifest", (results_dir / rel).as_posix(), False,
                               f"file not listed in {name} (where does it come from?)"))
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
            out.append(Finding("inputs", path, False, f"missing in this checkout; {used_by}"))
            continue
        got = sha256_file(f)
        out.append(Finding("inputs", path, got == digest, "" if got == digest else
                           f"changed since the results were made: manifest has sha256 {digest}, checkout has {got}; "
                           f"{used_by}. Rerun the profile and commit its results."))
    return out


# --------------------------------------------------------------------------------------------
# 3. rerun


def rerun_command(profile: str, cores: int, scratch: str | Path, targets: Sequence[str] = ()) -> list[str]:
    """The Snakemake command line of the rerun (``--forceall`` into ``scratch``)."""
    return [sys.executable, "-m", "snakemake", "--cores", str(int(cores)), "--config", f"profile={profile}",
            f"results_dir={Path(scratch).as_posix()}", "--forceall", *targets]


def prepare_scratch(scratch: str | Path) -> Path:
    """Create (or clear, if an earlier audit made it) the scratch folder; refuse any other folder."""
    scratch = Path(scratch)
    if scratch.exists() and any(scratch.iterdir()):
        if not (scratch / SCRATCH_MARKER).is_file():
            raise AuditError(f"scratch folder {scratch} exists and was not made by the audit; choose another --scratch")
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / SCRATCH_MARKER).write_text("made by python -m eoxai.audit; cleared by the next audit\n")
    return scratch


def rerun(profile: str, cores: int, scratch: str | Path, root: str | Path = ".",
          targets: Sequence[str] = ()) -> int:
    """Run the profile into ``scratch`` with Snakemake from ``root``; return its exit status."""
    cmd = rerun_command(profile, cores, scratch, targets)
    print("audit: rerunning:", " ".join(cmd[2:]), flush=True)
    return subprocess.run(cmd, cwd=root, check=False).returncode


# --------------------------------------------------------------------------------------------
# 4. compare


def _is_float(s: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(s)


def _is_int(s: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s)


def compare_csv(committed: str | Path, rerun: str | Path, rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """Differences between two CSV tables, cell by cell; empty when they agree.

    Integer, boolean and string cells (names, hashes) must be equal; float cells within
    ``|committed - rerun| <= atol + rtol * |rerun|`` (NaN equals NaN). A column that is integer in
    one table and float in the other is compared as floats. Columns matching
    :data:`MEASURED_COLUMNS` (timings, device) are not compared.
    """
    a = pd.read_csv(committed, keep_default_na=True)
    b = pd.read_csv(rerun, keep_default_na=True)
    if list(a.columns) != list(b.columns):
        return [f"columns differ: committed {list(a.columns)}, rerun {list(b.columns)}"]
    if len(a) != len(b):
        return [f"row count differs: committed {len(a)}, rerun {len(b)}"]
    diffs: list[str] = []
    for col in a.columns:
        if MEASURED_COLUMNS.search(str(col)):
            continue
        x, y = a[col], b[col]
        numeric = (_is_float(x) or _is_int(x)) and (_is_float(y) or _is_int(y))
        if numeric and (_is_float(x) or _is_float(y)):
            xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
            both_nan = np.isnan(xv) & np.isnan(yv)
            close = np.isclose(xv, yv, rtol=rtol, atol=atol) | both_nan
            for i in np.flatnonzero(~close):
                diffs.append(f"row {i} column {col!r}: committed {float(xv[i])!r}, rerun {float(yv[i])!r} "
                             f"(|diff| {abs(xv[i] - yv[i]):.3g} > {atol:g} + {rtol:g} * |rerun|)")
        else:
            xs, ys = x.astype(str).to_numpy(), y.astype(str).to_numpy()
            for i in np.flatnonzero(xs != ys):
                diffs.append(f"row {i} column {col!r}: committed {xs[i]!r}, rerun {ys[i]!r} (must be equal)")
    if len(diffs) > MAX_CELLS_LISTED:
        diffs = diffs[:MAX_CELLS_LISTED] + [f"... and {len(diffs) - MAX_CELLS_LISTED} more differing cell(s)"]
    return diffs


def read_png(path: str | Path) -> np.ndarray:
    """Decoded pixels ``(H, W, C)`` uint8 (RGBA) of a PNG."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def compare_png(committed: str | Path, rerun: str | Path, tolerance: float = PNG_TOLERANCE) -> str | None:
    """None when two PNGs have the same pixels (or at most ``tolerance`` of them differ), else why not."""
    a, b = read_png(committed), read_png(rerun)
    if a.shape != b.shape:
        return f"image size differs: committed {a.shape[1]}x{a.shape[0]} px, rerun {b.shape[1]}x{b.shape[0]} px"
    differ = np.any(a != b, axis=-1)
    share = float(differ.mean())
    if share <= tolerance:
        return None
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max()
    return (f"{int(differ.sum())} of {differ.size} pixels differ ({100 * share:.3f} % > tolerance "
            f"{100 * tolerance:.3f} %), largest difference {diff} of 255 levels")


def compare_notebooks(committed: str | Path, rerun: str | Path) -> str | None:
    """None when two executed notebooks have the same code cells and neither holds an error output."""
    def load(p: str | Path) -> dict[str, Any]:
        return json.loads(Path(p).read_text())

    a, b = load(committed), load(rerun)
    code = [[("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
             for c in nb["cells"] if c["cell_type"] == "code" and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
            for nb in (a, b)]
    if code[0] != code[1]:
        return "code cells differ between the committed and the rerun notebook"
    for which, nb in (("committed", a), ("rerun", b)):
        errors = [o.get("ename", "") for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            return f"the {which} notebook holds error output(s): {errors}"
    return None


def compare_file(committed: Path, rerun: Path, rtol: float = RTOL, atol: float = ATOL,
                 png_tolerance: float = PNG_TOLERANCE) -> tuple[bool, str]:
    """Compare one committed file with its rerun by type; ``(ok, message)``."""
    if sha256_file(committed) == sha256_file(rerun):
        return True, "identical"
    suffix = committed.suffix.lower()
    if suffix == ".csv":
        diffs = compare_csv(committed, rerun, rtol, atol)
        return (not diffs, "within tolerance" if not diffs else "; ".join(diffs))
    if suffix == ".png":
        why = compare_png(committed, rerun, png_tolerance)
        return (why is None, "same pixels" if why is None else why)
    if suffix == ".ipynb":
        why = compare_notebooks(committed, rerun)
        return (why is None, "same code, no errors" if why is None else why)
    return False, "content differs (sha256)"


def compare_trees(committed: str | Path, rerun: str | Path, rtol: float = RTOL, atol: float = ATOL,
                  png_tolerance: float = PNG_TOLERANCE) -> list[Finding]:
    """Compare every committed output listed in the two manifests (committed and rerun), file by file.

    Regenerable outputs in git-ignored folders (``interim/``, ``models/``) are not compared.
    """
    committed, rerun = Path(committed), Path(rerun)
    a = committed_outputs(read_manifest(committed))
    b = committed_outputs(read_manifest(rerun))
    out = []
    for rel in sorted(set(a) | set(b)):
        c, r = committed / rel, rerun / rel
        if rel not in b:
            out.append(Finding("compare", c.as_posix(), False, "committed, but the rerun does not make it (stale result?)"))
        elif rel not in a or not c.is_file():
            out.append(Finding("compare", c.as_posix(), False,
                               f"missing committed result: the rerun makes {r.as_posix()} (rule {b[rel].get('rule')!r})"))
        elif not r.is_file():
            out.append(Finding("compare", c.as_posix(), False, f"the rerun's manifest lists {r.as_posix()}, which is missing"))
        else:
            ok, msg = compare_file(c, r, rtol, atol, png_tolerance)
            out.append(Finding("compare", c.as_posix(), ok, "" if ok else msg))
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
    rtol: float = RTOL,
    atol: float = ATOL,
    png_tolerance: float = PNG_TOLERANCE,
) -> Report:
    """Run the four checks of the module docstring and return the report (see :func:`main`)."""
    root = Path(root)
    cfg = load_profile(profile, root / config_dir)
    committed = Path(results) if results is not None else root / str(cfg["results_dir"])
    data = Path(data_dir) if data_dir is not None else root / str(cfg["data_dir"])
    read_manifest(committed)  # fail early, naming the missing file
    report = Report()
    report.notes.append(f"profile {profile!r}; committed results {committed.as_posix()}; data {data.as_posix()}")
    report.notes.append(f"tables: integers/strings/hashes exact, floats |a - b| <= {atol:g} + {rtol:g} * |b|; "
                        f"figures: identical sha256 or at most {100 * png_tolerance:g} % of pixels differing; "
                        "executed notebooks: same code cells, no error outputs")
    report.extend(verify_data(data))
    report.extend(check_manifest(committed, root))
    if compare_only is not None:
        other = Path(compare_only)
        report.notes.append(f"compared with the existing rerun {other.as_posix()} (no new run)")
    else:
        other = prepare_scratch(Path(scratch) if scratch is not None else root / ".audit" / profile)
        rc = rerun(profile, cores, other.resolve(), root)
        report.findings.append(Finding("rerun", other.as_posix(), rc == 0,
                                       "" if rc == 0 else f"snakemake exited with status {rc} (see its log above)"))
        if rc != 0:
            return report
    report.extend(compare_trees(committed, other, rtol, atol, png_tolerance))
    mc, mr = read_manifest(committed), read_manifest(other)
    skipped = len(manifest_outputs(mc)) - len(committed_outputs(mc))
    if skipped:
        report.notes.append(f"{skipped} regenerable output(s) in git-ignored folders ({', '.join(IGNORED_RESULT_DIRS)}) "
                            "are not audited: they are never committed")
    for key in ("profile", "seed"):
        if mc.get(key) != mr.get(key):
            report.findings.append(Finding("compare", f"manifest.json:{key}", False,
                                           f"committed {mc.get(key)!r}, rerun {mr.get(key)!r}"))
    report.notes.append(f"committed results made at git commit {mc.get('git', {}).get('commit')} "
                        f"(dirty: {mc.get('git', {}).get('dirty')}) on {mc.get('device')}; "
                        f"rerun at {mr.get('git', {}).get('commit')} on {mr.get('device')}")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eoxai.audit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", help="profile whose committed results are audited (default quick)")
    ap.add_argument("--cores", type=int, default=2, help="cores for the rerun (snakemake --cores)")
    ap.add_argument("--scratch", help="folder for the rerun (default .audit/<profile>; cleared if the audit made it)")
    ap.add_argument("--compare-only", metavar="DIR", help="skip the rerun; compare with the results in DIR")
    ap.add_argument("--results", help="committed results folder (default: the profile's results_dir)")
    ap.add_argument("--data-dir", help="data folder (default: the profile's data_dir)")
    ap.add_argument("--rtol", type=float, default=RTOL, help=f"relative float tolerance of table cells ({RTOL:g})")
    ap.add_argument("--atol", type=float, default=ATOL, help=f"absolute float tolerance of table cells ({ATOL:g})")
    ap.add_argument("--png-tolerance", type=float, default=PNG_TOLERANCE,
                    help=f"share of pixels that may differ per figure ({PNG_TOLERANCE:g})")
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
                       data_dir=a.data_dir, rtol=a.rtol, atol=a.atol, png_tolerance=a.png_tolerance)
    except EoxaiError as exc:
        print(f"audit: error: {exc}", file=sys.stderr)
        return 2
    text = report.render()
    print(text)
    if a.report:
        Path(a.report).write_text(text + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
