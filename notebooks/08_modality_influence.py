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
# # 08 · Modality occlusion and influence
#
# Ekim & Schmitt ask how much each modality of a fused input matters by *occluding* it: one
# modality at a time is replaced, and they measure the change in the bottleneck embedding (L2
# distance) and in the segmentation quality. Their influence-head UNet also *learns* a score per
# occluded modality. Here, on the held-out split of each fused stack (`split`, test by default):
#
# * every modality x every replacement - `zeros` (a dead sensor: raw value 0), `mean` (the
#   training mean), `uniform` and `normal` noise (the training mean and variance, no structure);
# * the drop in per-class IoU (pooled over the test pixels) and, per tile, the drop in mIoU and
#   the relative L2 distance of the bottleneck embedding (`eoxai.models.bottleneck`);
# * the learned influence scores of the influence-head UNet (notebook 03,
#   `influence_scores.csv`) against the occlusion-derived influence, by rank correlation.
#
# The model occluded is each stack's reference model (MAnet-MiT, all modalities, first seed).

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
explainer_memory_mb = None  # MB an explainer's batches may use (None: the device's default)
stacks = ["sen1floods11", "eolearn"]
reference_seed = 0
split = "test"  # the held-out tiles occluded (README: which split each notebook reads)
max_tiles = None  # a collection's test tiles to choose from (seeded, spread over scenes); None: all
replacements = ["zeros", "mean", "uniform", "normal"]
influence_replacement = "mean"
influence_measure = "miou_drop"
head_score_means_less_influence = True
batch_size = 16

# %%
import pandas as pd

from eoxai import plots
from eoxai.checkpoint import load_checkpoint
from eoxai.explain_tiles import load_tiles
from eoxai.fused import band_statistics, open_fused
from eoxai.reference import reference_checkpoint
from eoxai.notebook import show, write_table
from eoxai.session import start_notebook
from eoxai.xai.explanation_figures import plot_influence, plot_occlusion
from eoxai.xai.maps import tile_keys
from eoxai.xai.modality import band_groups, influence_agreement, modality_occlusion, occlusion_influence

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures"))



# %% [markdown]
# ## Occlude each modality, four ways

# %%
split_tables, tile_tables = [], []
for stack in stacks:
    model, meta = load_checkpoint(reference_checkpoint(R, stack, reference_seed))
    fused = open_fused(R, stack)
    tiles = load_tiles(fused, split, meta["tile_size"], max_tiles=max_tiles, seed=seed)
    band_mean, band_std = band_statistics(fused, tiles.bands)
    print(f"{stack}: occluding modalities on {tiles.scene_summary()} of the {split} split")
    split_t, tile_t = modality_occlusion(
        model.to(dev), tiles.images.to(dev), tiles.masks.to(dev), band_groups(meta["modalities"]),
        class_names=tiles.class_names, replacements=replacements, band_mean=band_mean,
        band_std=band_std, origins=tiles.places, batch_size=batch_size, seed=seed,
        memory_mb=explainer_memory_mb)
    split_tables.append(split_t.assign(stack=stack, tiles=len(tiles)))
    tile_tables.append(tile_t.assign(stack=stack))
    fig = plot_occlusion(tile_t, title=f"{stack}: occluding one modality ({len(tiles)} {split} tiles)")
    show(plots.savefig(fig, R / "figures" / f"modality_{stack}_occlusion.png"))

iou = pd.concat(split_tables)[["stack", "modality", "replacement", "class", "tiles", "iou_clean", "iou_occluded",
                                "iou_drop"]]
per_tile = pd.concat(tile_tables)
per_tile = per_tile[["stack", *[c for c in per_tile.columns if c != "stack"]]]
write_table(iou, R / "tables" / "modality_occlusion_iou.csv")
write_table(per_tile, R / "tables" / "modality_occlusion_tiles.csv")
iou.pivot_table(index=["stack", "class"], columns=["modality", "replacement"], values="iou_drop").round(3)

# %% [markdown]
# ## Which modality matters most?
# Per stack, the mean over classes of the IoU drop, per modality and replacement (a positive
# drop: the model needs that modality).

# %%
ranking = (iou.groupby(["stack", "modality", "replacement"], as_index=False)
           .agg(miou_drop=("iou_drop", "mean")))
emb = (per_tile.drop_duplicates(["stack", *tile_keys(per_tile), "modality", "replacement"])
       .groupby(["stack", "modality", "replacement"], as_index=False)
       .agg(embedding_l2_relative=("embedding_l2_relative", "mean")))
ranking = ranking.merge(emb, on=["stack", "modality", "replacement"])
write_table(ranking, R / "tables" / "modality_occlusion_ranking.csv")
for stack in stacks:
    r = ranking[ranking["stack"] == stack]
    for how in replacements:
        s = r[r["replacement"] == how].sort_values("miou_drop", ascending=False)
        top, low = s.iloc[0], s.iloc[-1]
        print(f"{stack}, {how}: occluding {top['modality']} costs most (mIoU drop {top['miou_drop']:.3f}, "
              f"embedding moves {top['embedding_l2_relative']:.2f} of its norm); {low['modality']} least "
              f"({low['miou_drop']:.3f}).")
    order = r.groupby("modality")["miou_drop"].mean().sort_values(ascending=False)
    print(f"  {stack}: averaged over the replacements the order is {' > '.join(order.index)}.")

# %% [markdown]
# ## Learned influence (influence head) vs occlusion-derived influence
# The influence head outputs, for each occluded modality, a score that is higher when that
# modality mattered *less*, so its influence is `1 - score` (parameter
# `head_score_means_less_influence`). The occlusion-derived influence of a
# modality on a tile is the drop in that tile's mIoU under the training-mean replacement.

# %%
head = pd.read_csv(R / "tables" / "influence_scores.csv")
agreements = []
for stack in stacks:
    occl = occlusion_influence(per_tile[per_tile["stack"] == stack], influence_replacement, influence_measure)
    h = head[(head["stack"] == stack) & (head["seed"] == reference_seed)]
    merged, agg = influence_agreement(occl, h, higher_score_means_less_influence=head_score_means_less_influence)
    agreements.append({"stack": stack, "seed": reference_seed, "occlusion_measure": influence_measure,
                       "occlusion_replacement": influence_replacement, **agg})
    show(plots.savefig(plot_influence(merged, title=f"{stack}: learned vs occlusion-derived influence"),
                       R / "figures" / f"modality_{stack}_influence.png"))
agreement = pd.DataFrame(agreements, columns=["stack", "seed", "occlusion_measure", "occlusion_replacement", "n",
                                              "spearman", "spearman_p", "kendall", "kendall_p",
                                              "top_modality_agreement"])
write_table(agreement, R / "tables" / "modality_influence_agreement.csv")
for rec in agreement.to_dict("records"):
    if not rec["n"] or pd.isna(rec["spearman"]):
        print(f"{rec['stack']}: {int(rec['n'])} tile x modality pairs have both a learned score (seed "
              f"{rec['seed']}) and an occlusion influence: too few to compare.")
        continue
    verdict = ("show no significant rank agreement" if rec["spearman_p"] >= 0.05
               else "agree" if rec["spearman"] > 0 else "rank the modalities in opposite orders")
    print(f"{rec['stack']}: over {int(rec['n'])} tile x modality pairs the learned and the occlusion-derived influence "
          f"{verdict} (Spearman {rec['spearman']:.2f}, p = {rec['spearman_p']:.2g}; Kendall {rec['kendall']:.2f}); "
          f"they name the same most influential modality on {100 * rec['top_modality_agreement']:.0f} % of tiles.")
agreement
