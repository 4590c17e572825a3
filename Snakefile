# The compendium's workflow: one rule per numbered notebook, each executed with papermill
# (parameters from the active profile in config/), each declaring its inputs and outputs.
#
#   snakemake --cores 2                                  # quick profile (the default) -> results/
#   snakemake --cores 2 --config profile=smoke           # tiny, for the tests -> results/smoke/
#   snakemake --cores 2 --config profile=paper           # full datasets, GPU -> results/paper/
#   snakemake --cores 2 --config results_dir=/tmp/x      # same profile, another output folder
#
# Every rule runs `python -m eoxai.runner`, which executes the notebook into
# <results>/notebooks/ and writes a provenance record into <results>/provenance/; the last rule
# merges the records into <results>/manifest.json.

import sys
from pathlib import Path

from eoxai.config import load_profile
from eoxai.reference import reference_checkpoint

PROFILE = str(config.get("profile", "quick"))
CFG = load_profile(PROFILE)
PROFILE_FILE = CFG["_path"]
R = str(config.get("results_dir", CFG["results_dir"])).rstrip("/")
DATA = str(CFG["data_dir"]).rstrip("/")
PY = sys.executable
NB = CFG["notebooks"]

ALL = []  # final outputs: every included rule file appends to it
RECORDS = []  # provenance records, merged by rule `manifest`


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


def notebook_cmd(extra=""):
    """The shell command of a notebook rule; `extra` adds `--set key=value` overrides."""
    return (
        f"{PY} -m eoxai.runner {{input.nb}} {{output.nb}} --profile {PROFILE_FILE} --rule {{rule}} "
        f"--record {{output.record}} --threads {{threads}} --set results_dir={R} {extra} "
        "--inputs {input} --outputs {output}"
    )


include: "workflow/rules/fusion.smk"

# The model every XAI notebook explains: MAnet-MiT on all modalities, first training seed, per
# stack. Rule `train` (workflow/rules/training.smk) makes it; XAI rules take it as input.
REFERENCE_SEED = (NB.get("02_training") or {}).get("seeds", [0])[0]
REFERENCE_MODELS = {
    stack: reference_checkpoint(R, stack, REFERENCE_SEED).as_posix() for stack in NB["01_data_fusion"]["stacks"]
}

include: "workflow/rules/training.smk"  # 02 training, 03 evaluation

include: "workflow/rules/gradcam.smk"  # 04 interclass, 05 spectral, 06 occlusion/IG/Grad-CAM

include: "workflow/rules/shap.smk"  # 07 SHAP, 08 modality influence + explanation scorecard

include: "workflow/rules/hyperspectral.smk"  # 09 patch-size study

include: "workflow/rules/scene.smk"  # 10 scene-level SHAP

include: "workflow/rules/known_answer.smk"  # 11 explanations graded against known answers (synthetic labels)

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
        f"{PY} -m eoxai.provenance --out {{output}} --results-dir {R} --profile {PROFILE} "
        f"--seed {CFG['seed']} {{input}}"
