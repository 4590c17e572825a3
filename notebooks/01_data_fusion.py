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
# Every stack is a **declaration** (`config/stacks/*.yaml`, or your own: README "Bring your own
# data"): files, bands, units, nodata, label legend, reference grid and tiling. This notebook
# fuses whichever declared stacks the profile lists. The quick profile fuses the two stacks
# built from the shipped real data (provenance and licences: `data/README.md`):
#
# | stack | modalities | labels | source papers' analogue |
# |---|---|---|---|
# | `sen1floods11` | Sentinel-1 VV, VH (dB) + Sentinel-2 L1C, 13 bands | water / not water (hand labelled) | SAR + optical fusion (CLAIRE; Ekim & Schmitt) |
# | `eolearn` | two Sentinel-2 L1C dates (13 bands each) + DEM | LULC, 5 classes | dual-month optical + DEM (Ebrahimi & Kumar) |
#
# No other fusion-ready set ships under `data/`: the EnMAP tiles are single-sensor
# (notebook 09) and EuroSAT is scene-level RGB (notebook 10).

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 2
stacks = ["sen1floods11", "eolearn"]
split_fractions = [0.6, 0.2, 0.2]
# {stack: declaration}, injected from the profile; None (run by hand): the named profile's
declarations = None

# %%
from pathlib import Path

import pandas as pd

from eoxai import plots
from eoxai.config import load_profile, stack_declarations
from eoxai.data.collection import write_index
from eoxai.fusion import write_cube
from eoxai.layout import fused_path
from eoxai.notebook import show, write_table
from eoxai.split import class_balance
from eoxai.stacks import (
    as_declaration,
    band_statistics,
    collection_class_balance,
    collection_summary,
    fuse_stack,
    fusion_summary,
    load_stack,
    open_scenes,
    plot_collection_split,
    plot_collection_tiles,
    plot_stack,
)

if declarations is None:
    declarations = stack_declarations(load_profile(profile))  # run by hand: the project's config/
decls = {name: as_declaration(name, declarations[name]) for name in stacks}

R = Path(results_dir)
for sub in ("interim", "tables", "figures"):
    (R / sub).mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Read, align, stack, split, normalise
# The reader a declaration names verifies every file's SHA-256 against the checksum lists,
# checks band counts, CRSs, grids and label values, and returns xarray objects whose `band`
# coordinate carries the band names. The declared reference modality is the grid; the others
# are checked against it (and snapped, or reprojected when the declaration says `reproject: true`).
#
# A declared **collection of scenes** (the paper profile's full datasets: many chips or image
# pairs, `collection:` in the declaration) is not fused into one cube: its scenes are found,
# checked (checksums, bands, grids, labels), split by scene (the dataset's official split where
# it publishes one) and their training statistics computed in one streaming pass; notebook 01
# writes its index (`interim/<stack>.collection.json`) and the later notebooks stream its tiles.

# %%
raw, cubes, collections = {}, {}, {}
for name, decl in decls.items():
    if decl.is_collection:
        collections[name] = open_scenes(decl, data_dir)
        write_index(collections[name], fused_path(R, name, collection=True))
        print(f"{name}: {sum(len(s) for s in collections[name].splits.values())} scenes, "
              f"{collections[name].split_rule}")
        continue
    raw[name] = load_stack(decl, data_dir)
    cubes[name] = fuse_stack(decl, *raw[name], fractions=split_fractions, seed=seed)
    write_cube(cubes[name], fused_path(R, name, collection=False))

summary = pd.DataFrame([fusion_summary(cubes[n], decls[n].tiling.tile_size) if n in cubes
                        else collection_summary(collections[n], decls[n].tiling.tile_size) for n in decls])
balance = pd.concat(
    (class_balance(cubes[n]["label"].values, cubes[n]["split"].values, list(cubes[n]["class"].values)) if n in cubes
     else collection_class_balance(collections[n], decls[n].tiling.tile_size)).assign(stack=n)
    for n in decls
)[["stack", "split", "class", "pixels", "share"]]
summary.to_csv(R / "tables" / "fusion_summary.csv", index=False)
balance.to_csv(R / "tables" / "fusion_class_balance.csv", index=False)
write_table(pd.concat(band_statistics(cubes[n]) if n in cubes else collections[n].band_statistics() for n in decls),
            R / "tables" / "fusion_band_statistics.csv")
summary.T

# %% [markdown]
# The smallest distance between a training and a test pixel is `2 * buffer + 1` pixels: the
# buffer works on both sides of every block boundary. Class shares per split:

# %%
balance.pivot_table(index=["stack", "class"], columns="split", values="share").round(3)

# %% [markdown]
# ## Figures: what was fused, how it was split, and the class balance per split

# %%
for name, decl in decls.items():
    if name in collections:  # a collection: training tiles of a few scenes; scenes and pixels per split
        plots.savefig(plot_collection_tiles(collections[name], decl.tiling.tile_size, seed=seed,
                                            title=decl.panel.title or f"{name}: {decl.description}"),
                      R / "figures" / f"fusion_{name}_panel.png")
        plots.savefig(plot_collection_split(collections[name]), R / "figures" / f"fusion_{name}_split.png")
    else:
        modalities, label = raw[name]
        plots.savefig(plot_stack(decl, modalities, label, title=decl.panel.title or f"{name}: {decl.description}"),
                      R / "figures" / f"fusion_{name}_panel.png")
        tiling = decl.tiling
        plots.savefig(plots.plot_split_map(cubes[name]["split"].values, resolution_m=plots.resolution_m(label),
                                           title=f"{name}: blocks of {tiling.block_size} px, buffer {tiling.buffer} px"),
                      R / "figures" / f"fusion_{name}_split.png")
    plots.savefig(plots.plot_class_balance(balance[balance["stack"] == name], title=f"{name}: class balance per split"),
                  R / "figures" / f"fusion_{name}_class_balance.png")
    for kind in ("panel", "split", "class_balance"):
        show(R / "figures" / f"fusion_{name}_{kind}.png")
