"""How fast are the explainers? Grad-CAM all-class vs the source paper's loop; occlusion/IG vs raw inference.

1. **Grad-CAM**: the source paper's way (captum ``LayerGradCam`` once per class and per image, target
   "sum of the softmax of c", as in Ebrahimi & Kumar's scripts) against
   :class:`eoxai.xai.gradcam.AllClassGradCAM` (one forward pass for the batch, one batched
   backward pass for all K classes), for several K, at the logits layer and a decoder layer.
   Prints both times, the speed-up and the largest difference between the maps.
2. **Occlusion and Integrated Gradients**: an explainer's cost is the model evaluations it
   needs. Model evaluations per second inside captum (``perturbations_per_eval`` /
   ``internal_batch_size`` set) against raw batched inference on the same inputs: the batches
   captum fed the model are recorded and replayed straight through it (a forward pass for
   occlusion, forward + input gradient for IG), alternating with captum's runs; and captum's
   default of one evaluation per pass for contrast.

    python benchmarks/xai_speed.py                      # CPU, 1 thread, MiT-b0, 64 x 64 tiles
    python benchmarks/xai_speed.py --device cuda --size b5 --batch 16
    python benchmarks/xai_speed.py --out results/scratch/xai_speed.csv

Models are randomly initialised (speed and equality do not depend on the weights).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import pandas as pd
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion

from eoxai.models import build_model
from eoxai.session import select_device
from eoxai.xai.attribution import occlusion_evaluations
from eoxai.xai.gradcam import AllClassGradCAM
from eoxai.xai.targets import ScalarOutput

MODALITIES = {"s1": 2, "s2": 13}  # the sen1floods11 stack: 15 bands


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, object]:
    """Shortest wall time of ``fn()`` over ``repeats`` runs after one warm-up (robust to other load); and its last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times), out


def seed_gradcam(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The source paper's loop: per image, per class, a captum LayerGradCam on "sum of softmax c"; ``(B, K, H, W)``."""
    k = model.segmentation_head[0].out_channels
    maps = []
    for i in range(x.shape[0]):
        image = x[i:i + 1]
        per_class = []
        for c in range(k):
            forward = (lambda inp, c=c: model(inp).softmax(dim=1)[:, c].sum().unsqueeze(0))
            attr = LayerGradCam(forward, layer).attribute(image)
            per_class.append(LayerAttribution.interpolate(attr, image.shape[2:]))
        maps.append(torch.cat(per_class, dim=1))
    return torch.cat(maps)


def gradcam_rows(args: argparse.Namespace, device: torch.device) -> list[dict]:
    rows = []
    for k in args.classes:
        torch.manual_seed(0)
        model = build_model("manet_mit", MODALITIES, [f"c{i}" for i in range(k)], args.size).to(device).eval()
        x = torch.randn(args.batch, 15, args.tile, args.tile, device=device)
        for layer_name in args.layers:
            layer = dict(model.named_modules())[layer_name]
            t_seed, ref = timed(lambda: seed_gradcam(model, layer, x).detach(), device, args.repeats)
            t_ours, ours = timed(lambda: AllClassGradCAM(model, layer_name).attribute(x), device, args.repeats)
            diff = float((ours - ref.detach()).abs().max())
            rows.append({"benchmark": "gradcam", "device": device.type, "classes": k, "layer": layer_name,
                         "images": args.batch, "seed_s": t_seed, "all_class_s": t_ours, "speedup": t_seed / t_ours,
                         "goal_speedup": 0.9 * k, "max_abs_diff": diff,
                         "max_rel_diff": diff / float(ref.abs().max())})
            print(f"Grad-CAM K={k} {layer_name:20s} seed loop {t_seed:7.3f} s  all-class {t_ours:7.3f} s  "
                  f"speed-up {t_seed / t_ours:5.2f}x (goal {0.9 * k:.1f}x)  max |diff| {diff:.2e}", flush=True)
    return rows


class Recorder(torch.nn.Module):
    """Wraps a forward function and keeps a copy of every batch it is called on (to replay them raw)."""

    def __init__(self, forward: torch.nn.Module) -> None:
        super().__init__()
        self.forward_fn = forward
        self.batches: list[torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batches is not None:
            self.batches.append(x.detach().clone())
        return self.forward_fn(x)


def interleaved(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int) -> dict[str, float]:
    """Shortest time of each function, run alternately (so load on a shared machine hits all alike)."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def throughput_rows(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Model evaluations per second inside captum vs replaying the very same batches through the model."""
    torch.manual_seed(0)
    model = build_model("manet_mit", MODALITIES, ["not_water", "water"], args.size).to(device).eval()
    forward = Recorder(ScalarOutput(model))  # the source paper's forward for occlusion and IG: spatial mean of softmax
    x = torch.randn(1, 15, args.tile, args.tile, device=device)
    window, strides = tuple(args.window), tuple(args.strides)
    occ, ig = Occlusion(forward), IntegratedGradients(forward)

    def run_occ(per_eval: int) -> Callable[[], object]:
        def f() -> object:
            with torch.no_grad():
                return occ.attribute(x, sliding_window_shapes=window, strides=strides, baselines=0.0, target=1,
                                     perturbations_per_eval=per_eval)
        return f

    def run_ig(batch: int, steps: int) -> Callable[[], object]:
        return lambda: ig.attribute(x, baselines=0.0, target=1, n_steps=steps, internal_batch_size=batch)

    def record(fn: Callable[[], object]) -> list[torch.Tensor]:
        forward.batches = []
        fn()
        batches, forward.batches = forward.batches, None
        return batches

    def replay_forward(batches: list[torch.Tensor]) -> Callable[[], object]:
        def f() -> object:
            with torch.no_grad():
                return [forward(b) for b in batches]
        return f

    def replay_gradient(batches: list[torch.Tensor]) -> Callable[[], object]:
        def f() -> object:
            out = []
            for b in batches:
                inp = b.clone().requires_grad_(True)
                out.append(torch.autograd.grad(forward(inp)[:, 1].sum(), inp)[0])
            return out
        return f

    short = min(args.ig_steps, 20)
    cases = [
        ("occlusion", f"perturbations_per_eval={args.per_eval}", run_occ(args.per_eval), replay_forward),
        ("occlusion", "perturbations_per_eval=1", run_occ(1), None),
        ("integrated gradients", f"internal_batch_size={args.ig_batch}", run_ig(args.ig_batch, args.ig_steps),
         replay_gradient),
        ("integrated gradients", f"internal_batch_size=1, {short} steps", run_ig(1, short), None),
    ]
    rows, raw = [], {}
    for method, setting, fn, replay in cases:
        batches = record(fn)
        evals = sum(len(b) for b in batches)
        fns = {"captum": fn}
        if replay is not None:
            fns["raw"] = replay(batches)
        best = interleaved(fns, device, max(1, args.repeats))
        if replay is not None:
            raw[method] = evals / best["raw"]
        rate = evals / best["captum"]
        rows.append({"benchmark": "throughput", "device": device.type, "method": method, "setting": setting,
                     "evaluations": evals, "seconds": best["captum"], "evals_per_s": rate,
                     "raw_evals_per_s": raw[method], "fraction_of_raw": rate / raw[method]})
        print(f"{method:21s} {setting:32s} {evals:4d} model evaluations in {best['captum']:6.2f} s = {rate:7.1f}/s "
              f"= {rate / raw[method]:6.1%} of the same batches replayed raw ({raw[method]:.1f}/s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--size", default="b0", help="MiT encoder size (b0..b5)")
    ap.add_argument("--tile", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4, help="images explained by Grad-CAM")
    ap.add_argument("--classes", type=int, nargs="+", default=[2, 5, 9])
    ap.add_argument("--layers", nargs="+", default=["segmentation_head.0", "decoder.blocks.3"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--window", type=int, nargs=3, default=[3, 15, 15])
    ap.add_argument("--strides", type=int, nargs=3, default=[3, 8, 8])
    ap.add_argument("--per-eval", type=int, default=64, help="occlusion perturbations_per_eval")
    ap.add_argument("--ig-steps", type=int, default=200)
    ap.add_argument("--ig-batch", type=int, default=50, help="IG internal_batch_size")
    ap.add_argument("--skip", choices=["gradcam", "throughput"], action="append", default=[])
    ap.add_argument("--out", help="also write the rows as CSV here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = select_device(a.device)
    print(f"device {device}, {a.threads} CPU thread(s), torch {torch.__version__}, MiT-{a.size}, "
          f"{a.tile} x {a.tile} tiles, 15 bands")
    rows = []
    if "gradcam" not in a.skip:
        rows += gradcam_rows(a, device)
    if "throughput" not in a.skip:
        rows += throughput_rows(a, device)
    if a.out:
        pd.DataFrame(rows).to_csv(a.out, index=False, float_format="%.6g")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
