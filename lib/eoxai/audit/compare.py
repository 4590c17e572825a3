"""Compare one committed result with its rerun, by kind of file, under the rules of
:mod:`eoxai.audit.rules`. Each function returns the differences it finds (empty: the same)."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eoxai.audit import rules
from eoxai.checksums import sha256_file

MAX_CELLS_LISTED = 10


def _is_float(s: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(s)


def _is_int(s: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s)


def compare_csv(committed: str | Path, rerun: str | Path, rtol: float = rules.RTOL,
                atol: float = rules.ATOL) -> list[str]:
    """Differences between two CSV tables, cell by cell; empty when they agree.

    Integer and boolean columns (in either table) must hold the same numbers exactly; text cells
    (names, hashes) must be equal; float cells within ``|committed - rerun| <= atol + rtol * |rerun|``
    (NaN equals NaN). Columns matching :data:`rules.MEASURED_COLUMNS` (timings, device) are not compared.
    """
    a = pd.read_csv(committed, keep_default_na=True)
    b = pd.read_csv(rerun, keep_default_na=True)
    if list(a.columns) != list(b.columns):
        return [f"columns differ: committed {list(a.columns)}, rerun {list(b.columns)}"]
    if len(a) != len(b):
        return [f"row count differs: committed {len(a)}, rerun {len(b)}"]
    diffs: list[str] = []
    for col in a.columns:
        if rules.MEASURED_COLUMNS.search(str(col)):
            continue
        x, y = a[col], b[col]
        numeric = (_is_float(x) or _is_int(x)) and (_is_float(y) or _is_int(y))
        if numeric and (_is_int(x) or _is_int(y)):
            xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
            for i in np.flatnonzero(~((xv == yv) | (np.isnan(xv) & np.isnan(yv)))):
                diffs.append(f"row {i} column {col!r}: committed {_num(xv[i])}, rerun {_num(yv[i])} "
                             "(integer column: must be equal)")
        elif numeric:
            xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
            close = np.isclose(xv, yv, rtol=rtol, atol=atol) | (np.isnan(xv) & np.isnan(yv))
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


def _num(v: float) -> str:
    return repr(int(v)) if float(v).is_integer() else repr(float(v))


def read_png(path: str | Path | bytes) -> np.ndarray:
    """Decoded pixels ``(H, W, 4)`` uint8 (RGBA) of a PNG file (or its bytes)."""
    from PIL import Image

    with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as im:
        return np.asarray(im.convert("RGBA"))


def compare_png(committed: str | Path | bytes, rerun: str | Path | bytes,
                tolerance: float = rules.PNG_TOLERANCE) -> str | None:
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


def normalise_text(text: str, results_dir: str | None = None) -> str:
    """``text`` with run-measuring values (:data:`rules.MEASURED_TEXT`) replaced by ``<run>`` and the
    results folder's name by ``<results>``."""
    if results_dir and results_dir not in (".", ""):
        text = text.replace(results_dir.rstrip("/") + "/", "<results>/")
    return rules.MEASURED_TEXT.sub("<run>", rules.MEASURED_LINE.sub("<run>", text))


class _Tables(HTMLParser):
    """Cells of the ``<table>`` elements of an HTML output: per table its header rows and body rows,
    as pandas' ``to_html`` writes them. A cell spanning ``colspan`` columns is repeated across them,
    and one spanning ``rowspan`` rows (a MultiIndex level) is repeated down them, so every row holds
    one cell per column and a column index means the same column in every row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list[list[str]]]] = []
        self._part = "body"
        self._row: list[tuple[str, int, int]] | None = None  # (text, colspan, rowspan) as parsed
        self._cell: str | None = None
        self._spans = (1, 1)
        self._pending: dict[int, tuple[str, int]] = {}  # column -> (text, rows still covered)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"head": [], "body": []})
            self._pending = {}
        elif tag in ("thead", "tbody"):
            self._part = "head" if tag == "thead" else "body"
            self._pending = {}
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            a = dict(attrs)
            self._cell, self._spans = "", (int(a.get("colspan") or 1), int(a.get("rowspan") or 1))

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell += data

    def _resolve(self, parsed: list[tuple[str, int, int]]) -> list[str]:
        """One row's cells by column: the cells spanned down from rows above fill their columns."""
        row: list[str] = []
        cells = iter(parsed)
        while True:
            col = len(row)
            if col in self._pending:
                text, left = self._pending.pop(col)
                if left > 1:
                    self._pending[col] = (text, left - 1)
                row.append(text)
                continue
            cell = next(cells, None)
            if cell is None:
                if any(c >= col for c in self._pending):
                    continue  # only spanned cells remain
                return row
            text, colspan, rowspan = cell
            for c in range(col, col + colspan):
                row.append(text)
                if rowspan > 1:
                    self._pending[c] = (text, rowspan - 1)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append((self._cell.strip(), *self._spans))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1][self._part].append(self._resolve(self._row))
            self._row = None
        elif tag == "thead":
            self._part = "body"


def displayed_tables(html: str) -> tuple[list[list[list[str]]], set[str]]:
    """The tables of an HTML output (a displayed DataFrame) as rows of cell texts, with the cells of
    run-measuring columns (a header matching :data:`rules.MEASURED_COLUMNS`) replaced by ``<run>``;
    and the set of the replaced cell texts."""
    parser = _Tables()
    parser.feed(html)
    out, values = [], set()
    for table in parser.tables:
        measured = {j for row in table["head"] for j, cell in enumerate(row) if rules.MEASURED_COLUMNS.search(cell)}
        values |= {cell for row in table["body"] for j, cell in enumerate(row) if j in measured}
        out.append([[("<run>" if j in measured else cell) for j, cell in enumerate(row)]
                    for row in table["head"] + table["body"]])
    return out, values


def plain_table(text: str, measured: set[str]) -> str:
    """A displayed table's plain-text twin with the run-measuring cell texts (``measured``) replaced
    by ``<run>`` and column padding ignored, so it can be compared too."""
    return "\n".join(" ".join("<run>" if tok in measured else tok for tok in line.split()) for line in text.splitlines())


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb.get("cells", []) if c.get("cell_type") == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def _output_diff(a: dict[str, Any], b: dict[str, Any], dirs: tuple[str | None, str | None],
                 png_tolerance: float) -> str | None:
    kind = a.get("output_type")
    if kind != b.get("output_type"):
        return f"output type {kind} vs {b.get('output_type')}"
    if kind == "stream":
        if a.get("name") != b.get("name"):
            return f"stream {a.get('name')} vs {b.get('name')}"
        x, y = normalise_text(_text(a.get("text", "")), dirs[0]), normalise_text(_text(b.get("text", "")), dirs[1])
        return None if x == y else f"{a.get('name')} text differs: committed {_first_diff(x, y)}"
    data_a, data_b = a.get("data", {}), b.get("data", {})
    if sorted(data_a) != sorted(data_b):
        return f"output formats {sorted(data_a)} vs {sorted(data_b)}"
    skip = set()
    if "<table" in _text(data_a.get("text/html", "")):  # a displayed table: compared cell by cell
        (ta, va), (tb, vb) = (displayed_tables(_text(d["text/html"])) for d in (data_a, data_b))
        if ta != tb:
            return "displayed table differs: committed " + _first_diff(json.dumps(ta), json.dumps(tb))
        # the plain-text twin has no columns to go by: both sides blank every run-measuring value
        # either side shows (a real cell is still compared cell by cell in the HTML tables above)
        pa, pb = (plain_table(_text(d.get("text/plain", "")), va | vb) for d in (data_a, data_b))
        if pa != pb:
            return "displayed table's text/plain differs: committed " + _first_diff(pa, pb)
        skip = {"text/html", "text/plain"}
    for mime in sorted(set(data_a) - skip):
        if mime == "image/png":
            why = compare_png(base64.b64decode(_text(data_a[mime])), base64.b64decode(_text(data_b[mime])),
                              png_tolerance)
            if why:
                return f"embedded image: {why}"
        elif mime.startswith("text/") or mime.endswith("json"):
            x = normalise_text(_text(data_a[mime]) if mime.startswith("text/") else json.dumps(data_a[mime]), dirs[0])
            y = normalise_text(_text(data_b[mime]) if mime.startswith("text/") else json.dumps(data_b[mime]), dirs[1])
            if x != y:
                return f"{mime} differs: committed {_first_diff(x, y)}"
        elif data_a[mime] != data_b[mime]:
            return f"{mime} differs"
    return None


def _first_diff(x: str, y: str, width: int = 60) -> str:
    i = next((k for k, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
    lo = max(0, i - 20)
    return f"{x[lo:i + width]!r}, rerun {y[lo:i + width]!r}"


def compare_notebooks(committed: str | Path, rerun: str | Path, png_tolerance: float = rules.PNG_TOLERANCE,
                      results_dirs: tuple[str | None, str | None] = (None, None)) -> str | None:
    """None when two executed notebooks have the same code cells and outputs (modulo run-measuring
    text, :func:`normalise_text`) and neither holds an error output; else the first difference."""
    a, b = (json.loads(Path(p).read_text()) for p in (committed, rerun))
    for which, nb in (("committed", a), ("rerun", b)):
        errors = [o.get("ename", "") for c in nb.get("cells", []) for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        if errors:
            return f"the {which} notebook holds error output(s): {errors}"
    ca, cb = _code_cells(a), _code_cells(b)
    if [_text(c["source"]) for c in ca] != [_text(c["source"]) for c in cb]:
        return "code cells differ between the committed and the rerun notebook"
    for n, (x, y) in enumerate(zip(ca, cb, strict=True), start=1):
        oa, ob = x.get("outputs", []), y.get("outputs", [])
        if len(oa) != len(ob):
            return f"code cell {n}: {len(oa)} output(s) committed, {len(ob)} in the rerun"
        for k, (p, q) in enumerate(zip(oa, ob, strict=True), start=1):
            why = _output_diff(p, q, results_dirs, png_tolerance)
            if why:
                return f"code cell {n}, output {k}: {why}"
    return None


def compare_records(committed: str | Path, rerun: str | Path,
                    results_dirs: tuple[str | None, str | None] = (None, None)) -> str | None:
    """None when two provenance records agree on everything but run-measuring keys
    (:data:`rules.RECORD_MEASURED_KEYS`, which must be present) and where they wrote; else why not.

    Output hashes are not compared here: each output is compared as a file of its own."""
    a, b = (json.loads(Path(p).read_text()) for p in (committed, rerun))
    for which, rec in (("committed", a), ("rerun", b)):
        missing = [k for k in rules.RECORD_MEASURED_KEYS if k not in rec]
        if missing:
            return f"the {which} record lacks {missing}"

    def mapped(path: str, base: str | None) -> str:
        if base and path.startswith(base.rstrip("/") + "/"):
            return "<results>/" + path[len(base.rstrip("/")) + 1:]
        return path

    def core(rec: dict[str, Any], base: str | None) -> dict[str, Any]:
        params = {k: ("<results>" if k in rules.RECORD_PLACE_PARAMETERS else v)
                  for k, v in rec.get("parameters", {}).items()}
        inputs = {mapped(p, base): (h if not mapped(p, base).startswith("<results>/") else "<output of a rule>")
                  for p, h in rec.get("inputs", {}).items()}
        skip = {"parameters", "inputs", "outputs", *rules.RECORD_MEASURED_KEYS}
        return {"fields": {k: v for k, v in rec.items() if k not in skip}, "parameters": params, "inputs": inputs,
                "outputs": sorted(mapped(p, base) for p in rec.get("outputs", {}))}

    x, y = core(a, results_dirs[0]), core(b, results_dirs[1])
    for part in ("fields", "parameters", "inputs", "outputs"):
        if x[part] != y[part]:
            keys = sorted({*x[part]} | {*y[part]}) if isinstance(x[part], dict) else None
            if keys is not None:
                bad = [k for k in keys if x[part].get(k) != y[part].get(k)]
                return f"record {part} differ: {', '.join(map(str, bad[:5]))}"
            return f"record {part} differ: committed {x[part]}, rerun {y[part]}"
    return None


def compare_file(committed: Path, rerun: Path, rtol: float = rules.RTOL, atol: float = rules.ATOL,
                 png_tolerance: float = rules.PNG_TOLERANCE, *, record: bool = False,
                 results_dirs: tuple[str | None, str | None] = (None, None)) -> tuple[bool, str, str]:
    """Compare one committed file with its rerun by kind; ``(ok, rule name, message)``."""
    if sha256_file(committed) == sha256_file(rerun):
        return True, rules.IDENTICAL.name, "identical"
    suffix = committed.suffix.lower()
    if record:
        why = compare_records(committed, rerun, results_dirs)
        return why is None, rules.PROVENANCE_RECORD.name, why or "same record but run-measuring keys"
    if suffix == ".csv":
        diffs = compare_csv(committed, rerun, rtol, atol)
        return not diffs, rules.TABLE_FLOATS.name, "within tolerance" if not diffs else "; ".join(diffs)
    if suffix == ".png":
        why = compare_png(committed, rerun, png_tolerance)
        return why is None, rules.FIGURE_PIXELS.name, why or "same pixels"
    if suffix == ".ipynb":
        why = compare_notebooks(committed, rerun, png_tolerance, results_dirs)
        return why is None, rules.NOTEBOOK_OUTPUTS.name, why or "same code and outputs, no errors"
    return False, rules.SHA256.name, "content differs (sha256)"
