# The compendium's workflow: one rule per numbered notebook, each executed with papermill
# (parameters from the active profile in config/), each declaring its inputs and outputs.
#
#   snakemake --cores 2                                  # quick profile (the default) -> results/
#   snakemake --cores 2 --config profile=smoke           # tiny, for the tests -> results/smoke/
#   snakemake --cores 2 --config profile=paper           # full datasets, GPU -> results/paper/
#   snakemake --cores 2 --config results_dir=/tmp/x      # same profile, another output folder
#   snakemake --cores 2 --configfile my.yaml             # your own profile (README "Bring your own data")
#   snakemake fusion --cores 2 --config profile=smoke    # one rule (rule names go before --config)
#
# A profile is validated (eoxai.schema) before any job starts. Only the notebooks that have a
# section in the profile are scheduled. Data inputs come from the stack declarations.
#
# Every rule runs `python -m eoxai.runner`, which executes the notebook into
# <results>/notebooks/ and writes a provenance record into <results>/provenance/; the last rule
# merges the records into <results>/manifest.json.

import json
import shlex
import sys
from pathlib import Path

from eoxai.config import load_profile, stack_declarations
from eoxai.data.download import missing_datasets_message
from eoxai.data.stack import declared_inputs
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

ALL = []  # final outputs: every included rule file appends to it
RECORDS = []  # provenance records, merged by rule `manifest`


def stack_files(*stacks):
    """The files each declared stack reads, its own checksum list and the data folder's lists
    (data/SHA256SUMS*) that exist (rule inputs).

    A declared file that does not exist stays an input, so Snakemake stops with "Missing input
    files" naming it (and the Snakefile's head lists every missing dataset with its download
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
    """The shell command of a notebook rule.

    `values` become `--set key=value` overrides (quoted); `template` is a literal Snakemake
    fragment for per-job values, whose placeholders carry `:q` (e.g. "--set seeds={params.seeds:q}").
    """
    return (
        f"{q(PY)} -m eoxai.runner {{input.nb:q}} {{output.nb:q}} --profile {q(PROFILE_FILE)} --rule {{rule:q}} "
        f"--record {{output.record:q}} --threads {{threads}} {set_args(results_dir=R, **values)} {template} "
        "--inputs {input:q} --outputs {output:q}"
    )


def scheduled(*notebooks):
    """True if the profile runs any of ``notebooks`` (it has a section for it)."""
    return any(nb in NB for nb in notebooks)


if scheduled("01_data_fusion"):

    include: "workflow/rules/fusion.smk"


# The model every XAI notebook explains: MAnet-MiT on all modalities, first training seed, per
# stack. Rule `train` (workflow/rules/training.smk) makes it; XAI rules take it as input.
REFERENCE_SEED = (NB.get("02_training") or {}).get("seeds", [0])[0]
REFERENCE_MODELS = {
    stack: reference_checkpoint(R, stack, REFERENCE_SEED).as_posix()
    for stack in (NB.get("01_data_fusion") or {}).get("stacks", [])
}

if scheduled("02_training", "03_evaluation"):

    include: "workflow/rules/training.smk"  # 02 training, 03 evaluation


if scheduled("04_interclass_gradcam", "05_spectral_gradcam", "06_occlusion_ig_gradcam"):

    include: "workflow/rules/gradcam.smk"  # 04 interclass, 05 spectral, 06 occlusion/IG/Grad-CAM


if scheduled("07_shap_segmentation", "08_modality_influence", "08b_explanation_scorecard"):

    include: "workflow/rules/shap.smk"  # 07 SHAP, 08 modality influence + explanation scorecard


if scheduled("09_patch_size_hyperopt"):

    include: "workflow/rules/hyperspectral.smk"  # 09 patch-size study


if scheduled("10_scene_shap"):

    include: "workflow/rules/scene.smk"  # 10 scene-level SHAP


if scheduled("11_known_answer_benchmark"):

    include: "workflow/rules/known_answer.smk"  # 11 explanations graded against known answers (synthetic labels)


# Every missing dataset any scheduled rule reads, each with the command that gets it (printed on
# every invocation, dry runs included; Snakemake then stops at the first rule missing one).
_MISSING_DATA = missing_datasets_message(
    [str(f) for r in workflow.rules for f in r.input if isinstance(f, str)], DATA
)
if _MISSING_DATA:
    print(_MISSING_DATA, file=sys.stderr)

include: "workflow/rules/audit.smk"  # reviewer audit


localrules:
    all,
    manifest,


rule all:
    default_target: True
    input:
        ALL,
        f"{R}/manifest.json",


rule manifest:
    input:
        RECORDS,
    output:
        f"{R}/manifest.json",
    shell:
        f"{q(PY)} -m eoxai.provenance --out {{output:q}} --results-dir {q(R)} --profile {q(PROFILE)} "
        f"--seed {q(CFG['seed'])} {{input:q}}"


# One writer per results folder (eoxai.lock): a second run on the same folder, from this checkout or
# another, stops here, naming the holder, before Snakemake inspects half-written outputs. The lock
# is taken once Snakemake is about to run jobs (not for dry runs) and released when it ends; a lock
# left by a killed run on this host is detected (pid gone) and taken over.
from eoxai import lock as results_lock

if workflow.is_main_process:
    results_lock.check_free(R)


onstart:
    results_lock.acquire(R)


onsuccess:
    results_lock.release(R)


onerror:
    results_lock.release(R)
