"""The Snakemake DAG: every notebook has a rule, every rule a log, every results path comes from the
lib (eoxai.layout, eoxai.checkpoint), the targets do not depend on include order, and the whole smoke
DAG runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eoxai.checkpoint import checkpoint_path
from eoxai.config import load_profile
from eoxai.layout import benchmark_path, cube_path, log_path, record_path, training_checkpoints
from tests.conftest import ROOT

#: every test here runs Snakemake (a dry run, a parse or the smoke DAG): `make test-fast` leaves them out
pytestmark = pytest.mark.pipeline

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
RULE_FILES = ROOT / "workflow" / "rules"

#: appended to the real Snakefile: its rules as JSON on stderr (parsed with --list-rules, so it works
#: for the paper profile too, whose full datasets are not here)
FACTS = """
import json as _json


def _files(items):
    return {k: [str(f) for f in (v if isinstance(v, list) else [v])] for k, v in items}


print("FACTS " + _json.dumps({
    "results_dir": R,
    "jobs": [Path(str(rule.input.nb)).stem for rule, _ in notebook_jobs()],
    "records": job_records(),
    "rules": {r.name: {"log": [str(f) for f in r.log], "benchmark": str(r.benchmark) if r.benchmark else None,
                       "input": _files(r.input.items()), "output": _files(r.output.items())}
              for r in workflow.rules},
}), file=sys.stderr)
"""


_FACTS: dict[str, dict] = {}


def workflow_facts(tmp_path: Path, profile: str) -> dict:
    """The parsed workflow of ``profile`` (rules with their logs, inputs and outputs; scheduled jobs),
    parsed once per profile for this module."""
    if profile not in _FACTS:
        _FACTS[profile] = _parse_workflow(tmp_path, profile)
    return _FACTS[profile]


def _parse_workflow(tmp_path: Path, profile: str) -> dict:
    snakefile = tmp_path / "Snakefile.facts"
    snakefile.write_text(f"include: {str(ROOT / 'Snakefile')!r}\n" + FACTS)
    out = run_snakemake("-s", str(snakefile), "-d", str(ROOT), "--list-rules", "--config", f"profile={profile}",
                        f"results_dir={tmp_path / 'results'}")
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stderr.splitlines() if x.startswith("FACTS "))
    return json.loads(line[len("FACTS "):])


def dry_run_jobs(*args: str) -> set[tuple[str, str]]:
    """``{(rule, outputs)}`` of every job of a forced dry run."""
    out = run_snakemake("-n", "--cores", "1", "--forceall", *args)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs, rule = set(), None
    for line in out.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("    output: ") and rule:
            jobs.add((rule, line.strip()))
    return jobs


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_dry_run_lists_every_notebook(profile, tmp_path):
    out = run_snakemake("-n", "--cores", "2", "--forceall", "--printshellcmds",
                        "--config", f"profile={profile}", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.name}" in out.stdout, f"no rule runs {nb.name}"
    assert "manifest" in out.stdout


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_notebook_is_a_scheduled_job_with_a_record(profile, tmp_path):
    """The final targets (gathered from the declared rules) hold one job per notebook, and the
    manifest reads one record per job (paper: parsed only, its full datasets are not here)."""
    facts = workflow_facts(tmp_path, profile)
    assert sorted(set(facts["jobs"])) == [nb.stem for nb in NOTEBOOKS]
    seeds = load_profile(profile)["notebooks"]["02_training"]["seeds"]
    assert facts["jobs"].count("02_training") == len(seeds)  # one training job per seed
    jobs = [nb.stem for nb in NOTEBOOKS if nb.stem != "02_training"] + [f"02_training_seed{s}" for s in seeds]
    assert facts["records"] == sorted(record_path(facts["results_dir"], j).as_posix() for j in jobs)


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_rule_has_a_log_and_every_notebook_rule_a_benchmark(profile, tmp_path):
    facts = workflow_facts(tmp_path, profile)
    rules = {name: r for name, r in facts["rules"].items() if name != "all"}  # `all` runs nothing
    assert len(rules) >= 14
    for name, rule in rules.items():
        assert rule["log"], f"rule {name} has no log:"
        assert all(Path(f).parent == log_path(facts["results_dir"], "x").parent for f in rule["log"]), name
        if "nb" in rule["output"]:
            job = Path(rule["output"]["nb"][0]).stem
            assert rule["log"] == [log_path(facts["results_dir"], job).as_posix()], name
            assert rule["benchmark"] == benchmark_path(facts["results_dir"], job).as_posix(), name


def test_checkpoint_and_cube_paths_come_from_the_lib(tmp_path):
    """The XAI rules' model inputs are eoxai.checkpoint.checkpoint_path of the reference model (and of
    every training seed for the scorecard); training writes and 03 reads eoxai.layout's checkpoints."""
    facts = workflow_facts(tmp_path, "quick")
    rules, r = facts["rules"], facts["results_dir"]
    nb = load_profile("quick")["notebooks"]
    seeds, runs = nb["02_training"]["seeds"], nb["02_training"]["runs"]
    fused = nb["01_data_fusion"]["stacks"]
    reference = {s: checkpoint_path(r, s, "manet_mit", "all", seeds[0]).as_posix() for s in fused}
    for name, section in (("interclass_gradcam", "04_interclass_gradcam"), ("spectral_gradcam", "05_spectral_gradcam"),
                          ("occlusion_ig_gradcam", "06_occlusion_ig_gradcam")):
        stacks = nb[section]["stacks"]
        assert rules[name]["input"]["models"] == [reference[s] for s in stacks], name
        assert rules[name]["input"]["cubes"] == [cube_path(r, s).as_posix() for s in stacks], name
    for name in ("shap_segmentation", "modality_influence"):
        assert rules[name]["input"]["models"] == [reference[s] for s in fused], name
    assert sorted(rules["score_explanations"]["input"]["models"]) == sorted(
        checkpoint_path(r, s, "manet_mit", "all", seed).as_posix() for s in fused for seed in seeds)
    assert sorted(rules["model_accuracy"]["input"]["models"]) == sorted(
        checkpoint_path(r, stack, e["arch"], inputs, seed).as_posix()
        for seed in seeds for stack, entries in runs.items() for e in entries for inputs in e["inputs"])
    assert rules["model_accuracy"]["input"]["models"] == [p.as_posix() for p in training_checkpoints(r, runs, seeds)]
    trained = [m.replace("{seed,\\d+}", str(seeds[0])) for m in rules["train"]["output"]["models"]]
    assert trained == [p.as_posix() for p in training_checkpoints(r, runs, [seeds[0]])]
    assert rules["fusion"]["output"]["cubes"] == [cube_path(r, s).as_posix() for s in fused]


def test_the_readme_lists_every_rule(tmp_path):
    readme = (ROOT / "README.md").read_text()
    rules = workflow_facts(tmp_path, "smoke")["rules"]
    assert {"model_accuracy", "score_explanations"} <= set(rules) and not {"evaluate", "explanation_scorecard"} & set(rules)
    missing = sorted(r for r in rules if f"`{r}`" not in readme)
    assert missing == [], f"rules missing from the README's rule table: {missing}"


def test_no_rule_file_spells_the_results_layout():
    """Paths under the results folder are built by common.smk's helpers from eoxai.layout, never
    spelled in a rule file (no `{R}/...`, no folder names of the layout in a path string)."""
    import re

    spelled = re.compile(r"\{R\}/|[\"'/](interim|models|tables|figures|notebooks|provenance|logs|benchmarks)/")
    for f in [ROOT / "Snakefile", *sorted(RULE_FILES.glob("*.smk"))]:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if code.strip().startswith(("nb=", "\"notebooks/")):  # the notebook sources, not results
                continue
            assert not spelled.search(code), f"{f.name}:{n} spells a results path: {line.strip()}"


def test_the_workflow_shadows_no_name_of_snakemake():
    """Snakefiles run in snakemake.workflow's namespace: a global of ours named like one of its own
    (e.g. an imported `WorkflowError`) would replace it for Snakemake itself."""
    import re

    import snakemake.api  # noqa: F401 - imports snakemake.workflow in its proper order
    import snakemake.workflow

    theirs = {n for n, v in vars(snakemake.workflow).items() if not n.startswith("__")}
    for f in [ROOT / "Snakefile", *sorted(RULE_FILES.glob("*.smk"))]:
        text = f.read_text()
        ours = set(re.findall(r"^def (\w+)", text, re.M)) | set(re.findall(r"^(\w+)\s*=", text, re.M))
        for names in re.findall(r"^from [\w.]+ import (.+)$", text, re.M):
            ours |= {n.strip().split(" as ")[-1] for n in names.split(",")}
        clash = sorted(n for n in ours & theirs if vars(snakemake.workflow)[n] is not _harmless(n))
        assert clash == [], f"{f.name} replaces Snakemake's {clash}"


def _harmless(name: str) -> object:
    """The object ``name`` may be bound to in both namespaces (the same pathlib.Path, the same sys)."""
    import pathlib
    import sys as _sys

    return {"Path": pathlib.Path, "sys": _sys}.get(name)


def test_targets_do_not_depend_on_include_order(tmp_path):
    """The same jobs when the bookkeeping rules come first and the stage files in reverse order."""
    stage_files = sorted(p.stem for p in RULE_FILES.glob("*.smk") if p.stem not in ("common", "provenance"))
    assert {"fusion", "training", "gradcam", "shap", "hyperspectral", "scene"} <= set(stage_files)
    reordered = tmp_path / "Snakefile.reordered"
    reordered.write_text("".join(f"include: {str(RULE_FILES / (name + '.smk'))!r}\n"
                                 for name in ["common", "provenance", *reversed(stage_files)]))
    results = tmp_path / "results"
    config = ["--config", "profile=smoke", f"results_dir={results}"]
    real = dry_run_jobs(*config)
    other = dry_run_jobs("-s", str(reordered), "-d", str(ROOT), str(results / "manifest.json"), *config)
    assert {j for j in real if j[0] != "all"} == other
    assert len(other) >= 20 and {rule for rule, _ in other} >= {"train", "score_explanations", "manifest"}


def test_paper_profile_names_the_missing_full_dataset(tmp_path):
    out = run_snakemake("-n", "--cores", "2", "--config", "profile=paper", f"results_dir={tmp_path}")
    assert out.returncode != 0
    assert "Missing input files" in out.stdout + out.stderr
    assert "data/sen1floods11" in out.stdout + out.stderr


def test_unknown_profile_fails_clearly():
    out = run_snakemake("-n", "--cores", "1", "--config", "profile=nope")
    assert out.returncode != 0
    assert "profile 'nope' does not exist" in out.stdout + out.stderr


def test_smoke_dag_end_to_end(tmp_path):
    results = tmp_path / "results"
    run = run_snakemake("--cores", "2", "--config", "profile=smoke", f"results_dir={results}")
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    summary = run_snakemake("--summary", "--cores", "1", "--config", "profile=smoke", f"results_dir={results}")
    assert summary.returncode == 0, summary.stderr[-3000:]
    declared = [line.split("\t")[0] for line in summary.stdout.splitlines()[1:] if line.strip()]
    assert len(declared) > 10
    for f in declared:
        p = Path(f)
        assert p.is_file(), f"declared output {f} missing"
        assert p.stat().st_size > 0, f"declared output {f} is empty"
    executed = sorted(p.stem for p in (results / "notebooks").glob("*.ipynb"))
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")):
        # a rule split by wildcards runs its notebook once per job (02_training_seed0, ...)
        assert any(e == source.stem or e.startswith(source.stem + "_") for e in executed), (
            f"{source.name} was not executed")
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["profile"] == "smoke"
    tables = [f for f in declared if f.endswith(".csv")]
    figures = [f for f in declared if f.endswith(".png")]
    assert tables and figures
    for f in tables + figures:
        rel = str(Path(f).relative_to(ROOT)) if Path(f).is_relative_to(ROOT) else f
        assert rel in manifest["files"], f"{f} not in the manifest"
        assert manifest["files"][rel]["job"] in manifest["jobs"]
