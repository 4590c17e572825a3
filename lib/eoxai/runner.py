"""Execute one numbered notebook with papermill, parameters from a profile, and record provenance.

Used by every Snakemake rule::

    python -m eoxai.runner notebooks/01_data_fusion.ipynb results/notebooks/01_data_fusion.ipynb \
        --profile config/quick.yaml --rule fusion --record results/provenance/fusion.json \
        --set results_dir=results --inputs data/... --outputs results/...

The notebook's ``parameters`` cell holds defaults; papermill injects the profile's common keys,
the notebook's section (``notebooks.<stem>``) and each ``--set key=value`` (YAML-parsed).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import yaml

from eoxai.config import load_profile, notebook_parameters
from eoxai.errors import EoxaiError
from eoxai.provenance import write_record


def parse_sets(items: list[str]) -> dict[str, object]:
    """``['a=1', 'b=[1, 2]']`` -> ``{'a': 1, 'b': [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EoxaiError(f"--set expects key=value, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def run_notebook(
    notebook: str | Path,
    output: str | Path,
    *,
    profile: str | Path,
    rule: str,
    record: str | Path,
    overrides: dict[str, object] | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    section: str | None = None,
    threads: int | None = None,
) -> dict[str, object]:
    """Execute ``notebook`` into ``output`` and write the provenance ``record``; return parameters."""
    import papermill as pm

    cfg = load_profile(profile)
    notebook, output = Path(notebook), Path(output)
    params = notebook_parameters(cfg, section or notebook.stem, **(overrides or {}))
    if threads:
        params.setdefault("threads", threads)
    # the kernel runs in the notebook's folder: give it absolute paths, record the given ones
    injected = {k: (str(Path(str(v)).resolve()) if k in ("data_dir", "results_dir") else v) for k, v in params.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    env_threads = str(params.get("threads", threads or 1))
    os.environ.setdefault("OMP_NUM_THREADS", env_threads)
    os.environ.setdefault("MKL_NUM_THREADS", env_threads)
    start = time.perf_counter()
    pm.execute_notebook(
        str(notebook), str(output), parameters=injected, kernel_name="python3",
        cwd=str(notebook.parent.resolve()), progress_bar=False, log_output=False,
    )
    wall = time.perf_counter() - start
    write_record(record, rule=rule, notebook=notebook.as_posix(), parameters=params,
                 inputs=[notebook.as_posix(), *(inputs or [])], outputs=[output.as_posix(), *(outputs or [])],
                 wall_time_s=wall)
    print(f"[{rule}] {notebook.name} ran in {wall:.1f} s")
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook")
    ap.add_argument("output")
    ap.add_argument("--profile", required=True, help="profile name or YAML path")
    ap.add_argument("--rule", required=True)
    ap.add_argument("--record", required=True, help="provenance JSON to write")
    ap.add_argument("--section", help="profile section (default: the notebook's stem)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--inputs", nargs="*", default=[])
    ap.add_argument("--outputs", nargs="*", default=[])
    a = ap.parse_args(argv)
    run_notebook(a.notebook, a.output, profile=a.profile, rule=a.rule, record=a.record,
                 overrides=parse_sets(a.sets), inputs=a.inputs, outputs=a.outputs, section=a.section,
                 threads=a.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
