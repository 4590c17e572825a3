"""One error family: every deliberate error of :mod:`eoxai` is an ``EoxaiError`` defined in ``errors.py``.

Two checks on the whole lib: (1) no ``raise`` of a bare builtin exception class (found with
``ast``, so a new module is covered without editing this file), and (2) every exception class
the lib defines derives from ``EoxaiError`` and lives in ``eoxai/errors.py``.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import eoxai
from eoxai import errors
from eoxai.errors import (
    ConfigError,
    EoxaiError,
    ExplainerInputError,
    InputError,
    LayerError,
    ModalityError,
)

LIB = Path(eoxai.__file__).parent

# builtins that are part of a protocol, not a validation failure, and where they may be raised:
# ``SystemExit`` ends a CLI; ``NotImplementedError`` marks an abstract method; ``AttributeError``
# in ``__getattr__`` and ``IndexError`` in ``__getitem__`` are how Python asks "is there more?".
ALLOWED = {"SystemExit": None, "NotImplementedError": None, "AttributeError": "__getattr__",
           "IndexError": "__getitem__"}


def _modules() -> list[str]:
    names = ["eoxai"]
    for info in pkgutil.walk_packages([str(LIB)], prefix="eoxai."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def _bare_raises(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, builtin name) of every ``raise Builtin(...)`` outside the allowed protocol cases."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                name = exc.id if isinstance(exc, ast.Name) else None
                if name and isinstance(getattr(builtins, name, None), type) and \
                        issubclass(getattr(builtins, name), BaseException):
                    where = ALLOWED.get(name, "")
                    if not (name in ALLOWED and (where is None or where == function)):
                        found.append((child.lineno, name))
            visit(child, function)

    visit(tree, None)
    return found


def test_every_module_imports() -> None:
    failed = {}
    for name in _modules():
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - collect every failure, then report them all
            failed[name] = repr(exc)
    assert not failed, failed


def test_no_bare_builtin_raise_in_lib() -> None:
    sites = [f"{path.relative_to(LIB.parent)}:{line}: raise {name}"
             for path in sorted(LIB.rglob("*.py"))
             for line, name in _bare_raises(ast.parse(path.read_text(), filename=str(path)))]
    assert not sites, "raise a class from eoxai/errors.py instead:\n" + "\n".join(sites)


def test_the_raise_check_catches_a_bare_raise() -> None:
    src = ("def f(x):\n    if x < 0:\n        raise ValueError('negative')\n"
           "    try:\n        g()\n    except KeyError as e:\n        raise InputError('x') from e\n"
           "    except TypeError:\n        raise\n"
           "class A:\n    def __getitem__(self, i):\n        raise IndexError(i)\n"
           "    def __len__(self):\n        raise IndexError('no')\n"
           "    def run(self):\n        raise NotImplementedError\n")
    assert _bare_raises(ast.parse(src)) == [(3, "ValueError"), (14, "IndexError")]


def test_every_exception_class_is_an_eoxai_error_defined_in_errors() -> None:
    strays, outside = [], []
    for name in _modules():
        module = importlib.import_module(name)
        for cls_name, cls in vars(module).items():
            if not (inspect.isclass(cls) and issubclass(cls, BaseException)) or issubclass(cls, Warning):
                continue  # warnings are not errors: they may live beside the code that warns
            if cls.__module__.startswith("eoxai") and cls.__module__ != "eoxai.errors":
                outside.append(f"{cls.__module__}.{cls_name}")
            if cls.__module__ == "eoxai.errors" and not issubclass(cls, EoxaiError):
                strays.append(cls_name)
    assert not outside, f"exception classes defined outside eoxai/errors.py: {sorted(set(outside))}"
    assert not strays, f"exception classes in errors.py that are not EoxaiErrors: {strays}"
    # and by source, so a class nobody imports is seen too
    for path in LIB.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                assert not bases & {"Exception", "ValueError", "KeyError", "RuntimeError", "EoxaiError"}, \
                    f"{path.relative_to(LIB.parent)}:{node.lineno} defines exception class {node.name}"


def test_family_is_catchable_as_the_builtins_it_refines() -> None:
    # InputError replaced bare ValueError and KeyError raises: old ``except`` clauses keep working
    assert issubclass(InputError, ValueError) and issubclass(InputError, KeyError)
    assert issubclass(InputError, ConfigError) and issubclass(ExplainerInputError, ValueError)
    assert issubclass(LayerError, KeyError) and issubclass(LayerError, ExplainerInputError)
    # KeyError members print the message as written, not quoted
    for cls in (ConfigError, InputError, ModalityError, LayerError):
        assert str(cls("layer 'x' not found")) == "layer 'x' not found"
    every = [c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, EoxaiError)]
    assert len(every) > 30


def test_converted_sites_raise_the_family() -> None:
    import numpy as np
    import torch

    from eoxai.metrics import confusion_matrix
    from eoxai.models import build_model
    from eoxai.split import block_split
    from eoxai.xai.checks import resolve_layer

    with pytest.raises(InputError, match="differ in shape"):
        confusion_matrix(torch.zeros(2, 3), torch.zeros(3, 3), 2)
    with pytest.raises(InputError, match="known"):
        build_model("segformer", {"s2": 3}, ["a", "b"])
    with pytest.raises(InputError, match="fractions"):
        block_split(np.zeros((64, 64), dtype=np.int64), block_size=16, buffer=0, fractions=(0.5, 0.5))
    with pytest.raises(LayerError, match="not found"):
        resolve_layer(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), "nope")
