# 04 Interclass-Grad-CAM, 05 Spectral-Grad-CAM, 06 occlusion vs Integrated Gradients vs Grad-CAM.
# Each explains the reference model of its stacks (REFERENCE_MODELS, made by rule `train`) on the
# fused cubes of notebook 01. A notebook without a profile section has no stacks and is not a
# final target (common.smk: notebook_jobs).


def _stacks(notebook):
    return list(section(notebook).get("stacks", []))


def _xai_inputs(notebook):
    """Notebook inputs shared by the three rules: the fused cubes and reference checkpoints."""
    stacks = _stacks(notebook)
    return {"cubes": cubes(stacks), "models": [REFERENCE_MODELS[s] for s in stacks]}


rule interclass_gradcam:
    input:
        nb="notebooks/04_interclass_gradcam.ipynb",
        **_xai_inputs("04_interclass_gradcam"),
    output:
        **job_outputs("04_interclass_gradcam"),
        tables=tables(*(f"interclass_{t}" for t in ("counts", "magnitude", "comparison", "matrix_sign_counts",
                                                     "matrix_magnitude"))),
        figures=figures(*(f"interclass_{stack}_{kind}" for stack in _stacks("04_interclass_gradcam")
                          for kind in ("bars", "heatmaps"))),
    log:
        job_log("04_interclass_gradcam"),
    benchmark:
        job_benchmark("04_interclass_gradcam")
    threads: 1
    shell:
        notebook_cmd(reference_seed=REFERENCE_SEED)


rule spectral_gradcam:
    input:
        nb="notebooks/05_spectral_gradcam.ipynb",
        **_xai_inputs("05_spectral_gradcam"),
    output:
        **job_outputs("05_spectral_gradcam"),
        tables=tables("spectral_bands", "spectral_agreement"),
        figures=figures(*(f"spectral_{stack}_{kind}" for stack in _stacks("05_spectral_gradcam")
                          for kind in ("violins", "heatmap", "modalities"))),
    log:
        job_log("05_spectral_gradcam"),
    benchmark:
        job_benchmark("05_spectral_gradcam")
    threads: 1
    shell:
        notebook_cmd(reference_seed=REFERENCE_SEED)


rule occlusion_ig_gradcam:
    input:
        nb="notebooks/06_occlusion_ig_gradcam.ipynb",
        **_xai_inputs("06_occlusion_ig_gradcam"),
    output:
        **job_outputs("06_occlusion_ig_gradcam"),
        tables=tables(*(f"occlusion_ig_gradcam_{t}" for t in ("instances", "agreement", "bands"))),
        figures=figures(*(f"occlusion_ig_gradcam_{stack}" for stack in _stacks("06_occlusion_ig_gradcam"))),
    log:
        job_log("06_occlusion_ig_gradcam"),
    benchmark:
        job_benchmark("06_occlusion_ig_gradcam")
    threads: 1
    shell:
        notebook_cmd(reference_seed=REFERENCE_SEED)
