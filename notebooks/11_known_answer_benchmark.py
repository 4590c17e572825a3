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
# # 11 · Explanations graded against known answers (synthetic labels)
#
# Notebooks 04-08b explain models whose true reasons are unknown, so 08b can only score the
# explanations with proxies (deletion/insertion, randomisation, agreement, stability). None says
# whether an explainer finds what the model *actually* uses. Here the answer is known by
# construction (the controlled-relevance idea of CLEVR-XAI, Arras et al. 2022): on the **real
# pixels** of each fused cube of notebook 01, a **synthetic rule** computes the label
# (`eoxai.xai.known_answer`):
#
# * **band rule**: a normalised difference of two named bands, smoothed over a few pixels and
#   thresholded at its training-pixel median - the true bands and modality are known. The bands
#   are chosen so that the *other* bands cannot stand in for them: an NDWI (S2 B3, B8) is largely
#   predictable from the other optical bands, so a model may learn it from proxies and the "true
#   bands" would not be the ones it uses; S1 VV/VH (only two SAR bands) and, on eo-learn, B10/B9
#   of the second date (cirrus and water vapour, unlike the surface bands) leave no close proxy;
# * **modality rule**: the mean z-score of every band of one modality (S1 SAR only; on eo-learn the
#   second date's optical bands only, since a DEM median splits that small patch into two halves
#   and leaves its validation blocks with one class) - the true modality is known;
# * **spatial rule**: a pixel is `synthetic_high` when a *mark* lies within a few pixels; the marks
#   are the brightest blobs of one band (its z-score smoothed over a few pixels, above a training
#   quantile), regions of a few pixels a model can see - the true evidence pixels (the marks) are known.
#
# Every index is smoothed (`smooth`: a Gaussian of that many pixels, ignoring missing data) before
# it is thresholded: the truth stays the same bands, but the labels form regions a few pixels wide
# that the compendium's encoder-decoders (stride-4 encoders) learn within the quick budget, where
# the raw per-pixel speckle of SAR is not learnable in minutes.
#
# The compendium's own architecture (MAnet-MiT) is trained on each rule with the same training
# code as notebook 02 (`eoxai.train.fit`: train split, early stopping on validation), on every
# training seed. Each model is checked to use the rule: its accuracy on the **held-out** synthetic
# labels (`split`), and again with the rule's bands permuted within each tile (should fall towards
# chance) and with all other bands permuted (should stay). Only models that learned their rule
# (`eoxai.xai.known_answer.learned_rule`: accuracy >= `min_accuracy` and more than 0.1 lost when
# the rule's bands are permuted) are explained and graded; the others are reported as *not
# learned*. Every explainer of the compendium explains the same held-out tiles, scoring the
# probability of `synthetic_high` over the pixels the model predicts as `synthetic_high` (over
# the whole tile a per-pixel rule's pushes towards either class cancel); the exact band-group
# Shapley values set an absent group to 0, the training mean of the z-scored cube (a baseline
# inside the data's distribution). Each is graded: the rank of the true bands (mean reciprocal rank, precision@k),
# whether the true modality ranks first, and for the spatial rule the pointing game and the AUROC
# of the map against the marks; a random map gives the chance level. The influence head is graded
# on an influence-head UNet trained on the modality rules.
#
# The labels here are **synthetic** everywhere: classes `synthetic_low`/`synthetic_high`, table
# columns `synthetic_rule`, figure titles; they never touch the real labels or the models of 02.

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
stacks = ["sen1floods11", "eolearn"]
split = "test"  # the held-out tiles that score the synthetic models and are explained
rules = {
    "sen1floods11": [
        {"name": "band_sar_nd", "kind": "band", "bands": ["s1.VV", "s1.VH"], "smooth": 2.0, "train": {"epochs": 20}},
        {"name": "modality_s1", "kind": "modality", "modality": "s1", "smooth": 2.0, "train": {"epochs": 20}},
        {"name": "spatial_near_bright_vh", "kind": "spatial", "bands": ["s1.VH"], "quantile": 0.9, "radius": 3,
         "smooth": 1.0},
    ],
    "eolearn": [
        {"name": "band_b10_b9_t2", "kind": "band", "bands": ["s2_t2.B10", "s2_t2.B9"], "smooth": 2.0},
        {"name": "modality_s2_t2", "kind": "modality", "modality": "s2_t2", "smooth": 2.0},
        {"name": "spatial_near_bright_swir", "kind": "spatial", "bands": ["s2_t1.B11"], "quantile": 0.9,
         "radius": 3, "smooth": 1.0},
    ],
}
seeds = [0, 1, 2]
arch = "manet_mit"
influence_arch = "unet_influence"  # trained on the modality rules only, to grade its influence head
tile_size = 32
train = {"size": "b0", "epochs": 30, "batch_size": 8, "lr": 0.003, "weight_decay": 0.01, "patience": 3,
         "train_stride": 32}
train_overrides = {"sen1floods11": {"max_train_tiles": 48, "patience": 6}, "eolearn": {"train_stride": 8, "patience": 6}}
n_tiles = 4
gradcam_layers = {"logits": "segmentation_head.0", "decoder": "decoder.blocks.2"}  # decoder: 08b's layer
spectral_layer = "segmentation_head.0"
ig_steps = 16
occlusion_window = 8
shap_block = 8
shap_blur = 5
shap_max_evals = 64
replacements = ["zeros", "mean", "uniform", "normal"]
batch_size = 32
min_accuracy = 0.8
recover_level = 0.8

# %%
import numpy as np
import pandas as pd

from eoxai.explain_tiles import load_tiles, pick_tiles
from eoxai.fusion import read_cube
from eoxai.notebook import show, write_table
from eoxai.session import start_notebook
from eoxai.engine import TrainConfig
from eoxai.train import RunSpec
from eoxai.xai.known_answer import (
    ExplainerSettings,
    SyntheticRule,
    grade,
    learned_rule,
    plot_grades,
    plot_labels,
    recovery,
    rule_use,
    run_explainers,
    summarise,
    synthetic_cube,
    train_on_rule,
)

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures"))
settings = ExplainerSettings(gradcam_layers=gradcam_layers, spectral_layer=spectral_layer, ig_steps=ig_steps,
                             occlusion_window=occlusion_window, shap_block=shap_block, shap_blur=shap_blur,
                             shap_max_evals=shap_max_evals, replacements=tuple(replacements), batch_size=batch_size)

# %% [markdown]
# ## The synthetic labels
# Thresholds come from the training pixels only; grey pixels lack data in a rule band.

# %%
cubes, labels, rule_train = {}, {}, {}
for stack in stacks:
    cubes[stack] = read_cube(R / "interim" / f"{stack}.nc")
    for entry in rules[stack]:
        rule = SyntheticRule.from_mapping({k: v for k, v in entry.items() if k != "train"})
        rule_train[stack, rule.name] = entry.get("train", {})
        labels[stack, rule.name] = (rule, rule.apply(cubes[stack]))
rule_table = pd.DataFrame([
    {"stack": s, "synthetic_rule": name, "rule_kind": rule.kind, "true_bands": " ".join(lab.truth.bands),
     "true_modality": lab.truth.modality, "smooth_px": rule.smooth, "threshold": lab.threshold,
     "synthetic_high_share": float((lab.label == 1).sum() / (lab.label >= 0).sum()),
     "marks": int(lab.truth.evidence.sum()) if lab.truth.evidence is not None else 0}
    for (s, name), (rule, lab) in labels.items()])
write_table(rule_table, R / "tables" / "known_answer_rules.csv")
show(plot_labels([(f"{s}: {name}", lab) for (s, name), (_, lab) in labels.items()]),
     R / "figures" / "known_answer_labels.png")
rule_table

# %% [markdown]
# ## Train on each rule, check the model learned it, explain and grade
# One MAnet-MiT per stack x rule x seed (and an influence-head UNet per modality rule and seed).
# A model that did not learn its rule is not explained: it has no known answer.

# %%
model_rows, grade_tables = [], []
for (stack, name), (rule, lab) in labels.items():
    syn = synthetic_cube(cubes[stack], lab)
    held_out = load_tiles(syn, split, tile_size)
    rule_idx = [held_out.bands.index(b) for b in lab.truth.bands]
    archs = [arch] + ([influence_arch] if rule.kind == "modality" and influence_arch else [])
    for model_seed in seeds:
        picked = held_out.subset(pick_tiles(held_out.masks, n_tiles, seed + model_seed))
        evidence = (np.stack([lab.truth.evidence[r:r + tile_size, c:c + tile_size] for r, c in picked.origins])
                    if lab.truth.evidence is not None else None)
        for a in archs:
            cfg = TrainConfig.from_mapping({**train, **train_overrides.get(stack, {}), **rule_train[stack, name],
                                            "arch": a})
            model, info = train_on_rule(syn, RunSpec(stack, a, "all", model_seed, tile_size, cfg), device=str(dev))
            model = model.cpu()
            row = {"stack": stack, "synthetic_rule": name, "rule_kind": rule.kind, "arch": a, "seed": model_seed,
                   "train_tiles": info["train_tiles"], "epochs_run": info["epochs_run"],
                   "stopped_early": info["stopped_early"], "best_val_miou": info["best_val_miou"],
                   "held_out_tiles": len(held_out),
                   **rule_use(model, held_out.images, held_out.masks, rule_idx, seed=seed + model_seed,
                              batch_size=batch_size)}
            row["learned_rule"] = bool(learned_rule(pd.DataFrame([row]), min_accuracy).iloc[0])
            model_rows.append(row)
            print(f"{stack} / {name} / {a} / seed {model_seed}: held-out synthetic accuracy "
                  f"{row['synthetic_accuracy']:.3f}, rule bands permuted {row['accuracy_rule_bands_permuted']:.3f} "
                  f"-> {'learned' if row['learned_rule'] else 'not learned'}", flush=True)
            if not row["learned_rule"]:
                continue
            methods = None if a == arch else ["influence_head"]
            explained = run_explainers(model, picked.images, picked.masks, held_out.bands, info["modalities"],
                                       settings, band_mean=syn["band_mean"].values, band_std=syn["band_std"].values,
                                       seed=seed + model_seed, methods=methods, maps=rule.kind == "spatial")
            for e in explained:
                t = grade(e, held_out.bands, lab.truth, evidence)
                grade_tables.append(t.assign(stack=stack, synthetic_rule=name, rule_kind=rule.kind, arch=a,
                                             seed=model_seed, tile_row=[picked.origins[i][0] for i in t["tile"]],
                                             tile_col=[picked.origins[i][1] for i in t["tile"]]))

models = pd.DataFrame(model_rows)
write_table(models, R / "tables" / "known_answer_models.csv")
models.groupby(["stack", "synthetic_rule", "arch"], sort=False)[
    ["synthetic_accuracy", "accuracy_rule_bands_permuted", "accuracy_other_bands_permuted", "learned_rule"]
].mean().round(3)

# %%
for (stack, name, a), g in models.groupby(["stack", "synthetic_rule", "arch"], sort=False):
    print(f"{stack} / {name} ({a}): held-out synthetic accuracy {g['synthetic_accuracy'].mean():.3f} over "
          f"{len(g)} seed(s); rule bands permuted {g['accuracy_rule_bands_permuted'].mean():.3f}, other bands "
          f"permuted {g['accuracy_other_bands_permuted'].mean():.3f}; {int(g['learned_rule'].sum())} of {len(g)} "
          f"model(s) learned the rule (accuracy >= {min_accuracy} and > 0.1 lost when its bands are permuted); "
          f"{int(g['stopped_early'].sum())} stopped early, mean {g['epochs_run'].mean():.1f} epochs.")
print(f"In all, {int(models['learned_rule'].sum())} of {len(models)} synthetic models learned their rule.")

# %% [markdown]
# ## Grades, with intervals over seeds and tiles
# Only models that learned their rule are graded (`models_learned` of `models_trained` per rule).
# Grades are read as magnitudes: a band or pixel matters whichever class it pushes towards.

# %%
lead = ["stack", "synthetic_rule", "rule_kind", "arch", "seed", "tile_row", "tile_col", "method"]
grades = (pd.concat(grade_tables, ignore_index=True) if grade_tables
          else pd.DataFrame(columns=[*lead, "tile", "band_reciprocal_rank"]))
grades = grades[lead + [c for c in grades.columns if c not in lead and c != "tile"]]
write_table(grades, R / "tables" / "known_answer_grades.csv")
counts = (models[models["arch"] == arch].groupby(["stack", "synthetic_rule"])["learned_rule"]
          .agg(models_learned="sum", models_trained="size").reset_index())
summary = recovery(summarise(grades, ["stack", "synthetic_rule", "rule_kind", "method"]), level=recover_level)
summary = summary.merge(counts, on=["stack", "synthetic_rule"], how="left")
write_table(summary, R / "tables" / "known_answer.csv")
show(plot_grades(summary), R / "figures" / "known_answer_grades.png")
summary.pivot_table(index="method", columns=["stack", "synthetic_rule", "grade"], values="mean").round(2)

# %% [markdown]
# ## Which explainer recovers which rule
# "Recovers": mean grade at least `recover_level`; "above chance": the interval's lower bound
# above the random map's mean for the same rule and grade. A rule that no model learned is
# reported as *not learned*: it grades no explainer.

# %%
for (stack, name), g in counts.groupby(["stack", "synthetic_rule"], sort=False):
    if g["models_learned"].iloc[0] == 0:
        print(f"{stack} / {name}: not learned (0 of {g['models_trained'].iloc[0]} models), so no explainer is "
              "graded on it.")
for (stack, name, grade_name), g in summary.groupby(["stack", "synthetic_rule", "grade"], sort=False):
    good = g[g["recovered"]].sort_values("mean", ascending=False)
    bad = g[~g["recovered"] & (g["method"] != "random")].sort_values("mean")
    chance = g.loc[g["method"] == "random", "mean"]
    print(f"{stack} / {name}, {grade_name} (random map {chance.iloc[0]:.2f}): "
          if len(chance) else f"{stack} / {name}, {grade_name}: ", end="")
    print("recovered by " + (", ".join(f"{m} ({v:.2f})" for m, v in zip(good["method"], good["mean"], strict=True))
                             or "no method")
          + "; not by " + (", ".join(f"{m} ({v:.2f}{'' if a else ', not above chance'})" for m, v, a in
                                     zip(bad["method"], bad["mean"], bad["above_chance"], strict=True)) or "-") + ".")
