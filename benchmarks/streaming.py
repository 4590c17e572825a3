"""Streaming throughput and peak memory of a scene collection (issue 18).

    python benchmarks/streaming.py                       # 50 scenes, tiles 64, direct, workers 0 and 2
    python benchmarks/streaming.py --scenes 50 --tile 64 --workers -1 0 2 --epochs 5

Builds a collection of ``--scenes`` scenes the way the tests do (:mod:`eoxai.data.miniature`: the
shipped real Sen1Floods11 chip cropped into 128 px scenes in the dataset's own layout, with its
split files), opens it through the collection path and iterates every training tile with a
DataLoader (``--workers`` processes, batch ``--batch``) two ways:

- ``windows``: each tile read through rasterio windows of the GeoTIFFs (``memory_mb: 0``);
- ``cache``: each scene decoded once into a ``.npy`` cache (written before timing), tiles sliced
  from memory maps of it (``memory_mb: 0``, ``cache_dir``): the paper profile's streamed path;
- ``memory``: the decoded, normalised scenes of the split loaded first, tiles sliced from them.

It prints, for each worker count, tiles/s of each and the streamed/memory ratios (goal >= 0.8), and the peak
memory of each way: the tracemalloc peak of the arrays allocated while iterating in this process
(numpy reports its buffers to tracemalloc) and the process's peak resident set
(``resource.getrusage`` ``ru_maxrss``, whole lifetime: the imports included). Rates are the best
of ``--repeats`` interleaved passes, and the load average is printed: on a shared machine they vary. The tracemalloc peak
of the disk way is also measured on a collection of a fifth of the scenes: it does not grow with
the number of scenes, the memory way's does. Writes ``--out`` (CSV) as well.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from eoxai.config import load_profile, validate_declaration  # noqa: E402
from eoxai.data.collection import open_collection  # noqa: E402
from eoxai.data.miniature import build_miniature  # noqa: E402
from eoxai.data.streaming import SceneTileDataset, tile_loader  # noqa: E402


def collection(root: Path, scenes: int, tile: int):
    """A ``scenes``-scene Sen1Floods11-layout collection under ``root``, opened (split, statistics)."""
    d = {k: v for k, v in load_profile("paper", ROOT / "config")["stacks"]["sen1floods11"].items() if k != "_file"}
    d.update(chip=None, folder="sen1floods11")
    d["collection"] = {k: v for k, v in d["collection"].items() if k != "cache_dir"}
    d["tiling"]["tile_size"] = tile
    build_miniature("sen1floods11", ROOT / "data/sen1floods11_sample", root / "sen1floods11", n_scenes=scenes)
    return open_collection(validate_declaration("sen1floods11", d), root)


def timed_pass(ds: SceneTileDataset, batch: int, workers: int, epochs: int) -> float:
    """Tiles/s over ``epochs`` passes of a shuffled DataLoader with ``workers`` processes; ``workers``
    -1: indexing the dataset directly in a shuffled order (the reading alone, no DataLoader)."""
    n, start = 0, time.perf_counter()
    if workers < 0:
        for epoch in range(epochs):
            for i in np.random.default_rng(epoch).permutation(len(ds)):
                ds[int(i)]
                n += 1
        return n / (time.perf_counter() - start)
    loader = tile_loader(ds, batch, shuffle=True, seed=0, workers=workers)
    for _ in range(epochs):
        for b in loader:
            n += b["image"].shape[0]
    return n / (time.perf_counter() - start)


def traced_peak(ds: SceneTileDataset, batch: int, preload: bool = False) -> int:
    """Peak bytes traced by tracemalloc while (preloading and) reading every tile once in this process
    (a separate pass: tracing slows Python down, so it is never timed)."""
    tracemalloc.start()
    if preload:
        ds.preload()
    for _ in tile_loader(ds, batch, shuffle=True, seed=0, workers=0):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=50)
    ap.add_argument("--tile", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="+", default=[-1, 0, 2],
                    help="DataLoader workers; -1: index the dataset directly (no DataLoader)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per way (the best is kept)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/output/streaming.csv"))
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        small = collection(Path(tmp) / "small", max(2, a.scenes // 5), a.tile)
        col = collection(Path(tmp) / "full", a.scenes, a.tile)
        cache = Path(tmp) / "cache"
        small_peak = traced_peak(SceneTileDataset(small, "train", a.tile, memory_mb=0, cache_dir=cache), a.batch)
        disk_peak = traced_peak(SceneTileDataset(col, "train", a.tile, memory_mb=0, cache_dir=cache), a.batch)
        mem_peak = traced_peak(SceneTileDataset(col, "train", a.tile, memory_mb=1e6), a.batch, preload=True)
        for workers in a.workers:
            windows = SceneTileDataset(col, "train", a.tile, memory_mb=0)
            disk = SceneTileDataset(col, "train", a.tile, memory_mb=0, cache_dir=cache)
            memory = SceneTileDataset(col, "train", a.tile, memory_mb=1e6)
            memory.preload()  # before the workers fork: they inherit the decoded scenes
            rates: dict[str, list[float]] = {"windows": [], "cache": [], "memory": []}
            for _ in range(a.repeats):  # interleaved, best of: a shared machine's load hits all three alike
                for way, ds in (("windows", windows), ("cache", disk), ("memory", memory)):
                    rates[way].append(timed_pass(ds, a.batch, workers, a.epochs))
            windows_rate, disk_rate, mem_rate = (max(rates[w]) for w in ("windows", "cache", "memory"))
            rows.append({"scenes": a.scenes, "train_scenes": len(disk.scenes), "tiles": len(disk), "tile": a.tile,
                         "workers": workers, "windows_tiles_per_s": windows_rate,
                         "cache_tiles_per_s": disk_rate, "memory_tiles_per_s": mem_rate,
                         "ratio_windows": windows_rate / mem_rate, "ratio": disk_rate / mem_rate, "disk_peak_mib": disk_peak / 2**20,
                         "disk_peak_mib_fifth_of_scenes": small_peak / 2**20, "memory_peak_mib": mem_peak / 2**20})
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    df = pd.DataFrame(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False, float_format="%.4g")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for r in rows:
        print(f"workers {r['workers']}: streamed (npy cache, memory maps)/memory throughput ratio {r['ratio']:.2f} "
              f"(goal >= 0.8; rasterio windows {r['ratio_windows']:.2f}); peak "
              f"{r['disk_peak_mib']:.1f} MiB streamed ({r['disk_peak_mib_fifth_of_scenes']:.1f} MiB on a fifth of "
              f"the scenes) vs {r['memory_peak_mib']:.1f} MiB in memory")
    print(f"process peak resident set (ru_maxrss, imports included): {maxrss:.0f} MiB; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
