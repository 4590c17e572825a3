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
        **job_outputs("10_scene_shap"),
        model=layout.scene_checkpoint_path(R).as_posix(),
        tables=tables(*(f"scene_{t}" for t in ("metrics", "history", "confusion", "blur_drop"))),
        figures=figures(*(f"scene_{f}" for f in ("samples", "history", "confusion", "blur_drop"))),
        shap=figures(*(f"scene_shap_{i}" for i in range(int(SCENE["n_explain"])))),
    log:
        job_log("10_scene_shap"),
    benchmark:
        job_benchmark("10_scene_shap")
    threads: 1
    shell:
        notebook_cmd()

