"""Training and inference throughput of the fusion models: tiles/s, peak memory, FLOP utilisation.

    python benchmarks/train_throughput.py                      # CPU (and CUDA if present), defaults below
    python benchmarks/train_throughput.py --archs manet_mit claire --threads 1
    python benchmarks/train_throughput.py --gpu-size b5 --gpu-tile 256 --gpu-batch 16   # the issue's GPU goal

For each device (CPU; CUDA only where available), architecture, mode (train step = forward +
loss + backward + AdamW step; inference = forward under ``torch.inference_mode``) and precision
(fp32; bf16 autocast + channels_last), it times ``--steps`` batches after ``--warmup`` batches
and reports:

- ``tiles_per_s``: tiles (samples) per second;
- ``peak_mem_mib``: CUDA: ``torch.cuda.max_memory_allocated``; CPU: the process's peak resident
  set (VmHWM, reset before each row where Linux allows it, else the lifetime peak);
- ``gflop_per_tile``: forward FLOPs per tile counted by ``torch.utils.flop_counter`` (a training
  step counts 3x: forward + backward);
- ``achieved_tflops`` and, on known GPUs, ``mfu``: achieved FLOP/s over the GPU's dense bf16
  tensor-core peak (the usual MFU reference, for both precisions).

The goal of issue 4 on a GPU: bf16 + channels_last at least 2x the fp32 throughput for MiT-b5 at
256x256 tiles. Results are printed and written as CSV to ``--out``
(default ``benchmarks/output/train_throughput.csv``). Inputs are random tensors of the fused
stacks' shape (throughput does not depend on the values); the training code path (autocast,
channels_last, loss) is :mod:`eoxai.engine`'s.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
#: dense bf16 tensor-core peak FLOP/s by GPU name (vendor data sheets; SXM where a name is ambiguous)
GPU_PEAK_BF16 = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12,
                 "L4": 121e12, "A10": 125e12, "V100": 125e12}


def gpu_peak(name: str) -> float:
    """Dense bf16 peak of the GPU called ``name`` (NaN if unknown)."""
    for key, peak in GPU_PEAK_BF16.items():
        if key in name:
            return peak
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs``); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident set of this process in MiB (VmHWM on Linux, else ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs of ``model`` on batch ``x`` (``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops())


def bench_row(arch: str, size: str, tile: int, batch: int, mode: str, bf16: bool, device: torch.device,
              steps: int, warmup: int, modalities: dict[str, int], classes: list[str],
              compile_model: bool = False) -> dict[str, object]:
    """Time one (arch, mode, precision) configuration; returns one CSV row."""
    from eoxai.losses import build_loss
    from eoxai.models import build_model
    from eoxai.engine import autocast, to_device

    torch.manual_seed(0)
    model = build_model(arch, modalities, classes, size=size).to(device)
    channels_last = bf16
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    c = sum(modalities.values())
    x = to_device(torch.randn(batch, c, tile, tile), device, channels_last)
    y = torch.randint(0, len(classes), (batch, tile, tile), device=device)
    flops = forward_flops(model.eval(), x[:1]) / 1.0
    run = torch.compile(model) if compile_model else model
    loss_fn = build_loss("ce")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    cuda = device.type == "cuda"

    def step() -> None:
        if mode == "train":
            opt.zero_grad(set_to_none=True)
            with autocast(device, bf16):
                logits = run(x)
            loss_fn(logits.float(), y).backward()
            opt.step()
        else:
            with torch.inference_mode(), autocast(device, bf16):
                run(x)

    model.train(mode == "train")
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    tiles_s = steps * batch / dt
    step_flops = flops * (3 if mode == "train" else 1)
    achieved = step_flops * tiles_s
    name = torch.cuda.get_device_name(device) if cuda else (platform.processor() or platform.machine())
    return {
        "device": device.type, "device_name": name, "threads": torch.get_num_threads() if not cuda else None,
        "arch": arch, "size": size, "tile": tile, "bands": c, "batch": batch, "mode": mode,
        "precision": "bf16+channels_last" if bf16 else "fp32", "compiled": compile_model, "steps": steps,
        "tiles_per_s": tiles_s, "ms_per_batch": 1000 * dt / steps,
        "peak_mem_mib": (torch.cuda.max_memory_allocated(device) / 2**20) if cuda else peak_rss_mib(),
        "peak_mem_kind": "cuda max allocated" if cuda else ("process peak RSS" if reset else "process lifetime peak RSS"),
        "gflop_per_tile": flops / 1e9, "achieved_tflops": achieved / 1e12,
        "mfu": achieved / gpu_peak(name) if cuda else float("nan"),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["manet_mit", "claire", "unet", "unet_influence"])
    ap.add_argument("--modes", nargs="+", default=["train", "inference"])
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (torch intra-op)")
    ap.add_argument("--cpu-size", default="b0")
    ap.add_argument("--cpu-tile", type=int, default=64)
    ap.add_argument("--cpu-batch", type=int, default=8)
    ap.add_argument("--gpu-size", default="b5")
    ap.add_argument("--gpu-tile", type=int, default=256)
    ap.add_argument("--gpu-batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd models on CUDA")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU rows")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "output" / "train_throughput.csv"))
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    # the sen1floods11 stack: S1 (2 bands) + S2 (13 bands), water / not water
    modalities, classes = {"s1": 2, "s2": 13}, ["not_water", "water"]
    devices = [] if a.no_cpu else [(torch.device("cpu"), a.cpu_size, a.cpu_tile, a.cpu_batch, False)]
    if torch.cuda.is_available():
        devices.append((torch.device("cuda"), a.gpu_size, a.gpu_tile, a.gpu_batch, False))
        if a.compile:
            devices.append((torch.device("cuda"), a.gpu_size, a.gpu_tile, a.gpu_batch, True))
    rows = []
    for device, size, tile, batch, comp in devices:
        for arch in a.archs:
            for mode in a.modes:
                for bf16 in (False, True):
                    row = bench_row(arch, size, tile, batch, mode, bf16, device, a.steps, a.warmup, modalities,
                                    classes, comp)
                    rows.append(row)
                    print(f"{row['device']:4s} {arch:15s} {size} {tile:4d}px {mode:9s} {row['precision']:19s} "
                          f"{row['tiles_per_s']:9.1f} tiles/s  {row['peak_mem_mib']:8.0f} MiB  "
                          f"{row['achieved_tflops']:.3f} TFLOP/s  MFU {row['mfu']:.3f}", flush=True)
    df = pd.DataFrame(rows)
    key = ["device", "compiled", "arch", "size", "tile", "mode"]
    speed = df.pivot_table(index=key, columns="precision", values="tiles_per_s")
    if {"fp32", "bf16+channels_last"} <= set(speed.columns):
        speed["bf16_speedup"] = speed["bf16+channels_last"] / speed["fp32"]
        df = df.merge(speed["bf16_speedup"].reset_index(), on=key, how="left")
        print("\nbf16 + channels_last over fp32 (tiles/s ratio):")
        print(speed.round(2).to_string())
    if not torch.cuda.is_available():
        print("\nno CUDA device: GPU rows (and MFU) not measured")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, float_format="%.6g")
    print(f"\nwritten: {out}")
    return df


if __name__ == "__main__":
    main()
