"""Throughput of partition SHAP on fused segmentation tiles: masked images/s inside the explainer vs raw inference.

    python benchmarks/shap_throughput.py [--stack sen1floods11] [--max-evals 600] [--images 3] \
        [--batch-size 64] [--threads 1] [--grid 8] [--checkpoint results/models/.../manet_mit-all-seed0.pt]

The tiles are the real test tiles of the stack, fused from data/ as notebook 01 does (quick
profile). The model is the given checkpoint, else MAnet-MiT-b0 with random weights of the same
shape (speed does not depend on the weights). Prints:

- raw batched inference (images/s) of the model on the same tiles at the same batch size, measured
  before and after the explainer (the better of the two: the machine may be shared);
- masked images/s inside ``shap.PartitionExplainer`` (model + blur masking + Owen bookkeeping),
  the ratio to raw (goal: at least 0.8) and the share of the explainer's time spent in the model;
- the one-off numba compilation time of shap's first call, and exact band-group SHAP's rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from eoxai.checkpoint import load_checkpoint  # noqa: E402
from eoxai.config import load_profile, stack_declarations  # noqa: E402
from eoxai.explain_tiles import load_tiles, pick_tiles  # noqa: E402
from eoxai.models import build_model  # noqa: E402
from eoxai.runtime import configure_torch, seed_everything  # noqa: E402
from eoxai.stacks import fuse_stack, load_stack  # noqa: E402
from eoxai.xai.modality import band_groups  # noqa: E402
from eoxai.xai.shap_seg import SegmentationScorer, band_group_shap, explain_partition  # noqa: E402


def raw_rate(model: torch.nn.Module, images: torch.Tensor, batch_size: int, n: int) -> float:
    """Images per second of plain batched inference on ``n`` copies of ``images`` (after a warm-up)."""
    batch = images.repeat(n // len(images) + 1, 1, 1, 1)[:n]
    with torch.inference_mode():
        model(batch[:batch_size])
        start = time.perf_counter()
        for i in range(0, n, batch_size):
            model(batch[i:i + batch_size])
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", default="sen1floods11", choices=["sen1floods11", "eolearn"])
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--max-evals", type=int, default=600)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--grid", type=int, default=8, help="blocks per tile side")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    seed_everything(0)
    configure_torch(a.threads)
    cfg = load_profile("quick", ROOT / "config")
    fusion = cfg["notebooks"]["01_data_fusion"]
    decl = stack_declarations(cfg)[a.stack]
    mods, label = load_stack(decl, ROOT / cfg["data_dir"])
    cube = fuse_stack(decl, mods, label, fractions=fusion["split_fractions"], seed=cfg["seed"])
    tiles = load_tiles(cube, "test", decl.tiling.tile_size)
    x = tiles.subset(pick_tiles(tiles.masks, a.images, cfg["seed"])).images
    modalities = {m: int(n) for m, n in zip(*map(list, _counts(cube)), strict=True)}
    if a.checkpoint:
        model, _ = load_checkpoint(a.checkpoint)
        what = a.checkpoint.name
    else:
        model = build_model("manet_mit", modalities, tiles.class_names, "b0").eval()
        what = "MAnet-MiT-b0, random weights"
    block = max(1, opt["tile_size"] // a.grid)

    raw = raw_rate(model, x, a.batch_size, n=max(256, 4 * a.batch_size))
    start = time.perf_counter()
    explain_partition(model, x[:1], top_k=2, block=block, max_evals=2 * a.grid**2 + 1, batch_size=a.batch_size,
                      progress=False)
    jit = time.perf_counter() - start
    scorer = SegmentationScorer(model, batch_size=a.batch_size)
    start = time.perf_counter()
    explain_partition(model, x, top_k=2, block=block, max_evals=a.max_evals, batch_size=a.batch_size, progress=False,
                      scorer=scorer)
    wall = time.perf_counter() - start
    inside = scorer.evaluations / wall
    raw = max(raw, raw_rate(model, x, a.batch_size, n=max(256, 4 * a.batch_size)))  # the better of before/after
    start = time.perf_counter()
    exact = band_group_shap(model, tiles.images, band_groups(modalities), batch_size=a.batch_size)
    exact_wall = time.perf_counter() - start
    n_exact = len(tiles) * int(exact.attrs["evaluations_per_sample"])

    print(f"{a.stack}: {what}, {x.shape[1]} bands, {opt['tile_size']}x{opt['tile_size']} tiles, "
          f"{a.threads} thread(s), batch {a.batch_size}")
    print(f"raw batched inference:              {raw:8.1f} images/s")
    print(f"partition SHAP (max_evals={a.max_evals}, {a.grid}x{a.grid} blocks): {inside:8.1f} masked images/s "
          f"({scorer.evaluations} images for {len(x)} tiles x top-2 in {wall:.1f} s)")
    print(f"ratio explainer / raw:              {inside / raw:8.2f}  (model share of explainer time "
          f"{scorer.seconds / wall:.0%}; goal >= 0.80)")
    print(f"first-call overhead (numba JIT):    {jit:8.1f} s")
    print(f"exact band-group SHAP:              {n_exact / exact_wall:8.1f} coalition images/s "
          f"({len(tiles)} tiles x {exact.attrs['evaluations_per_sample']} coalitions in {exact_wall:.1f} s)")


def _counts(cube) -> tuple[list[str], list[int]]:
    names = list(dict.fromkeys(map(str, cube["modality"].values)))
    return names, [int((cube["modality"].values == n).sum()) for n in names]


if __name__ == "__main__":
    main()
