# 07 · SHAP for segmentation (partition SHAP maps, exact band-group SHAP)
# 08 · modality occlusion and influence (Ekim & Schmitt), learned vs occlusion-derived influence
# 08b · evaluating the explanations (faithfulness, sanity, agreement, stability) + per-sample report
#
# The model explained is REFERENCE_MODELS[stack] (Snakefile); 08b also needs the other training
# seeds' models (stability across seeds) and reads the tables of 07 and 08 for its report, and
# notebook 11's known-answer grades (where the profile runs 11) for the scorecard's correctness columns.

XAI_STACKS = list(NB["01_data_fusion"]["stacks"])
KNOWN_ANSWER = "11_known_answer_benchmark" in NB  # 08b joins notebook 11's grades where the profile runs it
TRAINING_SEEDS = list((NB.get("02_training") or {}).get("seeds", [REFERENCE_SEED]))
SEED_MODELS = [f"{R}/models/{stack}/manet_mit-all-seed{seed}.pt" for stack in XAI_STACKS for seed in TRAINING_SEEDS]
XAI_SETS = {"stacks": XAI_STACKS, "reference_seed": REFERENCE_SEED, "training_seeds": TRAINING_SEEDS}


rule shap_segmentation:
    input:
        nb="notebooks/07_shap_segmentation.ipynb",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=XAI_STACKS),
        models=[REFERENCE_MODELS[stack] for stack in XAI_STACKS],
    output:
        nb=f"{R}/notebooks/07_shap_segmentation.ipynb",
        record=f"{R}/provenance/07_shap_segmentation.json",
        tables=expand(f"{R}/tables/shap_{{t}}.csv", t=["partition", "band_groups", "band_groups_summary"]),
        figures=expand(f"{R}/figures/shap_{{stack}}_{{kind}}.png", stack=XAI_STACKS, kind=["partition", "band_groups"]),
    threads: 1
    shell:
        notebook_cmd(**XAI_SETS)


rule modality_influence:
    input:
        nb="notebooks/08_modality_influence.ipynb",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=XAI_STACKS),
        models=[REFERENCE_MODELS[stack] for stack in XAI_STACKS],
        influence=f"{R}/tables/influence_scores.csv",
    output:
        nb=f"{R}/notebooks/08_modality_influence.ipynb",
        record=f"{R}/provenance/08_modality_influence.json",
        tables=expand(f"{R}/tables/modality_{{t}}.csv",
                      t=["occlusion_iou", "occlusion_tiles", "occlusion_ranking", "influence_agreement"]),
        figures=expand(f"{R}/figures/modality_{{stack}}_{{kind}}.png", stack=XAI_STACKS,
                       kind=["occlusion", "influence"]),
    threads: 1
    shell:
        notebook_cmd(**XAI_SETS)


rule explanation_scorecard:
    input:
        nb="notebooks/08b_explanation_scorecard.ipynb",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=XAI_STACKS),
        models=SEED_MODELS,
        shap_tables=rules.shap_segmentation.output.tables,
        modality_tables=rules.modality_influence.output.tables,
        # notebook 11's grades (rule known_answer), where the profile runs it: correctness columns
        known_answer=[f"{R}/tables/known_answer.csv"] if KNOWN_ANSWER else [],
    output:
        nb=f"{R}/notebooks/08b_explanation_scorecard.ipynb",
        record=f"{R}/provenance/08b_explanation_scorecard.json",
        tables=expand(f"{R}/tables/xai_{{t}}.csv", t=["scorecard", "curves", "faithfulness", "sanity", "agreement",
                                                     "stability", "attributions"]),
        facts=f"{R}/tables/report_facts.csv",
        figures=expand(f"{R}/figures/xai_{{k}}.png", k=["scorecard", "deletion_insertion", "agreement"]),
        reports=expand(f"{R}/reports/sample_report_{{stack}}.md", stack=XAI_STACKS),
    threads: 1
    shell:
        notebook_cmd(known_answer=KNOWN_ANSWER, **XAI_SETS)


for _nb, _rule in (("07_shap_segmentation", rules.shap_segmentation), ("08_modality_influence", rules.modality_influence),
                  ("08b_explanation_scorecard", rules.explanation_scorecard)):
    if _nb in NB:  # a notebook without a profile section is not scheduled
        ALL += _rule.output
        RECORDS.append(_rule.output.record)
