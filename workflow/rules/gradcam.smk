# 04 Interclass-Grad-CAM, 05 Spectral-Grad-CAM, 06 occlusion vs Integrated Gradients vs Grad-CAM.
# Each explains the reference model of its stacks (REFERENCE_MODELS, made by rule `train`) on the
# fused cubes of notebook 01.


def _xai_inputs(section):
    """Notebook inputs shared by the three rules: the fused cubes and reference checkpoints."""
    stacks = list((NB.get(section) or {}).get("stacks", []))
    return {
        "cubes": [f"{R}/interim/{s}.nc" for s in stacks],
        "models": [REFERENCE_MODELS[s] for s in stacks],
    }


# a notebook without a profile section has no stacks and is not scheduled (see the loop below)
IC_STACKS = list((NB.get("04_interclass_gradcam") or {}).get("stacks", []))
SP_STACKS = list((NB.get("05_spectral_gradcam") or {}).get("stacks", []))
OIG_STACKS = list((NB.get("06_occlusion_ig_gradcam") or {}).get("stacks", []))


rule interclass_gradcam:
    input:
        nb="notebooks/04_interclass_gradcam.ipynb",
        **_xai_inputs("04_interclass_gradcam"),
    output:
        nb=f"{R}/notebooks/04_interclass_gradcam.ipynb",
        record=f"{R}/provenance/04_interclass_gradcam.json",
        tables=expand(f"{R}/tables/interclass_{{t}}.csv", t=["counts", "magnitude", "comparison", "matrix_sign_counts",
                                                                   "matrix_magnitude"]),
        figures=expand(f"{R}/figures/interclass_{{stack}}_{{kind}}.png", stack=IC_STACKS, kind=["bars", "heatmaps"]),
    threads: 1
    shell:
        notebook_cmd(reference_seed=REFERENCE_SEED)


rule spectral_gradcam:
    input:
        nb="notebooks/05_spectral_gradcam.ipynb",
        **_xai_inputs("05_spectral_gradcam"),
    output:
        nb=f"{R}/notebooks/05_spectral_gradcam.ipynb",
        record=f"{R}/provenance/05_spectral_gradcam.json",
        tables=expand(f"{R}/tables/spectral_{{t}}.csv", t=["bands", "agreement"]),
        figures=expand(f"{R}/figures/spectral_{{stack}}_{{kind}}.png", stack=SP_STACKS,
                       kind=["violins", "heatmap", "modalities"]),
    threads: 1
    shell:
        notebook_cmd(reference_seed=REFERENCE_SEED)


rule occlusion_ig_gradcam:
    input:
        nb="notebooks/06_occlusion_ig_gradcam.ipynb",
        **_xai_inputs("06_occlusion_ig_gradcam"),
    output:
        nb=f"{R}/notebooks/06_occlusion_ig_gradcam.ipynb",
        record=f"{R}/provenance/06_occlusion_ig_gradcam.json",
        tables=expand(f"{R}/tables/occlusion_ig_gradcam_{{t}}.csv", t=["instances", "agreement", "bands"]),
        figures=expand(f"{R}/figures/occlusion_ig_gradcam_{{stack}}.png", stack=OIG_STACKS),
    threads: 1
    shell:
        notebook_cmd(reference_seed=REFERENCE_SEED)


for _nb, _rule in (("04_interclass_gradcam", rules.interclass_gradcam), ("05_spectral_gradcam", rules.spectral_gradcam),
                  ("06_occlusion_ig_gradcam", rules.occlusion_ig_gradcam)):
    if _nb not in NB:
        continue
    ALL += _rule.output
    RECORDS.append(_rule.output.record)
