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
# # 01 · Pixel-level data fusion
#
# Every modality goes onto **one grid**, is stacked band by band, normalised with statistics from
# the **training split only**, and cut into tiles with a **spatially blocked split** that leaves a
# buffer between training and test pixels. Nodata stays a mask; it is never silently zero-filled.
#
# Two fused stacks are built from the shipped real data (provenance and licences: `data/README.md`):
#
# | stack | modalities | labels | seeds' analogue |
# |---|---|---|---|
# | `sen1floods11` | Sentinel-1 VV, VH (dB) + Sentinel-2 L1C, 13 bands | water / not water (hand labelled) | SAR + optical fusion (CLAIRE; Ekim & Schmitt) |
# | `eolearn` | two Sentinel-2 L1C dates (13 bands each) + DEM | LULC, 5 classes | dual-month optical + DEM (Ebrahimi & Kumar) |
#
# No other fusion-ready set ships under `../shared/data/`: the EnMAP tiles are single-sensor
# (notebook 09) and EuroSAT is scene-level RGB (notebook 10).

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
stacks = {
    "sen1floods11": {"chip": "Spain_7370579", "block_size": 128, "buffer": 8, "tile_size": 64},
    "eolearn": {"dates": [0, 4], "block_size": 32, "buffer": 2, "tile_size": 32},
}
split_fractions = [0.6, 0.2, 0.2]

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from eoxai import plots
from eoxai.fusion import fuse, write_cube
from eoxai.split import class_balance
from eoxai.stacks import band_statistics, fusion_summary, load_stack, plot_stack

R = Path(results_dir)
for sub in ("interim", "tables", "figures"):
    (R / sub).mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Read, align, stack, split, normalise
# Readers verify every file's SHA-256 against `data/SHA256SUMS`, check band counts, grids and
# label values, and return xarray objects whose `band` coordinate carries the band names.
# The first modality is the reference grid; the others are checked against it (and snapped, or
# reprojected on request).

# %%
raw, cubes = {}, {}
for name, opt in stacks.items():
    raw[name] = load_stack(name, data_dir, opt)
    cubes[name] = fuse(*raw[name], block_size=opt["block_size"], buffer=opt["buffer"],
                       fractions=split_fractions, seed=seed, name=name)
    write_cube(cubes[name], R / "interim" / f"{name}.nc")

summary = pd.DataFrame([fusion_summary(cubes[n], stacks[n]["tile_size"]) for n in stacks])
balance = pd.concat(
    class_balance(c["label"].values, c["split"].values, list(c["class"].values)).assign(stack=n)
    for n, c in cubes.items()
)[["stack", "split", "class", "pixels", "share"]]
summary.to_csv(R / "tables" / "fusion_summary.csv", index=False)
balance.to_csv(R / "tables" / "fusion_class_balance.csv", index=False)
pd.concat(band_statistics(c) for c in cubes.values()).to_csv(
    R / "tables" / "fusion_band_statistics.csv", index=False, float_format="%.6g")
summary.T

# %% [markdown]
# The smallest distance between a training and a test pixel is `2 * buffer + 1` pixels: the
# buffer works on both sides of every block boundary. Class shares per split:

# %%
balance.pivot_table(index=["stack", "class"], columns="split", values="share").round(3)

# %% [markdown]
# ## Figures: what was fused, how it was split, and the class balance per split

# %%
titles = {"sen1floods11": "Sen1Floods11 Spain_7370579: S2 false colour (B12, B8, B4), S1 VV, water label",
          "eolearn": "eo-learn patch, Slovenia: S2 date 1 true colour, DEM, LULC"}
for name, opt in stacks.items():
    modalities, label = raw[name]
    plots.savefig(plot_stack(name, modalities, label, title=titles[name]),
                  R / "figures" / f"fusion_{name}_panel.png")
    plots.savefig(plots.plot_split_map(cubes[name]["split"].values, resolution_m=plots.resolution_m(label),
                                       title=f"{name}: blocks of {opt['block_size']} px, buffer {opt['buffer']} px"),
                  R / "figures" / f"fusion_{name}_split.png")
    plots.savefig(plots.plot_class_balance(balance[balance["stack"] == name], title=f"{name}: class balance per split"),
                  R / "figures" / f"fusion_{name}_class_balance.png")
    for kind in ("panel", "split", "class_balance"):
        display(Image(filename=str(R / "figures" / f"fusion_{name}_{kind}.png")))
