# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Training the fusion models
#
# Three model families are trained on the fused cubes of notebook 01, each on several **input
# sets** (all modalities, optical only, SAR only, optical + DEM where the stack has them) and
# several **seeds**, so that notebook 03 can say with an interval whether fusion helps:
#
# | model | follows | what it adds |
# |---|---|---|
# | `manet_mit` | Ebrahimi & Kumar (the source paper): smp MAnet, MiT encoder, early fusion of all bands | - |
# | `claire` | Sutradhar et al. 2025 (arXiv 2509.11952) | dual encoder (optical / other), cross-modality attention fusion at every scale, RIFT loss |
# | `unet_influence` | Ekim & Schmitt 2023 (IGARSS) | modality occluder + influence head; `unet` is its plain twin |
#
# What differs from the source paper's training code, and why (details in `eoxai.train`): logits go to
# the loss once (the seed applied softmax twice); class weights come from the training split;
# training batches are random crops drawn anywhere in the training area (seeded; quick profile) or
# shuffled fixed tiles, augmented (flips/rotations), while validation tiles are not;
# AdamW with a warm-up + cosine schedule that is stepped every batch; early stopping on validation mIoU;
# the **test split is not touched here** (notebook 03 scores it, 04-08b explain its tiles; the
# README's split table lists every notebook's splits). Every epoch draws its randomness from
# `(seed, epoch)`, so a CPU run repeats exactly and a run interrupted mid-way resumes from its
# state file to the same result. Each checkpoint stores its config and the config's hash.
#
# The workflow runs this notebook once per training seed (`seeds=[s]`), so the seeds train in
# parallel; run by hand it trains every seed of the profile.
#
# Every finished run is also kept in `<results>/interim/training/` (outside the job's declared
# outputs, which Snakemake deletes when a job fails). A rerun reuses a finished run whose checkpoint
# passes its SHA-256 check and matches the run's config, data and training-code hashes, and says so;
# after an interruption only the missing runs train. Delete that folder to retrain everything.

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
seeds = [0, 1, 2]
train = {"size": "b0", "epochs": 20, "batch_size": 8, "lr": 0.002, "weight_decay": 0.01, "patience": 4,
         "random_crops": 64, "train_stride": 32, "loss": "ce"}
runs = {
    "sen1floods11": [
        {"arch": "manet_mit", "inputs": ["all", "optical", "sar"]},
        {"arch": "claire", "inputs": ["all"], "loss": "rift"},
        {"arch": "unet", "inputs": ["all"]},
        {"arch": "unet_influence", "inputs": ["all"]},
    ],
    "eolearn": [{"arch": "manet_mit", "inputs": ["all", "optical"], "epochs": 40, "patience": 6, "random_crops": 32,
                 "max_class_weight": 2}],
}
progress = True

# %%
import pandas as pd

from eoxai import plots
from eoxai.checkpoint import checkpoint_path
from eoxai.accuracy import plot_training_curves
from eoxai.fused import open_fused
from eoxai.notebook import show, write_table
from eoxai.session import start_notebook
from eoxai.train import input_sets, run_specs, train_run

_, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                      folders=("tables", "figures", "models"))

# %% [markdown]
# ## Runs
# Tile sizes come from notebook 01's summary table; input sets from each stack's band sensors. A
# stack is a fused cube (one scene, in memory) or a collection of scenes split by scene and
# streamed from disk (the paper profile's datasets); both train the same way. One row per training run of this notebook:

# %%
tile_sizes = pd.read_csv(R / "tables" / "fusion_summary.csv").set_index("stack")["tile_size"].to_dict()
cubes = {stack: open_fused(R, stack) for stack in runs}  # a fused cube, or a collection of scenes
for stack, cube in cubes.items():
    print(f"{stack}: input sets {input_sets(cube)}")
specs = run_specs(runs, seeds, tile_sizes, train)
pd.DataFrame([{"stack": s.stack, "arch": s.arch, "inputs": s.inputs, "seed": s.seed, "epochs": s.config.epochs,
               "loss": s.config.loss, "train_stride": s.config.train_stride or s.tile_size} for s in specs])

# %% [markdown]
# ## Training
# A progress bar per run shows the training loss and the validation mIoU of the last epoch; a
# reused run prints one line instead.

# %%
histories, metas = [], []
for spec in specs:
    history, meta = train_run(cubes[spec.stack], spec,
                              checkpoint_path(R, spec.stack, spec.arch, spec.inputs, spec.seed),
                              device=device, progress=progress, store=R / "interim" / "training")
    histories.append(history.assign(stack=spec.stack, arch=spec.arch, inputs=spec.inputs, seed=spec.seed,
                                    run=f"{spec.arch} · {spec.inputs}"))
    metas.append(meta)
history = pd.concat(histories, ignore_index=True)
cols = ["stack", "arch", "inputs", "seed", "epoch", "lr", "train_loss", "val_loss", "val_miou", "val_f1", "val_oa"]
for s in seeds:
    write_table(history[history["seed"] == s][cols], R / "tables" / f"training_history_seed{s}.csv")
summary = pd.DataFrame([{k: m[k] for k in ("stack", "arch", "inputs", "seed", "train_tiles", "validation_tiles",
                                           "epochs_run", "best_epoch", "best_val_miou", "config_hash")}
                        | {"train_s": round(m["timing"]["wall_s"], 1)} for m in metas])
summary

# %%
for _, row in summary.iterrows():
    print(f"{row['stack']} {row.arch}-{row.inputs} seed {row['seed']}: best validation mIoU {row.best_val_miou:.3f} "
          f"at epoch {row.best_epoch} of {row.epochs_run}, {row.train_tiles} training tiles, {row.train_s} s")

# %% [markdown]
# ## Learning curves
# Validation mIoU rests on few tiles (the validation split of one scene): read the curves as a
# sanity check that training converges, not as a model comparison. That is notebook 03's job,
# on the held-out test split.

# %%
for s in seeds:
    fig = plot_training_curves(history[history["seed"] == s], title=f"training seed {s}")
    path = plots.savefig(fig, R / "figures" / f"training_curves_seed{s}.png")
    show(path)
