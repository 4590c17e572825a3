# 11 · explanations graded against known answers: synthetic labels on the fused cubes' real
# pixels, the compendium's architecture trained on them (nothing saved), every explainer graded.
# Needs only the fused cubes of rule `fusion`; its models are its own (never those of 02).

KNOWN_ANSWER_STACKS = list(NB["11_known_answer_benchmark"]["stacks"])

rule known_answer:
    input:
        nb="notebooks/11_known_answer_benchmark.ipynb",
        cubes=cubes(KNOWN_ANSWER_STACKS),
    output:
        **job_outputs("11_known_answer_benchmark"),
        tables=tables(*(f"known_answer{t}" for t in ("", "_rules", "_models", "_grades"))),
        figures=figures(*(f"known_answer_{k}" for k in ("labels", "grades"))),
    log:
        job_log("11_known_answer_benchmark"),
    benchmark:
        job_benchmark("11_known_answer_benchmark")
    # the longest single job, started as soon as a core frees (see rule train)
    priority: 9
    threads: 1
    shell:
        notebook_cmd()
