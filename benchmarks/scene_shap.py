"""Throughput of SHAP Partition on EuroSAT: masked images/s inside the explainer vs raw inference.

    python benchmarks/scene_shap.py [--arch test_resnet] [--max-evals 1000] [--images 3] [--threads 1]

Prints the model's raw batched inference rate, the rate at which the explainer gets masked images
evaluated (model + masking + Owen bookkeeping), the share of the explainer's time spent in the
model, and the one-off numba compilation time of shap's first call. Random weights: speed does
not depend on them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from eoxai import scene  # noqa: E402
from eoxai.data.eurosat import EuroSAT  # noqa: E402
from eoxai.runtime import configure_torch, seed_everything  # noqa: E402
from eoxai.xai import scene_shap  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="test_resnet")
    ap.add_argument("--max-evals", type=int, default=1000)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    seed_everything(0)
    configure_torch(a.threads)
    root = Path(__file__).resolve().parents[1] / "data"
    ds = EuroSAT(root, "test", limit=1)
    x, _ = ds.stack()
    model = scene.SceneClassifier(a.arch, ds.classes, ds.bands, *scene.band_statistics(x)).eval()

    n_raw = 2048
    batch = x.repeat(n_raw // len(x) + 1, 1, 1, 1)[:n_raw]
    scene.predict_proba(model, batch[:a.batch_size], a.batch_size)  # warm-up
    t = time.perf_counter()
    scene.predict_proba(model, batch, a.batch_size)
    raw = n_raw / (time.perf_counter() - t)

    t = time.perf_counter()
    scene_shap.explain_scenes(model, x[:1], top_k=4, max_evals=40, batch_size=a.batch_size)  # numba JIT
    jit = time.perf_counter() - t
    pred = scene_shap.NHWCPredictor(model, batch_size=a.batch_size)
    t = time.perf_counter()
    scene_shap.explain_scenes(model, x[:a.images], top_k=4, max_evals=a.max_evals, batch_size=a.batch_size,
                            predictor=pred)
    wall = time.perf_counter() - t
    inside = pred.n_images / wall
    print(f"model {a.arch}, {a.threads} thread(s), 64x64 RGB, batch {a.batch_size}")
    print(f"raw batched inference:            {raw:8.0f} images/s")
    print(f"SHAP Partition (max_evals={a.max_evals}): {inside:8.0f} masked images/s "
          f"({pred.n_images} images for {a.images} scenes x top-4 in {wall:.1f} s, "
          f"{wall / a.images:.1f} s per scene)")
    print(f"ratio explainer / raw:            {inside / raw:8.2f}  (model share of explainer time "
          f"{pred.seconds / wall:.0%})")
    print(f"first-call overhead (numba JIT):  {jit:8.1f} s")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
