# The run's bookkeeping: each job's provenance record completed with its wall time, and the
# manifest that merges the records. The manifest's inputs are gathered from the declared rules when
# the DAG is built (common.smk: job_records), so this file may be included before or after the
# notebooks' rule files.


localrules:
    manifest,
    provenance_record,


rule provenance_record:
    input:
        pending=layout.pending_record_path(R, "{job}").as_posix(),
        benchmark=job_benchmark("{job}"),
    output:
        job_record("{job}"),
    log:
        job_log("{job}.provenance"),
    wildcard_constraints:
        job=r"[A-Za-z0-9_]+",
    shell:
        f"{q(PY)} -m eoxai.provenance --complete {{input.pending:q}} {{input.benchmark:q}} --out {{output:q}} "
        "> {log:q} 2>&1"


rule manifest:
    input:
        lambda wildcards: job_records(),
    output:
        layout.manifest_path(R).as_posix(),
    log:
        job_log("manifest"),
    shell:
        f"{q(PY)} -m eoxai.provenance --out {{output:q}} --results-dir {q(R)} --profile {q(PROFILE)} "
        f"--seed {q(CFG['seed'])} {{input:q}} > {{log:q}} 2>&1"
