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
# # 03 · Evaluation on the held-out test split and the fusion ablation
#
# The test split (spatial blocks kept apart from training by a buffer, notebook 01) is used
# **only here**. Every checkpoint of notebook 02 is reloaded, checked against the config it must
# have been trained with (its stored config hash), and scored on the test tiles: per-class IoU,
# mIoU, macro F1, overall accuracy, Cohen's kappa and confusion matrices, all derived from
# confusion matrices counted with torchmetrics.
#
# **The question.** Ebrahimi & Kumar report mIoU 0.714 with optical input and 0.722 with fused
# input, from one run. A gap that small needs several seeds and an interval. Here each
# architecture x input set is trained with several seeds; the ablation table gives the mean and a
# 95 % Student-t interval over seeds, and a **paired** test of fused vs optical-only: paired by
# seed (the unit of replication is a training run) and, as a second view, paired by test tile
# (tile scores averaged over seeds; tiles of one scene are spatially correlated, so these p-values
# overstate the evidence).

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
level = 0.95

# %%
import numpy as np
import pandas as pd

from eoxai import plots
from eoxai.accuracy import (
    ablation_table,
    comparisons,
    confusion_long,
    evaluate_runs,
    influence_summary,
    convergence,
    pixel_baseline,
    plot_ablation,
    plot_confusion,
    plot_influence,
    plot_test_predictions,
    run_label,
)
from eoxai.fused import open_fused
from eoxai.notebook import show, write_table
from eoxai.session import start_notebook
from eoxai.train import input_sets, run_specs

_, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir)
T, F = R / "tables", R / "figures"

tile_sizes = pd.read_csv(T / "fusion_summary.csv").set_index("stack")["tile_size"].to_dict()
cubes = {stack: open_fused(R, stack) for stack in runs}  # a fused cube, or a collection of scenes
specs = run_specs(runs, seeds, tile_sizes, train)
ev = evaluate_runs(cubes, specs, R, device=device)
tests = comparisons(ev.runs, ev.tiles, level=level)
baseline = pd.DataFrame([
    {"stack": stack, "inputs": inputs, **pixel_baseline(cubes[stack], mods, tile_sizes[stack], seed=seed)}
    for stack in cubes for inputs, mods in input_sets(cubes[stack]).items()
    if inputs in set(ev.runs[ev.runs["stack"] == stack]["inputs"])
])
ablation = ablation_table(ev.runs, tests, level=level, baseline=baseline)

write_table(ev.runs, T / "evaluation_runs.csv")
write_table(baseline, T / "evaluation_baseline.csv")
write_table(ev.per_class, T / "evaluation_per_class.csv")
write_table(ev.tiles, T / "evaluation_tiles.csv")
write_table(confusion_long(ev), T / "evaluation_confusion.csv")
write_table(ev.influence, T / "influence_scores.csv")
write_table(ev.cost, T / "training_cost.csv", digits=4)
write_table(tests, T / "ablation_tests.csv")
write_table(ablation, T / "ablation.csv")

# %% [markdown]
# ## The test split is small: know its size before reading any number

# %%
size = ev.runs.groupby("stack", sort=False)[["test_tiles", "pixels"]].first()
for stack, row in size.iterrows():
    print(f"{stack}: {row.test_tiles} test tiles of {tile_sizes[stack]}x{tile_sizes[stack]} pixels "
          f"({row.pixels} labelled pixels), {len(seeds)} seed(s) per run.")
size

# %% [markdown]
# ## The ablation table (headline)
# Mean over seeds and the 95 % t interval of test mIoU and macro F1; on fused rows, the paired
# difference to the optical-only model of the same architecture. Rows `pixel_logreg` are a
# reference, not a competitor: a per-pixel multinomial logistic regression on the training
# pixels (no spatial context, deterministic), scored on the same test pixels. If the deep models
# do not beat it, the cells after the table read from `training_cost.csv` whether they were
# still improving at the epoch cap (under-trained: their comparisons say more about early
# training than about architectures) or had reached a validation plateau.

# %%
columns = ["stack", "arch", "inputs", "n_seeds", "epochs", "miou_mean", "miou_ci_low", "miou_ci_high", "f1_mean",
        "f1_ci_low", "f1_ci_high", "oa_mean", "kappa_mean", "miou_diff_vs_optical", "p_paired_t_seeds",
        "p_wilcoxon_tiles"]
ablation[columns].round(3)

# %%
path = plots.savefig(plot_ablation(ev.runs, ablation, "miou", level), F / "ablation.png")
show(path)

# %% [markdown]
# ## Does fusion help on this data?
# Every sentence below is computed from `ablation_tests.csv` (the paired comparisons) at run time.


# %%
def verdict(r: pd.Series) -> str:
    """One sentence on a seed-paired comparison: direction, size, interval and what can be concluded."""
    if r.n < 2 or not np.isfinite(r.diff_low):
        return (f"{r.comparison}: {r.n} paired seed(s), difference {r['diff']:+.3f} mIoU; too few seeds for an "
                "interval, so no conclusion.")
    sign = "higher" if r["diff"] > 0 else "lower"
    covers = r.diff_low <= 0 <= r.diff_high
    conclusion = ("the interval includes 0: no difference can be claimed" if covers else
                  f"the interval excludes 0: {r.arch_a}/{r.inputs_a} is {sign}")
    budget = ("" if r.epochs_a == r.epochs_b else
              f" Caution: unequal training budgets ({r.epochs_a} vs {r.epochs_b} epochs), so this compares "
              "configurations, not architectures alone.")
    return (f"{r.comparison} ({r.arch_a}/{r.inputs_a} minus {r.arch_b}/{r.inputs_b}): {r['diff']:+.3f} mIoU over "
            f"{r.n} seeds, {int(level * 100)} % interval [{r.diff_low:+.3f}, {r.diff_high:+.3f}], "
            f"paired t-test p = {r.p_ttest:.3g}; {conclusion}.{budget}")


seed_tests = tests[(tests.metric == "miou") & (tests.unit == "seed")]
for stack, group in seed_tests.groupby("stack", sort=False):
    print(f"--- {stack}")
    for _, r in group.iterrows():
        print(verdict(r))
    tile = tests[(tests["stack"] == stack) & (tests.metric == "miou") & (tests.unit == "tile")
                 & (tests.comparison == "fused vs optical")]
    for _, r in tile.iterrows():
        print(f"Tile view of fused vs optical ({r.arch_a}): fused minus optical {r['diff']:+.3f} mIoU on average over "
              f"{r.n} test tiles (seed-averaged), Wilcoxon p = {r.p_wilcoxon:.3g} (spatially correlated tiles: "
              "optimistic).")

# %%
for stack in cubes:
    deep = ablation[(ablation["stack"] == stack) & (ablation.arch != "pixel_logreg")]
    best = deep.loc[deep.miou_mean.idxmax()]
    base = ablation[(ablation["stack"] == stack) & (ablation.arch == "pixel_logreg")
                    & (ablation.inputs == best.inputs)]
    if len(base):
        b = base.iloc[0]
        rel = "above" if best.miou_mean > b.miou_mean else "below"
        print(f"{stack}: the best deep model ({best.arch} on {best.inputs}, mIoU {best.miou_mean:.3f}) is {rel} the "
              f"per-pixel logistic regression on the same inputs (mIoU {b.miou_mean:.3f}).")
    for _, b in ablation[(ablation["stack"] == stack) & (ablation.arch == "pixel_logreg")].iterrows():
        print(f"    pixel_logreg on {b.inputs}: mIoU {b.miou_mean:.3f}, macro F1 {b.f1_mean:.3f}")

# %% [markdown]
# Did training end because validation stopped improving (early stopping on validation mIoU) or
# because it reached the epoch cap? A run that hit the cap with its best epoch last was still
# improving: its score is a lower bound on what the architecture reaches on this data.

# %%
conv = convergence(ev.cost)
print(f"{int(conv.stopped_early.sum())} of {int(conv.runs.sum())} runs stopped early (validation plateau); "
      f"{int(conv.still_improving_at_cap.sum())} were still improving at the epoch cap.")
for stack in cubes:
    deep = ablation[(ablation["stack"] == stack) & (ablation.arch != "pixel_logreg")]
    base = ablation[(ablation["stack"] == stack) & (ablation.arch == "pixel_logreg")].set_index("inputs")["miou_mean"]
    beats = deep[deep.apply(lambda r: r.inputs in base and r.miou_mean > base[r.inputs], axis=1)]
    c = conv[conv["stack"] == stack]
    improving, n = int(c.still_improving_at_cap.sum()), int(c.runs.sum())
    if len(beats):
        print(f"{stack}: {len(beats)} of {len(deep)} deep models beat the per-pixel reference on the same inputs "
              f"({', '.join(beats.arch + '/' + beats.inputs)}).")
    elif 2 * improving > n:
        print(f"{stack}: no deep model beats the per-pixel reference; {improving} of {n} runs were still improving "
              "at the epoch cap: most are under-trained for this profile.")
    else:
        print(f"{stack}: no deep model beats the per-pixel reference, although {n - improving} of {n} runs reached "
              "their best validation mIoU before the last epoch (stopped early, or peaked while the schedule "
              "decayed): the gap is not for lack of epochs; with one scene and few training tiles the spatial "
              "models converge below a per-pixel classifier.")
conv

# %% [markdown]
# Caveats that apply whatever the numbers say: one scene per stack, a test split of a few tiles
# (the eo-learn patch has only two 32x32 test tiles, so its intervals are wide and its per-class
# scores rest on a few hundred pixels; classes absent from the test tiles drop out of its mIoU),
# small models (MiT-b0) trained for a few epochs on a CPU. The paper profile (full datasets,
# MiT-b5, 5 seeds, GPU) is where a small gap could be resolved. How small a gap could this run
# resolve? Compare the source papers' reported gap (0.722 - 0.714 = 0.008 mIoU, Ebrahimi & Kumar) with
# the half-width of the interval on our fused-minus-optical difference:

# %%
SOURCE_GAP = 0.722 - 0.714  # Ebrahimi & Kumar's reported fused minus optical-only mIoU
fused_vs_optical = tests[(tests.comparison == "fused vs optical") & (tests.metric == "miou") & (tests.unit == "seed")]
for _, r in fused_vs_optical.iterrows():
    half = (r.diff_high - r.diff_low) / 2
    if np.isfinite(half):
        print(f"{r['stack']}: half-width {half:.3f} mIoU, {half / SOURCE_GAP:.1f}x the source papers' gap of {SOURCE_GAP:.3f}: "
              f"{'a gap that size would not be detectable here' if half > SOURCE_GAP else 'resolvable'}.")
    else:
        print(f"{r['stack']}: {r.n} seed(s), no interval.")

# %% [markdown]
# ## Per-class scores (mean over seeds)

# %%
pc = ev.per_class.groupby(["stack", "arch", "inputs", "class"], sort=False)[["iou", "f1", "support"]].mean()
pc.round(3)

# %% [markdown]
# ## Predictions beside the labels
# Test tiles of each stack: the reference label and the predictions of every model trained with
# the first seed. Grey: not a test pixel (or no data). A single scene shows its test blocks in
# place; a collection of scenes shows a few seeded test tiles, each from another test scene.

# %%
ref_seed = seeds[0]
for stack, cube in cubes.items():
    outputs = {run_label(arch, inputs): out for (s, arch, inputs, sd), out in ev.predictions.items()
               if s == stack and sd == ref_seed}
    fig = plot_test_predictions(cube, outputs, ev.class_names[stack], tile_sizes[stack],
                                title=f"{stack}: test tiles, seed {ref_seed}", seed=seed)
    path = plots.savefig(fig, F / f"evaluation_{stack}_predictions.png")
    show(path)

# %% [markdown]
# ## Confusion matrix of the reference model
# `manet_mit` on all modalities (the model the XAI notebooks explain), summed over seeds.

# %%
for stack in cubes:
    cm = ev.confusion[(stack, "manet_mit", "all")]
    fig = plot_confusion(cm, ev.class_names[stack],
                         title=f"{stack}: manet_mit · all, test split, {len(seeds)} seed(s) summed")
    path = plots.savefig(fig, F / f"evaluation_{stack}_confusion.png")
    show(path)

# %% [markdown]
# ## Learned modality influence (Ekim & Schmitt)
# The influence head of `unet_influence` outputs, for each test tile and each occluded modality,
# a score in [0, 1]; in the paper's reading a high score means the network does well without that
# modality. Nothing in training forces that reading (only the segmentation loss trains the head):
# notebook 08 checks it against occlusion. `influence_scores.csv` holds every score.

# %%
path = plots.savefig(plot_influence(ev.influence), F / "evaluation_influence_scores.png")
show(path)
infl = influence_summary(ev.influence) if not ev.influence.empty else pd.DataFrame()
for stack, g in (infl.groupby("stack", sort=False) if len(infl) else []):
    for _, r in g.iterrows():
        scores_txt = ", ".join(f"{c[6:]} {r[c]:.2f}" for c in g.columns if c.startswith("score_"))
        print(f"{stack} seed {r['seed']}: mean score with each modality occluded: {scores_txt}; lowest (mattered "
              f"most): {r.mattered_most}; cross-modality Spearman over tiles {r.cross_modality_spearman:+.2f}")
    agree = g.mattered_most.nunique() == 1
    print(f"{stack}: the modality that 'mattered most' is {'the same' if agree else 'not the same'} across "
          f"{len(g)} seeds ({', '.join(g.mattered_most)}); the scores of the occluded versions correlate across "
          f"tiles with |Spearman| {g.cross_modality_spearman.abs().mean():.2f} on average (near 1: the scores "
          "follow the tile's content, i.e. act as a tile-level feature, rather than rank the modalities).")
if infl.empty:
    print("no unet_influence run in this profile")
infl.round(3)

# %% [markdown]
# ## Training cost
# Wall time per run on the machine that trained it (machine-dependent, not a result; the
# benchmark `benchmarks/train_throughput.py` measures throughput properly). Ekim & Schmitt report
# about 1.4x the plain UNet's epoch time for their framework.

# %%
cost = ev.cost.assign(s_per_epoch=ev.cost.wall_s / ev.cost.epochs_run)
per_arch = cost.groupby(["stack", "arch", "inputs"])["s_per_epoch"].mean()
for stack in dict.fromkeys(per_arch.index.get_level_values("stack")):
    if (stack, "unet_influence", "all") in per_arch and (stack, "unet", "all") in per_arch:
        ratio = per_arch[stack, "unet_influence", "all"] / per_arch[stack, "unet", "all"]
        print(f"\u23f1 unet_influence / unet epoch time on {stack} here: {ratio:.2f}x")
per_arch.round(2).rename("epoch_s").reset_index()  # a flat table; `epoch_s` is run-measuring (`*_s`)
