# 02 · training: one job per training seed (the seeds train in parallel), each running notebook 02
#      with `seeds=[s]`; it writes every run's checkpoint, its history table and learning curves.
# 03 · model accuracy (notebook 03_evaluation): the only use of the test split; the models' metrics,
#      ablation table + figure, influence scores. Not to be confused with rule `score_explanations`
#      (08b), which scores explanation methods.
#
# Checkpoints: TRAIN_RUNS x TRAIN_SEEDS (common.smk), laid out by eoxai.checkpoint.checkpoint_path.

TRAIN_STACKS = list(TRAIN_RUNS)

_missing = [s for s in REFERENCE_MODELS if s not in TRAIN_STACKS]
if _missing or not set(reference_models(EXPLAINED_STACKS)) <= set(training_checkpoints([REFERENCE_SEED])):
    raise eoxai_errors.ConfigError(f"02_training.runs must train manet_mit on 'all' for every fused stack (the reference "
                      f"models the explanation notebooks explain); missing stacks {_missing}")


rule train:
    input:
        nb="notebooks/02_training.ipynb",
        cubes=cubes(TRAIN_STACKS),
        summary=tables("fusion_summary"),
    output:
        **job_outputs("02_training_seed{seed}"),
        models=training_checkpoints(["{seed}"]),
        history=tables("training_history_seed{seed}"),
        figure=figures("training_curves_seed{seed}"),
    log:
        job_log("02_training_seed{seed}"),
    benchmark:
        job_benchmark("02_training_seed{seed}")
    wildcard_constraints:
        seed=r"\d+",
    params:
        seeds=lambda wildcards: json.dumps([int(wildcards.seed)]),
    # the longest chain first (train -> model_accuracy -> modality_influence -> score_explanations):
    # on 2 cores this packs the quick DAG tighter (a priority only orders the jobs that are ready)
    priority: 10
    threads: 1
    shell:
        notebook_cmd("--set seeds={params.seeds:q}")


rule model_accuracy:
    input:
        nb="notebooks/03_evaluation.ipynb",
        cubes=cubes(TRAIN_STACKS),
        summary=tables("fusion_summary"),
        models=training_checkpoints(TRAIN_SEEDS),
    output:
        **job_outputs("03_evaluation"),
        tables=tables("ablation", "ablation_tests", "evaluation_baseline", "evaluation_runs",
                      "evaluation_per_class", "evaluation_tiles", "evaluation_confusion", "influence_scores",
                      "training_cost"),
        figures=figures("ablation", "evaluation_influence_scores",
                        *(f"evaluation_{stack}_{kind}" for stack in TRAIN_STACKS
                          for kind in ("predictions", "confusion"))),
    log:
        job_log("03_evaluation"),
    benchmark:
        job_benchmark("03_evaluation")
    # on the longest chain (see rule train)
    priority: 8
    threads: 1
    shell:
        notebook_cmd()
