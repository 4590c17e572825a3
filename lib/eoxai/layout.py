"""Where each stage writes under a results folder: the one place the layout of ``<results>/`` is spelled.

The Snakemake rules (``workflow/rules/common.smk``) and the lib (:mod:`eoxai.reference`) take every
path from these functions, so a rule's declared input is the file the code reads::

    <results>/interim/<stack>.nc                        fused cube (notebook 01; a single-scene stack)
    <results>/interim/<stack>.collection.json           collection index (notebook 01; a collection of scenes)
    <results>/models/<stack>/<arch>-<inputs>-seed<s>.pt checkpoint (eoxai.checkpoint.checkpoint_path)
    <results>/tables/<name>.csv, figures/<name>.png     results of the notebooks
    <results>/notebooks/<job>.ipynb                     executed notebook of one job
    <results>/provenance/<job>.json                     provenance record of one job (eoxai.provenance)
    <results>/logs/<job>.log, <job>.record.json         the job's stdout/stderr and its record before the
                                                        wall time is known (git-ignored: they measure the run)
    <results>/benchmarks/<job>.tsv                      Snakemake's benchmark of the job (wall time, memory;
                                                        git-ignored)
    <results>/manifest.json                             every output's sha256 and provenance (eoxai.provenance)
    <results>/interim/patch_size/                       the patch-size study's cell cache (notebook 09)
    <results>/models/scene_classifier.pt                the EuroSAT scene classifier (notebook 10)

A *job* is one run of a rule, named after its notebook (``03_evaluation``) and, for a rule split by
wildcards, the wildcard values (``02_training_seed0``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eoxai.checkpoint import checkpoint_path

#: folders of a results folder that measure the run rather than hold results (git-ignored)
RUN_DIRS = ("logs", "benchmarks")


def cube_path(results_dir: str | Path, stack: str) -> Path:
    """``<results>/interim/<stack>.nc``: the fused cube notebook 01 writes for ``stack``."""
    return Path(results_dir) / "interim" / f"{stack}.nc"


def collection_index_path(results_dir: str | Path, stack: str) -> Path:
    """``<results>/interim/<stack>.collection.json``: the index notebook 01 writes for a collection of
    scenes (:func:`eoxai.data.collection.write_index`)."""
    return Path(results_dir) / "interim" / f"{stack}.collection.json"


def fused_path(results_dir: str | Path, stack: str, collection: bool) -> Path:
    """What notebook 01 writes for ``stack``: its collection index if it is a collection of scenes,
    else its fused cube."""
    return collection_index_path(results_dir, stack) if collection else cube_path(results_dir, stack)


def table_path(results_dir: str | Path, name: str) -> Path:
    """``<results>/tables/<name>.csv``."""
    return Path(results_dir) / "tables" / f"{name}.csv"


def figure_path(results_dir: str | Path, name: str) -> Path:
    """``<results>/figures/<name>.png``."""
    return Path(results_dir) / "figures" / f"{name}.png"


def report_path(results_dir: str | Path, name: str) -> Path:
    """``<results>/reports/<name>.md``."""
    return Path(results_dir) / "reports" / f"{name}.md"


def executed_notebook_path(results_dir: str | Path, job: str) -> Path:
    """``<results>/notebooks/<job>.ipynb``: the executed notebook of one job."""
    return Path(results_dir) / "notebooks" / f"{job}.ipynb"


def record_path(results_dir: str | Path, job: str) -> Path:
    """``<results>/provenance/<job>.json``: the job's provenance record (with its wall time)."""
    return Path(results_dir) / "provenance" / f"{job}.json"


def pending_record_path(results_dir: str | Path, job: str) -> Path:
    """``<results>/logs/<job>.record.json``: the record the runner writes inside the job, before
    Snakemake's benchmark of the job (its wall time) exists."""
    return Path(results_dir) / "logs" / f"{job}.record.json"


def log_path(results_dir: str | Path, job: str) -> Path:
    """``<results>/logs/<job>.log``: the job's stdout and stderr."""
    return Path(results_dir) / "logs" / f"{job}.log"


def benchmark_path(results_dir: str | Path, job: str) -> Path:
    """``<results>/benchmarks/<job>.tsv``: Snakemake's benchmark of the job (``s`` = wall time)."""
    return Path(results_dir) / "benchmarks" / f"{job}.tsv"


def manifest_path(results_dir: str | Path) -> Path:
    """``<results>/manifest.json``."""
    return Path(results_dir) / "manifest.json"


def patch_size_cache(results_dir: str | Path) -> Path:
    """``<results>/interim/patch_size``: the cache of the patch-size study's cells (a resumable cache)."""
    return Path(results_dir) / "interim" / "patch_size"


def patch_size_cell_path(results_dir: str | Path, model: str, size: int | str) -> Path:
    """``<results>/interim/patch_size/done-<model>-p<size>.json``: the marker of one finished
    (model, patch size) pair of the study (``size`` may be a Snakemake wildcard)."""
    return patch_size_cache(results_dir) / f"done-{model}-p{size}.json"


def scene_checkpoint_path(results_dir: str | Path) -> Path:
    """``<results>/models/scene_classifier.pt``: the scene classifier notebook 10 trains."""
    return Path(results_dir) / "models" / "scene_classifier.pt"


def training_runs(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[tuple[str, str, str]]:
    """``(stack, arch, inputs)`` of every run of a profile's ``02_training.runs``
    (``{stack: [{arch, inputs: [...], ...}]}``), in the order :func:`eoxai.train.run_specs` trains them."""
    return [(stack, str(entry["arch"]), str(inputs)) for stack, entries in runs.items()
            for entry in entries for inputs in entry["inputs"]]


def training_checkpoints(results_dir: str | Path, runs: Mapping[str, Sequence[Mapping[str, Any]]],
                         seeds: Iterable[int | str]) -> list[Path]:
    """The checkpoints notebook 02 writes for ``runs`` and ``seeds``
    (:func:`eoxai.checkpoint.checkpoint_path` of each run and seed, seed-major).

    A seed may be a Snakemake wildcard (``"{seed}"``): the path then keeps it as a placeholder.
    """
    return [_checkpoint(results_dir, stack, arch, inputs, seed)
            for seed in seeds for stack, arch, inputs in training_runs(runs)]


def _checkpoint(results_dir: str | Path, stack: str, arch: str, inputs: str, seed: int | str) -> Path:
    if isinstance(seed, str) and not seed.isdigit():  # a wildcard such as "{seed}"
        placeholder = checkpoint_path(results_dir, stack, arch, inputs, 0)
        return placeholder.with_name(placeholder.name.replace("-seed0.pt", f"-seed{seed}.pt"))
    return checkpoint_path(results_dir, stack, arch, inputs, int(seed))
