"""Figures of notebooks 07-08: SHAP maps, band-group SHAP, modality occlusion, the explanation scorecard.

Every figure labels itself from the data's coordinates and table columns (band, class, modality
and method names); palettes from :mod:`eoxai.plots` (Okabe-Ito, cividis, RdBu_r).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import xarray as xr
from matplotlib.figure import Figure

from eoxai import plots


def rgb_bands(bands: Sequence[str]) -> list[int]:
    """Indices of a true-colour composite (the first modality with B4, B3, B2), else the first 3 bands."""
    for prefix in dict.fromkeys(b.rsplit(".", 1)[0] for b in bands):
        idx = [bands.index(f"{prefix}.{b}") for b in ("B4", "B3", "B2") if f"{prefix}.{b}" in bands]
        if len(idx) == 3:
            return idx
    return list(range(min(3, len(bands))))


def plot_shap_maps(result: xr.Dataset, images: torch.Tensor, bands: Sequence[str], title: str = "") -> Figure:
    """One row per sample: true colour, predicted regions, then the partition-SHAP map of each
    explained class (``result`` from :func:`eoxai.xai.shap_seg.explain_partition`), on a
    symmetric RdBu_r scale per map."""
    classes = [c for c in result["class"].values if np.isfinite(result["shap"].sel({"class": c}).values).any()]
    n, k = result.sizes["sample"], len(classes)
    fig, axes = plt.subplots(n, k + 1, figsize=(2.9 * (k + 1), 2.7 * n + 0.6), squeeze=False, constrained_layout=True)
    rgb = rgb_bands(list(bands))
    for i in range(n):
        axes[i, 0].imshow(plots.stretch(images[i, rgb].numpy()), interpolation="nearest")
        axes[i, 0].set_title(f"sample {i}: {', '.join(bands[j] for j in rgb)}", fontsize=8)
        for j, c in enumerate(classes):
            v = result["shap"].sel(sample=i, **{"class": c}).values
            ax = axes[i, j + 1]
            if not np.isfinite(v).any():
                ax.axis("off")
                continue
            lim = float(np.nanmax(np.abs(v))) or 1.0
            im = ax.imshow(v, cmap=plots.DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
            if "region" in result:
                region = result["region"].sel(sample=i, **{"class": c}).values.astype(float)
                if 0 < region.sum() < region.size:
                    ax.contour(region, levels=[0.5], colors="black", linewidths=0.7)
            sel = {"sample": i, "class": c}
            s, b = float(result["score"].sel(sel)), float(result["base_value"].sel(sel))
            ax.set_title(f"SHAP for '{c}'\nf(x)={s:.2f}, f(blur)={b:.2f}", fontsize=8)
            fig.colorbar(im, ax=ax, shrink=0.75, label="SHAP per pixel (logit)")
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title or "partition SHAP of each class's region score")
    fig.text(0.5, 0.0, "red: evidence for the class, blue: against; black line: the class's predicted region",
             ha="center", va="bottom", fontsize=8)
    return fig


def plot_band_groups(table: pd.DataFrame, title: str = "") -> Figure:
    """Left: exact band-group SHAP per modality and class over test tiles (box + points). Right:
    SHAP against leave-one-out occlusion of the same modality (one point per tile x class)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    palette = plots.class_colours(table["class"].nunique())
    sns.boxplot(data=table, x="modality", y="shap", hue="class", ax=axes[0], palette=palette, fliersize=0)
    sns.stripplot(data=table, x="modality", y="shap", hue="class", ax=axes[0], palette=palette, dodge=True,
                  size=3, legend=False, edgecolor="black", linewidth=0.3)
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set_ylabel("Shapley value (mean logit over the class region)")
    axes[0].set_title("exact band-group SHAP per test tile")
    sns.scatterplot(data=table, x="leave_one_out", y="shap", hue="modality", style="class", ax=axes[1],
                    palette=plots.class_colours(table["modality"].nunique()))
    lo = float(np.nanmin(table[["leave_one_out", "shap"]].values))
    hi = float(np.nanmax(table[["leave_one_out", "shap"]].values))
    axes[1].plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="y = x")
    axes[1].set_xlabel("leave-one-out occlusion: f(all) - f(all but modality) (logit)")
    axes[1].set_ylabel("Shapley value (logit)")
    axes[1].set_title("SHAP vs occlusion of the same modality")
    axes[1].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def plot_occlusion(tiles: pd.DataFrame, title: str = "") -> Figure:
    """Violins per modality and replacement over test tiles: bottleneck-embedding distance
    (relative) and drop in tile mIoU (``tiles`` from :func:`eoxai.xai.modality.modality_occlusion`)."""
    per_tile = tiles.drop_duplicates(["tile_row", "tile_col", "modality", "replacement"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
    pal = plots.class_colours(per_tile["replacement"].nunique())
    for ax, col, label in ((axes[0], "embedding_l2_relative", "||e(occluded) - e(x)|| / ||e(x)||"),
                           (axes[1], "miou_drop", "tile mIoU(x) - mIoU(occluded)")):
        sns.violinplot(data=per_tile, x="modality", y=col, hue="replacement", ax=ax, palette=pal, cut=0,
                       inner="point", density_norm="width", linewidth=0.7)
        ax.set_ylabel(label)
        ax.set_xlabel("occluded modality")
    axes[0].set_title("bottleneck embedding distance")
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[1].set_title("segmentation quality lost")
    fig.suptitle(title or "modality occlusion on the test tiles")
    return fig


def plot_influence(merged: pd.DataFrame, title: str = "") -> Figure:
    """Occlusion-derived influence against the influence head's learned influence (1 - score)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.2), constrained_layout=True)
    if merged.empty:
        ax.text(0.5, 0.5, "no tile has both a learned score\nand an occlusion influence", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(title or "learned vs occlusion-derived modality influence")
        return fig
    sns.scatterplot(data=merged, x="influence", y="head_influence", hue="modality", ax=ax,
                    palette=plots.class_colours(merged["modality"].nunique()))
    ax.set_xlabel("occlusion influence: tile mIoU drop (training-mean replacement)")
    ax.set_ylabel("influence head: 1 - score")
    ax.set_title(title or "learned vs occlusion-derived modality influence")
    return fig


def plot_scorecard(card: pd.DataFrame, title: str = "") -> Figure:
    """Four panels, one bar per method (hue: stack): deletion AUC, insertion AUC, similarity to the
    randomised model's map, and stability across training seeds; plus the correctness on known
    answers (notebook 11: true-band MRR, AUROC against the true evidence) where ``card`` has them."""
    panels = [("deletion_auc", "deletion AUC (lower = more faithful)"),
              ("insertion_auc", "insertion AUC (higher = more faithful)"),
              ("randomisation_spearman_abs", "Spearman |map| vs randomised model\n(lower = passes sanity;"
                                             " random: two independent draws)"),
              ("seed_stability_spearman", "Spearman between training seeds\n(higher = more stable)")]
    known = [(c, label) for c, label in (("known_band_mrr", "true-band MRR, synthetic labels\n(higher = correct)"),
                                         ("known_evidence_auroc", "AUROC vs true evidence, synthetic labels\n"
                                                                  "(higher = correct; 0.5 chance)"))
             if c in card and card[c].notna().any()]  # notebook 11's correctness columns, where graded
    panels += known
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.8), constrained_layout=True)
    hue = "stack" if "stack" in card else None
    for i, (ax, (col, label)) in enumerate(zip(axes, panels, strict=True)):
        sns.barplot(data=card, x="method", y=col, hue=hue, ax=ax, legend=i == len(panels) - 1,
                    palette=plots.class_colours(card[hue].nunique()) if hue else None)
        ax.set_ylabel(label, fontsize=8)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=30)
        ax.axhline(0, color="grey", lw=0.6)
    if hue:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=hue)
    fig.suptitle(title or "explanation scorecard")
    return fig


def plot_curves(curves: pd.DataFrame, title: str = "") -> Figure:
    """Mean deletion and insertion curves per method (rows: stacks)."""
    stacks = list(dict.fromkeys(curves["stack"])) if "stack" in curves else [None]
    fig, axes = plt.subplots(len(stacks), 2, figsize=(10, 3.4 * len(stacks)), squeeze=False, constrained_layout=True)
    methods = list(dict.fromkeys(curves["method"]))
    pal = dict(zip(methods, plots.class_colours(len(methods)), strict=True))
    for row, stack in zip(axes, stacks, strict=True):
        sub = curves if stack is None else curves[curves["stack"] == stack]
        for ax, col in zip(row, ("deletion", "insertion"), strict=True):
            sns.lineplot(data=sub, x="fraction", y=col, hue="method", ax=ax, palette=pal, errorbar=None)
            ax.set_xlabel(f"fraction of pixels {'removed' if col == 'deletion' else 'revealed'}")
            ax.set_ylabel("target score (mean probability over the region)")
            ax.set_title(f"{stack or ''} {col}")
    fig.suptitle(title or "deletion and insertion curves (Petsiuk et al. 2018)")
    return fig


def plot_agreement(agreement: pd.DataFrame, level: str = "spatial", title: str = "") -> Figure:
    """Heatmaps of the mean Spearman correlation between methods' rankings, one per stack."""
    sub = agreement[agreement["level"] == level]
    stacks = list(dict.fromkeys(sub["stack"])) if "stack" in sub else [None]
    fig, axes = plt.subplots(1, len(stacks), figsize=(4.6 * len(stacks), 3.9), squeeze=False, constrained_layout=True)
    for ax, stack in zip(axes[0], stacks, strict=True):
        s = sub if stack is None else sub[sub["stack"] == stack]
        mean = s.groupby(["a", "b"])["spearman"].mean()
        names = list(dict.fromkeys([*s["a"], *s["b"]]))
        mat = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
        for (a, b), v in mean.items():
            mat.loc[a, b] = mat.loc[b, a] = v
        sns.heatmap(mat, ax=ax, cmap=plots.DIVERGING, vmin=-1, vmax=1, annot=True, fmt=".2f", square=True,
                    cbar_kws={"label": "mean Spearman rho"})
        ax.set_title(f"{stack or ''}: {level} agreement")
    fig.suptitle(title or "agreement between explanation methods")
    return fig
