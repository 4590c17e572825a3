"""Figures of the patch-size study, drawn from its tables (so every figure is regenerable)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from eoxai.plots import OKABE_ITO, SPLIT_COLOURS

MODEL_COLOURS = {"cnn2d": OKABE_ITO[4], "vit": OKABE_ITO[5]}
MODEL_LABELS = {"cnn2d": "CNN2D", "vit": "ViT"}


def _model_style(model: str, i: int) -> dict[str, Any]:
    return {"color": MODEL_COLOURS.get(model, OKABE_ITO[i % len(OKABE_ITO)]),
            "label": MODEL_LABELS.get(model, model)}


def _interval_lines(ax: plt.Axes, table: pd.DataFrame, column: str, selection: pd.DataFrame | None,
                    dodge: float = 0.12) -> None:
    """Mean with its interval per model against patch size; the chosen size ringed."""
    for i, (model, t) in enumerate(table.groupby("model", sort=False)):
        t = t.sort_values("patch_size")
        x = t.patch_size.values + (i - 0.5) * dodge
        y = t[column].values
        err = np.vstack([y - t[f"{column}_low"].values, t[f"{column}_high"].values - y])
        style = _model_style(str(model), i)
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, lw=1.5, **style)
        if selection is not None and model in set(selection.model):
            chosen = int(selection.set_index("model").loc[model, "chosen"])
            sel = t.patch_size.values == chosen
            ax.scatter(x[sel], y[sel], s=160, facecolors="none", edgecolors=style["color"], linewidths=2, zorder=5)
    ax.set_xticks(sorted(table.patch_size.unique()))
    ax.set_xlabel("patch size (pixels per side)")
    ax.grid(alpha=0.3)


def plot_f1(table: pd.DataFrame, selection: pd.DataFrame | None = None, confidence: float = 0.95) -> Figure:
    """Validation macro-F1 against patch size per model, with bootstrap intervals; chosen sizes ringed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    _interval_lines(ax, table, "val_f1", selection)
    ax.set_ylabel("validation macro-F1 (mean of instances)")
    ax.set_title(f"Validation macro-F1 vs patch size ({confidence:.0%} bootstrap interval over pixels;\n"
                 "ring = size chosen by the selection rule)", fontsize=10)
    ax.legend(title="model")
    return fig


def plot_explanation_metrics(table: pd.DataFrame, selection: pd.DataFrame | None = None,
                             confidence: float = 0.95) -> Figure:
    """Three panels against patch size per model, with bootstrap intervals: cross-instance JS
    divergence (lower = instances agree), uniformity (the source paper's metric; higher = flatter
    spectrum) and concentration (higher = fewer bands). ``table`` is
    :func:`eoxai.hyperspectral.study.size_table`'s output."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    panels = [("consistency_js", "mean pairwise JS divergence between instances",
               "Cross-instance consistency\n(lower = instances agree on the bands)"),
              ("uniformity", "uniformity: 1 - JS distance to uniform",
               "Uniformity of one explanation\n(the source paper's 'consistency'; higher = flatter spectrum)"),
              ("concentration", "concentration: 1 - entropy / log2(bands)",
               "Concentration of one explanation\n(higher = fewer bands carry the attribution)")]
    for ax, (column, ylabel, title) in zip(axes, panels, strict=True):
        _interval_lines(ax, table, column, selection)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    axes[0].legend(title="model")
    fig.suptitle(f"IG + NoiseTunnel band attributions, {confidence:.0%} bootstrap intervals over explained pixels; "
                 "ring = chosen size", fontsize=10)
    return fig


def plot_spectrum(spectrum: pd.DataFrame, sizes: dict[str, int], dropped_nm: list[float] | None = None) -> Figure:
    """Mean attribution share per band against wavelength (nm) for each model at its size in ``sizes``.

    ``spectrum`` is :func:`eoxai.hyperspectral.study.spectrum_table`'s output. VNIR and SWIR are
    drawn as separate lines (their ranges overlap); the uniform share ``1 / C`` is dashed and
    wavelengths of dropped (nodata) bands are marked on the axis.
    """
    fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
    n_bands = None
    for i, (model, size) in enumerate(sizes.items()):
        t = spectrum[(spectrum.model == model) & (spectrum.patch_size == size)]
        n_bands = len(t)
        style = _model_style(model, i)
        for j, (det, d) in enumerate(t.groupby("detector", sort=False)):
            wl, share = _break_at_gaps(d.sort_values("wavelength_nm"))
            ax.plot(wl, share, color=style["color"], lw=1.4,
                    ls="-" if j == 0 else (0, (4, 1)),
                    label=f"{style['label']}, patch {size} ({det})" if det else f"{style['label']}, patch {size}")
    if n_bands:
        ax.axhline(1.0 / n_bands, color="grey", ls="--", lw=1, label=f"uniform share 1/{n_bands}")
    if dropped_nm:
        ax.plot(dropped_nm, np.zeros(len(dropped_nm)), "|", color="black", ms=10, label="dropped nodata bands")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("share of the band attribution\n(mean over pixels and instances)")
    ax.set_title("Which bands Integrated Gradients credits, at each model's chosen patch size", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    return fig


def _break_at_gaps(d: pd.DataFrame, factor: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths and shares with NaN inserted where bands are missing (a gap > ``factor`` x the
    median spacing: absorption windows, dropped bands), so lines do not bridge them."""
    wl = d.wavelength_nm.to_numpy(float)
    share = d.attribution_share.to_numpy(float)
    if len(wl) < 3:
        return wl, share
    gaps = np.flatnonzero(np.diff(wl) > factor * np.median(np.diff(wl)))
    return np.insert(wl, gaps + 1, np.nan), np.insert(share, gaps + 1, np.nan)


def plot_tile_split(ds: xr.Dataset, title: str | None = None) -> Figure:
    """Footprints of the tiles in map coordinates, coloured by split (whole tiles per split)."""
    fig, ax = plt.subplots(figsize=(6.0, 6.4), constrained_layout=True)
    res = float(ds.attrs.get("resolution_m", 30.0))
    w, h = ds.sizes["x"] * res, ds.sizes["y"] * res
    x0, y0 = ds.x_origin.values, ds.y_origin.values
    for x, y, s in zip(x0, y0, ds.split.values, strict=True):
        # origins are pixel centres of the upper-left pixel
        ax.add_patch(Rectangle((x - res / 2, y + res / 2 - h), w, h, facecolor=SPLIT_COLOURS[str(s)],
                               edgecolor="black", lw=0.8, alpha=0.85))
    ax.set_xlim(x0.min() - res, x0.max() + w)
    ax.set_ylim(y0.min() - h, y0.max() + res)
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel(f"easting (m, {ds.attrs.get('crs', '')})")
    ax.set_ylabel("northing (m)")
    ax.legend(handles=[Patch(facecolor=SPLIT_COLOURS[s], edgecolor="black", label=s)
                       for s in ("train", "validation", "test")], loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    ax.set_title(title or f"{ds.sizes['tile']} tiles of {ds.sizes['y']}x{ds.sizes['x']} pixels, one split each")
    return fig
