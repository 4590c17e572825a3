"""Shared figure helpers: colour-blind-safe palettes, labels read from coordinates, deterministic PNGs.

Categorical colours are the Okabe-Ito palette (Okabe & Ito 2008, *Color Universal Design*), then
seaborn's ``colorblind`` for more than eight classes; continuous maps use ``cividis``/``viridis``
and signed attributions the diverging ``RdBu_r`` (ColorBrewer, safe for the common colour-vision
deficiencies).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

OKABE_ITO: tuple[str, ...] = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
)
NODATA_COLOUR = "#d9d9d9"
DIVERGING = "RdBu_r"
SEQUENTIAL = "cividis"
SPLIT_COLOURS = {"train": "#0072B2", "validation": "#E69F00", "test": "#D55E00", "buffer": "#ffffff",
                 "unused": NODATA_COLOUR}


def class_colours(n: int) -> list[str]:
    """``n`` colour-blind-safe category colours (Okabe-Ito, then seaborn 'colorblind')."""
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[:n])
    return [matplotlib.colors.to_hex(c) for c in sns.color_palette("colorblind", n)]


def class_cmap(class_names: Sequence[str]) -> tuple[ListedColormap, BoundaryNorm]:
    """Colormap and norm for label maps with values ``-1`` (no data) ``..K-1``."""
    colours = [NODATA_COLOUR, *class_colours(len(class_names))]
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-1.5, len(class_names) + 0.5), cmap.N)
    return cmap, norm


def class_legend(ax: plt.Axes, class_names: Sequence[str], nodata: bool = True, **kw: object) -> None:
    """Add a legend of class colours (and 'no data') to ``ax``."""
    handles = [Patch(color=c, label=n) for c, n in zip(class_colours(len(class_names)), class_names, strict=True)]
    if nodata:
        handles.append(Patch(color=NODATA_COLOUR, label="no data"))
    options: dict[str, Any] = {"loc": "lower left", "fontsize": 7, "framealpha": 0.9} | dict(kw)
    ax.legend(handles=handles, **options)


def stretch(values: np.ndarray, low: float = 2, high: float = 98) -> np.ndarray:
    """Percentile contrast stretch of ``(3, H, W)`` or ``(H, W)`` to [0, 1], per band, NaN-safe."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2:
        v = v[None]
    out = np.empty_like(v)
    for i, band in enumerate(v):
        finite = band[np.isfinite(band)]
        lo, hi = (np.percentile(finite, [low, high]) if finite.size else (0.0, 1.0))
        out[i] = np.clip((band - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    out = np.nan_to_num(out, nan=0.85)
    return out[0] if out.shape[0] == 1 else np.moveaxis(out, 0, -1)


def pixel_axes(ax: plt.Axes, resolution_m: float | None = None) -> None:
    """Label image axes as pixel columns/rows (with the ground resolution when known)."""
    unit = f"pixels ({resolution_m:.0f} m)" if resolution_m else "pixels"
    ax.set_xlabel(f"column, {unit}")
    ax.set_ylabel(f"row, {unit}")


def resolution_m(da: xr.DataArray) -> float | None:
    """Ground pixel size in metres (approximate for geographic CRSs); None without a CRS."""
    try:
        res = abs(da.rio.resolution()[0])
    except Exception:  # noqa: BLE001 - no CRS information
        return None
    if da.rio.crs is not None and da.rio.crs.is_geographic:
        return res * 111_320.0  # degrees -> metres near the equator, for the axis label only
    return res


def plot_stack_panel(
    rgb: xr.DataArray,
    sar: xr.DataArray,
    label: xr.DataArray,
    title: str | None = None,
    sar_label: str | None = None,
) -> Figure:
    """Three panels: a colour composite ``(3, H, W)``, one extra band ``(H, W)`` and the label ``(H, W)``.

    Band names come from ``rgb.band``; units from ``sar.attrs['units']``; class names from
    ``label.attrs['class_names']``.
    """
    res = resolution_m(label)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), constrained_layout=True)
    names = [str(b) for b in rgb.band.values]
    axes[0].imshow(stretch(rgb.values), interpolation="nearest")
    axes[0].set_title(f"composite R,G,B = {', '.join(names)}\n(2-98 % stretch; grey = no data)")
    band_name = str(sar.coords["band"].values) if "band" in sar.coords else sar.name
    units = sar.attrs.get("units", "")
    im = axes[1].imshow(sar.values, cmap=SEQUENTIAL, interpolation="nearest")
    axes[1].set_title(sar_label or f"{sar.attrs.get('modality', '')} {band_name}")
    fig.colorbar(im, ax=axes[1], shrink=0.8, label=units or "value")
    cmap, norm = class_cmap(label.attrs["class_names"])
    axes[2].imshow(label.values, cmap=cmap, norm=norm, interpolation="nearest")
    axes[2].set_title("label")
    class_legend(axes[2], label.attrs["class_names"])
    for ax in axes:
        pixel_axes(ax, res)
    if title:
        fig.suptitle(title)
    return fig


def plot_split_map(split: np.ndarray, title: str | None = None, resolution_m: float | None = None) -> Figure:
    """Map of the spatial split: train / validation / test blocks, buffer (white), unused (grey)."""
    order = [("unused", -2), ("buffer", -1), ("train", 0), ("validation", 1), ("test", 2)]
    cmap = ListedColormap([SPLIT_COLOURS[n] for n, _ in order])
    norm = BoundaryNorm(np.arange(-2.5, 3.5), cmap.N)
    fig, ax = plt.subplots(figsize=(5.6, 5.2), constrained_layout=True)
    ax.imshow(split, cmap=cmap, norm=norm, interpolation="nearest")
    ax.legend(handles=[Patch(facecolor=SPLIT_COLOURS[n], edgecolor="black", label=n) for n, _ in order],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    pixel_axes(ax, resolution_m)
    ax.set_title(title or "spatial block split")
    return fig


def plot_class_balance(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Bar chart of class shares per split from :func:`eoxai.split.class_balance`'s table."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    classes = list(dict.fromkeys(table["class"]))
    sns.barplot(data=table, x="class", y="share", hue="split", ax=ax, order=classes,
                palette=[SPLIT_COLOURS[s] for s in dict.fromkeys(table["split"])])
    ax.set_xlabel("class")
    ax.set_ylabel("share of labelled pixels in split")
    ax.tick_params(axis="x", rotation=20)
    ax.set_title(title or "class balance per split")
    return fig


def plot_tile(image: np.ndarray, mask: np.ndarray, bands: Sequence[str], class_names: Sequence[str],
              title: str | None = None) -> Figure:
    """A tile ``(C, T, T)``'s first three bands beside its mask ``(T, T)``."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), constrained_layout=True)
    idx = list(range(min(3, image.shape[0])))
    comp = stretch(image[idx]) if len(idx) == 3 else stretch(image[0])
    axes[0].imshow(comp, cmap=None if len(idx) == 3 else SEQUENTIAL, interpolation="nearest")
    axes[0].set_title(", ".join(bands[i] for i in idx))
    cmap, norm = class_cmap(class_names)
    axes[1].imshow(mask, cmap=cmap, norm=norm, interpolation="nearest")
    axes[1].set_title("mask")
    class_legend(axes[1], class_names)
    for ax in axes:
        pixel_axes(ax)
    if title:
        fig.suptitle(title)
    return fig


def savefig(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG with no version/time metadata (so reruns give identical pixels), close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return path
