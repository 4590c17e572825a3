# 11 · explanations graded against known answers: synthetic labels on the fused cubes' real
# pixels, the compendium's architecture trained on them (nothing saved), every explainer graded.
# Needs only the fused cubes of rule `fusion`; its models are its own (never those of 02).

KNOWN_ANSWER_STACKS = list(NB["11_known_answer_benchmark"]["stacks"])

rule known_answer:
    input:
        nb="notebooks/11_known_answer_benchmark.ipynb",
        cubes=expand(f"{R}/interim/{{stack}}.nc", stack=KNOWN_ANSWER_STACKS),
    output:
        nb=f"{R}/notebooks/11_known_answer_benchmark.ipynb",
        record=f"{R}/provenance/11_known_answer_benchmark.json",
        tables=expand(f"{R}/tables/known_answer{{t}}.csv", t=["", "_rules", "_models", "_grades"]),
        figures=expand(f"{R}/figures/known_answer_{{k}}.png", k=["labels", "grades"]),
    threads: 1
    shell:
        notebook_cmd()


ALL += rules.known_answer.output
RECORDS.append(rules.known_answer.output.record)
