"""The SLURM profile (config/slurm): a dry run resolves the whole DAG and every job's resources.

Needs snakemake-executor-plugin-slurm (dev extras): the profile names ``executor: slurm``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "slurm" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _snakemake(*args: str) -> str:
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _value(v: str) -> object:
    return int(v) if re.fullmatch(r"-?\d+", v) else v


@pytest.fixture(scope="module")
def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


@pytest.fixture(scope="module")
def rules() -> set[str]:
    out = _snakemake("--list-rules", "--config", "profile=smoke")
    return {line.strip() for line in out.splitlines() if re.fullmatch(r"\s*[A-Za-z_]\w*\s*", line)}


@pytest.fixture(scope="module")
def dry_run() -> dict[str, list[dict[str, object]]]:
    """``{rule: [resources of each job]}`` from ``snakemake -n --profile config/slurm`` (smoke, forceall)."""
    out = _snakemake("-n", "--forceall", "--profile", "config/slurm", "--config", "profile=smoke")
    assert "Using profile config/slurm" in out
    jobs: dict[str, list[dict[str, object]]] = {}
    rule = None
    for line in out.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
            jobs.setdefault(rule, []).append({})
        m = re.match(r"^\s+resources: (.*)$", line)
        if m and rule:
            jobs[rule][-1] = {k: _value(v) for k, v in (kv.split("=", 1) for kv in m.group(1).split(", "))}
    return jobs


@pytest.mark.pipeline
def test_dry_run_resolves_the_whole_dag(dry_run, rules):
    assert set(dry_run) == rules, f"rules without a job in the smoke DAG: {rules - set(dry_run)}"
    assert {"fusion", "scene_shap", "manifest", "all"} <= set(dry_run)


@pytest.mark.pipeline
def test_every_job_gets_runtime_memory_and_cpus(dry_run, profile):
    for rule, jobs in dry_run.items():
        for res in jobs:
            assert isinstance(res.get("runtime"), int) and res["runtime"] > 0, (rule, res)
            assert isinstance(res.get("mem_mb"), int) and res["mem_mb"] > 0, (rule, res)
            assert isinstance(res.get("cpus_per_task"), int) and res["cpus_per_task"] > 0, (rule, res)
            wanted = profile["set-resources"].get(rule, profile["default-resources"])
            for key, value in wanted.items():
                assert res.get(key) == value, f"{rule}: {key} resolved to {res.get(key)!r}, profile says {value!r}"


@pytest.mark.pipeline
def test_training_and_shap_rules_get_a_gpu(dry_run, profile):
    gpu_rules = {r for r, res in profile["set-resources"].items() if res.get("gpu")}
    assert "scene_shap" in gpu_rules
    for rule, jobs in dry_run.items():
        for res in jobs:
            assert (res.get("gpu") == 1) == (rule in gpu_rules), (rule, res)


@pytest.mark.pipeline
def test_every_rule_has_a_resource_class(rules, profile):
    listed = set(profile["set-resources"])
    missing = sorted(rules - listed - {"all"})
    stale = sorted(listed - rules)
    assert not missing, (f"rules without resources in {PROFILE.relative_to(ROOT)}: {missing}; add "
                         "'<rule>: *gpu' (training, explanation) or '<rule>: *cpu' under set-resources")
    assert not stale, f"{PROFILE.relative_to(ROOT)} lists resources for rules that do not exist: {stale}"
    for rule, threads in profile.get("set-threads", {}).items():
        assert rule in rules and threads == profile["set-resources"][rule]["cpus_per_task"], rule


class _Resources(dict):
    __getattr__ = dict.__getitem__


def _sbatch(res: dict[str, object], threads: int) -> str:
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = SimpleNamespace(resources=_Resources(res), threads=threads)
    params = {"run_uuid": "x", "slurm_logfile": "log", "comment_str": "rule", "account": "", "partition": "",
              "workdir": "."}
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.mark.pipeline
def test_resources_become_the_expected_sbatch_arguments(dry_run, profile):
    threads = profile.get("set-threads", {})
    gpu = _sbatch(dry_run["scene_shap"][0], threads.get("scene_shap", 1))
    assert "--gpus=1" in gpu and "--mem 64000" in gpu and "-t 480" in gpu and "--cpus-per-task=8" in gpu
    cpu = _sbatch(dry_run["fusion"][0], 1)
    assert "--gpus" not in cpu and "--mem 16000" in cpu and "-t 60" in cpu and "--cpus-per-task=4" in cpu
