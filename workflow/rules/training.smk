# 02 · training: one job per training seed (the seeds train in parallel), each running notebook 02
#      with `seeds=[s]`; it writes every run's checkpoint, its history table and learning curves.
# 03 · evaluation: the only use of the test split; metrics, ablation table + figure, influence scores.

TRAINING = NB.get("02_training") or NB["03_evaluation"]
TRAIN_SEEDS = [int(s) for s in TRAINING["seeds"]]
TRAIN_STACKS = list(TRAINING["runs"])
# (stack, arch, input set) of every run, as eoxai.train.run_specs expands them
TRAIN_RUNS = [(stack, entry["arch"], inputs) for stack, entries in TRAINING["runs"].items()
              for entry in entries for inputs in entry["inputs"]]


def training_models(seed):
    """Checkpoints of one training seed (the same layout as eoxai.checkpoint.checkpoint_path)."""
    return [f"{R}/models/{stack}/{arch}-{inputs}-seed{seed}.pt" for stack, arch, inputs in TRAIN_RUNS]


missing = [s for s in REFERENCE_MODELS if s not in TRAIN_STACKS]
if missing or ("manet_mit", "all") not in {(a, i) for _, a, i in TRAIN_RUNS}:
    raise ValueError(f"02_training.runs must train manet_mit on 'all' for every stack (reference models); "
                     f"missing stacks {missing}")


rule train:
    input:
        nb="notebooks/02_training.ipynb",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=TRAIN_STACKS),
        summary=f"{R}/tables/fusion_summary.csv",
    output:
        nb=f"{R}/notebooks/02_training_seed{{seed}}.ipynb",
        record=f"{R}/provenance/02_training_seed{{seed}}.json",
        models=training_models("{seed}"),
        history=f"{R}/tables/training_history_seed{{seed}}.csv",
        figure=f"{R}/figures/training_curves_seed{{seed}}.png",
    wildcard_constraints:
        seed=r"\d+",
    params:
        seeds=lambda wildcards: json.dumps([int(wildcards.seed)]),
    threads: 1
    shell:
        notebook_cmd("--set seeds={params.seeds:q}")


EVAL_TABLES = ["ablation", "ablation_tests", "evaluation_baseline", "evaluation_runs", "evaluation_per_class",
               "evaluation_tiles", "evaluation_confusion", "influence_scores", "training_cost"]


rule evaluate:
    input:
        nb="notebooks/03_evaluation.ipynb",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=TRAIN_STACKS),
        summary=f"{R}/tables/fusion_summary.csv",
        models=[m for s in TRAIN_SEEDS for m in training_models(s)],
    output:
        nb=f"{R}/notebooks/03_evaluation.ipynb",
        record=f"{R}/provenance/03_evaluation.json",
        tables=expand(f"{R}/tables/{{t}}.csv", t=EVAL_TABLES),
        figures=[f"{R}/figures/ablation.png", f"{R}/figures/evaluation_influence_scores.png",
                 *expand(f"{R}/figures/evaluation_{{stack}}_{{kind}}.png", stack=TRAIN_STACKS,
                         kind=["predictions", "confusion"])],
    threads: 1
    shell:
        notebook_cmd()


for _seed in TRAIN_SEEDS:
    ALL += [f"{R}/notebooks/02_training_seed{_seed}.ipynb", f"{R}/tables/training_history_seed{_seed}.csv",
            f"{R}/figures/training_curves_seed{_seed}.png", *training_models(_seed)]
    RECORDS.append(f"{R}/provenance/02_training_seed{_seed}.json")
if "03_evaluation" in NB:
    ALL += rules.evaluate.output
    RECORDS.append(rules.evaluate.output.record)
