# 01 · data fusion: fused cubes (interim), split and class-balance tables, panels and split maps.

# The declared stacks the profile fuses; their declared files (and checksum lists) are the inputs.
FUSION_STACKS = list(NB["01_data_fusion"]["stacks"])

rule fusion:
    input:
        nb="notebooks/01_data_fusion.ipynb",
        data=stack_files(*FUSION_STACKS),
    output:
        nb=f"{R}/notebooks/01_data_fusion.ipynb",
        record=f"{R}/provenance/01_data_fusion.json",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=FUSION_STACKS),
        tables=expand(f"{R}/tables/fusion_{{t}}.csv", t=["summary", "class_balance", "band_statistics"]),
        figures=expand(f"{R}/figures/fusion_{{stack}}_{{kind}}.png", stack=FUSION_STACKS,
                       kind=["panel", "split", "class_balance"]),
    threads: 1
    shell:
        notebook_cmd()


ALL += rules.fusion.output
RECORDS.append(rules.fusion.output.record)
