"""The notebooks' shared helpers (eoxai.notebook) and the rule that notebooks use them."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from eoxai.errors import InputError
from eoxai.notebook import show, write_table
from tests.conftest import ROOT


def test_write_table_uses_the_house_float_format(tmp_path):
    path = write_table(pd.DataFrame({"a": [1 / 3], "n": [7]}), tmp_path / "sub" / "t.csv")
    assert path.read_text().splitlines() == ["a,n", "0.333333,7"]
    short = write_table(pd.DataFrame({"a": [1 / 3]}), tmp_path / "s.csv", digits=4)
    assert short.read_text().splitlines()[1] == "0.3333"


def test_write_table_rejects_what_is_not_a_table(tmp_path):
    with pytest.raises(InputError, match="DataFrame"):
        write_table([1, 2], tmp_path / "x.csv")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="digits"):
        write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "x.csv", digits=0)


def test_show_saves_a_figure_then_displays_it(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert show(fig, tmp_path / "f.png") is None
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    show(tmp_path / "f.png")  # an existing PNG
    with pytest.raises(InputError, match="path"):
        show(plt.figure())
    with pytest.raises(InputError, match="no figure"):
        show(tmp_path / "missing.png")


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.py")), ids=lambda p: p.stem)
def test_notebooks_use_the_shared_helpers(nb):
    """No notebook redefines show() or writes a table with its own float format."""
    text = nb.read_text()
    assert not re.search(r"^def show\(", text, re.M), f"{nb.name} defines show(); use eoxai.notebook.show"
    assert "float_format=" not in text, f"{nb.name} formats a table itself; use eoxai.notebook.write_table"
