# 10 · scene-level SHAP on EuroSAT: a timm classifier, its test metrics, Partition SHAP maps of
# the top-k classes of fixed test scenes, and the blur drop of each map.

SCENE = NB["10_scene_shap"]
# Data inputs: the split table, the label map and data/SHA256SUMS, whose sha256 stands for every
# image (the reader verifies each image against it, so an image cannot change unnoticed, and a
# changed SHA256SUMS reruns the rule); listing the 3,000 JPEGs would make a 200 kB command line.
# The full EuroSAT-MS release (paper profile) is declared by its split lists: a missing one
# stays an input, so the dry run names it (and the download command).
if SCENE.get("dataset", "eurosat_rgb") == "eurosat_rgb":
    SCENE_DATA = [f"{DATA}/SHA256SUMS"] + [f"{DATA}/eurosat_rgb_subset/{f}" for f in ("splits.csv", "label_map.json")]
else:
    SCENE_DATA = [f"{DATA}/eurosat_ms/eurosat-{s}.txt" for s in ("train", "val", "test")]

rule scene_shap:
    input:
        nb="notebooks/10_scene_shap.ipynb",
        data=SCENE_DATA,
    output:
        nb=f"{R}/notebooks/10_scene_shap.ipynb",
        record=f"{R}/provenance/10_scene_shap.json",
        model=f"{R}/models/scene_classifier.pt",
        tables=expand(f"{R}/tables/scene_{{t}}.csv", t=["metrics", "history", "confusion", "blur_drop"]),
        figures=expand(f"{R}/figures/scene_{{f}}.png", f=["samples", "history", "confusion", "blur_drop"]),
        shap=expand(f"{R}/figures/scene_shap_{{i}}.png", i=range(int(SCENE["n_explain"]))),
    threads: 1
    shell:
        notebook_cmd()


ALL += rules.scene_shap.output
RECORDS.append(rules.scene_shap.output.record)
