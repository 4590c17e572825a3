"""Runtime helpers: warnings printed in executed notebooks name no folder of the machine."""

from __future__ import annotations

import warnings
from pathlib import Path

from eoxai.session import portable_path, start_notebook


def test_portable_path_is_never_absolute(tmp_path):
    inside = tmp_path / "lib" / "eoxai" / "x.py"
    assert portable_path(inside, root=tmp_path) == "lib/eoxai/x.py"
    installed = Path("/opt/venv/lib/python3.11/site-packages/xarray/core/concat.py")
    assert portable_path(installed, root=tmp_path) == "site-packages/xarray/core/concat.py"
    assert portable_path("/somewhere/else/module.py", root=tmp_path) == "module.py"


def test_notebook_warnings_are_printed_with_portable_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after the test
    source = tmp_path / "lib" / "mod.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    assert str(tmp_path) in warnings.formatwarning("coords will change", FutureWarning, str(source), 1)
    start_notebook(seed=0, threads=1, results_dir=tmp_path / "results")
    text = warnings.formatwarning("coords will change", FutureWarning, str(source), 1)
    assert text == "lib/mod.py:1: FutureWarning: coords will change\n  x = 1\n"
