# One entry point. The two README commands:
#   make reproduce   set everything up, then regenerate results/ with the quick profile
#   make test        set everything up, then run the test suite (incl. the smoke DAG)
# Only Python 3.11+ and pip are needed. Override e.g. `make reproduce CORES=4 PROFILE=paper`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision are installed first: PyPI's torchvision does not import beside the CPU
# torch 2.13 wheel; this pair works on CPU and GPU (see README, "Installation notes").
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
CORES ?= 2
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: setup reproduce test smoke paper audit notebooks lab benchmarks clean help

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the project with its pinned ranges

reproduce: setup  ## regenerate every table, figure, executed notebook and the manifest (quick profile)
	$(BIN)/snakemake --cores $(CORES) --config profile=$(PROFILE) --forceall

test: setup  ## run the test suite (unit tests on the shipped real data + the whole smoke DAG)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

smoke: setup  ## the whole DAG on the smoke profile, into results/smoke/
	$(BIN)/snakemake --cores $(CORES) --config profile=smoke --forceall

paper: setup  ## the paper profile (full datasets, GPU), into results/paper/
	$(BIN)/snakemake --cores $(CORES) --config profile=paper

audit: setup  ## reviewer audit: checksums, rerun quick into a scratch folder, compare with results/
	$(BIN)/python -m eoxai.audit --profile quick --cores $(CORES)

notebooks:  ## pair notebooks/*.py (percent format) with their .ipynb twins (outputs stripped)
	$(BIN)/jupytext --sync notebooks/*.py

lab: setup  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

benchmarks: setup  ## print the benchmark figures (fusion step, smoke DAG, ...)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:  ## remove the smoke results and caches (keeps the committed quick results)
	rm -rf results/smoke .snakemake .pytest_cache
