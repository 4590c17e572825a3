"""Speed at the source papers' scale (issue 17): ratios measured in one run, interleaved repeats, median [range].

Three sections (``--only`` runs one; each takes minutes on one CPU thread):

``gradcam``  all-class Grad-CAM against the source paper's loop (captum ``LayerGradCam`` per image and per
    class, target "sum of softmax c"), at K = 2, 5, 9 classes, at the logits layer and a decoder
    layer, on MAnet MiT-b0 64 x 64 (the quick models) and MiT-b5 256 x 256 with 21 bands (the
    seeds'). Each repeat times the seed loop, ``AllClassGradCAM`` with ``'loop'`` (the CPU rule)
    and with ``'vmap'`` back to back; the speed-up is the median of the per-repeat ratios, with
    their range, against the goal 0.9 x K. The maps' largest difference to the source paper's is printed.
``overhead``  explainer model evaluations per second against raw batched inference of the very
    same batches (recorded inside the explainer, then replayed straight through the model:
    forward for occlusion and SHAP, forward + input gradient for IG), alternating, at 32, 64 and
    256 px, with batches sized by the default memory budget (:mod:`eoxai.xai.budget`). Goal
    >= 0.80 at 32 and 64 px.
``scaling``  IG time against tile pixels from 32 to 256 px at a fixed number of steps: the
    exponent ``log(t256 / t32) / log(p256 / p32)`` (goal <= 1.1), with the budget's batches and,
    for contrast, a fixed ``internal_batch_size=16``.

    python benchmarks/seed_scale.py                     # everything (about 15 minutes on one thread)
    python benchmarks/seed_scale.py --only gradcam --scales b5:256 --repeats 3
    python benchmarks/seed_scale.py --only overhead --tiles 32 64 --out results/scratch/overhead.csv

Models are randomly initialised (speed and equality do not depend on the weights).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from xai_speed import Recorder, seed_gradcam  # noqa: E402

from eoxai.models import build_model  # noqa: E402
from eoxai.xai import attribution  # noqa: E402
from eoxai.xai.budget import batch_size as budget_batch_size  # noqa: E402
from eoxai.xai.gradcam import AllClassGradCAM  # noqa: E402
from eoxai.xai.shap_seg import SegmentationScorer, explain_partition  # noqa: E402
from eoxai.xai.targets import ScalarOutput  # noqa: E402

SOURCE_MODALITIES = {"s1": 2, "s2_t1": 9, "s2_t2": 9, "dem": 1}  # 21 bands, as the source papers' fused stacks
QUICK_MODALITIES = {"s1": 2, "s2": 13}  # sen1floods11: 15 bands


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warm: bool = True,
                device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Wall times of each function over ``repeats`` rounds, run one after the other in every round
    (load on a shared machine hits them alike); one untimed warm-up round first if ``warm``.
    On CUDA the device is synchronised around every timed call."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    if warm:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def ratio_stats(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median, min and max of the per-round ratios ``num / den``."""
    r = [a / b for a, b in zip(num, den, strict=True)]
    return statistics.median(r), min(r), max(r)


def fmt(m: float, lo: float, hi: float) -> str:
    return f"{m:5.2f} [{lo:.2f}-{hi:.2f}]"


def gradcam_section(scales: list[tuple[str, int]], classes: list[int], layers: list[str], batch: int,
                    repeats: int, device: torch.device | str = "cpu") -> list[dict]:
    rows = []
    print(f"\n## All-class Grad-CAM vs the seed loop (batch {batch}; speed-up = seed / ours, median [range] "
          f"of {repeats} interleaved rounds)")
    print("| model | tile | K | layer | seed loop s | ours s | speed-up | vmap s | vmap / ours | goal | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, tile in scales:
        modalities = QUICK_MODALITIES if size == "b0" else SOURCE_MODALITIES
        bands = sum(modalities.values())
        for k in classes:
            torch.manual_seed(0)
            model = build_model("manet_mit", modalities, [f"c{i}" for i in range(k)], size).to(device).eval()
            x = torch.randn(batch, bands, tile, tile, device=device)
            for layer_name in layers:
                layer = dict(model.named_modules())[layer_name]
                ours = AllClassGradCAM(model, layer_name, strategy="loop")
                vmap = AllClassGradCAM(model, layer_name, strategy="vmap")
                ref, got = seed_gradcam(model, layer, x).detach(), ours.attribute(x)  # also the warm-up
                vmap.attribute(x)
                diff = float((got - ref).abs().max() / ref.abs().max())
                t = interleaved({"seed": lambda: seed_gradcam(model, layer, x), "ours": lambda: ours.attribute(x),
                                 "vmap": lambda: vmap.attribute(x)}, repeats, warm=False, device=device)
                speed = ratio_stats(t["seed"], t["ours"])
                lv = ratio_stats(t["vmap"], t["ours"])
                row = {"section": "gradcam", "device": str(device), "model": f"MiT-{size}", "tile": tile, "bands": bands, "classes": k,
                       "layer": layer_name, "images": batch, "seed_s": statistics.median(t["seed"]),
                       "ours_s": statistics.median(t["ours"]), "vmap_s": statistics.median(t["vmap"]),
                       "speedup": speed[0], "speedup_min": speed[1], "speedup_max": speed[2],
                       "vmap_over_loop": lv[0], "goal": 0.9 * k, "max_rel_diff": diff}
                rows.append(row)
                print(f"| MiT-{size} | {tile} | {k} | {layer_name} | {row['seed_s']:.3f} | {row['ours_s']:.3f} | "
                      f"{fmt(*speed)} | {row['vmap_s']:.3f} | {lv[0]:.2f} | {0.9 * k:.1f} | {diff:.1e} |", flush=True)
    return rows


def _quick_model(size: str = "b0", device: torch.device | str = "cpu") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("manet_mit", QUICK_MODALITIES, ["not_water", "water"], size).to(device).eval()


def overhead_section(tiles: list[int], repeats: int, ig_steps: int, shap_evals: int,
                     device: torch.device | str = "cpu", size: str = "b0") -> list[dict]:
    """Evaluations/s inside each explainer over raw batched inference of the same batches."""
    model = _quick_model(size, device)
    rec = Recorder(model).eval()
    rec.in_channels = 15
    forward = ScalarOutput(model)
    bands = [f"b{i}" for i in range(15)]
    rows = []
    print(f"\n## Explainer overhead: evaluations/s inside the explainer / raw batched inference of the same batches "
          f"(median [range] of {repeats} interleaved rounds; goal >= 0.80 at 32 and 64 px)")
    print("| method | tile | evaluations | rows per pass | explainer s | raw s | fraction of raw |")
    print("|---|---|---|---|---|---|---|")
    for tile in tiles:
        x = torch.randn(1, 15, tile, tile, generator=torch.Generator().manual_seed(tile)).to(device)
        win, stride = (15, tile // 4, tile // 4), (15, tile // 8, tile // 8)
        block = tile // 8  # 64 SHAP features at every tile size

        def occ() -> object:
            return attribution.occlusion(rec, x, 1, bands, window=win, strides=stride, perturbations_per_eval=None)

        def ig() -> object:
            return attribution.integrated_gradients(rec, x, 1, bands, n_steps=ig_steps, internal_batch_size=None)

        scorer = SegmentationScorer(rec, batch_size=budget_batch_size(rec, x.shape[1:], cap=64), device=device)

        def shap_() -> object:
            return explain_partition(rec, x, classes=[1], block=block, blur=9, max_evals=shap_evals,
                                     batch_size=64, progress=False, scorer=scorer)

        def replay(batches: list[torch.Tensor], grad: bool) -> Callable[[], object]:
            def run() -> object:
                if not grad:
                    with torch.inference_mode():
                        return [model(b) for b in batches]
                out = []
                for b in batches:
                    inp = b.clone().requires_grad_(True)
                    out.append(torch.autograd.grad(forward(inp)[:, 1].sum(), inp)[0])
                return out
            return run

        for method, fn, grad in (("occlusion", occ, False), ("integrated gradients", ig, True),
                                 ("SHAP partition", shap_, False)):
            fn()  # warm-up: budget probe, shap's first call
            rec.batches = []
            fn()
            batches, rec.batches = rec.batches, None
            if method == "SHAP partition":  # the scorer's own size-1 calls for f(x) and the regions are not masks
                batches = [b for b in batches if len(b) > 1] or batches
            evals = sum(len(b) for b in batches)
            t = interleaved({"explainer": fn, "raw": replay(batches, grad)}, repeats, warm=False, device=device)
            frac = ratio_stats(t["raw"], t["explainer"])
            rows.append({"section": "overhead", "device": str(device), "model": f"MiT-{size}", "method": method, "tile": tile, "evaluations": evals,
                         "rows_per_pass": max(len(b) for b in batches),
                         "explainer_s": statistics.median(t["explainer"]), "raw_s": statistics.median(t["raw"]),
                         "fraction_of_raw": frac[0], "fraction_min": frac[1], "fraction_max": frac[2]})
            print(f"| {method} | {tile} | {evals} | {rows[-1]['rows_per_pass']} | {rows[-1]['explainer_s']:.3f} | "
                  f"{rows[-1]['raw_s']:.3f} | {fmt(*frac)} |", flush=True)
    return rows


def scaling_section(tiles: list[int], repeats: int, ig_steps: int) -> list[dict]:
    """IG wall time against pixels: budget-sized batches and a fixed internal batch of 16."""
    model = _quick_model()
    bands = [f"b{i}" for i in range(15)]
    xs = {t: torch.randn(1, 15, t, t, generator=torch.Generator().manual_seed(t)) for t in tiles}
    fns: dict[str, Callable[[], object]] = {}
    for t in tiles:
        fns[f"budget {t}"] = (lambda t=t: attribution.integrated_gradients(model, xs[t], 1, bands, n_steps=ig_steps,
                                                                           internal_batch_size=None))
        fns[f"fixed16 {t}"] = (lambda t=t: attribution.integrated_gradients(model, xs[t], 1, bands, n_steps=ig_steps,
                                                                            internal_batch_size=16))
    times = interleaved(fns, repeats)
    lo, hi = min(tiles), max(tiles)
    rows = []
    print(f"\n## IG time vs tile pixels ({ig_steps} steps, median of {repeats} interleaved rounds; "
          f"exponent = log(t{hi}/t{lo}) / log(pixels{hi}/pixels{lo}), goal <= 1.1)")
    print("| batches | " + " | ".join(f"{t} px s" for t in tiles) + " | exponent median [range] |")
    print("|---|" + "---|" * len(tiles) + "---|")
    for kind in ("budget", "fixed16"):
        per = [math.log(a / b) / math.log(hi**2 / lo**2)
               for a, b in zip(times[f"{kind} {hi}"], times[f"{kind} {lo}"], strict=True)]
        med = {t: statistics.median(times[f"{kind} {t}"]) for t in tiles}
        rows.append({"section": "scaling", "batches": kind, **{f"seconds_{t}": med[t] for t in tiles},
                     "exponent": statistics.median(per), "exponent_min": min(per), "exponent_max": max(per)})
        print(f"| {kind} | " + " | ".join(f"{med[t]:.3f}" for t in tiles)
              + f" | {fmt(statistics.median(per), min(per), max(per))} |", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["gradcam", "overhead", "scaling"], action="append")
    ap.add_argument("--scales", nargs="+", default=["b0:64", "b5:256"], help="MiT size:tile for Grad-CAM")
    ap.add_argument("--classes", type=int, nargs="+", default=[2, 5, 9])
    ap.add_argument("--layers", nargs="+", default=["segmentation_head.0", "decoder.blocks.3"])
    ap.add_argument("--batch", type=int, default=2, help="images explained by Grad-CAM")
    ap.add_argument("--tiles", type=int, nargs="+", default=[32, 64, 256])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--shap-evals", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="also write the rows as CSV here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    sections = a.only or ["gradcam", "overhead", "scaling"]
    print(f"CPU, {a.threads} thread(s), torch {torch.__version__}; sections {sections}")
    rows: list[dict] = []
    if "gradcam" in sections:
        scales = [(s.split(":")[0], int(s.split(":")[1])) for s in a.scales]
        rows += gradcam_section(scales, a.classes, a.layers, a.batch, a.repeats)
    if "overhead" in sections:
        rows += overhead_section(a.tiles, a.repeats, a.ig_steps, a.shap_evals)
    if "scaling" in sections:
        rows += scaling_section(a.tiles, a.repeats, a.ig_steps)
    if a.out:
        pd.DataFrame(rows).to_csv(a.out, index=False, float_format="%.6g")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
