"""Helpers every notebook uses: show a saved figure, write a table with the house float format.

Notebooks call these instead of redefining them, so a table's number format or a figure's
display is decided in one place.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from eoxai.errors import InputError
from eoxai.plots import savefig

#: significant digits of every float written to a results table (``float_format="%.6g"``)
TABLE_DIGITS = 6


def write_table(table: pd.DataFrame, path: str | Path, *, digits: int = TABLE_DIGITS, index: bool = False) -> Path:
    """Write ``table`` as CSV to ``path`` with floats at ``digits`` significant digits.

    The house format for every table under ``results/tables/``: no index column (unless
    ``index``), ``%.<digits>g`` floats, parent folders created. Returns the path written.
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"write_table expects a pandas DataFrame, got {type(table).__name__} for {Path(path).name}")
    if digits < 1:
        raise InputError(f"digits must be >= 1, got {digits}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=index, float_format=f"%.{digits}g")
    return path


def show(figure: Figure | str | Path, path: str | Path | None = None) -> None:
    """Display a PNG in the notebook; a ``Figure`` is first saved to ``path`` (deterministic PNG).

    ``show(path)`` displays an existing PNG; ``show(fig, path)`` saves ``fig`` with
    :func:`eoxai.plots.savefig`, closes it and displays the file. Returns None, so a cell ending in
    ``show(...)`` prints no ``Out[]`` value.
    """
    from IPython.display import Image, display

    if isinstance(figure, Figure):
        if path is None:
            raise InputError("show(fig, path): a Figure needs the path of the PNG to save it to")
        png = savefig(figure, path)
    else:
        png = Path(figure)
        if not png.is_file():
            raise InputError(f"show: no figure at {png.as_posix()} (was it written by an earlier cell?)")
    display(Image(filename=str(png)))
