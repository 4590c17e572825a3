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
# # 10 · Scene classification explained with SHAP (EuroSAT)
#
# The SHAP seed explains a scene classifier on AID (30 classes, 256 x 256 RGB) with
# `shap.PartitionExplainer`: Owen values over a hierarchy of image regions, with an `Image`
# masker that hides a region by replacing it with a **blurred** copy (`blur(128,128)`), for the
# **top-4 classes** of each image (Lundberg & Lee 2017; the `shap` package's Partition explainer).
#
# Here the same method runs on the shipped **EuroSAT** subset (Helber et al. 2019: Sentinel-2,
# 64 x 64 px at 10 m, 10 land-use / land-cover classes; 150 / 50 / 100 scenes per class for
# train / validation / test). A timm classifier is trained on the training split (random
# initialisation in the quick profile; pretrained weights and the full 13-band EuroSAT-MS release in
# the paper profile), evaluated on the test split, and explained on fixed, seeded test scenes.
#
# One number per image is added that the seed lacks, the **blur drop**: how much the class
# probability falls when the 10 % pixels with the highest SHAP values are blurred, against 10 %
# random pixels. A map that points at the evidence the model uses gives a larger drop than chance.

# %% tags=["parameters"]
profile = "quick"
seed = 20261123
data_dir = "../data"
results_dir = "../results"
device = "cpu"
threads = 1
explainer_memory_mb = None  # MB an explainer's batches may use (None: the device's default)
dataset = "eurosat_rgb"  # shipped subset; "eurosat_ms" is the full 13-band release (paper)
limit_per_class = None  # keep only the first N scenes per class and split (smoke runs)
arch = "test_resnet"  # any timm model name; timm's tiny ResNet-D (0.37 M parameters)
pretrained = False
epochs = 8
batch_size = 64
lr = 0.005
n_explain = 6  # test scenes explained
top_k = 4
blur = [32, 32]  # masker kernel in px: the seed's blur(128,128) on 256 px, scaled to 64 px
max_evals = 1000  # the seed: 50000
shap_batch_size = 128
drop_fraction = 0.1
n_random = 10

# %%
import time

import pandas as pd
from IPython.display import Image, display

from eoxai import plots, scene
from eoxai.data.eurosat import class_counts, open_eurosat
from eoxai.runtime import start_notebook
from eoxai.xai import registry
from eoxai.xai.explanation_figures import plot_blur_drop, plot_scene_shap
from eoxai.xai.scene_shap import choose_images

dev, R = start_notebook(seed=seed, threads=threads, device=device, results_dir=results_dir,
                        folders=("tables", "figures", "models"))


def show(name: str) -> None:
    display(Image(filename=str(R / "figures" / name)))


# %% [markdown]
# ## Data
# The reader verifies every image against `data/SHA256SUMS` and returns `(C, 64, 64)` images in
# data units (RGB scaled to [0, 1]; multispectral reflectance). The classifier normalises each band
# with statistics of the training split only.

# %%
splits = {s: open_eurosat(dataset, data_dir, s, limit=limit_per_class) for s in ("train", "validation", "test")}
data = {s: ds.stack() for s, ds in splits.items()}
classes = splits["train"].classes
pd.DataFrame({s: class_counts(ds.targets, classes) for s, ds in splits.items()})

# %%
plots.savefig(splits["train"].plot_grid(per_class=4), R / "figures" / "scene_samples.png")
show("scene_samples.png")

# %% [markdown]
# ## Training

# %%
mean, std = scene.band_statistics(data["train"][0])
model = scene.SceneClassifier(arch, classes, splits["train"].bands, mean, std, pretrained=pretrained)
start = time.perf_counter()
history = scene.fit(model, data["train"], data["validation"], epochs=epochs, batch_size=batch_size, lr=lr,
                    seed=seed, device=dev)
train_seconds = time.perf_counter() - start
scene.save_classifier(R / "models" / "scene_classifier.pt", model, dataset=dataset, seed=seed, epochs=epochs)
history.to_csv(R / "tables" / "scene_history.csv", index=False, float_format="%.6g")
plots.savefig(scene.plot_history(history, title=f"{arch} on {dataset}: training history"),
              R / "figures" / "scene_history.png")
print(f"trained {arch} ({'pretrained' if pretrained else 'random init'}) for {epochs} epoch(s) "
      f"on {len(splits['train'])} scenes in {train_seconds:.0f} s")
show("scene_history.png")

# %% [markdown]
# ## Test accuracy and confusion matrix

# %%
metrics, confusion = scene.evaluate(model, *data["test"], classes, device=dev)
summary = pd.DataFrame([{"dataset": dataset, "arch": arch, "pretrained": pretrained, "epochs": epochs,
                         "n_train": len(splits["train"]), "n_validation": len(splits["validation"]),
                         "n_test": metrics["n"], "accuracy": metrics["accuracy"],
                         "balanced_accuracy": metrics["balanced_accuracy"], "macro_f1": metrics["macro_f1"]}])
summary.to_csv(R / "tables" / "scene_metrics.csv", index=False, float_format="%.6g")
confusion.to_dataframe().reset_index().to_csv(R / "tables" / "scene_confusion.csv", index=False)
plots.savefig(scene.plot_confusion(confusion, title=f"{arch} on the {dataset} test split: accuracy "
                                   f"{metrics['accuracy']:.1%}\n(cells: scene counts; colour: share of the true class)"),
              R / "figures" / "scene_confusion.png")
cs = scene.confusion_summary(confusion)
print(f"Test accuracy {metrics['accuracy']:.1%} (macro F1 {metrics['macro_f1']:.3f}) on {metrics['n']} scenes; "
      f"the hardest class is {cs['hardest_class']} (recall {cs['hardest_recall']:.0%}); the most frequent "
      f"confusion is {cs['confused_true']} taken for {cs['confused_predicted']} ({cs['confused_count']} scenes).")
show("scene_confusion.png")

# %% [markdown]
# ## SHAP Partition maps of the top-k classes
# Each map shows, per pixel, how much that pixel's region raises (red) or lowers (blue) the class
# probability when it is revealed instead of blurred. Owen values are efficient: a map sums to
# the class probability minus the probability of the fully blurred scene (`base_value`).

# %%
chosen = choose_images(data["test"][1].numpy(), n_explain, seed)
images = data["test"][0][chosen]
start = time.perf_counter()
explainer = registry.get("scene_shap")(model, top_k=top_k, max_evals=max_evals, blur=tuple(blur),
                                       batch_size=shap_batch_size, fraction=drop_fraction, n_random=n_random,
                                       memory_mb=explainer_memory_mb)
maps, table, predictor = explainer.explain_and_score(images, seed=seed)
shap_seconds = time.perf_counter() - start
test = splits["test"]
table.insert(1, "file", [test.files[chosen[i]] for i in table["image"]])
table.insert(2, "true_class", [classes[test.targets[chosen[i]]] for i in table["image"]])
table.to_csv(R / "tables" / "scene_blur_drop.csv", index=False, float_format="%.6g")
print(f"{len(chosen)} scenes x top-{top_k} classes explained with max_evals={max_evals} in {shap_seconds:.0f} s "
      f"({predictor.n_images} model evaluations, {predictor.n_images / max(predictor.seconds, 1e-9):.0f} images/s "
      "inside the model)")
for i, idx in enumerate(chosen):
    fig = plot_scene_shap(test.rgb(images[i]), maps.isel(image=i), true_class=classes[test.targets[idx]],
                                title=f"{test.files[idx]}: Partition SHAP, blur({blur[0]},{blur[1]}), "
                                      f"max_evals={max_evals}")
    plots.savefig(fig, R / "figures" / f"scene_shap_{i}.png")
    show(f"scene_shap_{i}.png")

# %% [markdown]
# ## Blur drop: are the top SHAP pixels the ones the model needs?
# For the most probable class of each scene (rank 1): probability before, after blurring the top
# 10 % SHAP pixels, and after blurring 10 % random pixels (mean of several draws).

# %%
top1 = table[table["rank"] == 1].copy()
top1["label"] = [f"{f.split('/')[-1].removesuffix('.jpg').removesuffix('.tif')}\n({c})"
                 for f, c in zip(top1["file"], top1["class_name"], strict=True)]
plots.savefig(plot_blur_drop(top1, label="label", title=f"blur drop of the predicted class: top "
                                   f"{drop_fraction:.0%} SHAP pixels vs random pixels"),
              R / "figures" / "scene_blur_drop.png")
wins = int((top1["drop_top"] > top1["drop_random"]).sum())
print(f"Blurring the top {drop_fraction:.0%} SHAP pixels lowers the predicted class's probability by "
      f"{top1['drop_top'].mean():.3f} on average, blurring {drop_fraction:.0%} random pixels by "
      f"{top1['drop_random'].mean():.3f}; the SHAP pixels matter more than random ones in {wins} of {len(top1)} scenes. "
      f"Over all top-{top_k} maps the difference (top - random) is {table['drop_difference'].mean():.3f} on average.")
show("scene_blur_drop.png")
top1[["file", "true_class", "class_name", "probability", "probability_top_blurred",
      "probability_random_blurred", "drop_top", "drop_random"]].round(3)
