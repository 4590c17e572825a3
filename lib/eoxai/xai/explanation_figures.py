"""The XAI stage's figures (notebooks 04-08b and 10's SHAP part), one plotting home.

Interclass Grad-CAM bars and heat maps (04), Spectral-Grad-CAM violins, effect heat maps and group
bars (05), the three methods' maps side by side (06), SHAP maps and band-group SHAP (07), modality
occlusion and influence (08), the explanation scorecard, curves and agreement (08b), and scene SHAP
maps and the blur drop (10).

Every figure labels itself from the data's coordinates and table columns (band, class, modality
and method names); palettes from :mod:`eoxai.plots` (Okabe-Ito, cividis, RdBu_r).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import xarray as xr
from matplotlib.figure import Figure

from eoxai import plots
from eoxai.xai.maps import tile_keys
from eoxai.xai.spectral import violin_values


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
    per_tile = tiles.drop_duplicates([*tile_keys(tiles), "modality", "replacement"])
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


def plot_scene_shap(
    rgb: np.ndarray, shap_maps: xr.DataArray, true_class: str | None = None, title: str | None = None,
) -> Figure:
    """The seed's figure for one image: the scene, then one SHAP map per top-k class.

    ``rgb`` is ``(H, W, 3)`` in [0, 1]; ``shap_maps`` is ``(rank, y, x)`` with ``class_name`` and
    ``probability`` coordinates (one image of :func:`eoxai.xai.scene_shap.explain_scenes`'s result). Maps share one
    symmetric diverging scale (``RdBu_r``: red raises the class probability, blue lowers it) over a
    grey copy of the scene.
    """
    import matplotlib.pyplot as plt

    from eoxai.plots import DIVERGING

    k = shap_maps.sizes["rank"]
    vmax = float(np.nanpercentile(np.abs(shap_maps.values), 99.5)) or 1e-12
    fig, axes = plt.subplots(1, k + 1, figsize=(2.3 * (k + 1) + 0.8, 2.9), constrained_layout=True)
    axes[0].imshow(rgb, interpolation="nearest")
    axes[0].set_title(f"scene\ntrue: {true_class}" if true_class else "scene", fontsize=9)
    grey = rgb.mean(axis=2)
    im = None
    for j in range(k):
        m = shap_maps.isel(rank=j)
        ax = axes[j + 1]
        ax.imshow(grey, cmap="gray", alpha=0.35, interpolation="nearest")
        im = ax.imshow(m.values, cmap=DIVERGING, vmin=-vmax, vmax=vmax, alpha=0.85, interpolation="nearest")
        ax.set_title(f"{j + 1}. {m.class_name.item()}\np = {float(m.probability):.2f}", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel("64 px = 640 m", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=list(axes[1:]), shrink=0.85, label="SHAP value\n(change of probability)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_blur_drop(table: pd.DataFrame, label: str = "image", title: str | None = None) -> Figure:
    """Per image: probability drop after blurring the top SHAP pixels vs random pixels (mean +- sd)."""
    import matplotlib.pyplot as plt

    from eoxai.plots import OKABE_ITO

    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(table) + 2), 3.6), constrained_layout=True)
    pos = np.arange(len(table))
    ax.bar(pos - 0.2, table["drop_top"], width=0.4, color=OKABE_ITO[5], label="top SHAP pixels blurred")
    ax.bar(pos + 0.2, table["drop_random"], width=0.4, yerr=table["drop_random_std"].fillna(0), capsize=3,
           color=OKABE_ITO[1], label="random pixels blurred (mean ± sd)")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(pos, [str(v) for v in table[label]], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("drop of the class probability")
    ax.legend(fontsize=8)
    ax.set_title(title or "blur drop per image")
    return fig


def plot_method_maps(
    composite: np.ndarray,
    label: np.ndarray,
    maps: Mapping[str, xr.DataArray],
    class_names: Sequence[str],
    row_titles: Sequence[str] | None = None,
    composite_title: str = "input",
    title: str | None = None,
) -> Figure:
    """One row per instance: input composite, label, then each method's ``(sample, y, x)`` map.

    composite ``(N, 3, H, W)`` (or ``(N, H, W)``, shown in grey) in data units, stretched per
    instance; label ``(N, H, W)`` with -1 = no label. Signed maps use the diverging palette,
    centred on 0 with each panel's own symmetric range (methods have different units).
    """
    import matplotlib.pyplot as plt

    from eoxai.plots import DIVERGING, SEQUENTIAL, class_cmap, class_legend, stretch

    n = len(label)
    names = list(maps)
    fig, axes = plt.subplots(n, 2 + len(names), figsize=(3.0 * (2 + len(names)), 2.9 * n + 0.5),
                             squeeze=False, constrained_layout=True)
    cmap, norm = class_cmap(class_names)
    for i in range(n):
        img = np.asarray(composite[i])
        axes[i, 0].imshow(stretch(img), cmap=None if img.ndim == 3 else SEQUENTIAL, interpolation="nearest")
        axes[i, 0].set_title(composite_title if row_titles is None else f"{row_titles[i]}\n{composite_title}", fontsize=8)
        axes[i, 1].imshow(label[i], cmap=cmap, norm=norm, interpolation="nearest")
        axes[i, 1].set_title("label", fontsize=8)
        for j, name in enumerate(names):
            m = np.asarray(maps[name].isel(sample=i))
            lim = float(np.abs(m).max()) or 1.0
            im = axes[i, 2 + j].imshow(m, cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
            axes[i, 2 + j].set_title(name, fontsize=8)
            fig.colorbar(im, ax=axes[i, 2 + j], shrink=0.75, label=maps[name].attrs.get("units", "attribution"))
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    class_legend(axes[0, 1], class_names, fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("column (pixels)")
    if title:
        fig.suptitle(title)
    return fig


def plot_seed_bars(normalised: xr.Dataset, targets: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """The seed's bar plot for each target class: positive (right) and negative (left) bars per region, and net.

    ``normalised`` from :func:`eoxai.xai.interclass.seed_normalise`. One row of two panels per target class.
    """
    import matplotlib.pyplot as plt

    from eoxai.plots import OKABE_ITO

    targets = [str(t) for t in (targets if targets is not None else normalised.target.values)]
    regions = [str(r) for r in normalised.region.values]
    y = np.arange(len(regions))
    fig, axes = plt.subplots(len(targets), 2, figsize=(10, 1.0 + 0.45 * len(regions) * len(targets)),
                             sharex=True, squeeze=False, constrained_layout=True)
    pos_c, neg_c = OKABE_ITO[4], OKABE_ITO[5]
    for row, t in zip(axes, targets, strict=True):
        sel = normalised.sel(target=t)
        row[0].barh(y, sel["positive"].values, color=pos_c, label="positive pixels (normalised)")
        row[0].barh(y, -sel["negative"].values, color=neg_c, label="negative pixels (normalised)")
        net = sel["net"].values
        row[1].barh(y, net, color=[pos_c if v >= 0 else neg_c for v in net])
        for ax, what in zip(row, ("positive and negative", "net = positive - negative"), strict=True):
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(y, regions)
            ax.set_xlim(-1.05, 1.05)
            ax.set_title(f"Grad-CAM of '{t}': {what}", fontsize=9)
            ax.set_ylabel("predicted region")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    for ax in axes[-1]:
        ax.set_xlabel("pixel count / its own maximum (1)")
    if title:
        fig.suptitle(title)
    return fig


def plot_heatmaps(matrices: dict[str, xr.DataArray], title: str | None = None) -> Figure:
    """Side-by-side heatmaps of ``(target, region)`` matrices (e.g. seed net vs magnitude shares)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from eoxai.plots import DIVERGING, SEQUENTIAL

    n = len(matrices)
    k = max(m.sizes["target"] for m in matrices.values())
    ncols = min(n, 2)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * (2.6 + 0.75 * k), nrows * (1.6 + 0.6 * k)),
                             squeeze=False, constrained_layout=True)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (name, m) in zip(axes.ravel(), matrices.items(), strict=False):
        signed = float(m.min()) < 0
        sns.heatmap(m.to_pandas(), ax=ax, annot=True, fmt=".2f", cmap=DIVERGING if signed else SEQUENTIAL,
                    vmin=-1 if signed else 0, vmax=1, square=True, cbar_kws={"shrink": 0.7, "label": "(1)"},
                    annot_kws={"fontsize": 7})
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("predicted region k")
        ax.set_ylabel("explained class c")
        ax.tick_params(axis="x", rotation=30)
    if title:
        fig.suptitle(title)
    return fig


def plot_violins(ds: xr.Dataset, classes: Sequence[str] | None = None, kind: str = "band", seed: int = 0,
                 title: str | None = None, max_pixels: int = 2000) -> Figure:
    """One panel per class, one violin per band (seed's Spectral-Grad-CAM figure), values as :func:`violin_values`.

    Violins show the density (width-normalised), the quartiles (white ticks) and the median (black).
    """
    import matplotlib.pyplot as plt

    from eoxai.plots import class_colours

    classes = [str(c) for c in (classes if classes is not None else ds["class"].values)]
    names = [str(g) for g, k in zip(ds["group"].values, ds["kind"].values, strict=True) if k == kind]
    fig, axes = plt.subplots(1, len(classes), figsize=(2.2 + 3.0 * len(classes), 1.2 + 0.28 * len(names)),
                             sharey=True, squeeze=False, constrained_layout=True)
    colours = class_colours(len(ds["class"]))
    pos = np.arange(len(names))[::-1]
    for ax, cls in zip(axes[0], classes, strict=True):
        df = violin_values(ds, cls, kind=kind, seed=seed, max_pixels=max_pixels)
        data = [df.loc[df["group"] == g, "value"].to_numpy() for g in names]
        flat = [d if np.ptp(d) > 0 else d + np.linspace(-1e-3, 1e-3, len(d)) for d in data]  # KDE needs spread
        parts = ax.violinplot(flat, positions=pos, orientation="horizontal", widths=0.85, showextrema=False)
        colour = colours[list(map(str, ds["class"].values)).index(cls)]
        for body in parts["bodies"]:
            body.set_facecolor(colour)
            body.set_edgecolor("black")
            body.set_linewidth(0.4)
            body.set_alpha(0.85)
        q = np.array([np.percentile(d, [25, 50, 75]) for d in data])
        ax.scatter(q[:, [0, 2]].ravel(), np.repeat(pos, 2), marker="|", color="white", s=30, zorder=3)
        ax.scatter(q[:, 1], pos, marker="d", color="black", s=12, zorder=3)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlim(-1.05, 1.05)
        ax.set_yticks(pos, names)
        ax.set_xlabel("Grad-CAM / peak |Grad-CAM| of input (1)")
        ax.set_title(f"class '{cls}'", fontsize=9)
    axes[0, 0].set_ylabel(kind)
    if title:
        fig.suptitle(title)
    return fig


def _settings(table: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(table["baseline"], table["mode"], strict=True)))


def plot_effect_heatmap(table: pd.DataFrame, kind: str = "band", by: str = "cam_effect_rel",
                        title: str | None = None) -> Figure:
    """Group x class heatmap of ``by``, one panel per (baseline, mode) setting of ``table``."""
    import matplotlib.pyplot as plt

    from eoxai.plots import SEQUENTIAL

    t = table[table["kind"] == kind]
    settings = _settings(t)
    groups = list(dict.fromkeys(t["group"]))
    classes = list(dict.fromkeys(t["class"]))
    vmax = float(t[by].quantile(0.98)) or None
    fig, axes = plt.subplots(1, len(settings), figsize=(1.5 + (0.55 * len(classes) + 1.4) * len(settings),
                                                        1.4 + 0.26 * len(groups)),
                             sharey=True, squeeze=False, constrained_layout=True)
    for ax, (base, mode) in zip(axes[0], settings, strict=True):
        s = t[(t["baseline"] == base) & (t["mode"] == mode)]
        wide = s.pivot(index="group", columns="class", values=by).loc[groups, classes]
        im = ax.imshow(wide.to_numpy(), cmap=SEQUENTIAL, vmin=0, vmax=vmax, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
        ax.set_yticks(range(len(groups)), groups)
        ax.set_title(f"{mode}, baseline '{base}'", fontsize=9)
        ax.set_xlabel("class")
    axes[0, 0].set_ylabel(kind)
    fig.colorbar(im, ax=axes[0, -1], label=f"{by} (1)", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_group_bars(table: pd.DataFrame, by: str = "cam_effect_rel", title: str | None = None) -> Figure:
    """Bars of ``by`` per modality group (``kind == 'modality'``) and class, one panel per setting."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from eoxai.plots import class_colours

    t = table[table["kind"] == "modality"]
    settings = _settings(t)
    classes = list(dict.fromkeys(t["class"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(1.5 + 3.3 * len(settings), 3.6), sharey=True,
                             squeeze=False, constrained_layout=True)
    for i, (ax, (base, mode)) in enumerate(zip(axes[0], settings, strict=True)):
        s = t[(t["baseline"] == base) & (t["mode"] == mode)]
        sns.barplot(data=s, x="group", y=by, hue="class", hue_order=classes, palette=class_colours(len(classes)),
                    ax=ax, legend=i == len(settings) - 1)
        ax.set_title(f"{mode}, baseline '{base}'", fontsize=9)
        ax.set_xlabel("modality group")
        ax.set_ylabel(f"{by} (1)" if i == 0 else "")
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.01, 1), fontsize=7, title="class")
    if title:
        fig.suptitle(title)
    return fig
