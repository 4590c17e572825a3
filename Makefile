# One entry point; `make` or `make help` lists the targets. The two README commands:
#   make reproduce   set everything up, then regenerate results/ with the quick profile
#   make test        set everything up, then run the test suite (incl. the smoke DAG) with coverage
# While editing: `make test-fast` (no pipeline or slow tests, under 2 minutes) and `make lint` (ruff + mypy).
# Needs GNU make, Python 3.11+ with its venv module, and network access to the package index.
# Override e.g. `make reproduce CORES=4 PROFILE=paper`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# requirements.lock pins every package (torch and torchvision included, as a pair that imports on
# CPU and GPU); the project itself is then installed from this checkout without resolving again.
LOCK ?= requirements.lock
# only for `make lock`: torch/torchvision first, because PyPI's torchvision does not import beside
# the CPU torch 2.13 wheel (see README, "Installation notes")
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
CORES ?= 2
PROFILE ?= quick
PYTEST_ARGS ?=
# JupyterLab refuses to start as root unless told
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help setup lock reproduce test test-fast lint smoke paper audit notebooks lab benchmarks clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r $(LOCK)
	$(BIN)/python -m pip install --no-deps -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv with the locked environment (requirements.lock) and the project

lock:  ## refresh requirements.lock from pyproject.toml in a scratch venv (then commit it)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --upgrade pip
	.lock-venv/bin/python -m pip install $(TORCH_SPEC)
	.lock-venv/bin/python -m pip install ".[dev]"
	grep '^#' $(LOCK) > $(LOCK).new
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^eoxai' >> $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .lock-venv

reproduce: setup  ## regenerate every table, figure, executed notebook and the manifest (quick profile)
	$(BIN)/snakemake --cores $(CORES) --config profile=$(PROFILE) --forceall

test: setup  ## run the test suite (unit tests on the shipped real data + the whole smoke DAG), print coverage
	$(BIN)/python -m pytest --cov=eoxai --cov-report=term $(PYTEST_ARGS)

test-fast: setup  ## the tests without the pipeline and slow ones (no Snakemake, no long training): under 2 minutes
	$(BIN)/python -m pytest -m "not pipeline and not slow" $(PYTEST_ARGS)

lint: setup  ## ruff (style, imports, docstrings) on lib, then mypy on the eoxai package
	$(BIN)/ruff check lib
	$(BIN)/ruff check --isolated --select F821,F811 notebooks  # undefined or redefined names in the notebooks
	$(BIN)/mypy

smoke: setup  ## the whole DAG on the smoke profile, into results/smoke/
	$(BIN)/snakemake --cores $(CORES) --config profile=smoke --forceall

paper: setup  ## the paper profile (full datasets, GPU), into results/paper/
	$(BIN)/snakemake --cores $(CORES) --config profile=paper

audit: setup  ## reviewer audit: checksums, rerun quick into .audit/quick, compare with results/ (ONLY=<notebook>)
	$(BIN)/python -m eoxai.audit --profile $(PROFILE) --cores $(CORES) $(if $(ONLY),--only $(ONLY),)

notebooks:  ## pair notebooks/*.py (percent format) with their .ipynb twins (outputs stripped)
	$(BIN)/jupytext --sync notebooks/*.py

lab: setup  ## open the notebooks in JupyterLab (adds --allow-root when run as root)
	$(BIN)/jupyter lab notebooks/ $(LAB_ARGS)

benchmarks: setup  ## print the benchmark figures (fusion step, smoke DAG, ...)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:  ## remove the smoke results, the audit's scratch folder and caches (keeps the committed quick results)
	rm -rf results/smoke .audit .snakemake .pytest_cache .mypy_cache .ruff_cache .coverage
