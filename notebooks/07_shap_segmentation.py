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
# # 07 · SHAP for segmentation on multiband inputs
#
# The SHAP seed (reasonfieldlab blog) explains scene classifiers on RGB images with
# `shap.PartitionExplainer` and a blur masker, for the top-4 classes. Two things stop it from
# carrying over to fused Earth-observation segmentation: shap's image masker uses OpenCV (a few
# channels at most) and one mask for all channels, and a segmentation model has no single score
# per class. Here:
#
# * **what is explained**: for each class *c*, the mean logit of *c* over the pixels the model
#   predicts as *c* on the unperturbed tile (`eoxai.xai.targets.region_mean`), for the top-k
#   classes by predicted area, as the source paper's top-k;
# * **partition SHAP** (Owen values): features are square blocks of pixels over **all** bands; a
#   hidden block shows a box-blurred copy of the tile, band by band (`BlurMasker`), so it works on
#   15 (Sen1Floods11: S1 + S2) or 27 (eo-learn: two S2 dates + DEM) bands. `max_evals` comes
#   from the profile;
# * **band-group SHAP**: the players are the modalities (S1, S2 / S2 date 1, S2 date 2, DEM);
#   with 2-3 players every coalition is evaluated, so the Shapley values are **exact**, and the
#   same coalition table gives leave-one-out occlusion to compare them with.
#
# Both sets of values are *efficient*: they add up to f(x) - f(baseline), which the tables let a
# reader check. The model explained is each stack's reference model (MAnet-MiT on all
# modalities, the first training seed, notebook 02).

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
split = "test"  # the held-out tiles explained (README: which split each notebook reads)
max_tiles = None  # a collection's test tiles to choose from (seeded, spread over scenes); None: all
n_instances = 3
top_k = 2
grid = 8
blur = 9
max_evals = 600
batch_size = 64

# %%
import pandas as pd
from scipy import stats

from eoxai import plots
from eoxai.checkpoint import load_checkpoint
from eoxai.explain_tiles import load_tiles, pick_tiles
from eoxai.fused import open_fused
from eoxai.reference import reference_checkpoint
from eoxai.notebook import show, write_table
from eoxai.session import start_notebook
from eoxai.xai import registry
from eoxai.xai.explanation_figures import plot_band_groups, plot_shap_maps
from eoxai.xai.maps import tile_keys
from eoxai.xai.shap_seg import band_group_table, partition_table

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures"))



# %% [markdown]
# ## Partition SHAP maps of the top-k classes
# A few fixed held-out tiles per stack (`split`, test by default) (the same seeded choice as the scorecard, notebook 08b):
# tiles with the most labelled classes first. The progress bar counts tiles.

# %%
models, metas, tiles, chosen, partition = {}, {}, {}, {}, {}
for stack in stacks:
    models[stack], metas[stack] = load_checkpoint(reference_checkpoint(R, stack, reference_seed))
    models[stack].to(dev)
    tiles[stack] = load_tiles(open_fused(R, stack), split, metas[stack]["tile_size"], max_tiles=max_tiles, seed=seed)
    chosen[stack] = tiles[stack].subset(pick_tiles(tiles[stack].masks, n_instances, seed))
    print(f"{stack}: explaining {chosen[stack].scene_summary()}, chosen among {tiles[stack].scene_summary()} of the {split} split")
    block = max(1, metas[stack]["tile_size"] // grid)
    # the registry's partition SHAP (as the scorecard, 08b), here of the seed's logit target
    explainer = registry.get("shap")(models[stack], grid=grid, blur=blur, max_evals=max_evals, batch_size=batch_size,
                                     kind="logit", memory_mb=explainer_memory_mb,
                                     class_names=tiles[stack].class_names)
    partition[stack] = explainer.dataset(chosen[stack].images.to(dev), top_k=top_k, seed=seed, progress=True)
    fig = plot_shap_maps(partition[stack], chosen[stack].images, tiles[stack].bands,
                         title=f"{stack}: partition SHAP, blocks of {block} px over all {len(tiles[stack].bands)} "
                               f"bands, max_evals {max_evals}")
    show(plots.savefig(fig, R / "figures" / f"shap_{stack}_partition.png"))

part_table = pd.concat([partition_table(partition[s], chosen[s].places).assign(
    block_px=max(1, metas[s]["tile_size"] // grid), max_evals=max_evals) for s in stacks], keys=stacks,
    names=["stack", None]).reset_index(level=0)
write_table(part_table, R / "tables" / "shap_partition.csv")
part_table

# %% [markdown]
# Efficiency check: `shap_sum` must equal `score - base_value` (Owen values add up to the
# difference between the tile and its blurred copy), and where the model's evidence lies:

# %%
gap = (part_table["shap_sum"] - (part_table["score"] - part_table["base_value"])).abs().max()
print(f"Largest |sum of SHAP - (f(x) - f(blur))| over all explained classes: {gap:.2e}.")
for rec in part_table.groupby(["stack", "class"], as_index=False)["positive_share_in_region"].mean().to_dict("records"):
    print(f"{rec['stack']}: on average {100 * rec['positive_share_in_region']:.0f} % of the positive SHAP "
          f"for '{rec['class']}' lies inside the region predicted as '{rec['class']}'.")

# %% [markdown]
# ## Exact band-group (modality) SHAP on every test tile
# Players: the modalities, in the model's input order; an absent modality takes the training
# mean (0 after z-scoring). Every class with a predicted region is explained.

# %%
exact = {s: registry.get("modality_shap")(models[s], kind="logit", batch_size=batch_size, memory_mb=explainer_memory_mb,
                                         class_names=tiles[s].class_names, modalities=metas[s]["modalities"])
         .dataset(tiles[s].images.to(dev)) for s in stacks}
groups_table = pd.concat([band_group_table(exact[s], tiles[s].places) for s in stacks], keys=stacks,
                         names=["stack", None]).reset_index(level=0)
write_table(groups_table, R / "tables" / "shap_band_groups.csv")
for stack in stacks:
    fig = plot_band_groups(groups_table[groups_table["stack"] == stack],
                           title=f"{stack}: exact Shapley values of the modalities ({len(tiles[stack])} {split} tiles)")
    show(plots.savefig(fig, R / "figures" / f"shap_{stack}_band_groups.png"))

# %% [markdown]
# ## What the tables say

# %%
summary = (groups_table.groupby(["stack", "class", "modality"], as_index=False)
           .agg(tiles=("shap", "size"), mean_shap=("shap", "mean"), mean_leave_one_out=("leave_one_out", "mean")))
write_table(summary, R / "tables" / "shap_band_groups_summary.csv")
for stack in stacks:
    s = groups_table[groups_table["stack"] == stack]
    eff = (s.groupby([*tile_keys(s), "class"]).agg(total=("shap", "sum"), score=("score", "first"),
                                                            base=("base_value", "first")))
    err = float((eff["total"] - (eff["score"] - eff["base"])).abs().max())
    rho = stats.spearmanr(s["shap"], s["leave_one_out"]).statistic
    print(f"{stack}: the exact Shapley values add up to f(x) - f(all modalities at the mean) within {err:.1e}; "
          f"their Spearman correlation with leave-one-out occlusion over {len(s)} tile x class x modality values "
          f"is {rho:.2f}.")
    for cls, grp in summary[summary["stack"] == stack].groupby("class"):
        top = grp.loc[grp["mean_shap"].idxmax()]
        print(f"  '{cls}' ({int(top['tiles'])} tiles): {top['modality']} has the largest mean Shapley value "
              f"({top['mean_shap']:+.3f} logit; leave-one-out {top['mean_leave_one_out']:+.3f}).")
