"""pyproject.toml is the single source of versions; environment.yml only adds python and the project."""

from __future__ import annotations

import tomllib

import yaml
from packaging.specifiers import SpecifierSet

USER_PACKAGES = ("jupyterlab", "papermill", "torch", "segmentation-models-pytorch", "shap", "captum",
                 "xarray", "rioxarray", "matplotlib", "seaborn", "snakemake")


def _deps(repo_root):
    meta = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    return meta, [d.split(";")[0].strip() for d in meta["dependencies"]]


def test_environment_yml_agrees_with_pyproject(repo_root):
    meta, _ = _deps(repo_root)
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    deps = env["dependencies"]
    python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert len(python) == 1
    version = python[0].split("=")[-1]
    assert f"{version}.0" in SpecifierSet(meta["requires-python"])
    pip = [d for d in deps if isinstance(d, dict)][0]["pip"]
    assert pip == ['-e ".[dev]"'] or pip == ["-e .[dev]"]  # only the project itself
    conda_pkgs = [d for d in deps if isinstance(d, str)]
    assert sorted(p.split("=")[0] for p in conda_pkgs) == ["pip", "python"]


def test_user_packages_are_required(repo_root):
    _, deps = _deps(repo_root)
    names = {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for d in deps}
    assert set(USER_PACKAGES) <= names


def test_torch_range_spans_the_gpu_and_cpu_machines(repo_root):
    _, deps = _deps(repo_root)
    torch = SpecifierSet(next(d for d in deps if d.startswith("torch>")).removeprefix("torch"))
    assert "2.11.0" in torch and "2.14.1" in torch


def test_shap_marker_allows_python311(repo_root):
    meta, _ = _deps(repo_root)
    shap = [d for d in meta["dependencies"] if d.startswith("shap")]
    assert any("<0.52" in d and "python_version < '3.12'" in d for d in shap)
