# What every rule file shares: the active profile, the results folder, the paths of its files (all
# from the lib's own path functions, eoxai.layout and eoxai.checkpoint, so a rule declares exactly
# the file the code reads or writes), the notebook command, and the final targets.
#
# A rule file declares its rules and nothing else: no global list is appended to. The final targets
# and the manifest's records are gathered from `workflow.rules` when the DAG is built (after every
# include), so the order of the includes does not matter. A notebook rule is one that declares
# `output: **job_outputs(<job>)` (its executed notebook `nb` and its record `record`); it is a final
# target when its notebook has a section in the profile. Adding a notebook = one include in the
# Snakefile + one rule in the shape of the others (`output: **job_outputs(...)`, `log:`, `benchmark:`,
# `shell: notebook_cmd()`).

import itertools
import json
import shlex
import sys
from pathlib import Path

from snakemake.io import apply_wildcards

from eoxai import layout
from eoxai.config import load_profile, stack_declarations
from eoxai.data.stack import declared_inputs
# the lib's error family under its module name: a rule file runs in snakemake.workflow's namespace,
# where a bare `WorkflowError` would replace Snakemake's own
from eoxai import errors as eoxai_errors
from eoxai.reference import reference_checkpoint

# `--configfile my.yaml` names the profile file itself; otherwise `--config profile=NAME`
_CONFIGFILES = [str(p) for p in (workflow.overwrite_configfiles or [])]
CFG = load_profile(_CONFIGFILES[-1] if _CONFIGFILES else str(config.get("profile", "quick")))
PROFILE = str(CFG["profile"])
PROFILE_FILE = CFG["_path"]
R = str(config.get("results_dir", CFG["results_dir"])).rstrip("/")
DATA = str(CFG["data_dir"]).rstrip("/")
PY = sys.executable
NB = CFG["notebooks"]
STACKS = stack_declarations(CFG)


def scheduled(*notebooks):
    """True if the profile runs any of ``notebooks`` (it has a section for it)."""
    return any(nb in NB for nb in notebooks)


def section(notebook):
    """The profile's section of ``notebook`` ({} when it is not scheduled)."""
    return NB.get(notebook) or {}


# --- paths under the results folder (eoxai.layout), as the POSIX strings Snakemake takes ---------------


def cube(stack):
    """What notebook 01 writes for ``stack``: its fused cube, or its index if it is a collection of scenes."""
    decl = STACKS.get(stack)
    return layout.fused_path(R, stack, collection=bool(decl is not None and decl.is_collection)).as_posix()


def cubes(stacks):
    return [cube(s) for s in stacks]


def tables(*names):
    return [layout.table_path(R, n).as_posix() for n in names]


def figures(*names):
    return [layout.figure_path(R, n).as_posix() for n in names]


def reports(*names):
    return [layout.report_path(R, n).as_posix() for n in names]


def job_outputs(job):
    """The outputs every notebook rule declares: the executed notebook and the record the runner
    writes (before the wall time is known; rule `provenance_record` completes it)."""
    return {"nb": layout.executed_notebook_path(R, job).as_posix(),
            "record": layout.pending_record_path(R, job).as_posix()}


def job_log(job):
    """`log:` of a job: its stdout and stderr (git-ignored: they hold timings)."""
    return layout.log_path(R, job).as_posix()


def job_benchmark(job):
    """`benchmark:` of a job: Snakemake's wall time of it, read into the provenance record."""
    return layout.benchmark_path(R, job).as_posix()


def job_record(job):
    return layout.record_path(R, job).as_posix()


# --- the models (eoxai.reference, eoxai.layout -> eoxai.checkpoint.checkpoint_path) -----------------

# The training section (03 repeats 02's runs and seeds, so either names them).
TRAINING = section("02_training") or section("03_evaluation")
TRAIN_SEEDS = [int(s) for s in TRAINING.get("seeds", [0])]
TRAIN_RUNS = dict(TRAINING.get("runs", {}))
# The model every XAI notebook explains: MAnet-MiT on all modalities, first training seed, per
# stack (eoxai.reference). Rule `train` makes it; XAI rules take it as input.
REFERENCE_SEED = TRAIN_SEEDS[0]
FUSED_STACKS = list(section("01_data_fusion").get("stacks", []))
# the fused stacks 02 trains on are the ones 03-08b evaluate and explain; a fused stack that 02 does
# not train is there for notebook 11 only (its synthetic-label models are its own)
EXPLAINED_STACKS = [s for s in FUSED_STACKS if s in TRAIN_RUNS] if TRAIN_RUNS else FUSED_STACKS
REFERENCE_MODELS = {s: reference_checkpoint(R, s, REFERENCE_SEED).as_posix() for s in EXPLAINED_STACKS}


def training_checkpoints(seeds):
    """Checkpoints notebook 02 writes for ``seeds`` (ints, or the wildcard "{seed}")."""
    return [p.as_posix() for p in layout.training_checkpoints(R, TRAIN_RUNS, seeds)]


def reference_models(stacks, seeds=(REFERENCE_SEED,)):
    """The reference checkpoints of ``stacks`` for each of ``seeds`` (seed-major)."""
    return [reference_checkpoint(R, s, seed).as_posix() for seed in seeds for s in stacks]


#: values of every wildcard a notebook rule is split by: its jobs are the final targets
JOB_WILDCARDS = {"seed": TRAIN_SEEDS}


# --- data inputs ------------------------------------------------------------------------------------


def stack_files(*stacks):
    """The files each declared stack reads, its own checksum list and the data folder's lists
    (data/SHA256SUMS*) that exist (rule inputs).

    A declared file that does not exist stays an input, so Snakemake stops with "Missing input
    files" naming it (and the Snakefile lists every missing dataset with its download
    command); a stack the profile does not use is not an input at all.
    """
    files = sorted(p.as_posix() for p in Path(DATA).glob("SHA256SUMS*"))
    for name in stacks:
        files += [p.as_posix() for p in declared_inputs(STACKS[name], DATA)]
    return list(dict.fromkeys(files))


def data_files(*folders):
    """Every file of the named data folders, plus the checksum list (inputs of a rule).

    A folder that does not exist (a full dataset of the paper profile not yet downloaded) is
    returned as itself, so Snakemake stops with "Missing input files ... data/<folder>"; see
    `python -m eoxai.data.download --list` for how to get it.
    """
    files = [f"{DATA}/SHA256SUMS"]
    for folder in folders:
        root = Path(DATA) / folder
        if not root.is_dir():
            files.append(root.as_posix())
            continue
        files += sorted(p.as_posix() for p in root.rglob("*") if p.is_file())
    return files


# --- the notebook command ---------------------------------------------------------------------------


def q(value):
    """`value` quoted for the shell (shlex.quote) and escaped for Snakemake's formatting (braces doubled).

    Every configurable value (paths, profile, results_dir) enters a shell command through `q`, and
    every Snakemake placeholder with `:q` ({input:q}), so no value is ever parsed by the shell.
    """
    return shlex.quote(str(value)).replace("{", "{{").replace("}", "}}")


def set_args(**values):
    """`--set key=<JSON>` arguments, each quoted: the runner parses the value back as YAML (JSON is YAML)."""
    return " ".join(f"--set {q(f'{key}={json.dumps(value)}')}" for key, value in values.items())


def notebook_cmd(template="", **values):
    """The shell command of a notebook rule; its stdout and stderr go to the rule's `log:`.

    `values` become `--set key=value` overrides (quoted); `template` is a literal Snakemake
    fragment for per-job values, whose placeholders carry `:q` (e.g. "--set seeds={params.seeds:q}").
    """
    return (
        f"{q(PY)} -m eoxai.runner {{input.nb:q}} {{output.nb:q}} --profile {q(PROFILE_FILE)} --rule {{rule:q}} "
        f"--record {{output.record:q}} --threads {{threads}} {set_args(results_dir=R, **values)} {template} "
        "--inputs {input:q} --outputs {output:q} > {log:q} 2>&1"
    )


# --- final targets, gathered from the rules once all are declared -----------------------------------


def notebook_jobs():
    """``[(rule, wildcards)]``: every job of a scheduled notebook rule (a rule with outputs `nb` and
    `record` whose notebook has a profile section), one per value of its wildcards (JOB_WILDCARDS)."""
    jobs = []
    for rule in workflow.rules:
        names = set(rule.output.keys())
        if not {"nb", "record"} <= names or Path(str(rule.input.nb)).stem not in NB:
            continue
        wildcards = sorted(rule.wildcard_names)
        unknown = [w for w in wildcards if w not in JOB_WILDCARDS]
        if unknown:
            raise eoxai_errors.WorkflowError(f"notebook rule {rule.name} is split by {unknown}: give their values in "
                                "JOB_WILDCARDS (workflow/rules/common.smk)")
        for values in itertools.product(*(JOB_WILDCARDS[w] for w in wildcards)):
            jobs.append((rule, dict(zip(wildcards, values))))
    return jobs


def _job_name(rule, wildcards):
    return Path(apply_wildcards(str(rule.output.nb), wildcards)).stem


def job_records():
    """The final provenance record of every scheduled job (inputs of rule `manifest`)."""
    return sorted(job_record(_job_name(rule, wc)) for rule, wc in notebook_jobs())


def final_targets():
    """Every output of every scheduled job, its provenance record and the manifest."""
    out = [apply_wildcards(str(f), wc) for rule, wc in notebook_jobs() for f in rule.output]
    return sorted(set(out)) + job_records() + [layout.manifest_path(R).as_posix()]
