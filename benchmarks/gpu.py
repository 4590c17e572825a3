"""One-shot GPU benchmark (issue 17): training throughput and MFU, all-class Grad-CAM, explainer overhead.

Writes one CSV (one row per measurement, a ``section`` column) and prints it. On one GPU the
defaults run in a few minutes (budget: under 8):

``train``  MAnet MiT-b5, 21 bands, 256 x 256 tiles, 9 classes, AdamW + cross-entropy: tiles/s in
    fp32 eager, bf16 autocast + channels_last, and the latter under ``torch.compile`` (where it
    compiles; the error is recorded otherwise). Model FLOPs per tile come from
    ``torch.utils.flop_counter.FlopCounterMode`` (forward + backward of one step / batch); model
    FLOPs utilisation (MFU) = FLOPs per step / step time / the device's peak dense bf16 FLOP/s
    (:data:`PEAK_BF16_TFLOPS`, or ``--peak-tflops``; NaN when unknown, e.g. on a CPU).
    Goals: bf16 + channels_last >= 2x fp32 eager; MFU >= 35 %.
``gradcam``  all-class Grad-CAM against the seed loop (``benchmarks/seed_scale.py``'s section, on
    the device) at the logits and a decoder layer.
``overhead``  IG / occlusion / SHAP evaluations/s against raw inference of the same batches
    (``benchmarks/seed_scale.py``'s section, on the device).

    python benchmarks/gpu.py --out results/gpu/gpu_benchmark.csv          # on the GPU machine
    python benchmarks/gpu.py --device cpu --size b0 --tile 32 --batch 2 --steps 2 --classes 3 \\
        --no-compile --repeats 1 --gradcam-scales b0:32 --overhead-tiles 32 --ig-steps 4 --shap-evals 130 \
        --out gpu-smoke.csv                                                  # a CPU smoke run

Models are randomly initialised (throughput does not depend on the weights).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_scale import SOURCE_MODALITIES, gradcam_section, overhead_section  # noqa: E402

from eoxai.models import build_model  # noqa: E402
from eoxai.session import select_device  # noqa: E402

#: peak dense bf16 tensor-core FLOP/s (in TFLOP/s) by a substring of the device name (vendor sheets)
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                    "A10G": 70.0, "A10": 125.0, "V100": 125.0, "RTX 4090": 165.0, "B200": 2250.0}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_tflops(name: str, override: float | None) -> float:
    """The device's peak dense bf16 TFLOP/s: ``override``, else :data:`PEAK_BF16_TFLOPS`, else NaN."""
    if override:
        return float(override)
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_BF16_TFLOPS[key]
    return float("nan")


def step_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Model FLOPs of one training step (forward + backward) on the batch ``x`` (fp32, eager)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        nn.functional.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def train_rows(a: argparse.Namespace, device: torch.device, name: str) -> list[dict]:
    bands = sum(SOURCE_MODALITIES.values())
    torch.manual_seed(0)
    x = torch.randn(a.batch, bands, a.tile, a.tile, device=device)
    y = torch.randint(0, a.classes, (a.batch, a.tile, a.tile), device=device)
    flops = step_flops(build_model("manet_mit", SOURCE_MODALITIES, [f"c{i}" for i in range(a.classes)],
                                   a.size).to(device).train(), x, y)
    peak = peak_tflops(name, a.peak_tflops) * 1e12
    modes = [("fp32 eager", False, False), ("bf16 autocast + channels_last", True, False)]
    if not a.no_compile:
        modes.append(("bf16 autocast + channels_last + torch.compile", True, True))
    rows, base = [], None
    for mode, bf16, compiled in modes:
        torch.manual_seed(0)
        model = build_model("manet_mit", SOURCE_MODALITIES, [f"c{i}" for i in range(a.classes)], a.size).to(device)
        model.train()
        xb = x
        if bf16:
            model = model.to(memory_format=torch.channels_last)
            xb = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        run = torch.compile(model) if compiled else model

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = nn.functional.cross_entropy(run(xb), y)
            loss.backward()
            opt.step()

        row = {"section": "train", "device": name, "mode": mode, "model": f"MAnet MiT-{a.size}", "bands": bands,
               "tile": a.tile, "classes": a.classes, "batch": a.batch, "flops_per_tile": flops / a.batch,
               "peak_bf16_tflops": peak / 1e12}
        try:
            t0 = time.perf_counter()
            for _ in range(a.warmup):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            row["warmup_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            sec = (time.perf_counter() - t0) / a.steps
        except Exception as exc:  # noqa: BLE001 - torch.compile may fail on a platform; record why
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            print(f"{mode:48s} failed: {row['error']}", flush=True)
            rows.append(row)
            continue
        base = base or sec
        row.update({"step_s": sec, "tiles_per_s": a.batch / sec, "speedup_vs_fp32": base / sec,
                    "mfu": flops / sec / peak})
        if device.type == "cuda":
            row["max_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
            torch.cuda.reset_peak_memory_stats(device)
        rows.append(row)
        print(f"{mode:48s} {row['tiles_per_s']:8.2f} tiles/s  x{row['speedup_vs_fp32']:.2f} vs fp32  "
              f"MFU {row['mfu']:.1%}  ({flops / a.batch / 1e9:.1f} GFLOP per tile)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", default="b5")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--classes", type=int, default=9)
    ap.add_argument("--batch", type=int, default=16, help="training batch")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, help="the device's peak dense bf16 TFLOP/s, if not in the table")
    ap.add_argument("--gradcam-scales", nargs="+", default=["b5:256"])
    ap.add_argument("--gradcam-batch", type=int, default=8)
    ap.add_argument("--overhead-tiles", type=int, nargs="+", default=[32, 64, 256])
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--shap-evals", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip", choices=["train", "gradcam", "overhead"], action="append", default=[])
    ap.add_argument("--out", required=True, help="CSV to write")
    a = ap.parse_args(argv)
    device = select_device(a.device)
    name = device_name(device)
    print(f"{name}; torch {torch.__version__}", flush=True)
    rows: list[dict] = []
    if "train" not in a.skip:
        rows += train_rows(a, device, name)
    if "gradcam" not in a.skip:
        scales = [(s.split(":")[0], int(s.split(":")[1])) for s in a.gradcam_scales]
        rows += [{**r, "device": name} for r in gradcam_section(scales, [a.classes], ["segmentation_head.0",
                                                                                     "decoder.blocks.3"],
                                                                a.gradcam_batch, a.repeats, device)]
    if "overhead" not in a.skip:
        rows += [{**r, "device": name} for r in overhead_section(a.overhead_tiles, a.repeats, a.ig_steps,
                                                                 a.shap_evals, device=device)]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.insert(0, "torch", torch.__version__)
    df.to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {len(df)} rows to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
