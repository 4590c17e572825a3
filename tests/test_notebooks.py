"""Notebook sources: numbered, paired with a .py twin, stored without outputs, parameterised."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def test_notebooks_exist_and_are_numbered():
    assert NOTEBOOKS, "no notebooks found"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers[0] == 1 and numbers == sorted(numbers)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_in_sync_with_its_twin(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "stored with outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "needs exactly one cell tagged 'parameters' (papermill)"
    params = tagged[0].source
    for name in ("profile", "seed", "data_dir", "results_dir"):
        assert re.search(rf"^{name}\s*=", params, re.M), f"parameters cell lacks {name}"
    twin = path.with_suffix(".py")
    assert twin.is_file(), f"{twin.name} (jupytext percent twin) missing; run `make notebooks`"
    py = jupytext.read(twin)
    assert [c.source.strip() for c in py.cells] == [c.source.strip() for c in nb.cells], (
        f"{path.name} and {twin.name} differ; run `make notebooks`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_the_lib_and_holds_no_paths_of_one_machine(path):
    text = path.with_suffix(".py").read_text()
    assert "from eoxai" in text or "import eoxai" in text
    assert not re.search(r"/(work|home|Users)/", text), "hard-coded machine path"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameter_defaults_are_the_quick_profile(path):
    """Run by hand in JupyterLab, a notebook gives what the quick profile gives."""
    import ast

    from eoxai.config import load_profile, notebook_parameters

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    defaults = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    quick = notebook_parameters(load_profile("quick", ROOT / "config"), path.stem)
    differ = {k: (defaults[k], v) for k, v in quick.items()
              if k in defaults and k not in ("data_dir", "results_dir", "declarations") and defaults[k] != v}
    assert not differ, f"defaults differ from config/quick.yaml (default, quick): {differ}"
