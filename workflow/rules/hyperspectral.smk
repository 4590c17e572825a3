# 09 · hyperspectral patch-size study: a (model x patch size x instance) grid trained and explained
# with IG + NoiseTunnel, summary tables, the selection and the test F1 at the chosen size.
# Per-cell results are cached under <results>/interim/patch_size/ (eoxai.layout.patch_size_cache) (not declared: a resumable cache,
# keyed by a hash of the configuration, so a rerun recomputes only cells whose inputs changed).

HSI = NB["09_patch_size_hyperopt"]
_prisma = HSI.get("prisma") or {}
HSI_DATA = (
    data_files("enmap_potsdam")
    if HSI.get("dataset", "enmap") == "enmap"
    else [f"{DATA}/{_prisma['file']}", *(f"{DATA}/{p}" for p in _prisma.get("labels", []))]
)

# With `split_jobs: true` (the paper profile) every (model, patch size) pair of the grid is its
# own job, so a cluster trains them in parallel; the notebook then reads the cached cells.
HSI_SPLIT = bool(HSI.get("split_jobs", False))
HSI_CACHE = layout.patch_size_cache(R).as_posix()
HSI_CELLS = [layout.patch_size_cell_path(R, m, p).as_posix() for m in HSI["models"] for p in HSI["patch_sizes"]]


rule patch_size_cells:
    input:
        data=HSI_DATA,
    output:
        done=layout.patch_size_cell_path(R, "{model}", "{size}").as_posix(),
    log:
        job_log("09_patch_size_cell_{model}_p{size}"),
    wildcard_constraints:
        model=r"[a-z0-9]+",
        size=r"\d+",
    threads: 1
    shell:
        f"{q(PY)} -m eoxai.hyperspectral.study --profile {q(PROFILE_FILE)} --model {{wildcards.model:q}} "
        f"--size {{wildcards.size:q}} --cache {q(HSI_CACHE)} --done {{output.done:q}} "
        "--threads {threads} > {log:q} 2>&1"


rule patch_size:
    input:
        nb="notebooks/09_patch_size_hyperopt.ipynb",
        data=HSI_DATA,
        cells=HSI_CELLS if HSI_SPLIT else [],
    output:
        **job_outputs("09_patch_size_hyperopt"),
        tables=tables("patch_size", "patch_size_instances", "patch_size_selection", "patch_size_spectrum",
                      "patch_size_class_counts"),
        figures=figures(*(f"patch_size_{f}" for f in ["f1", "explanations", "spectrum"]
                          + (["tiles"] if HSI.get("dataset", "enmap") == "enmap" else []))),
    log:
        job_log("09_patch_size_hyperopt"),
    benchmark:
        job_benchmark("09_patch_size_hyperopt")
    threads: 1
    shell:
        notebook_cmd()

