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
# section in the profile are scheduled. Data inputs come from the stack declarations; every path
# under the results folder comes from the lib (eoxai.layout, eoxai.checkpoint; see
# workflow/rules/common.smk).
#
# Rules: fusion (01), train (02, one job per seed), model_accuracy (03: the models' test metrics),
# interclass_gradcam, spectral_gradcam, occlusion_ig_gradcam (04-06), shap_segmentation (07),
# modality_influence (08), score_explanations (08b: scores the explanation methods), patch_size and
# patch_size_cells (09), scene_shap (10); provenance_record and manifest (bookkeeping), all.
#
# Every notebook rule runs `python -m eoxai.runner`, which executes the notebook into
# <results>/notebooks/ and writes its record; the job's stdout/stderr go to <results>/logs/<job>.log
# (follow a running job with `tail -f`) and Snakemake's benchmark of it to <results>/benchmarks/
# (both git-ignored: they measure the run). Rule `provenance_record` adds the benchmark's wall time
# to the record (<results>/provenance/<job>.json); rule `manifest` merges the records into
# <results>/manifest.json.
#
# The reviewer audit is deliberately not a rule (`make audit`, `python -m eoxai.audit`): it reruns
# this workflow (`snakemake --forceall --config results_dir=<scratch>`) and compares the rerun with
# the committed results/. As a rule it would start Snakemake inside Snakemake on the same working
# directory and take results/manifest.json as an input, so a fresh clone (whose file times say
# nothing) could make Snakemake regenerate the committed results before auditing them.

import sys

from snakemake.utils import min_version

min_version("9")


include: "workflow/rules/common.smk"


if scheduled("01_data_fusion"):

    include: "workflow/rules/fusion.smk"


if scheduled("02_training", "03_evaluation"):

    include: "workflow/rules/training.smk"  # 02 training, 03 model accuracy


if scheduled("04_interclass_gradcam", "05_spectral_gradcam", "06_occlusion_ig_gradcam"):

    include: "workflow/rules/gradcam.smk"  # 04 interclass, 05 spectral, 06 occlusion/IG/Grad-CAM


if scheduled("07_shap_segmentation", "08_modality_influence", "08b_explanation_scorecard"):

    include: "workflow/rules/shap.smk"  # 07 SHAP, 08 modality influence, 08b explanation scores


if scheduled("09_patch_size_hyperopt"):

    include: "workflow/rules/hyperspectral.smk"  # 09 patch-size study


if scheduled("10_scene_shap"):

    include: "workflow/rules/scene.smk"  # 10 scene-level SHAP


if scheduled("11_known_answer_benchmark"):

    include: "workflow/rules/known_answer.smk"  # 11 explanations graded against known answers (synthetic labels)


# Every missing dataset any scheduled rule reads, each with the command that gets it (printed on
# every invocation, dry runs included; Snakemake then stops at the first rule missing one).
from eoxai.data.download import missing_datasets_message

_MISSING_DATA = missing_datasets_message(
    [str(f) for r in workflow.rules for f in r.input if isinstance(f, str)], DATA
)
if _MISSING_DATA:
    print(_MISSING_DATA, file=sys.stderr)

include: "workflow/rules/provenance.smk"  # provenance records, manifest


localrules:
    all,


# Every output of every scheduled notebook job, its record and the manifest (gathered from the
# declared rules when the DAG is built: common.smk, final_targets).
rule all:
    default_target: True
    input:
        lambda wildcards: final_targets(),


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
