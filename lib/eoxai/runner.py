"""Execute one numbered notebook with papermill, parameters from a profile, and record provenance.

Used by every Snakemake rule::

    python -m eoxai.runner notebooks/01_data_fusion.ipynb results/notebooks/01_data_fusion.ipynb \
        --profile config/quick.yaml --rule fusion --record results/logs/01_data_fusion.record.json \
        --set results_dir=results --inputs data/... --outputs results/...

The notebook's ``parameters`` cell holds defaults; papermill injects the profile's common keys,
the notebook's section (``notebooks.<stem>``) and each ``--set key=value`` (YAML-parsed).

What makes a rerun elsewhere byte-stable:

- the kernel runs in the folder the pipeline runs in (the project root), and every path
  parameter (``*_dir``) is injected relative to it, so no executed notebook or record names the
  folder or host it was made in (:func:`relative_path`);
- after execution :func:`stabilise_notebook` drops papermill's and Jupyter's timestamps and
  durations (the record keeps the wall time, which Snakemake's ``benchmark:`` file of the rule
  measures: :func:`eoxai.provenance.complete_record`), merges stream outputs and keeps only the final text
  of progress bars (what a terminal shows after ``\\r`` rewrites).

While the notebook runs, :class:`Progress` prints its cell progress and output lines to stderr
(the Snakemake log) and a "still running" line at least every ``--heartbeat`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from eoxai.config import load_profile, notebook_parameters
from eoxai.errors import EoxaiError
from eoxai.provenance import write_record

#: seconds without any console line after which the runner says the notebook is still running
HEARTBEAT_S = 30.0
#: progress-bar updates (lines rewritten with ``\r``) are echoed at most this often
BAR_EVERY_S = 10.0
#: lines of one cell output echoed to the console (the executed notebook keeps them all)
MAX_LINES = 3
#: papermill log lines not echoed: cell ends, display reprs, and the working directory (an absolute
#: path of this machine, always the project root; the echo goes to the job's log under <results>/logs/)
_SILENT = ("Ending Cell ", "<IPython.core.display", "Working directory: ")
#: notebook-level papermill metadata that measures the run (dropped; the record keeps the benchmark's wall time)
_RUN_KEYS = ("start_time", "end_time", "duration")


def parse_sets(items: list[str]) -> dict[str, object]:
    """``['a=1', 'b=[1, 2]']`` -> ``{'a': 1, 'b': [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EoxaiError(f"--set expects key=value, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def relative_path(value: str | Path, root: str | Path) -> str:
    """``value`` as a POSIX path relative to ``root`` (``..`` where it lies outside); relative
    paths are returned as given. The kernel runs in ``root``, so these paths work there."""
    p = Path(str(value))
    if not p.is_absolute():
        return p.as_posix()
    return Path(os.path.relpath(p, Path(root).resolve())).as_posix()


def path_parameters(params: Mapping[str, Any], root: str | Path) -> dict[str, Any]:
    """``params`` with every path parameter (a string value of a key ending in ``_dir``) relative
    to ``root`` (:func:`relative_path`)."""
    return {k: (relative_path(v, root) if k.endswith("_dir") and isinstance(v, str | Path) else v)
            for k, v in params.items()}


def final_text(text: str) -> str:
    """What a terminal shows for ``text``: on each line only what follows the last ``\\r``."""
    lines = text.split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _merge_streams(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive stream outputs of one name merged into one, holding its final text."""
    merged: list[dict[str, Any]] = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] = merged[-1]["text"] + _text(out["text"])
        else:
            merged.append(dict(out, text=_text(out["text"])) if out.get("output_type") == "stream" else out)
    for out in merged:
        if out.get("output_type") == "stream":
            out["text"] = final_text(out["text"])
    return merged


def stabilise_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """Drop what measures the run from an executed notebook (in place, and return it).

    Removed: papermill's start/end times and durations (notebook and cells), Jupyter's
    ``execution`` timestamps, widget state; the injected parameters cell gets a fixed id. Stream outputs are merged per cell and keep only
    their final text (:func:`final_text`), so progress bars are stored as their last state.
    """
    meta = nb.setdefault("metadata", {})
    for key in _RUN_KEYS:
        meta.get("papermill", {}).pop(key, None)
    meta.pop("widgets", None)
    for cell in nb.get("cells", []):
        cmeta = cell.get("metadata", {})
        if "injected-parameters" in cmeta.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives the cell it adds a random id
        cmeta.pop("execution", None)
        for key in _RUN_KEYS:
            cmeta.get("papermill", {}).pop(key, None)
        if "outputs" in cell:
            cell["outputs"] = _merge_streams(cell["outputs"])
    return nb


def stabilise_file(path: str | Path) -> None:
    """Rewrite an executed notebook file through :func:`stabilise_notebook`."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.write(nbformat.from_dict(stabilise_notebook(nb)), path)


class Progress(logging.Handler):
    """Echo a running notebook to ``stream``: each cell start (``label: cell k/N, t s``), its
    output lines, progress bars at most every :data:`BAR_EVERY_S`, and a heartbeat line when
    nothing was printed for ``heartbeat_s`` seconds; never the working directory (:data:`_SILENT`)."""

    def __init__(self, label: str, n_cells: int, stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S):
        super().__init__(logging.INFO)
        self.label, self.n_cells, self.stream = label, n_cells, stream or sys.stderr
        self.heartbeat_s = heartbeat_s
        self.cell = 0
        self.start = self.last = self.last_bar = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def say(self, text: str) -> None:
        with self._lock:
            self.stream.write(f"[{self.label}] {text}\n")
            self.stream.flush()
            self.last = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Executing Cell "):
            digits = "".join(ch for ch in msg[len("Executing Cell "):] if ch.isdigit())
            self.cell = int(digits) if digits else self.cell + 1
            self.say(f"cell {self.cell}/{self.n_cells} ({self.elapsed():.0f} s)")
            return
        if "\r" in msg:  # a progress bar rewriting its line
            now = time.monotonic()
            if now - self.last_bar < BAR_EVERY_S:
                return
            self.last_bar = now
        if msg.startswith(_SILENT):
            return
        lines = [line.rstrip() for line in final_text(msg).splitlines() if line.strip()]
        for line in lines[:MAX_LINES]:
            self.say(line)
        if len(lines) > MAX_LINES:
            self.say(f"... ({len(lines) - MAX_LINES} more lines in the executed notebook)")

    def _beat(self) -> None:
        while not self._stop.wait(min(5.0, self.heartbeat_s)):
            if time.monotonic() - self.last >= self.heartbeat_s:
                self.say(f"still running cell {self.cell}/{self.n_cells} ({self.elapsed():.0f} s)")

    def __enter__(self) -> Progress:
        logger = logging.getLogger("papermill")
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        logging.getLogger("papermill").removeHandler(self)


def run_notebook(
    notebook: str | Path,
    output: str | Path,
    *,
    profile: str | Path,
    rule: str,
    record: str | Path,
    overrides: dict[str, object] | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    section: str | None = None,
    threads: int | None = None,
    heartbeat_s: float = HEARTBEAT_S,
) -> dict[str, object]:
    """Execute ``notebook`` into ``output`` and write the provenance ``record``; return parameters.

    The record has no wall time yet (``wall_time_s`` None): the job's Snakemake benchmark measures
    it, and :func:`eoxai.provenance.complete_record` adds it once the job has ended.

    The kernel runs in the current folder (the project root, where Snakemake runs), with path
    parameters relative to it (:func:`path_parameters`); the executed notebook is stabilised
    (:func:`stabilise_notebook`)."""
    import nbformat
    import papermill as pm

    cfg = load_profile(profile)
    root = Path.cwd()
    notebook, output = Path(notebook), Path(output)
    params = notebook_parameters(cfg, section or notebook.stem, **(overrides or {}))
    if threads:
        params.setdefault("threads", threads)
    params = path_parameters(params, root)
    output.parent.mkdir(parents=True, exist_ok=True)
    env_threads = str(params.get("threads", threads or 1))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, env_threads)
    n_cells = len(nbformat.read(notebook, as_version=4).cells) + 1  # + the injected parameters
    with Progress(f"{rule}/{output.stem}", n_cells, heartbeat_s=heartbeat_s):
        pm.execute_notebook(
            str(notebook), str(output), parameters=params, kernel_name="python3",
            cwd=str(root), progress_bar=False, log_output=True,
        )
    stabilise_file(output)
    from eoxai.session import configure_torch

    configure_torch(int(str(params.get("threads") or 1)))  # as every notebook does: the record's torch flags
    write_record(record, rule=rule, notebook=notebook.as_posix(), parameters=params,
                 inputs=[notebook.as_posix(), *(inputs or [])], outputs=[output.as_posix(), *(outputs or [])])
    print(f"[{rule}] {notebook.name} done", file=sys.stderr)
    return params


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m eoxai.runner`` (see the module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook")
    ap.add_argument("output")
    ap.add_argument("--profile", required=True, help="profile name or YAML path")
    ap.add_argument("--rule", required=True)
    ap.add_argument("--record", required=True, help="provenance JSON to write")
    ap.add_argument("--section", help="profile section (default: the notebook's stem)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--heartbeat", type=float, default=HEARTBEAT_S,
                    help=f"seconds of silence before a 'still running' line ({HEARTBEAT_S:g})")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--inputs", nargs="*", default=[])
    ap.add_argument("--outputs", nargs="*", default=[])
    a = ap.parse_args(argv)
    run_notebook(a.notebook, a.output, profile=a.profile, rule=a.rule, record=a.record,
                 overrides=parse_sets(a.sets), inputs=a.inputs, outputs=a.outputs, section=a.section,
                 threads=a.threads, heartbeat_s=a.heartbeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
