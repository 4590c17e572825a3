"""pyproject.toml holds the version ranges, requirements.lock the exact environment; environment.yml
adds python, the lock and the project."""

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
    assert pip == ["-r requirements.lock", '-e ".[dev]"']  # the locked environment, then the project
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


def test_lock_pins_every_dependency_within_pyproject_ranges(repo_root):
    """requirements.lock satisfies pyproject.toml: each dependency (and dev extra) whose marker holds
    on the locked platform (Python 3.11, Linux) is pinned once, at a version inside its range."""
    from packaging.requirements import Requirement

    from eoxai.provenance import LOCK_FILE, normalise_name, read_lock

    meta = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    lock = read_lock(repo_root / LOCK_FILE)
    assert len(lock) > 100, "the lock pins the whole environment, not just the direct dependencies"
    assert "eoxai" not in lock, "the project itself is installed from the checkout, not pinned"
    env = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "extra": "dev"}
    checked = []
    for line in [*meta["dependencies"], *meta["optional-dependencies"]["dev"]]:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = normalise_name(req.name)
        assert name in lock, f"{req.name} is a dependency but not pinned in {LOCK_FILE}"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"{LOCK_FILE} pins {req.name}=={lock[name]}, outside pyproject.toml's {req.specifier}")
        checked.append(name)
    assert {"torch", "torchvision", "snakemake", "pytest"} <= set(checked)
    lines = [ln for ln in (repo_root / LOCK_FILE).read_text().splitlines() if ln and not ln.startswith("#")]
    assert all("==" in ln and not ln.startswith("-e") for ln in lines), "only name==version lines"
