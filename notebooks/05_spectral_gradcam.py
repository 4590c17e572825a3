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
# # 05 · Spectral-Grad-CAM: what does each band and each sensor contribute?
#
# Ebrahimi & Kumar (IEEE JSTARS 2025) keep one band, set every other band to zero, rerun
# Grad-CAM for one hard-coded class, clip the map to [-1, 1] and draw one violin per band. Here,
# with `eoxai.xai.spectral.SpectralGradCAM` on the reference model of each fused stack:
#
# - **groups**: every band, and every modality group (`s1` / `s2`; `s2_t1` / `s2_t2` / `dem`);
# - **perturbations**: *keep-one* (the seed's: only the group keeps its values) and
#   *leave-one-out* (only the group is replaced);
# - **baselines**: *zero* in raw units (the seed's zero, `-mean/std` after our z-scoring) and the
#   *training mean* (0 after z-scoring);
# - **every class**, batched over groups and tiles: a handful of all-class Grad-CAM passes, not
#   one per band, class and image.
#
# A group's **effect** is measured against the right reference: keep-one against the input with
# every band at the baseline (what the group alone brings), leave-one-out against the real input
# (what is lost without it). `cam_effect` is the mean absolute change of the class's Grad-CAM;
# `cam_effect_rel` divides it by the mean |Grad-CAM| of the real input, so classes compare.

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
explainer_memory_mb = None  # MB an explainer's batches may use (None: the device's default)
reference_seed = 0
stacks = ["eolearn", "sen1floods11"]
split = "test"
max_tiles = {"eolearn": 8, "sen1floods11": 6}
batch_size = 64
layer = "segmentation_head.0"
score = "softmax_sum"
modes = ["keep", "drop"]
baselines = ["zero", "mean"]
violin_pixels = 1500

# %%
import pandas as pd
from IPython.display import Image, display

from eoxai import plots
from eoxai.reference import load_reference
from eoxai.runtime import start_notebook
from eoxai.xai import registry, spectral
from eoxai.xai.explanation_figures import plot_effect_heatmap, plot_group_bars, plot_violins

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures"))

# %% [markdown]
# ## Perturb, explain, tabulate
# One `attribute` call per stack, perturbation and baseline returns the Grad-CAM of every class
# for every group and tile (plus the two references) as an xarray Dataset.

# %%
rows, results = [], {}
for stack in stacks:
    ref = load_reference(R, stack, reference_seed, split, max_tiles=max_tiles[stack], device=dev)
    x, valid = ref.images, ref.masks.numpy() >= 0
    groups = spectral.band_groups(ref.bands, ref.modalities)
    for base in baselines:
        values = tuple(spectral.baseline_values(*ref.band_statistics(), base).tolist())
        for mode in modes:
            explainer = registry.get(f"spectral_{'keep' if mode == 'keep' else 'loo'}")(
                ref.model, layer=layer, score=score, batch_size=batch_size, baseline=values,
                memory_mb=explainer_memory_mb, bands=ref.bands, class_names=ref.class_names, modalities=ref.modalities)
            ds = explainer.dataset(x)
            results[stack, base, mode] = ds
            table = spectral.rank_groups(spectral.spectral_table(ds, valid=valid))
            rows.append(table.assign(stack=stack, baseline=base))
    print(f"{stack}: {len(x)} {split} tiles, {len(groups)} groups ({len(ref.bands)} bands + "
          f"{len(ref.modalities)} modalities), {len(ref.class_names)} classes")

bands_table = pd.concat(rows, ignore_index=True)
bands_table = bands_table[["stack", "baseline", *[c for c in bands_table.columns if c not in ("stack", "baseline")]]]
bands_table.to_csv(R / "tables" / "spectral_bands.csv", index=False, float_format="%.6g")
bands_table.query("kind == 'modality'").round(3)

# %% [markdown]
# ## Do the perturbations and baselines agree?
# Spearman rank correlation of the per-band effects (`cam_effect_rel`), per stack and class,
# between keep-one and leave-one-out (same baseline) and between the two baselines (same
# perturbation). Low values mean the band ranking is a property of the probe, not of the model.

# %%
agreement = spectral.setting_agreement(bands_table)
agreement.to_csv(R / "tables" / "spectral_agreement.csv", index=False, float_format="%.4g")
agreement.groupby(["stack", "comparison"])["spearman"].describe()[["mean", "min", "max"]].round(2)

# %% [markdown]
# ## Figures
# Violins (the seed's figure): keep-one with the raw-zero baseline, each band's Grad-CAM of each
# class divided by the peak |Grad-CAM| of the real input and clipped to [-1, 1], as the seed
# clipped. Heatmap: band x class effect for all four settings. Bars: modality groups.

# %%
for stack in stacks:
    seed_setting = (stack, baselines[0], modes[0])
    fig = plot_violins(results[seed_setting], seed=seed, max_pixels=violin_pixels,
                       title=f"{stack}: Spectral-Grad-CAM, {modes[0]} one band, "
                             f"baseline '{baselines[0]}' ({split} split)")
    plots.savefig(fig, R / "figures" / f"spectral_{stack}_violins.png")
    t = bands_table.query("stack == @stack")
    plots.savefig(plot_effect_heatmap(t, kind="band", title=f"{stack}: band effect on each class's Grad-CAM"),
                  R / "figures" / f"spectral_{stack}_heatmap.png")
    plots.savefig(plot_group_bars(t, title=f"{stack}: modality-group effect on each class's Grad-CAM"),
                  R / "figures" / f"spectral_{stack}_modalities.png")
    for kind in ("violins", "heatmap", "modalities"):
        display(Image(filename=str(R / "figures" / f"spectral_{stack}_{kind}.png")))

# %% [markdown]
# ## Findings
# Built from `spectral_bands.csv` and `spectral_agreement.csv`.

# %%
for stack, t in bands_table.groupby("stack", sort=False):
    for (base, mode), s in t.groupby(["baseline", "mode"], sort=False):
        bands = s[s.kind == "band"]
        top = bands.loc[bands.groupby("class")["cam_effect_rel"].idxmax()]
        mods = s[s.kind == "modality"]
        topmod = mods.loc[mods.groupby("class")["cam_effect_rel"].idxmax()]
        print(f"{stack}, {mode}, baseline {base}: top band per class: "
              + "; ".join(f"{r['class']}: {r.group}" for _, r in top.iterrows())
              + ". Top modality: " + "; ".join(f"{r['class']}: {r.group}" for _, r in topmod.iterrows()) + ".")
for (stack, base, mode), ds in results.items():
    if mode == "keep":
        mass = ds["score_baseline"].sum("sample")
        share = mass / mass.sum()
        top = str(share.idxmax("class").values)
        print(f"{stack}: with every band at the '{base}' baseline (the keep-one reference) the model puts "
              f"{float(share.max()):.0%} of its softmax mass on '{top}'; keep-one effects are changes from that input.")
for (stack, comparison), a in agreement.groupby(["stack", "comparison"], sort=False):
    print(f"{stack}: band rankings {comparison}: mean Spearman {a.spearman.mean():.2f} "
          f"(range {a.spearman.min():.2f} to {a.spearman.max():.2f} over classes and settings).")
