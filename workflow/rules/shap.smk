# 07 · SHAP for segmentation (partition SHAP maps, exact band-group SHAP)
# 08 · modality occlusion and influence (Ekim & Schmitt), learned vs occlusion-derived influence
# 08b · scoring the explanation methods (faithfulness, sanity, agreement, stability) + per-sample
#       report: rule `score_explanations` (not to be confused with rule `model_accuracy`, 03)
#
# The model explained is REFERENCE_MODELS[stack] (common.smk); 08b also needs the other training
# seeds' models (stability across seeds) and reads the tables of 07 and 08 for its report, and
# notebook 11's known-answer grades (where the profile runs 11) for the scorecard's correctness columns.

XAI_STACKS = EXPLAINED_STACKS
KNOWN_ANSWER = scheduled("11_known_answer_benchmark")  # 08b joins notebook 11's grades where the profile runs it
XAI_SETS = {"stacks": XAI_STACKS, "reference_seed": REFERENCE_SEED, "training_seeds": TRAIN_SEEDS}


rule shap_segmentation:
    input:
        nb="notebooks/07_shap_segmentation.ipynb",
        cubes=cubes(XAI_STACKS),
        models=reference_models(XAI_STACKS),
    output:
        **job_outputs("07_shap_segmentation"),
        tables=tables("shap_partition", "shap_band_groups", "shap_band_groups_summary"),
        figures=figures(*(f"shap_{stack}_{kind}" for stack in XAI_STACKS for kind in ("partition", "band_groups"))),
    log:
        job_log("07_shap_segmentation"),
    benchmark:
        job_benchmark("07_shap_segmentation")
    threads: 1
    shell:
        notebook_cmd(**XAI_SETS)


rule modality_influence:
    input:
        nb="notebooks/08_modality_influence.ipynb",
        cubes=cubes(XAI_STACKS),
        models=reference_models(XAI_STACKS),
        influence=tables("influence_scores"),
    output:
        **job_outputs("08_modality_influence"),
        tables=tables(*(f"modality_{t}" for t in ("occlusion_iou", "occlusion_tiles", "occlusion_ranking",
                                                   "influence_agreement"))),
        figures=figures(*(f"modality_{stack}_{kind}" for stack in XAI_STACKS for kind in ("occlusion", "influence"))),
    log:
        job_log("08_modality_influence"),
    benchmark:
        job_benchmark("08_modality_influence")
    # on the longest chain (see rule train)
    priority: 8
    threads: 1
    shell:
        notebook_cmd(**XAI_SETS)


rule score_explanations:
    input:
        nb="notebooks/08b_explanation_scorecard.ipynb",
        cubes=cubes(XAI_STACKS),
        models=reference_models(XAI_STACKS, TRAIN_SEEDS),
        shap_tables=rules.shap_segmentation.output.tables,
        modality_tables=rules.modality_influence.output.tables,
        # notebook 11's grades (rule known_answer), where the profile runs it: correctness columns
        known_answer=tables("known_answer") if KNOWN_ANSWER else [],
    output:
        **job_outputs("08b_explanation_scorecard"),
        tables=tables(*(f"xai_{t}" for t in ("scorecard", "curves", "faithfulness", "sanity", "agreement",
                                              "stability", "attributions"))),
        facts=tables("report_facts"),
        figures=figures("xai_scorecard", "xai_deletion_insertion", "xai_agreement"),
        reports=reports(*(f"sample_report_{stack}" for stack in XAI_STACKS)),
    log:
        job_log("08b_explanation_scorecard"),
    benchmark:
        job_benchmark("08b_explanation_scorecard")
    threads: 1
    shell:
        notebook_cmd(known_answer=KNOWN_ANSWER, **XAI_SETS)
