"""The Makefile: setup installs the locked environment, every target is listed, lab works as root."""

from __future__ import annotations

import os
import re
import subprocess

from tests.conftest import ROOT


def _run_make(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """``make ARGS`` in the project root as a top-level make: under ``make test`` the inherited
    MAKELEVEL/MAKEFLAGS would make it print "Entering directory" lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, check=check)


def _make(*args: str) -> str:
    """What ``make -n`` would run (nothing is run), with a venv path that does not exist."""
    out = _run_make("-n", "VENV=/nonexistent/venv", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_setup_installs_the_lock_then_the_project_without_resolving_again():
    cmds = _make("setup").splitlines()
    lock = next(i for i, c in enumerate(cmds) if "pip install -r requirements.lock" in c)
    project = next(i for i, c in enumerate(cmds) if "pip install --no-deps -e" in c)
    assert lock < project
    assert not any("pip install torch" in c for c in cmds)  # the lock pins torch and torchvision together


def test_help_lists_every_target():
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY: (.+)$", text, re.M).group(1).split()
    out = _run_make("help", check=True).stdout
    listed = [line.split("\t")[0] for line in out.splitlines()]
    assert sorted(listed) == sorted(phony)


def test_lab_allows_root_only_as_root():
    line = next(c for c in _make("lab").splitlines() if "jupyter lab" in c)
    assert line.endswith("--allow-root") == (os.geteuid() == 0)


def test_audit_can_audit_one_notebook():
    line = next(c for c in _make("audit", "ONLY=04_interclass_gradcam").splitlines() if "eoxai.audit" in c)
    assert line.endswith("--profile quick --cores 2 --only 04_interclass_gradcam")


def test_fast_tier_lint_and_coverage():
    fast = next(c for c in _make("test-fast").splitlines() if "pytest" in c)
    assert '-m "not pipeline and not slow"' in fast and "--cov" not in fast
    full = next(c for c in _make("test").splitlines() if "pytest" in c)
    assert "--cov=eoxai" in full and "not pipeline" not in full  # every test, then the coverage report
    lint = [c for c in _make("lint").splitlines() if "ruff" in c or "mypy" in c]
    assert [c.split()[0].rsplit("/", 1)[-1] for c in lint] == ["ruff", "ruff", "mypy"]  # lib, notebooks, types
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make lint") < ci.index("make test")
