"""Wall time of the patch-size grid (notebook 09) on the shipped EnMAP tiles.

    python benchmarks/patch_size_grid.py                   # quick profile, 1 thread
    python benchmarks/patch_size_grid.py --threads 2 --profile smoke

Runs the profile's whole grid (every model x patch size x instance, training, validation
prediction and explanations) into a fresh temporary cache, so nothing is reused, and prints the
time per cell, per model and patch size, and in total. Budget (issue 7): the quick grid within
5 minutes on 2 cores, i.e. about 3 minutes on one thread since the DAG runs two jobs at once.
Use one thread: these small per-pixel models run several times slower with two intra-op threads
on a 2-core machine (thread contention), which is why rule `patch_size` runs with one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = parser.parse_args()

    from eoxai.config import load_profile, notebook_parameters
    from eoxai.hyperspectral.study import StudyConfig, cell_table, load_tile_set, prepare_study, run_grid
    from eoxai.session import configure_torch, seed_everything, select_device

    params = notebook_parameters(load_profile(args.profile, ROOT / "config"), "09_patch_size_hyperopt")
    seed_everything(int(params["seed"]))
    configure_torch(args.threads)
    t0 = time.perf_counter()
    ds = load_tile_set(params["dataset"], args.data_dir, params.get("prisma"), int(params["seed"]))
    config = StudyConfig.from_params(
        patch_sizes=params["patch_sizes"], instances=params["instances"], models=params["models"],
        train=params["train"], ig=params["ig"], train_per_class=params["train_per_class"],
        explain_per_class=params["explain_per_class"], explain_split=params["explain_split"],
        seed=int(params["seed"]))
    data = prepare_study(ds, params["classes"], config, device=select_device(args.device))
    t1 = time.perf_counter()
    c1 = time.process_time()
    with tempfile.TemporaryDirectory() as cache:
        results = run_grid(data, config, cache, progress=False)
    t2 = time.perf_counter()
    cpu = time.process_time() - c1
    cells = cell_table(results, data)
    cells["cell_s"] = cells.train_s + cells.predict_s + cells.explain_s
    print(f"profile {args.profile}, {args.threads} thread(s), device {args.device}; {len(data.train)} training pixels, "
          f"{len(data.validation)} validation pixels, {len(data.explain)} explained pixels, {data.extractor.n_bands} bands")
    print(f"load + prepare: {t1 - t0:.1f} s")
    summary = cells.groupby(["model", "patch_size"])[["train_s", "explain_s", "cell_s", "val_macro_f1"]].mean()
    print(summary.round(3).to_string())
    print(cells.groupby("model")[["train_s", "predict_s", "explain_s", "cell_s"]].sum().round(1).to_string())
    print(f"grid: {len(cells)} cells in {t2 - t1:.1f} s wall ({(t2 - t1) / 60:.2f} min), {cpu:.1f} s CPU "
          f"(wall above CPU means other processes shared the cores); load + grid {t2 - t0:.1f} s wall")


if __name__ == "__main__":
    main()
