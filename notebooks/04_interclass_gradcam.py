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
# # 04 · Interclass-Grad-CAM: where does the evidence for each class lie?
#
# Ebrahimi & Kumar (IEEE JSTARS 2025) explain a segmentation model class by class: for each image
# and each class *c* present in its label or prediction they take the Grad-CAM of *c* at the
# logits layer (target: the sum over pixels of the softmax of *c*), count the pixels whose map is
# positive (and negative) inside each **predicted** class region *k*, sum over images and
# normalise each vector by its own maximum. The result says which other classes' regions carry
# evidence for *c*.
#
# Here, on the reference model of each fused stack (MAnet-MiT on all modalities, first training
# seed; notebook 02), and on the held-out split only:
#
# 1. **all-class Grad-CAM in one forward pass** (`eoxai.xai.gradcam.AllClassGradCAM`): one forward
#    pass, recorded only from the explained layer up, and the *K* class gradients from that one graph,
#    equal to captum's `LayerGradCam` run class by class (tested in float64; speed against the seed's
#    per-class loop in `benchmarks/seed_scale.py`);
# 2. the seed's **sign-count** matrix, faithfully, and a **magnitude** matrix: the share of the
#    positive CAM *mass* of *c* that falls in each predicted region *k*;
# 3. both at the seed's logits layer and at a decoder layer.
#
# Interclass-Grad-CAM is most telling with many classes: `eolearn` has five LULC classes,
# `sen1floods11` two (water / not water).

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
max_tiles = 64
batch_size = 16
score = "softmax_sum"
layers = {"logits": "segmentation_head.0", "decoder": "decoder.blocks.3"}

# %%
import pandas as pd
from IPython.display import Image, display

from eoxai import plots
from eoxai.reference import load_reference
from eoxai.runtime import start_notebook
from eoxai.xai import interclass, registry
from eoxai.xai.explanation_figures import plot_heatmaps, plot_seed_bars

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures"))

# %% [markdown]
# ## All-class Grad-CAM of every held-out tile, at two layers
# One `attribute_all` call per batch returns the maps of every class, the explained scores and
# the logits (so the predicted regions come from the same pass).

# %%
results, data = {}, {}
for stack in stacks:
    ref = load_reference(R, stack, reference_seed, split, max_tiles=max_tiles, device=dev)
    y = ref.masks
    data[stack] = {"classes": ref.class_names, "label": y}
    for layer_name, layer in layers.items():
        r = registry.get("gradcam")(ref.model, layer=layer, score=score, batch_size=batch_size,
                                    memory_mb=explainer_memory_mb).attribute_all(ref.images)
        results[stack, layer_name] = r
    print(f"{stack}: {len(y)} {split} tiles of {ref.meta['tile_size']} px, {len(ref.class_names)} classes, "
          f"{int((y >= 0).sum())} labelled pixels")

# %% [markdown]
# With the seed's target the class scores sum to the number of pixels (softmax sums to 1), so the
# Grad-CAMs of all classes **sum to zero at every pixel**: evidence *for* one class is evidence
# *against* the others. With two classes the two maps are mirror images.

# %%
for (stack, layer_name), r in results.items():
    ratio = float(r.cams.sum(1).abs().max() / r.cams.abs().max())
    print(f"{stack}, {layer_name} layer: max |sum over classes of CAM| / max |CAM| = {ratio:.1e}")

# %% [markdown]
# Does the sign of a class's map say more than the prediction itself? The share of labelled
# pixels where `CAM_c > 0` exactly where `c` is predicted (1.0: the sign restates the prediction).

# %%
for (stack, layer_name), r in results.items():
    y = data[stack]["label"]
    agree = interclass.sign_matches_prediction(r.cams.cpu(), r.logits.argmax(1).cpu(), data[stack]["classes"], y >= 0)
    print(f"{stack}, {layer_name} layer: sign of CAM_c matches 'predicted c' on "
          + ", ".join(f"{k} {v:.0%}" for k, v in agree.items()) + " of labelled pixels")

# %% [markdown]
# ## The seed's sign counts and the magnitude shares
# Only labelled pixels of the held-out split are counted (`label >= 0`); regions are the
# model's predictions there.

# %%
tables = {"counts": [], "magnitude": [], "comparison": []}
counts, norm, shares = {}, {}, {}
for (stack, layer_name), r in results.items():
    classes, y = data[stack]["classes"], data[stack]["label"]
    pred, valid = r.logits.argmax(1).cpu(), y >= 0
    counts[stack, layer_name] = interclass.sign_counts(r.cams.cpu(), pred, classes, label=y, valid=valid)
    norm[stack, layer_name] = interclass.seed_normalise(counts[stack, layer_name])
    shares[stack, layer_name] = interclass.magnitude_shares(r.cams.cpu(), pred, classes, valid=valid)
    key = {"stack": stack, "layer": layer_name}
    c = interclass.to_long(counts[stack, layer_name], "sign_counts").merge(
        interclass.to_long(norm[stack, layer_name], "seed_normalised").drop(columns="variant")
        .rename(columns={"positive": "positive_norm", "negative": "negative_norm"}), on=["target", "region"])
    tables["counts"].append(c.assign(**key))
    tables["magnitude"].append(interclass.to_long(shares[stack, layer_name], "magnitude").assign(**key))
    tables["comparison"].append(interclass.compare_variants(counts[stack, layer_name], shares[stack, layer_name]).assign(**key))

for name, parts in tables.items():
    df = pd.concat(parts, ignore_index=True)
    df = df[["stack", "layer", *[c for c in df.columns if c not in ("stack", "layer")]]]
    df.to_csv(R / "tables" / f"interclass_{name}.csv", index=False, float_format="%.6g")
    tables[name] = df
# the K x K matrices (explained class x predicted region) of both variants
interclass.to_matrix(tables["counts"], "net").to_csv(
    R / "tables" / "interclass_matrix_sign_counts.csv", index=False, float_format="%.6g")
interclass.to_matrix(tables["magnitude"], "positive").to_csv(
    R / "tables" / "interclass_matrix_magnitude.csv", index=False, float_format="%.6g")
tables["comparison"].query("layer == 'logits'").round(3).head(12)

# %% [markdown]
# ## Figures: the seed's bar plot, and the matrices side by side

# %%
for stack in stacks:
    fig = plot_seed_bars(
        norm[stack, "logits"], title=f"{stack}: Interclass-Grad-CAM (seed's sign counts, logits layer, {split} split)")
    plots.savefig(fig, R / "figures" / f"interclass_{stack}_bars.png")
    fig = plot_heatmaps({
        "net (seed: pos/max - neg/max)": norm[stack, "logits"]["net"],
        "share of positive pixels": interclass.row_shares(counts[stack, "logits"]["positive"]),
        "share of positive CAM mass": shares[stack, "logits"]["positive"],
        "share of positive CAM mass, decoder layer": shares[stack, "decoder"]["positive"],
    }, title=f"{stack}: evidence for class c (rows) inside predicted region k (columns)")
    plots.savefig(fig, R / "figures" / f"interclass_{stack}_heatmaps.png")
    for kind in ("bars", "heatmaps"):
        display(Image(filename=str(R / "figures" / f"interclass_{stack}_{kind}.png")))

# %% [markdown]
# ## Where the two variants disagree
# Sign counts weigh a pixel with a CAM of 1e-9 like the strongest one; the magnitude shares weigh
# each pixel by its evidence. Sentences below are built from `interclass_comparison.csv`.

# %%
cmp = tables["comparison"]
for (stack, layer_name), t in cmp.groupby(["stack", "layer"], sort=False):
    t = t[t["images"] > 0]
    n_explained = t["target"].nunique()
    differs = sorted(t.loc[t["top_region_differs"], "target"].unique())
    worst = t.loc[t["difference"].abs().idxmax()]
    own = t[t.target == t.region]
    print(f"{stack}, {layer_name} layer: {n_explained} classes explained; the top region differs between "
          f"pixel counts and CAM mass for {len(differs)} of them{': ' + ', '.join(differs) if differs else ''}. "
          f"Largest disagreement: evidence for '{worst.target}' in region '{worst.region}' is "
          f"{worst.count_share:.0%} of positive pixels but {worst.mass_share:.0%} of positive mass. "
          f"On average {own['mass_share'].mean():.0%} of a class's positive mass lies in its own predicted "
          f"region (pixel counts: {own['count_share'].mean():.0%}).")

# %%
lay = cmp.pivot_table(index=["stack", "target", "region"], columns="layer", values="mass_share")
for stack, t in lay.groupby(level="stack"):
    rho = t[list(layers)].corr(method="spearman").iloc[0, 1]
    print(f"{stack}: rank correlation of the magnitude shares between the {' and '.join(layers)} layers: {rho:.2f}")
