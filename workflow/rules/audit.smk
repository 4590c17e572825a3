# Reviewer audit: deliberately not a Snakemake rule.
#
#   make audit                                            # = python -m eoxai.audit --profile quick --cores 2
#   python -m eoxai.audit --profile quick --compare-only DIR
#
# The audit reruns this very workflow (`snakemake --forceall --config results_dir=<scratch>`)
# and compares the rerun with the committed results/. As a rule it would have to start Snakemake
# inside Snakemake on the same working directory, and it would take results/manifest.json as an
# input, so a fresh clone (whose file times say nothing) could make Snakemake regenerate the
# committed results before auditing them, the opposite of an audit. See lib/eoxai/audit.py.
