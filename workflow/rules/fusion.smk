# 01 · data fusion: fused cubes (interim), split and class-balance tables, panels and split maps.

# The declared stacks the profile fuses (FUSED_STACKS, common.smk); their declared files (and
# checksum lists) are the inputs.


rule fusion:
    input:
        nb="notebooks/01_data_fusion.ipynb",
        data=stack_files(*FUSED_STACKS),
    output:
        **job_outputs("01_data_fusion"),
        cubes=cubes(FUSED_STACKS),
        tables=tables("fusion_summary", "fusion_class_balance", "fusion_band_statistics"),
        figures=figures(*(f"fusion_{stack}_{kind}" for stack in FUSED_STACKS
                          for kind in ("panel", "split", "class_balance"))),
    log:
        job_log("01_data_fusion"),
    benchmark:
        job_benchmark("01_data_fusion")
    threads: 1
    shell:
        notebook_cmd()
