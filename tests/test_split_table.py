"""The README's table of which split each notebook reads is derived from the notebooks themselves.

A notebook's splits are: the values of its split parameters (``split``, ``*_split``: the notebook
default and every profile's value), the split names in its code cells, and the split names in
the body of every ``eoxai`` function (not class) it calls by name and of the functions of the same module
those call (one level down). Split names are the strings ``"train"``, ``"validation"``,
``"test"`` and the constants of :mod:`eoxai.split` (``TRAIN``, ``VAL``, ``TEST``, ``SPLITS``).
Default argument values are not read: a parameter's default is not what a call passes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

import jupytext
import pytest

from eoxai.config import known_profiles
from tests.conftest import ROOT

SPLIT_NAMES = ("train", "validation", "test")
CONSTANTS = {"SPLITS": set(SPLIT_NAMES), "TRAIN": {"train"}, "VAL": {"validation"}, "TEST": {"test"}}
PROFILES = known_profiles(ROOT / "config")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.py"))


def split_names(tree: ast.AST) -> set[str]:
    """Split names in ``tree``: string constants and the constants of :mod:`eoxai.split`."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in SPLIT_NAMES:
            out.add(node.value)
        elif isinstance(node, ast.Name) and node.id in CONSTANTS:
            out |= CONSTANTS[node.id]
        elif isinstance(node, ast.Attribute) and node.attr in CONSTANTS:
            out |= CONSTANTS[node.attr]
    return out


def function_splits(func: Callable[..., Any], depth: int = 1) -> set[str]:
    """Split names in ``func``'s body (not its defaults), and in the same-module functions it calls."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return set()
    definition = ast.parse(source).body[0]
    body = definition.body if isinstance(definition, ast.FunctionDef) else [definition]
    module = importlib.import_module(func.__module__)
    out: set[str] = set()
    for statement in body:
        out |= split_names(statement)
        if depth == 0:
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                callee = getattr(module, node.func.id, None)
                if inspect.isfunction(callee) and callee.__module__ == func.__module__:
                    out |= function_splits(callee, depth - 1)
    return out


def parameter_splits(notebook: str, cell: str) -> set[str]:
    """Values of the split parameters: the notebook's defaults and every profile's values."""
    defaults: dict[str, Any] = {}
    for node in ast.parse(cell).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    from eoxai.config import load_profile, notebook_parameters

    sources = [defaults] + [notebook_parameters(load_profile(p, ROOT / "config"), notebook) for p in PROFILES]
    values = {v for params in sources for k, v in params.items() if k == "split" or k.endswith("_split")}
    unknown = values - set(SPLIT_NAMES)
    assert not unknown, f"{notebook}: split parameter value(s) {unknown} are not split names"
    return values


def notebook_splits(path) -> set[str]:
    """Every split ``path`` (a notebook's .py twin) reads, as the module docstring defines it."""
    cells = jupytext.read(path).cells
    code = [c.source for c in cells if c.cell_type == "code"]
    params = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    tree = ast.parse("\n".join(code))
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eoxai"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if inspect.isfunction(obj := getattr(module, alias.name, None)):  # not submodules, not classes
                    imported[alias.asname or alias.name] = obj
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    splits = parameter_splits(path.stem, params) | split_names(tree)
    for name in called & set(imported):
        splits |= function_splits(imported[name])
    return splits


def readme_table() -> dict[str, set[str]]:
    """README's "Which split each notebook reads" table: notebook -> splits."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^### Which split each notebook reads\n(.*?)(?=^#)", text, re.M | re.S)
    assert section, "README lacks the section '### Which split each notebook reads'"
    rows = re.findall(r"^\| `([0-9][0-9]\w*)` \| ([^|]+) \|", section.group(1), re.M)
    table = {nb: {s.strip() for s in splits.split(",")} for nb, splits in rows}
    assert len(table) == len(rows), "a notebook has two rows"
    return table


def test_readme_has_one_row_per_notebook_with_split_names_only():
    table = readme_table()
    assert sorted(table) == [p.stem for p in NOTEBOOKS]
    for nb, splits in table.items():
        assert splits <= set(SPLIT_NAMES), f"{nb}: {splits - set(SPLIT_NAMES)} are not split names"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_readme_split_table_matches_the_notebook(path):
    assert readme_table()[path.stem] == notebook_splits(path), (
        f"README says {path.stem} reads {sorted(readme_table()[path.stem])}, its parameters and code read "
        f"{sorted(notebook_splits(path))}"
    )


def test_no_profile_chooses_the_patch_size_on_test_pixels():
    """README: no choice is made on the test split; 09 explains validation pixels in every profile."""
    from eoxai.config import load_profile, notebook_parameters

    for profile in PROFILES:
        params = notebook_parameters(load_profile(profile, ROOT / "config"), "09_patch_size_hyperopt")
        assert params.get("explain_split", "validation") == "validation", profile


def test_the_derivation_sees_splits_in_parameters_code_and_called_functions():
    """The rules above on small sources, so a rule that stops working fails here, not silently."""
    from eoxai.accuracy import evaluate_runs, pixel_baseline
    from eoxai.reference import load_reference
    from eoxai.train import train_run

    assert split_names(ast.parse('x = load(cube, "test")\ny = SPLITS')) == set(SPLIT_NAMES)
    assert function_splits(pixel_baseline) == {"train", "test"}
    assert function_splits(evaluate_runs) == {"test"}
    assert function_splits(train_run) == {"train", "validation"}  # via run_datasets, one level down
    assert function_splits(load_reference) == set()  # its default split="test" is not a call's value
    assert parameter_splits("09_patch_size_hyperopt", 'explain_split = "validation"') == {"validation"}
