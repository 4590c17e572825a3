"""The audit's checks of committed files: data checksums, the manifest, and the comparison with a rerun.

Each returns one :class:`~eoxai.audit.findings.Finding` per file with the rule applied
(:mod:`eoxai.audit.rules`); :func:`machine_notes` says which machine-fingerprint fields differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eoxai.audit import rules
from eoxai.audit.compare import compare_file
from eoxai.audit.findings import Finding
from eoxai.audit.manifest import (
    committed_outputs,
    manifest_outputs,
    manifest_records,
    notebook_jobs,
    read_manifest,
    relative_to_results,
    result_files,
)
from eoxai.checksums import read_sha256sums, sha256_file
from eoxai.provenance import fingerprint_differences

#: files of a data folder that SHA256SUMS does not list on purpose
DATA_UNLISTED_OK = ("README.md", "SHA256SUMS")

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



def compare_trees(committed: str | Path, rerun: str | Path, rtol: float = rules.RTOL, atol: float = rules.ATOL,
                  png_tolerance: float = rules.PNG_TOLERANCE, only: str | None = None) -> list[Finding]:
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

