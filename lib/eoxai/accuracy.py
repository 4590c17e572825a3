"""Test-split evaluation of trained runs, the ablation table and its figures (notebook 03).

The segmentation models are scored on the test split only here (the explanation notebooks
04-08b explain test tiles; the README's split table says which split each notebook reads).
:func:`evaluate_runs` reloads every checkpoint (checking that it was trained with the expected
config), predicts the test tiles and keeps per-tile confusion matrices, from which every score
is derived (:mod:`eoxai.metrics`):

- ``runs``: one row per run (stack, arch, inputs, seed) with mIoU, macro F1, OA, kappa;
- ``per_class``: per-class IoU/F1 per run; ``tiles``: per-tile scores per run;
- ``confusion``: summed matrices per (stack, arch, inputs) over seeds;
- ``influence``: learned influence scores of ``unet_influence`` runs per test tile and modality.

:func:`ablation_table` gives mean and t interval over seeds per (stack, arch, inputs) plus the
fused-vs-optical paired test; :func:`comparisons` lists every paired comparison at two units,
seeds (run mIoU) and test tiles (seed-averaged tile mIoU).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from eoxai import plots
from eoxai.checkpoint import checkpoint_path, load_checkpoint
from eoxai.errors import EoxaiError, InputError
from eoxai.fused import (
    Fused,
    SplitTiles,
    band_table,
    candidate_tiles,
    split_tiles,
    tile_origin,
    tile_place,
    tile_scene,
)
from eoxai.metrics import confusion_table, per_class_table, summary_row, tile_confusion
from eoxai.stats import mean_ci, paired_test
from eoxai.tiles import TileDataset
from eoxai.train import RunSpec, expected_meta, influence_table, predict_tiles
from eoxai.xai.maps import tile_columns, tile_keys

RUN_KEYS = ["stack", "arch", "inputs"]
#: the comparisons of the ablation: (label, system a, system b), each system (arch, inputs)
COMPARISONS: tuple[tuple[str, tuple[str, str], tuple[str, str]], ...] = (
    ("fused vs optical", ("manet_mit", "all"), ("manet_mit", "optical")),
    ("fused vs SAR", ("manet_mit", "all"), ("manet_mit", "sar")),
    ("fused vs optical + DEM", ("manet_mit", "all"), ("manet_mit", "optical_dem")),
    ("CLAIRE vs MAnet-MiT (all inputs)", ("claire", "all"), ("manet_mit", "all")),
    ("influence UNet vs plain UNet", ("unet_influence", "all"), ("unet", "all")),
)


@dataclass
class Evaluation:
    """Tables and arrays of :func:`evaluate_runs` (see the module docstring)."""

    runs: pd.DataFrame
    per_class: pd.DataFrame
    tiles: pd.DataFrame
    confusion: dict[tuple[str, str, str], np.ndarray]
    influence: pd.DataFrame
    cost: pd.DataFrame
    predictions: dict[tuple[str, str, str, int], dict[str, np.ndarray]] = field(default_factory=dict)
    class_names: dict[str, list[str]] = field(default_factory=dict)


def evaluate_runs(cubes: Mapping[str, Fused], specs: Sequence[RunSpec], results_dir: str | Path,
                  device: str = "cpu", batch_size: int = 16) -> Evaluation:
    """Evaluate the checkpoint of every ``spec`` on its stack's test split (a cube's test blocks, a
    collection's test scenes: :func:`eoxai.fused.split_tiles`); see :class:`Evaluation`. The tile
    table of a collection also names each tile's ``scene``."""
    runs, per_class, tiles, influence, cost = [], [], [], [], []
    confusion: dict[tuple[str, str, str], np.ndarray] = {}
    predictions: dict[tuple[str, str, str, int], dict[str, np.ndarray]] = {}
    class_names: dict[str, list[str]] = {}
    for spec in specs:
        path = checkpoint_path(results_dir, spec.stack, spec.arch, spec.inputs, spec.seed)
        model, meta = load_checkpoint(path, expected=expected_meta(spec))
        test = split_tiles(cubes[spec.stack], "test", meta["tile_size"], modalities=list(meta["modalities"]))
        k = len(test.class_names)
        class_names[spec.stack] = test.class_names
        out = predict_tiles(model, test, batch_size=batch_size, device=device)
        cms = tile_confusion(_t(out["pred"]), _t(out["mask"]), k)
        cm = cms.sum(axis=0)
        key = {"stack": spec.stack, "arch": spec.arch, "inputs": spec.inputs, "seed": spec.seed}
        runs.append({**key, "epochs": spec.config.epochs, "best_epoch": meta.get("best_epoch"),
                     "test_tiles": len(test), **summary_row(cm)})
        per_class.append(per_class_table(cm, test.class_names).assign(**key))
        for i, tcm in enumerate(cms):  # predict_tiles keeps the dataset's tile order
            tiles.append({**key, **tile_columns(tile_place(test, i)), **summary_row(tcm)})
        group = (spec.stack, spec.arch, spec.inputs)
        confusion[group] = confusion.get(group, 0) + cm
        predictions[(*group, spec.seed)] = out
        if getattr(model, "use_influence", False):
            influence.append(influence_table(model, test, batch_size, device).assign(
                stack=spec.stack, arch=spec.arch, inputs=spec.inputs, seed=spec.seed, split="test"))
        timing = meta.get("timing", {})
        cost.append({**key, "train_tiles": meta.get("train_tiles"), "epochs_run": meta.get("epochs_run"),
                     "epochs_max": spec.config.epochs, "best_epoch": meta.get("best_epoch"),
                     "stopped_early": bool(meta.get("stopped_early")),
                     **{k_: timing.get(k_) for k_ in ("wall_s", "train_tiles_per_s", "device")}})
    infl_cols = ["stack", "seed", "tile_row", "tile_col", "modality", "score", "sensor", "arch", "inputs", "split"]
    if any("scene" in t.columns for t in influence):  # a collection's tiles: the scene names the tile too
        infl_cols.insert(2, "scene")
    return Evaluation(
        runs=pd.DataFrame(runs),
        per_class=pd.concat(per_class, ignore_index=True)[[*RUN_KEYS, "seed", "class", "iou", "f1", "support"]],
        tiles=pd.DataFrame(tiles),
        confusion=confusion,
        influence=(pd.concat(influence, ignore_index=True)[infl_cols] if influence else pd.DataFrame(columns=infl_cols)),
        cost=pd.DataFrame(cost),
        predictions=predictions,
        class_names=class_names,
    )


#: solver settings of the per-pixel logistic regression: float64, standardised features and a tight
#: gradient tolerance make L-BFGS converge to the unique optimum of the L2-regularised (strictly
#: convex) problem, so another BLAS kernel or CPU moves the coefficients by far less than any test
#: pixel's decision margin; one BLAS thread fixes the summation order on this machine
PIXEL_LOGREG = {"C": 1.0, "tol": 1e-10, "max_iter": 10_000}


def pixel_baseline(cube: Fused, modalities: Sequence[str], tile_size: int, seed: int = 0,
                   max_train_pixels: int = 20000) -> dict[str, float]:
    """A per-pixel multinomial logistic regression (scikit-learn) on the training split's pixels,
    scored on exactly the labelled pixels of the test tiles: a reference for the deep models.

    Training pixels (at most ``max_train_pixels``, a seeded random subset) are those of the
    training split with data in every selected band (of a collection: of
    :func:`eoxai.fused.candidate_tiles` of its training tiles, so memory stays bounded). The fit is deterministic across CPUs
    (:data:`PIXEL_LOGREG`: float64, standardised bands, L-BFGS to a gradient tolerance of 1e-10,
    one BLAS thread); :class:`eoxai.errors.EoxaiError` if it does not converge. Returns
    :func:`eoxai.metrics.summary_row`.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    train = split_tiles(cube, "train", tile_size, modalities=list(modalities))
    test = split_tiles(cube, "test", tile_size, modalities=list(modalities))
    rng = np.random.default_rng(seed)
    if isinstance(train, TileDataset):
        rows, cols = np.nonzero(train.mask >= 0)
        if rows.size > max_train_pixels:
            keep = np.sort(rng.choice(rows.size, max_train_pixels, replace=False))
            rows, cols = rows[keep], cols[keep]
        x = np.asarray(train.image[:, rows, cols].T, dtype=np.float64)
        y = train.mask[rows, cols]
    else:
        x, y = _collection_pixels(train, max_train_pixels, rng)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    k = len(test.class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    with threadpool_limits(limits=1):
        clf = LogisticRegression(**PIXEL_LOGREG).fit((x - mean) / std, y)
        if int(np.max(clf.n_iter_)) >= PIXEL_LOGREG["max_iter"]:
            raise EoxaiError(f"pixel_baseline: L-BFGS did not converge in {PIXEL_LOGREG['max_iter']} iterations "
                             f"({list(modalities)}); the reference row would depend on the machine")
        for i in range(len(test)):
            sample = test[i]
            valid = sample["mask"].numpy() >= 0
            pixels = np.asarray(sample["image"].numpy()[:, valid].T, dtype=np.float64)
            pred = clf.predict((pixels - mean) / std)
            np.add.at(cm, (sample["mask"].numpy()[valid], pred), 1)
    return summary_row(cm)


def _collection_pixels(train: SplitTiles, max_pixels: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labelled pixels ``(N, C)`` float64 and their classes ``(N,)`` of a seeded sample of a streamed
    training split: tiles from as many scenes as possible (:func:`eoxai.fused.candidate_tiles`), at
    most ``max_pixels`` pixels in all."""
    tiles = candidate_tiles(train, max(1, min(len(train), 64)), int(rng.integers(2**31)))
    xs, ys = [], []
    for i in tiles:
        sample = train[i]
        valid = sample["mask"].numpy() >= 0
        xs.append(np.asarray(sample["image"].numpy()[:, valid].T, dtype=np.float64))
        ys.append(sample["mask"].numpy()[valid])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(y) > max_pixels:
        keep = np.sort(rng.choice(len(y), max_pixels, replace=False))
        x, y = x[keep], y[keep]
    return x, y


def _t(a: np.ndarray) -> Any:  # numpy -> torch.Tensor for the metrics (torch imported lazily)
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def confusion_long(ev: Evaluation) -> pd.DataFrame:
    """The summed confusion matrices of every (stack, arch, inputs) as one long table."""
    parts = [confusion_table(cm, ev.class_names[s]).assign(stack=s, arch=a, inputs=i)
             for (s, a, i), cm in ev.confusion.items()]
    return pd.concat(parts, ignore_index=True)[[*RUN_KEYS, "reference", "predicted", "pixels", "share_of_reference"]]


def _paired(runs: pd.DataFrame, tiles: pd.DataFrame, stack: str, a: tuple[str, str], b: tuple[str, str],
            metric: str, level: float) -> dict[str, dict[str, float]] | None:
    def sel(df: pd.DataFrame, sys: tuple[str, str]) -> pd.DataFrame:
        return df[(df["stack"] == stack) & (df.arch == sys[0]) & (df.inputs == sys[1])]

    ra, rb = sel(runs, a), sel(runs, b)
    if ra.empty or rb.empty:
        return None
    by_seed = ra.set_index("seed")[metric].to_frame("a").join(rb.set_index("seed")[metric].to_frame("b"), how="inner")
    keys = tile_keys(tiles)
    ta = sel(tiles, a).groupby(keys, dropna=False)[metric].mean()
    tb = sel(tiles, b).groupby(keys, dropna=False)[metric].mean()
    by_tile = pd.concat([ta.rename("a"), tb.rename("b")], axis=1, join="inner")
    budget = {"epochs_a": int(ra["epochs"].max()), "epochs_b": int(rb["epochs"].max())}
    return {"seeds": paired_test(by_seed["a"], by_seed["b"], level) | budget,
            "tiles": paired_test(by_tile["a"], by_tile["b"], level) | budget}


def comparisons(runs: pd.DataFrame, tiles: pd.DataFrame, metrics: Sequence[str] = ("miou", "f1"),
                level: float = 0.95) -> pd.DataFrame:
    """Every available paired comparison of :data:`COMPARISONS`, per stack, metric and unit (seed, tile).

    Columns: ``stack, comparison, arch_a, inputs_a, arch_b, inputs_b, metric, unit, n, mean_a,
    mean_b, diff, diff_low, diff_high, p_ttest, p_wilcoxon, epochs_a, epochs_b`` (the epoch budgets:
    a comparison of unequal budgets is not a comparison of architectures alone).
    """
    rows = []
    for stack in dict.fromkeys(runs["stack"]):
        for label, a, b in COMPARISONS:
            for metric in metrics:
                res = _paired(runs, tiles, stack, a, b, metric, level)
                if res is None:
                    continue
                for unit, r in res.items():
                    rows.append({"stack": stack, "comparison": label, "arch_a": a[0], "inputs_a": a[1],
                                 "arch_b": b[0], "inputs_b": b[1], "metric": metric, "unit": unit.rstrip("s"), **r})
    return pd.DataFrame(rows)


def ablation_table(runs: pd.DataFrame, tests: pd.DataFrame, level: float = 0.95,
                   baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """The headline table: per (stack, arch, inputs) the mean and ``level`` t interval over seeds of
    mIoU and F1 (and mean OA, kappa), plus, on fused rows, the paired fused-vs-optical difference
    in mIoU with its interval and p-values (seed-paired t-test, tile-paired Wilcoxon).

    ``baseline`` (rows ``stack, inputs, miou, f1, oa, kappa, pixels`` of :func:`pixel_baseline`)
    adds deterministic reference rows with arch ``pixel_logreg`` (no seeds, no interval)."""
    rows = []
    for (stack, arch, inputs), g in runs.groupby(RUN_KEYS, sort=False):
        row = {"stack": stack, "arch": arch, "inputs": inputs, "n_seeds": len(g), "epochs": int(g["epochs"].max()),
               "test_tiles": int(g["test_tiles"].iloc[0]), "test_pixels": int(g["pixels"].iloc[0])}
        for metric in ("miou", "f1"):
            m, lo, hi = mean_ci(g[metric], level)
            row |= {f"{metric}_mean": m, f"{metric}_ci_low": lo, f"{metric}_ci_high": hi}
        row |= {"oa_mean": g["oa"].mean(), "kappa_mean": g["kappa"].mean()}
        t = tests[(tests.get("stack") == stack) & (tests.get("comparison") == "fused vs optical")
                  & (tests.get("metric") == "miou") & (tests.get("arch_a") == arch)
                  & (tests.get("inputs_a") == inputs)] if not tests.empty else tests
        seeds = t[t.unit == "seed"] if not t.empty else t
        tile = t[t.unit == "tile"] if not t.empty else t
        row |= {
            "miou_diff_vs_optical": seeds["diff"].iloc[0] if len(seeds) else np.nan,
            "miou_diff_ci_low": seeds["diff_low"].iloc[0] if len(seeds) else np.nan,
            "miou_diff_ci_high": seeds["diff_high"].iloc[0] if len(seeds) else np.nan,
            "p_paired_t_seeds": seeds["p_ttest"].iloc[0] if len(seeds) else np.nan,
            "p_wilcoxon_tiles": tile["p_wilcoxon"].iloc[0] if len(tile) else np.nan,
        }
        rows.append(row)
    for _, b in (baseline if baseline is not None else pd.DataFrame()).iterrows():
        rows.append({"stack": b["stack"], "arch": "pixel_logreg", "inputs": b["inputs"], "n_seeds": 1,
                     "test_pixels": int(b["pixels"]), "miou_mean": b["miou"], "f1_mean": b["f1"], "oa_mean": b["oa"],
                     "kappa_mean": b["kappa"]})
    out = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(dict.fromkeys(runs["stack"]))}
    return out.sort_values("stack", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def mosaic(shape: tuple[int, int], origins: np.ndarray, tiles: np.ndarray, fill: int = -1) -> np.ndarray:
    """Paste tiles ``(T, t, t)`` at ``origins`` ``(T, 2)`` into an ``(H, W)`` map filled with ``fill``."""
    out = np.full(shape, fill, dtype=np.int64)
    t = tiles.shape[-1]
    for (r, c), tile in zip(origins, tiles, strict=True):
        out[r:r + t, c:c + t] = tile
    return out


def run_label(arch: str, inputs: str) -> str:
    """Readable label of a run, e.g. ``'manet_mit · all'``."""
    return f"{arch} · {inputs}"


def plot_ablation(runs: pd.DataFrame, ablation: pd.DataFrame, metric: str = "miou", level: float = 0.95) -> Figure:
    """Per stack: every seed's test ``metric`` (dots) and the mean with its ``level`` interval (bars)."""
    stacks = list(dict.fromkeys(runs["stack"]))
    fig, axes = plt.subplots(1, len(stacks), figsize=(5.2 * len(stacks), 4.4), constrained_layout=True, squeeze=False)
    inputs = list(dict.fromkeys(runs["inputs"]))
    colours = dict(zip(inputs, plots.class_colours(len(inputs)), strict=True))
    for ax, stack in zip(axes[0], stacks, strict=True):
        ab = ablation[ablation["stack"] == stack].reset_index(drop=True)
        labels = [run_label(a, i) for a, i in zip(ab.arch, ab.inputs, strict=True)]
        for y, row in ab.iterrows():
            pts = runs[(runs["stack"] == stack) & (runs.arch == row.arch) & (runs.inputs == row.inputs)][metric]
            ax.scatter(pts, np.full(len(pts), y), color=colours[row.inputs], alpha=0.6, s=22, zorder=3)
            lo, hi = row.get(f"{metric}_ci_low", np.nan), row.get(f"{metric}_ci_high", np.nan)
            if np.isfinite(lo):
                ax.plot([lo, hi], [y, y], color="black", lw=1.6, zorder=2)
            if row.arch == "pixel_logreg":  # deterministic reference, no seeds
                ax.plot(row[f"{metric}_mean"], y, marker="s", mfc="none", color="dimgrey", ms=7, zorder=4)
            else:
                ax.plot(row[f"{metric}_mean"], y, marker="D", color="black", ms=5, zorder=4)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(f"test {metric.upper() if metric != 'miou' else 'mIoU'} (0-1)")
        ax.set_title(stack)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Test split: dots = seeds, diamond = mean, bar = "
                 f"{level:.0%} t interval over seeds, open square = per-pixel logistic regression", fontsize=10)
    return fig


def composite(cube: xr.Dataset) -> tuple[np.ndarray, str]:
    """A colour composite ``(H, W, 3)`` of the cube's first optical modality and its description.

    False colour (B12, B8, B4) where those bands exist, else the first three optical bands; a
    2-98 % stretch of the normalised values.
    """
    bands = composite_bands([str(b) for b in cube["band"].values], [str(s) for s in cube["sensor"].values])
    return plots.stretch(cube["image"].sel(band=bands).values), ", ".join(bands)


def plot_predictions(cube: xr.Dataset, maps: Mapping[str, np.ndarray], class_names: Sequence[str],
                     title: str | None = None) -> Figure:
    """A colour composite, the reference labels on the test tiles and predicted maps ``{title: (H, W)}``.

    Maps hold -1 outside the test tiles (drawn grey).
    """
    first = next(iter(maps.values()))
    test_label = np.where(first >= 0, cube["label"].values, -1)
    rgb, bands = composite(cube)
    panels = {f"composite {bands}": rgb, "reference label (test tiles)": test_label, **maps}
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.6 * rows + 0.4), constrained_layout=True,
                             squeeze=False)
    cmap, norm = plots.class_cmap(class_names)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    res = plots.resolution_m(cube["label"])
    for ax, (name, m) in zip(axes.flat, panels.items(), strict=False):
        if m.ndim == 3:
            ax.imshow(m, interpolation="nearest")
        else:
            ax.imshow(m, cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        plots.pixel_axes(ax, res)
    plots.class_legend(axes.flat[1], class_names, fontsize=6)
    if title:
        fig.suptitle(title)
    return fig


def composite_bands(bands: Sequence[str], sensors: Sequence[str]) -> list[str]:
    """The three bands of :func:`composite`: (B12, B8, B4) of the first optical modality where it has
    them, else its first three bands (else the first three bands of all)."""
    optical = [b for b, s in zip(bands, sensors, strict=True) if s == "optical"] or list(bands)
    first_mod = optical[0].split(".")[0]
    names = [b for b in optical if b.split(".")[0] == first_mod]
    wanted = [f"{first_mod}.{n}" for n in ("B12", "B8", "B4")]
    return wanted if all(w in names for w in wanted) else names[:3]


def plot_test_predictions(fused: Fused, outputs: Mapping[str, Mapping[str, np.ndarray]], class_names: Sequence[str],
                          tile_size: int, title: str | None = None, n_tiles: int = 4, seed: int = 0) -> Figure:
    """The test predictions ``{run label: predict_tiles output}`` of one stack beside its labels.

    A cube (one scene): :func:`plot_predictions` of the tiles pasted into the scene. A collection:
    ``n_tiles`` test tiles from as many test scenes (:func:`eoxai.fused.candidate_tiles`, ``seed``),
    one row each (titled with its scene and origin): composite, reference label, every run's map.
    """
    if isinstance(fused, xr.Dataset):  # a cube (one scene)
        h, w = fused["label"].shape
        maps = {name: mosaic((int(h), int(w)), out["origin"], np.where(out["mask"] >= 0, out["pred"], -1))
                for name, out in outputs.items()}
        return plot_predictions(fused, maps, class_names, title=title)
    table = band_table(fused)
    test = split_tiles(fused, "test", tile_size)
    chosen = candidate_tiles(test, n_tiles, seed)
    rgb_idx = [list(test.bands).index(b) for b in composite_bands(list(table["band"]), list(table["sensor"]))]
    first = next(iter(outputs.values()))
    origin_rows = {(str(sc), int(r), int(c)): i for i, (sc, (r, c)) in enumerate(
        zip(first["scene"].tolist(), first["origin"].tolist(), strict=True))}
    cols = 2 + len(outputs)
    fig, axes = plt.subplots(len(chosen), cols, figsize=(2.6 * cols, 2.6 * len(chosen) + 0.5),
                             constrained_layout=True, squeeze=False)
    cmap, norm = plots.class_cmap(class_names)
    for row, i in enumerate(chosen):
        sample = test[i]
        scene, (r, c) = tile_scene(test, i), tile_origin(test, i)
        k = origin_rows[(scene, r, c)]
        panels = {"composite": plots.stretch(sample["image"].numpy()[rgb_idx]), "reference label": sample["mask"].numpy()}
        panels |= {name: np.where(out["mask"][k] >= 0, out["pred"][k], -1) for name, out in outputs.items()}
        for ax, (name, m) in zip(axes[row], panels.items(), strict=True):
            if m.ndim == 3:
                ax.imshow(m, interpolation="nearest")
            else:
                ax.imshow(m, cmap=cmap, norm=norm, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name if row == 0 else "", fontsize=8)
        axes[row][0].set_ylabel(f"{scene}\nrow {r}, col {c} (px)", fontsize=7)
    plots.class_legend(axes[0][1], class_names, fontsize=6)
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], title: str | None = None, *,
                   annotate: str = "share", unit: str = "pixels") -> Figure:
    """Row-normalised confusion matrix ``(K, K)`` (reference x predicted), one figure for every notebook.

    Colours are the share of each reference class (recall on the diagonal); cells are annotated with
    that share (``annotate="share"``) or with the counts (``"count"``); ``unit`` names what is
    counted (``pixels`` in 03, ``scenes`` in 10).
    """
    if annotate not in ("share", "count"):
        raise InputError(f"annotate must be 'share' or 'count', got {annotate!r}")
    counts = np.asarray(cm, dtype=np.float64)
    share = np.divide(counts, counts.sum(axis=1, keepdims=True), out=np.full(counts.shape, np.nan),
                      where=counts.sum(axis=1, keepdims=True) > 0)
    size = 1.0 + 0.9 * len(class_names) if len(class_names) <= 6 else 6.4
    fig, ax = plt.subplots(figsize=(size + 1.6, size), constrained_layout=True)
    annot = share if annotate == "share" else counts.astype(np.int64)
    sns.heatmap(share, annot=annot, fmt=".2f" if annotate == "share" else "d", cmap=plots.SEQUENTIAL, vmin=0, vmax=1,
                ax=ax, square=True, xticklabels=list(class_names), yticklabels=list(class_names),
                cbar_kws={"label": f"share of reference {unit}"}, annot_kws={"fontsize": 7 if len(class_names) > 6 else 10})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("reference class")
    ax.set_title(title or f"confusion matrix (test split; {unit})", fontsize=9)
    return fig


def plot_influence(influence: pd.DataFrame) -> Figure:
    """Learned influence scores per occluded modality (points = test tiles x seeds), per stack."""
    stacks = list(dict.fromkeys(influence["stack"])) or ["(none)"]
    fig, axes = plt.subplots(1, len(stacks), figsize=(4.6 * len(stacks), 3.6), constrained_layout=True, squeeze=False)
    for ax, stack in zip(axes[0], stacks, strict=True):
        d = influence[influence["stack"] == stack]
        if not d.empty:
            sns.stripplot(data=d, x="modality", y="score", hue="seed", ax=ax, dodge=True, size=4, palette="colorblind")
        ax.set_ylim(0, 1)
        ax.set_xlabel("occluded modality")
        ax.set_ylabel("learned influence score (0-1)")
        ax.set_title(f"{stack}: unet_influence on the test tiles\n(paper's reading: 1 = occluded modality mattered "
                     "little)", fontsize=9)
    return fig


def influence_summary(influence: pd.DataFrame) -> pd.DataFrame:
    """Per stack and seed: mean learned score per occluded modality, the modality whose occlusion
    scores lowest (the one that "mattered most" in Ekim & Schmitt's reading), and the mean Spearman
    correlation across tiles between the scores of different occluded modalities (near 1: the
    scores follow the tile, not the modality).

    Columns ``stack, seed, mattered_most, score_<modality>..., cross_modality_spearman``.
    """
    rows = []
    for (stack, seed), g in influence.groupby(["stack", "seed"], sort=False):
        wide = g.pivot_table(index=tile_keys(g), columns="modality", values="score")
        corr = wide.corr(method="spearman").to_numpy()
        off = corr[~np.eye(len(corr), dtype=bool)]
        means = wide.mean()
        rows.append({"stack": stack, "seed": seed, "mattered_most": str(means.idxmin()),
                     **{f"score_{m}": float(v) for m, v in means.items()},
                     "cross_modality_spearman": float(np.nanmean(off)) if off.size else np.nan})
    return pd.DataFrame(rows)


def convergence(cost: pd.DataFrame) -> pd.DataFrame:
    """Per (stack, arch, inputs): runs, how many stopped early (patience) and how many were still
    improving at the epoch cap (best validation epoch = the last epoch of a run that hit the cap).

    ``cost``: :attr:`Evaluation.cost` (``stopped_early``, ``best_epoch``, ``epochs_run``, ``epochs_max``).
    """
    at_cap = ~cost["stopped_early"].astype(bool) & (cost["best_epoch"] == cost["epochs_run"])
    return (cost.assign(at_cap_improving=at_cap)
            .groupby(["stack", "arch", "inputs"], sort=False)
            .agg(runs=("seed", "size"), stopped_early=("stopped_early", "sum"),
                 still_improving_at_cap=("at_cap_improving", "sum"), best_epoch_mean=("best_epoch", "mean"),
                 epochs_max=("epochs_max", "max"))
            .reset_index())


def plot_training_curves(history: pd.DataFrame, title: str | None = None) -> Figure:
    """Training loss and validation mIoU per epoch, one line per run (``history`` has ``stack, run``).

    Losses of runs with different loss functions (e.g. CLAIRE's RIFT) are not on one scale."""
    stacks = list(dict.fromkeys(history["stack"]))
    fig, axes = plt.subplots(2, len(stacks), figsize=(5.4 * len(stacks), 6.2), constrained_layout=True,
                             squeeze=False, sharex="col")
    for j, stack in enumerate(stacks):
        d = history[history["stack"] == stack]
        for i, (col, label) in enumerate((("train_loss", "training loss (each run's own loss)"),
                                          ("val_miou", "validation mIoU (0-1)"))):
            ax = axes[i, j]
            sns.lineplot(data=d, x="epoch", y=col, hue="run", marker="o", ax=ax, palette="colorblind")
            ax.set_ylabel(label)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
            if i == 0:
                ax.set_title(stack)
    if title:
        fig.suptitle(title)
    return fig
