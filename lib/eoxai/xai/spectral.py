"""Spectral-Grad-CAM: what does each band (or modality) contribute to the Grad-CAM of each class?

Ebrahimi & Kumar (IEEE JSTARS 18, 2025) keep one band, set every other band to zero, rerun
Grad-CAM for one hard-coded class, clip the map to [-1, 1] and draw one violin per band. Here:

- groups are single bands *and* modality groups (``s1``, ``s2_t1``, ``s2_t2``, ``dem``), named by
  the data's own band coordinate;
- two perturbations: ``'keep'`` (the seed's keep-one: the group keeps its values, every other
  band is set to the baseline) and ``'drop'`` (leave-one-out: only the group is set to the
  baseline);
- any baseline per band, e.g. zero in raw units or the training mean (0 in z-score space);
- every class at once, batched over groups and images: the cost is ``ceil(G * B / batch_size)``
  all-class Grad-CAM passes (:func:`eoxai.xai.gradcam.gradcam_all_classes`), not one per band
  per class per image.

A band's effect is measured against the right reference: keep-one against the all-baseline
input (what the band alone adds), leave-one-out against the unperturbed input (what is lost
without it). :func:`spectral_table` reports the CAM effect (mean absolute change of the map) and
the score effect (change of the explained score) per group and class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from eoxai.errors import BandCountError
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs, check_targets, resolve_layer
from eoxai.xai.gradcam import AllClassGradCAM, ScoreFn, last_conv_layer
from eoxai.xai.maps import modality_of_bands

Mode = Literal["keep", "drop"]
MODES = ("keep", "drop")


def band_groups(bands: Sequence[str], modalities: Mapping[str, int] | None = None,
                per_band: bool = True, per_modality: bool = True) -> dict[str, list[int]]:
    """Groups of band indices: one per band (named by the band) and one per modality (named by it).

    ``modalities`` maps modality name -> band count in input order (a checkpoint's ``meta``).
    """
    groups: dict[str, list[int]] = {}
    if per_band:
        groups.update({str(b): [i] for i, b in enumerate(bands)})
    if per_modality and modalities:
        mods = modality_of_bands(modalities)
        if len(mods) != len(bands):
            raise BandCountError(f"modalities {dict(modalities)} give {len(mods)} bands, not {len(bands)}")
        for name in modalities:
            groups.setdefault(str(name), [i for i, m in enumerate(mods) if m == name])
    return groups


def group_kinds(groups: Mapping[str, Sequence[int]], bands: Sequence[str]) -> dict[str, str]:
    """``'band'`` for a group named after a band, ``'modality'`` otherwise (a single-band DEM is both)."""
    names = set(map(str, bands))
    return {g: "band" if g in names else "modality" for g in groups}


def baseline_values(band_mean: Sequence[float], band_std: Sequence[float], kind: str) -> torch.Tensor:
    """Per-band baseline in z-score input space: ``'zero'`` (raw value 0 -> ``-mean/std``) or ``'mean'`` (0).

    ``band_mean``/``band_std`` are the training statistics used to z-score the input
    (``eoxai.fusion``'s ``band_mean``/``band_std``).
    """
    mean, std = np.asarray(band_mean, np.float64), np.asarray(band_std, np.float64)
    if kind == "mean":
        return torch.zeros(len(mean))
    if kind == "zero":
        return torch.from_numpy(-mean / np.where(std > 0, std, 1.0))
    raise ValueError(f"unknown baseline {kind!r}; use 'zero' (raw 0) or 'mean' (training mean)")


def _baseline(baseline: float | torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    b = torch.as_tensor(baseline, dtype=inputs.dtype, device=inputs.device)
    if b.ndim == 0:
        b = b.expand(inputs.shape[1])
    if b.shape != (inputs.shape[1],):
        raise BandCountError(f"baseline has {tuple(b.shape)} values; inputs have {inputs.shape[1]} bands")
    return b.view(1, -1, 1, 1)


def perturb(inputs: torch.Tensor, bands: Sequence[int], mode: Mode, baseline: float | torch.Tensor = 0.0) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H, W)`` with ``bands`` kept (others at baseline) or dropped (set to baseline)."""
    if mode not in MODES:
        raise ValueError(f"unknown perturbation {mode!r}; use one of {MODES}")
    base = _baseline(baseline, inputs).expand_as(inputs)
    sel = torch.zeros(inputs.shape[1], dtype=torch.bool, device=inputs.device)
    sel[list(bands)] = True
    sel = sel.view(1, -1, 1, 1)
    return torch.where(sel, inputs, base) if mode == "keep" else torch.where(sel, base, inputs)


class SpectralGradCAM:
    """Grad-CAM of every class under band/modality perturbations, batched over groups and images.

    ``SpectralGradCAM(model, layer).attribute(inputs, groups, mode='keep', baseline=0.0)``

    model: eval-mode ``nn.Module``, ``(B, C, H, W)`` -> logits ``(B, K, H, W)``; layer: as
    :class:`~eoxai.xai.gradcam.AllClassGradCAM` (default the last Conv2d); score: the per-class
    target (default the seed's sum of softmax); batch_size: perturbed images per pass at most,
    fewer if they do not fit ``memory_mb`` (the profile's ``explainer_memory_mb``; None: the
    device's default budget, :mod:`eoxai.xai.budget`).
    """

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None,
                 score: str | ScoreFn = "softmax_sum", batch_size: int | None = 64,
                 class_names: Sequence[str] | None = None, memory_mb: float | None = None) -> None:
        self.model = model
        self.layer = last_conv_layer(model) if layer is None else layer
        resolve_layer(model, self.layer)
        self.score = score
        self.batch_size = None if batch_size is None else int(batch_size)
        self.memory_mb = memory_mb
        self.class_names = list(class_names) if class_names is not None else getattr(model, "class_names", None)

    def attribute(self, inputs: torch.Tensor, groups: Mapping[str, Sequence[int]], mode: Mode = "keep",
                  baseline: float | torch.Tensor = 0.0, target: int | Sequence[int] | None = None,
                  kinds: Mapping[str, str] | None = None) -> xr.Dataset:
        """CAMs and scores of every class for each perturbed group, plus the two references.

        inputs ``(B, C, H, W)``; groups name -> band indices (:func:`band_groups`); baseline a
        scalar or ``(C,)`` values; target class indices (default all). Returns a Dataset::

            cam            (group, sample, class, y, x)  Grad-CAM of the perturbed input
            score          (group, sample, class)        explained score of the perturbed input
            cam_input, score_input        (sample, class[, y, x])  unperturbed input
            cam_baseline, score_baseline  (sample, class[, y, x])  every band at the baseline

        with coordinates ``group``, ``kind`` (from ``kinds``, e.g. :func:`group_kinds`; default
        'band' for a one-band group, else 'modality'), ``bands``
        (the group's band indices as text), ``class`` and attrs ``mode``, ``reference``.
        """
        check_eval_mode(self.model)
        check_inputs(self.model, inputs)
        if mode not in MODES:
            raise ValueError(f"unknown perturbation {mode!r}; use one of {MODES}")
        names = list(groups)
        if not names:
            raise ValueError("no band groups given")
        c = inputs.shape[1]
        bad = {g: list(b) for g, b in groups.items() if not b or any(not 0 <= int(i) < c for i in b)}
        if bad:
            raise BandCountError(f"groups {bad} name band indices outside 0..{c - 1} (or none)")
        b_count = inputs.shape[0]
        base = _baseline(baseline, inputs)
        with torch.no_grad():
            logits = self.model(inputs[:1])
        n_classes = logits.shape[1]
        classes = check_targets(range(n_classes) if target is None else target, n_classes)
        perturbed = torch.cat([perturb(inputs, groups[g], mode, base.view(-1)) for g in names]
                              + [inputs, base.expand_as(inputs)])
        step = budget_batch_size(self.model, inputs.shape[1:], self.memory_mb, cap=self.batch_size or len(perturbed),
                                 dtype=inputs.dtype)
        r = AllClassGradCAM(self.model, self.layer, self.score, batch_size=step).attribute_all(perturbed, classes)
        cams, scores = r.cams, r.scores
        g = len(names)
        cams = cams.view(g + 2, b_count, len(classes), *cams.shape[-2:]).cpu().numpy()
        scores = scores.view(g + 2, b_count, len(classes)).cpu().numpy()
        cls_names = [str(self.class_names[i]) if self.class_names else str(i) for i in classes]
        kind = [kinds[n] if kinds else ("band" if len(groups[n]) == 1 else "modality") for n in names]
        coords = {"group": names, "kind": ("group", kind),
                  "bands": ("group", [",".join(str(int(i)) for i in groups[n]) for n in names]),
                  "sample": np.arange(b_count), "class": cls_names, "class_index": ("class", classes)}
        ds = xr.Dataset(
            {"cam": (("group", "sample", "class", "y", "x"), cams[:g]),
             "score": (("group", "sample", "class"), scores[:g]),
             "cam_input": (("sample", "class", "y", "x"), cams[g]),
             "score_input": (("sample", "class"), scores[g]),
             "cam_baseline": (("sample", "class", "y", "x"), cams[g + 1]),
             "score_baseline": (("sample", "class"), scores[g + 1])},
            coords=coords,
            attrs={"mode": mode, "reference": "baseline" if mode == "keep" else "input",
                   "method": "Spectral-Grad-CAM (Ebrahimi & Kumar 2025), batched, all classes"},
        )
        return ds


def spectral_table(ds: xr.Dataset, valid: np.ndarray | None = None) -> pd.DataFrame:
    """One row per ``(group, class)`` of a :meth:`SpectralGradCAM.attribute` result.

    Columns: ``group, kind, class, mode, cam_mean`` (mean CAM of the perturbed input, the seed's
    quantity), ``cam_effect`` (mean ``|CAM - CAM_reference|``), ``cam_effect_rel`` (the same over
    the mean ``|CAM_input|``, comparable across classes), ``score_effect`` (keep: score minus
    the all-baseline score, i.e. what the group alone adds; drop: the input's score minus the
    score without the group, i.e. what is lost). ``valid`` ``(sample, y, x)`` bool restricts the
    pixel means (default all pixels).
    """
    ref_cam = ds["cam_baseline"] if ds.attrs["mode"] == "keep" else ds["cam_input"]
    w = xr.ones_like(ds["cam_input"].isel({"class": 0}, drop=True)) if valid is None else xr.DataArray(
        np.asarray(valid, np.float64), dims=("sample", "y", "x"))
    dims = ("sample", "y", "x")
    wsum = float(w.sum())
    cam_mean = (ds["cam"] * w).sum(dims) / wsum
    effect = (abs(ds["cam"] - ref_cam) * w).sum(dims) / wsum
    scale = (abs(ds["cam_input"]) * w).sum(dims) / wsum
    if ds.attrs["mode"] == "keep":
        score_effect = (ds["score"] - ds["score_baseline"]).mean("sample")
    else:
        score_effect = (ds["score_input"] - ds["score"]).mean("sample")
    out = xr.Dataset({"cam_mean": cam_mean, "cam_effect": effect,
                      "cam_effect_rel": effect / scale.where(scale > 0), "score_effect": score_effect})
    df = out.to_dataframe().reset_index()
    df.insert(2, "mode", ds.attrs["mode"])
    return df[["group", "kind", "class", "mode", "cam_mean", "cam_effect", "cam_effect_rel", "score_effect"]]


def rank_groups(table: pd.DataFrame, by: str = "cam_effect") -> pd.DataFrame:
    """Rank of each group within each ``(mode, class, kind)`` by ``by`` (1 = largest)."""
    t = table.copy()
    t["rank"] = t.groupby(["mode", "class", "kind"])[by].rank(ascending=False, method="min").astype(int)
    return t


def violin_values(ds: xr.Dataset, cls: str, kind: str = "band", clip: float = 1.0, max_pixels: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """The seed's violin data: each group's CAM of class ``cls``, scaled and clipped to ``[-clip, clip]``.

    CAMs are divided by the largest ``|CAM|`` of the unperturbed input per sample (so 1 = the
    peak of the real map; the seed clipped raw values), then clipped as in the seed. At most
    ``max_pixels`` pixels per group, drawn with ``seed``. Columns ``group, value``.
    """
    cam = ds["cam"].sel({"class": cls})
    cam = cam.isel(group=np.flatnonzero(ds["kind"].values == kind))
    peak = abs(ds["cam_input"].sel({"class": cls})).max(("y", "x"))
    values = (cam / peak.where(peak > 0)).fillna(0.0).clip(-clip, clip)
    flat = values.stack(pixel=("sample", "y", "x")).transpose("group", "pixel").values
    rng = np.random.default_rng(seed)
    idx = rng.choice(flat.shape[1], size=min(max_pixels, flat.shape[1]), replace=False)
    groups = [str(gr) for gr in cam.group.values]
    return pd.DataFrame({"group": np.repeat(groups, len(idx)), "value": flat[:, idx].ravel()})


def setting_agreement(table: pd.DataFrame, by: str = "cam_effect_rel") -> pd.DataFrame:
    """Do the perturbations and baselines rank the bands alike? Spearman correlations of ``by``.

    ``table``: :func:`spectral_table` rows with a ``baseline`` column (and optionally ``stack``).
    For each (stack,) class: ``keep vs drop`` at each baseline and ``<b1> vs <b2> baseline`` for
    each mode, over single bands. Columns ``[stack,] class, comparison, setting, spearman``.
    """
    from scipy.stats import spearmanr

    keys = [k for k in ("stack",) if k in table.columns]
    bands = table[table["kind"] == "band"]
    rows = []
    for key, t in bands.groupby([*keys, "class"], sort=False):
        wide = t.pivot_table(index="group", columns=["baseline", "mode"], values=by)
        bases = list(dict.fromkeys(t["baseline"]))
        modes = list(dict.fromkeys(t["mode"]))
        pairs = [(f"{modes[0]} vs {modes[1]}", b, (b, modes[0]), (b, modes[1])) for b in bases if len(modes) == 2]
        pairs += [(f"{bases[0]} vs {bases[1]} baseline", m, (bases[0], m), (bases[1], m)) for m in modes if len(bases) == 2]
        for comparison, setting, a, b in pairs:
            rho = spearmanr(wide[a], wide[b]).statistic if wide[a].std() > 0 and wide[b].std() > 0 else np.nan
            rows.append({**dict(zip([*keys, "class"], key if isinstance(key, tuple) else (key,), strict=True)),
                         "comparison": comparison, "setting": setting, "spearman": float(rho)})
    return pd.DataFrame(rows)
