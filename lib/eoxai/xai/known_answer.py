"""Known-answer benchmark: synthetic labels whose true explanation is known, and how to grade maps against it.

The compendium's other checks of explanations (deletion/insertion, randomisation, agreement,
stability; :mod:`eoxai.xai.scoring`) are proxies: none says whether an explainer finds what the
model *actually* uses. Here the task is built so that the answer is known (the "controlled
relevance" idea of Arras, Osman & Samek 2022, *CLEVR-XAI*, Information Fusion 81, and of Yang &
Kim 2019, *Benchmarking attribution methods with relative feature importance*): on the real
pixels of a fused cube, a **synthetic rule** computes the label from named bands, so the bands,
the modality and (for a spatial rule) the evidence pixels that decide the label are known. A
model of the compendium is trained on those labels with the same training code
(:func:`eoxai.train.fit_tiles`); if it reaches a high held-out accuracy and loses it when the rule's
bands are permuted, it uses the rule, and every explainer can be graded against the truth.

Rules (:class:`SyntheticRule`; band and modality names come from the cube's own ``band`` and
``modality`` coordinates, bands are named ``<modality>.<band>``):

- ``band``: one band's z-score, or the normalised difference ``(a - b) / (a + b)`` of two bands'
  raw values (e.g. S1 VV and VH), thresholded at its training-pixel quantile (the median: balanced
  classes). Truth: those bands and their modality.
- ``modality``: the mean z-score of every band of one modality (e.g. ``s1`` or ``dem``),
  thresholded the same way. Truth: that modality and all its bands.
- ``spatial``: *marks* are the pixels where one band's (smoothed) z-score exceeds its training quantile
  (e.g. the brightest 5 % of VH); a pixel is ``synthetic_high`` when a mark lies within
  ``radius`` pixels (Euclidean). Truth: the band, its modality and the marks (the evidence pixels).

Labels are named ``synthetic_low``/``synthetic_high`` and never mix with the real labels
(:func:`synthetic_cube` replaces the label and class coordinate of a copy of the cube).

Grading (every method's relevance is read as a magnitude, ``|value|``: a band or pixel matters
whichever class it pushes towards):

- bands: :func:`reciprocal_rank` of the best-ranked true band (averaged: mean reciprocal rank)
  and :func:`precision_at_k` (k = the number of true bands);
- modality: :func:`top_is_true` (the true modality ranks first);
- evidence pixels (spatial rules): the pointing game (Zhang et al. 2018, *Top-down neural
  attention by excitation backprop*, IJCV; :func:`pointing_game`) and the AUROC of the map
  against the marks (:func:`evidence_auroc`, ``sklearn.metrics.roc_auc_score``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy import ndimage, stats
from torch import nn

from eoxai.errors import KnownAnswerError
from eoxai.split import TRAIN
from eoxai.stats import mean_ci

RULE_KINDS = ("band", "modality", "spatial")
#: the synthetic classes, index 0 and 1: named so they can never be read as real classes
CLASS_NAMES = ("synthetic_low", "synthetic_high")
IGNORE = -1


@dataclass(frozen=True)
class Truth:
    """What a synthetic rule's label depends on: ``bands`` (names), their ``modality`` and, for a
    spatial rule, ``evidence`` ``(y, x)`` bool (the marks); None for per-pixel rules."""

    bands: tuple[str, ...]
    modality: str
    evidence: np.ndarray | None = None


@dataclass(frozen=True)
class SyntheticLabels:
    """A rule applied to a cube: ``label`` ``(y, x)`` int16 (0/1, -1 where the rule's bands lack
    data), the ``index`` ``(y, x)`` it thresholds, the ``threshold`` (set on training pixels) and the ``truth``."""

    rule: str
    label: np.ndarray
    index: np.ndarray
    threshold: float
    truth: Truth


@dataclass(frozen=True)
class SyntheticRule:
    """A synthetic labelling rule; see the module docstring for the three ``kind`` s.

    ``bands``: band names (``band``: one or two; ``spatial``: one). ``modality``: the modality of
    a ``modality`` rule. ``quantile``: of the index over valid training pixels, the threshold
    (``band``/``modality``, 0.5: balanced) or the mark level (``spatial``). ``radius``: pixels
    (``spatial`` only). ``smooth``: the Gaussian sigma in pixels of a NaN-aware smoothing of the
    index before it is thresholded (0: none). Smoothing keeps the truth (the same bands decide the
    label) but turns single-pixel speckle into regions a few pixels wide, which the compendium's
    encoder-decoders (stride-4 encoders) can learn within a quick budget; a spatial rule's marks
    become blobs of a few pixels instead of isolated bright pixels.
    """

    name: str
    kind: str
    bands: tuple[str, ...] = ()
    modality: str | None = None
    quantile: float = 0.5
    radius: float = 0.0
    smooth: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise KnownAnswerError(f"rule {self.name!r}: unknown kind {self.kind!r}; expected one of {RULE_KINDS}")
        if not 0.0 < self.quantile < 1.0:
            raise KnownAnswerError(f"rule {self.name!r}: quantile {self.quantile} must lie in (0, 1)")
        if self.kind == "band" and len(self.bands) not in (1, 2):
            raise KnownAnswerError(f"band rule {self.name!r} needs one or two bands, got {list(self.bands)}")
        if self.kind == "spatial" and (len(self.bands) != 1 or self.radius <= 0):
            raise KnownAnswerError(f"spatial rule {self.name!r} needs one band and a radius > 0")
        if self.smooth < 0:
            raise KnownAnswerError(f"rule {self.name!r}: smooth {self.smooth} must be >= 0 (0: none)")
        if self.kind == "modality" and not self.modality:
            raise KnownAnswerError(f"modality rule {self.name!r} needs a modality")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SyntheticRule:
        """From a profile entry ``{name, kind, bands?, modality?, quantile?, radius?, smooth?}``."""
        known = {"name", "kind", "bands", "modality", "quantile", "radius", "smooth"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KnownAnswerError(f"unknown rule option(s) {unknown}; known: {sorted(known)}")
        v = dict(values)
        v["bands"] = tuple(str(b) for b in v.get("bands", ()))
        return cls(**v)

    def true_bands(self, cube: xr.Dataset) -> tuple[str, ...]:
        """The bands the label depends on, checked against the cube's ``band`` coordinate."""
        names = [str(b) for b in cube["band"].values]
        if self.kind == "modality":
            mods = [str(m) for m in cube["modality"].values]
            if self.modality not in mods:
                raise KnownAnswerError(f"rule {self.name!r}: modality {self.modality!r} not in the cube "
                                       f"({sorted(set(mods))})")
            return tuple(b for b, m in zip(names, mods, strict=True) if m == self.modality)
        missing = [b for b in self.bands if b not in names]
        if missing:
            raise KnownAnswerError(f"rule {self.name!r}: band(s) {missing} not in the cube ({names})")
        return tuple(self.bands)

    def true_modality(self, cube: xr.Dataset) -> str:
        """The one modality of :meth:`true_bands`, read from the cube's per-band ``modality`` coordinate."""
        mods = {str(cube["modality"].sel(band=b).item()) for b in self.true_bands(cube)}
        if len(mods) != 1:
            raise KnownAnswerError(f"rule {self.name!r}: bands {list(self.true_bands(cube))} span the modalities "
                                   f"{sorted(mods)}; a known-answer rule uses one")
        return mods.pop()

    def index(self, cube: xr.Dataset) -> np.ndarray:
        """The quantity the rule thresholds, ``(y, x)`` float64, NaN where a rule band lacks data."""
        bands = list(self.true_bands(cube))
        z = cube["image"].sel(band=bands).values.astype(np.float64)
        ok = cube["valid"].sel(band=bands).values.all(axis=0) & np.isfinite(z).all(axis=0)
        if self.kind == "band" and len(bands) == 2:
            mean = cube["band_mean"].sel(band=bands).values.astype(np.float64)[:, None, None]
            std = cube["band_std"].sel(band=bands).values.astype(np.float64)[:, None, None]
            a, b = z * std + mean
            den = a + b
            ok &= den != 0
            with np.errstate(divide="ignore", invalid="ignore"):
                out = (a - b) / den
        else:
            out = z.mean(axis=0)
        out = np.where(ok, out, np.nan)
        return smooth_nan(out, self.smooth) if self.smooth > 0 else out

    def apply(self, cube: xr.Dataset) -> SyntheticLabels:
        """Label every pixel of ``cube`` by the rule; the threshold comes from training pixels only."""
        index = self.index(cube)
        train = (cube["split"].values == TRAIN) & np.isfinite(index)
        if not train.any():
            raise KnownAnswerError(f"rule {self.name!r}: no valid training pixel to set the threshold on")
        threshold = float(np.quantile(index[train], self.quantile))
        valid = np.isfinite(index)
        evidence = None
        if self.kind == "spatial":
            marks = valid & (index > threshold)
            if not marks.any():
                raise KnownAnswerError(f"spatial rule {self.name!r}: no pixel above the {self.quantile} quantile")
            near = ndimage.distance_transform_edt(~marks) <= self.radius
            label = np.where(valid, near, IGNORE)
            evidence = marks
        else:
            label = np.where(valid, index > threshold, IGNORE)
        truth = Truth(self.true_bands(cube), self.true_modality(cube), evidence)
        return SyntheticLabels(self.name, label.astype(np.int16), index, threshold, truth)


def smooth_nan(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing (``sigma`` pixels) of ``values`` ``(y, x)`` that ignores NaN (normalised
    convolution); NaN stays NaN."""
    ok = np.isfinite(values)
    num = ndimage.gaussian_filter(np.where(ok, values, 0.0), sigma)
    den = ndimage.gaussian_filter(ok.astype(np.float64), sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, num / den, np.nan)


def synthetic_cube(cube: xr.Dataset, labels: SyntheticLabels) -> xr.Dataset:
    """A copy of ``cube`` whose ``label`` is the synthetic one and whose classes are :data:`CLASS_NAMES`.

    Image, validity masks, split and statistics are the cube's own; the real labels are gone
    from the copy (so they cannot leak into a synthetic run) and ``attrs['synthetic_rule']`` names the rule.
    """
    out = cube.drop_vars(["label", "class"]).assign_coords({"class": list(CLASS_NAMES)})
    out["label"] = (("y", "x"), labels.label)
    out.attrs = {**cube.attrs, "synthetic_rule": labels.rule, "labels": "synthetic (known-answer benchmark)"}
    return out


def permute_bands(images: torch.Tensor, bands: Sequence[int], seed: int) -> torch.Tensor:
    """A copy of ``images`` ``(N, C, H, W)`` with the pixels of ``bands`` shuffled within each tile.

    One permutation per tile, shared by the listed bands (their joint values stay, their place
    is lost): a model that uses those bands loses its accuracy, one that does not keeps it.
    """
    out = images.clone()
    n, _, h, w = images.shape
    gen = torch.Generator().manual_seed(int(seed))
    idx = list(bands)
    for i in range(n):
        perm = torch.randperm(h * w, generator=gen)
        out[i, idx] = images[i, idx].flatten(1)[:, perm].view(len(idx), h, w)
    return out


@torch.no_grad()
def pixel_accuracy(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 32) -> float:
    """Share of labelled pixels (``masks`` ``(N, H, W)`` != -1) that ``model`` classifies correctly."""
    correct, total = 0, 0
    for i in range(0, len(images), batch_size):
        pred = model(images[i:i + batch_size]).argmax(1).cpu()
        m = masks[i:i + batch_size].cpu()
        keep = m != IGNORE
        correct += int((pred[keep] == m[keep]).sum())
        total += int(keep.sum())
    return correct / total if total else float("nan")


# --------------------------------------------------------------------------- grading


def _magnitudes(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.abs(np.asarray(scores, dtype=np.float64))
    if v.ndim != 1:
        raise KnownAnswerError(f"scores must be one value per band or modality, got shape {v.shape}")
    return v


def ranks(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rank of each entry by ``|score|``, 1 = largest; ties share their average rank."""
    return stats.rankdata(-_magnitudes(scores), method="average")


def reciprocal_rank(scores: Sequence[float] | np.ndarray, names: Sequence[str], truth: Sequence[str]) -> float:
    """``1 / rank`` of the best-ranked true name (1.0: a true band ranks first); NaN if no score is finite."""
    v = _magnitudes(scores)
    if len(v) != len(names):
        raise KnownAnswerError(f"{len(v)} scores for {len(names)} names")
    if not np.isfinite(v).all():
        return float("nan")
    where = [list(names).index(t) for t in truth]
    return float(1.0 / ranks(v)[where].min())


def precision_at_k(scores: Sequence[float] | np.ndarray, names: Sequence[str], truth: Sequence[str],
                   k: int | None = None) -> float:
    """Share of the ``k`` (default: as many as true names) largest ``|score|`` that are true names.

    Ties at the cut are shared: an entry tied with others across the cut counts by the share of
    the tied places that fall inside it (so a constant score gives the chance level).
    """
    v = _magnitudes(scores)
    if len(v) != len(names):
        raise KnownAnswerError(f"{len(v)} scores for {len(names)} names")
    if not np.isfinite(v).all():
        return float("nan")
    k = len(truth) if k is None else int(k)
    if not 1 <= k <= len(v):
        raise KnownAnswerError(f"k = {k} must lie in 1..{len(v)}")
    true = np.isin(np.asarray(names, dtype=object), list(truth))
    hits = 0.0
    for value in np.unique(v)[::-1]:
        tied = v == value
        above = int((v > value).sum())
        inside = min(max(k - above, 0), int(tied.sum()))
        hits += inside * true[tied].mean()
    return float(hits / k)


def top_is_true(scores: Mapping[str, float], truth: str) -> float:
    """1.0 when ``truth`` has the largest ``|score|`` of ``scores`` (a tie for first counts 1 / tied); NaN if none finite."""
    v = _magnitudes(list(scores.values()))
    if truth not in scores:
        raise KnownAnswerError(f"{truth!r} is not among {list(scores)}")
    if not np.isfinite(v).all():
        return float("nan")
    top = v == v.max()
    return float(top[list(scores).index(truth)] / top.sum())


def pointing_game(saliency: np.ndarray, evidence: np.ndarray) -> float:
    """1.0 when the pixel of largest ``|saliency|`` ``(H, W)`` is an evidence pixel; ties share; NaN without evidence."""
    s = np.abs(np.asarray(saliency, dtype=np.float64))
    e = np.asarray(evidence, dtype=bool)
    if s.shape != e.shape:
        raise KnownAnswerError(f"saliency {s.shape} and evidence {e.shape} differ in shape")
    if not e.any() or not np.isfinite(s).all():
        return float("nan")
    top = s == s.max()
    return float(e[top].mean())


def evidence_auroc(saliency: np.ndarray, evidence: np.ndarray) -> float:
    """AUROC of ``|saliency|`` ``(H, W)`` as a score for the evidence pixels (0.5: chance); NaN if all or none are."""
    from sklearn.metrics import roc_auc_score

    s = np.abs(np.asarray(saliency, dtype=np.float64)).ravel()
    e = np.asarray(evidence, dtype=bool).ravel()
    if s.shape != e.shape:
        raise KnownAnswerError(f"saliency {np.shape(saliency)} and evidence {np.shape(evidence)} differ in shape")
    if e.all() or not e.any() or not np.isfinite(s).all():
        return float("nan")
    return float(roc_auc_score(e, s))


GRADES = ("band_reciprocal_rank", "band_precision_at_k", "modality_top1", "pointing_game", "evidence_auroc")


@dataclass
class Explained:
    """One method's explanations of ``N`` tiles: ``bands`` ``(N, C)``, ``modalities`` ``(N, M)`` (in
    ``modality_names`` order), ``maps`` ``(N, H, W)``; each None where the method gives none."""

    method: str
    bands: np.ndarray | None = None
    modalities: np.ndarray | None = None
    maps: np.ndarray | None = None
    modality_names: list[str] = field(default_factory=list)


def grade(explained: Explained, band_names: Sequence[str], truth: Truth,
          evidence: np.ndarray | None = None) -> pd.DataFrame:
    """One row per tile: :data:`GRADES` of ``explained`` against ``truth`` (NaN where the method or the rule gives none).

    ``evidence`` ``(N, H, W)`` bool: the true evidence pixels of each tile (spatial rules).
    """
    n = next(len(a) for a in (explained.bands, explained.modalities, explained.maps) if a is not None)
    rows = []
    for i in range(n):
        row = {"tile": i, "method": explained.method, **dict.fromkeys(GRADES, np.nan)}
        if explained.bands is not None:
            row["band_reciprocal_rank"] = reciprocal_rank(explained.bands[i], band_names, truth.bands)
            row["band_precision_at_k"] = precision_at_k(explained.bands[i], band_names, truth.bands)
        if explained.modalities is not None:
            row["modality_top1"] = top_is_true(dict(zip(explained.modality_names, explained.modalities[i],
                                                        strict=True)), truth.modality)
        if explained.maps is not None and evidence is not None:
            row["pointing_game"] = pointing_game(explained.maps[i], evidence[i])
            row["evidence_auroc"] = evidence_auroc(explained.maps[i], evidence[i])
        rows.append(row)
    return pd.DataFrame(rows, columns=["tile", "method", *GRADES])


def summarise(table: pd.DataFrame, by: Sequence[str], grades: Sequence[str] = GRADES,
              level: float = 0.95) -> pd.DataFrame:
    """Mean and Student-t interval of each grade over the rows of each ``by`` group (seeds x tiles).

    Long format: ``*by, grade, mean, ci_low, ci_high, n`` (n: finite values); grades with no
    finite value in a group are left out.
    """
    rows = []
    for key, g in table.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for name in grades:
            v = g[name].to_numpy(dtype=np.float64)
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            m, lo, hi = mean_ci(v, level)
            rows.append({**dict(zip(by, key, strict=True)), "grade": name, "mean": m, "ci_low": lo, "ci_high": hi,
                         "n": int(v.size)})
    return pd.DataFrame(rows, columns=[*by, "grade", "mean", "ci_low", "ci_high", "n"])



# --------------------------------------------------------------------------- running every explainer


@dataclass(frozen=True)
class ExplainerSettings:
    """Parameters of the explainers graded (the future notebook 11's profile section).

    ``gradcam_layers``: ``{label: layer name}`` (all-class Grad-CAM at each); ``spectral_layer``:
    Spectral-Grad-CAM's layer; ``target``: the class explained (1, ``synthetic_high``);
    ``occlusion_window``/``shap_block``: square side in pixels; ``replacements``: of modality
    occlusion; ``max_players``: exact band-group Shapley per band only up to this many bands
    (``2^C`` evaluations), else per modality only.
    """

    gradcam_layers: Mapping[str, str] = field(default_factory=lambda: {"logits": "segmentation_head.0"})
    spectral_layer: str = "segmentation_head.0"
    target: int = 1
    ig_steps: int = 16
    occlusion_window: int = 8
    shap_block: int = 8
    shap_blur: int = 5
    shap_max_evals: int = 100
    replacements: Sequence[str] = ("zeros", "mean", "uniform", "normal")
    max_players: int = 12
    batch_size: int = 32


def _modality_groups(modalities: Mapping[str, int]) -> dict[str, list[int]]:
    from eoxai.xai.modality import band_groups

    return band_groups(modalities)


def run_explainers(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    band_names: Sequence[str],
    modalities: Mapping[str, int],
    settings: ExplainerSettings,
    *,
    band_mean: np.ndarray,
    band_std: np.ndarray,
    seed: int = 0,
    methods: Sequence[str] | None = None,
    maps: bool = True,
) -> list[Explained]:
    """Explain ``images`` ``(N, C, H, W)`` (``masks`` ``(N, H, W)``: the synthetic labels) with every
    explainer of the compendium, as :class:`Explained` (bands, modalities, maps of each tile).

    Methods (names as in the tables; ``methods`` restricts them). "Region score": the mean
    probability of ``target`` over the pixels the model predicts as ``target`` on the unperturbed
    tile (:func:`~eoxai.xai.targets.region_mean`; over the whole tile a per-pixel rule's pushes
    towards either class cancel):

    - ``gradcam_<label>``: :class:`~eoxai.xai.gradcam.AllClassGradCAM` of ``target`` at each of
      ``gradcam_layers`` (ReLU, bilinear upsampling): maps only;
    - ``spectral_gradcam_keep`` / ``_drop``: :class:`~eoxai.xai.spectral.SpectralGradCAM` of the
      region score, each band and each modality kept alone / left out (baseline 0, the training
      mean); a group's value is the mean ``|CAM - CAM_reference|`` over the predicted ``target`` pixels;
    - ``integrated_gradients``: :func:`~eoxai.xai.attribution.integrated_gradients` of the region
      score from 0 (the training mean); band = sum over pixels of ``|attribution|``, modality = sum
      over its bands, map = sum over bands;
    - ``occlusion``: :func:`~eoxai.xai.attribution.occlusion` of the region score, one whole band
      at a time (bands, modalities as sums) and all-band squares (map);
    - ``shap_partition``: :func:`~eoxai.xai.shap_seg.explain_partition` of the region score (map);
    - ``band_shapley_exact``: :func:`~eoxai.xai.shap_seg.band_group_shap`, per band when there are
      at most ``max_players`` bands, and per modality; the region score; an absent player's bands
      at 0, the training mean of the z-scored cube (in distribution, unlike e.g. a zero radiance);
    - ``modality_occlusion_<replacement>``: :func:`~eoxai.xai.modality.modality_occlusion`, the
      tile's mIoU drop on the synthetic labels;
    - ``influence_head`` (models with one, :class:`~eoxai.models.unet_influence.InfluenceUNet`):
      ``1 - score`` per modality (the head's score is high when the modality mattered little);
    - ``random``: standard-normal bands, modalities and map from ``seed`` (the chance level).

    ``maps=False`` skips the methods that give maps only (Grad-CAM, partition SHAP): a per-pixel
    rule has no evidence pixels to grade them against, and partition SHAP is the slowest method.
    """
    from eoxai.xai.attribution import integrated_gradients, occlusion
    from eoxai.xai.gradcam import AllClassGradCAM
    from eoxai.xai.modality import modality_occlusion
    from eoxai.xai.shap_seg import band_group_shap, explain_partition
    from eoxai.xai.spectral import SpectralGradCAM, band_groups
    from eoxai.xai.targets import predicted_regions, region_mean

    n, c, h, w = images.shape
    t = int(settings.target)
    mod_groups = _modality_groups(modalities)
    mod_names = list(mod_groups)
    bands = list(band_names)
    map_only = ("gradcam_", "shap_partition")

    def want(m: str) -> bool:
        if not maps and m.startswith(map_only):
            return False
        return methods is None or any(m.startswith(x) for x in methods)

    out: list[Explained] = []

    def by_modality(per_band: np.ndarray) -> np.ndarray:
        return np.stack([np.abs(per_band[:, idx]).sum(1) for idx in mod_groups.values()], axis=1)

    for label, layer in settings.gradcam_layers.items():
        if want(f"gradcam_{label}"):
            cams = AllClassGradCAM(model, layer, batch_size=settings.batch_size).attribute(
                images, target=[t], relu_attributions=True, upsample="bilinear")[:, 0]
            out.append(Explained(f"gradcam_{label}", maps=cams.detach().cpu().numpy().astype(np.float64)))
    groups = band_groups(bands, dict(modalities))
    with torch.no_grad():  # the pixels each tile's model predicts as each class: the targets' regions
        regions = predicted_regions(model(images))  # (N, K, H, W) bool
    for mode in ("keep", "drop"):
        if not want(f"spectral_gradcam_{mode}"):
            continue
        effects = []
        for i in range(n):
            reduce = region_mean(regions[i], "probability")

            def score(logits: torch.Tensor, k: int, f: Any = reduce) -> torch.Tensor:
                return f(logits)[:, k]  # the class's mean probability over this tile's predicted pixels

            ds = SpectralGradCAM(model, settings.spectral_layer, score=score,
                                 batch_size=settings.batch_size).attribute(images[i:i + 1], groups, mode=mode,
                                                                           baseline=0.0, target=[t])
            ref = ds["cam_baseline"] if mode == "keep" else ds["cam_input"]
            where = xr.DataArray(regions[i, t].cpu().numpy(), dims=("y", "x"))
            diff = abs(ds["cam"] - ref).isel({"class": 0, "sample": 0})  # (group, y, x)
            effects.append(diff.where(where).mean(("y", "x")) if where.any() else diff.mean(("y", "x")))
        effect = xr.concat(effects, dim="sample")  # (sample, group)
        out.append(Explained(f"spectral_gradcam_{mode}", bands=effect.sel(group=bands).values.astype(np.float64),
                             modalities=effect.sel(group=mod_names).values.astype(np.float64),
                             modality_names=mod_names))
    if want("integrated_gradients"):
        ig = np.concatenate([integrated_gradients(
            model, images[i:i + 1], t, bands, dict(modalities), n_steps=settings.ig_steps,
            internal_batch_size=settings.batch_size, reduce=region_mean(regions[i], "probability"),
        )["attribution"].values for i in range(n)]).astype(np.float64)
        per_band = np.abs(ig).sum(axis=(2, 3))
        out.append(Explained("integrated_gradients", bands=per_band, modalities=by_modality(per_band),
                             maps=np.abs(ig).sum(1), modality_names=mod_names))
    if want("occlusion"):
        win = int(settings.occlusion_window)
        per_band, occ_maps = [], []
        for i in range(n):
            reduce = region_mean(regions[i], "probability")
            per_band.append(occlusion(model, images[i:i + 1], t, bands, window=(1, h, w), strides=(1, h, w),
                                      perturbations_per_eval=settings.batch_size, reduce=reduce).values[:, :, 0, 0])
            occ_maps.append(occlusion(model, images[i:i + 1], t, bands, window=(c, win, win), strides=(c, win, win),
                                      perturbations_per_eval=settings.batch_size, reduce=reduce).values.mean(1))
        band_occ = np.concatenate(per_band).astype(np.float64)
        out.append(Explained("occlusion", bands=band_occ, modalities=by_modality(band_occ),
                             maps=np.concatenate(occ_maps).astype(np.float64), modality_names=mod_names))
    if want("shap_partition"):
        part = explain_partition(model, images, classes=[t], regions=regions, block=settings.shap_block,
                                 blur=settings.shap_blur, max_evals=settings.shap_max_evals,
                                 batch_size=settings.batch_size, seed=seed, progress=False, kind="probability")
        out.append(Explained("shap_partition", maps=part["shap"].isel({"class": t}).values.astype(np.float64)))
    if want("band_shapley_exact"):
        # regions=None: each class scored over the pixels the model predicts for it (as notebook 07); over
        # every pixel, a per-pixel rule's pushes towards either class cancel in the tile mean. Baseline 0:
        # an absent player's bands sit at their training mean (z-scored cubes), not out of distribution
        mods = band_group_shap(model, images, mod_groups, baseline=0.0, regions=None, kind="probability",
                               batch_size=settings.batch_size)["shap"].isel({"class": t}).values
        per_band = None
        if c <= settings.max_players:
            per_band = band_group_shap(model, images, {b: [i] for i, b in enumerate(bands)}, baseline=0.0, regions=None,
                                       kind="probability", batch_size=settings.batch_size,
                                       max_players=settings.max_players)["shap"].isel({"class": t}).values
        out.append(Explained("band_shapley_exact", bands=per_band, modalities=np.asarray(mods, np.float64),
                             modality_names=mod_names))
    for how in settings.replacements:
        if not want(f"modality_occlusion_{how}"):
            continue
        _, tiles = modality_occlusion(model, images, masks, mod_groups, class_names=list(CLASS_NAMES),
                                      replacements=[how], band_mean=band_mean, band_std=band_std,
                                      origins=[(i, 0) for i in range(n)], batch_size=settings.batch_size, seed=seed)
        drop = (tiles.drop_duplicates(["tile_row", "modality"])
                .pivot(index="tile_row", columns="modality", values="miou_drop")[mod_names].to_numpy(np.float64))
        out.append(Explained(f"modality_occlusion_{how}", modalities=drop, modality_names=mod_names))
    if want("influence_head") and getattr(model, "use_influence", False):
        with torch.no_grad():
            influence = model.influence(images).cpu().numpy().astype(np.float64)  # type: ignore[operator]  # unet_influence's
        out.append(Explained("influence_head", modalities=1.0 - influence, modality_names=list(model.modality_names)))  # type: ignore[arg-type]
    if want("random"):
        rng = np.random.default_rng(seed)
        out.append(Explained("random", bands=rng.standard_normal((n, c)), modalities=rng.standard_normal((n, len(mod_names))),
                             maps=rng.standard_normal((n, h, w)), modality_names=mod_names))
    return out


# --------------------------------------------------------------------------- training on a rule, and checking its use


def train_on_rule(cube: xr.Dataset, spec: Any, *, device: str | torch.device = "cpu",
                  progress: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``spec`` (an :class:`eoxai.train.RunSpec`) on a :func:`synthetic_cube` with the compendium's
    own training (:func:`eoxai.train.run_datasets`, :func:`eoxai.models.build_model`, :func:`eoxai.train.fit_tiles`).

    Returns the best model (eval mode) and ``fit``'s info plus ``modalities`` and ``bands``.
    Nothing is saved: the synthetic models exist for this benchmark only.
    """
    from eoxai.models import build_model
    from eoxai.session import seed_everything
    from eoxai.train import fit_tiles, run_datasets

    if "synthetic_rule" not in cube.attrs:
        raise KnownAnswerError("train_on_rule() trains on synthetic labels only: pass a synthetic_cube()")
    from eoxai.tiles import split_code

    for split in ("train", "validation"):  # fit on train, early-stop on validation (as notebook 02)
        on_split = cube["label"].values[cube["split"].values == split_code(split)]
        if len(np.unique(on_split[on_split >= 0])) < 2:
            raise KnownAnswerError(f"rule {cube.attrs['synthetic_rule']!r}: the {split} split holds fewer than "
                                   "two synthetic classes; choose another threshold or radius")
    train, val, mods = run_datasets(cube, spec)
    seed_everything(spec.seed)
    model = build_model(spec.arch, mods, train.class_names, size=spec.config.size, weights=spec.config.weights)
    model, _, info = fit_tiles(model, train, val, spec.config, spec.seed, device=device, progress=progress,
                               desc=f"{spec.stack} {cube.attrs['synthetic_rule']} {spec.name}")
    return model, {**info, "modalities": mods, "bands": list(train.bands), "train_tiles": len(train)}


def rule_use(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, rule_bands: Sequence[int],
             seed: int, batch_size: int = 32) -> dict[str, float]:
    """Does ``model`` use the rule? Pixel accuracy on held-out synthetic labels, with the rule's bands
    permuted within each tile (should fall to chance) and with every other band permuted (should stay).

    Returns ``synthetic_accuracy``, ``accuracy_rule_bands_permuted``, ``accuracy_other_bands_permuted``.
    """
    others = [i for i in range(images.shape[1]) if i not in set(rule_bands)]
    out = {"synthetic_accuracy": pixel_accuracy(model, images, masks, batch_size),
           "accuracy_rule_bands_permuted": pixel_accuracy(model, permute_bands(images, rule_bands, seed), masks,
                                                          batch_size)}
    out["accuracy_other_bands_permuted"] = (pixel_accuracy(model, permute_bands(images, others, seed), masks,
                                                           batch_size) if others else float("nan"))
    return out


def learned_rule(models: pd.DataFrame, min_accuracy: float = 0.8, min_drop: float = 0.1) -> pd.Series:
    """Per row of a table of :func:`rule_use` results: did the model learn its rule? Its held-out
    ``synthetic_accuracy`` is at least ``min_accuracy`` *and* it loses more than ``min_drop`` of it
    when the rule's bands are permuted (a model that scores well without the rule's bands found a
    proxy, and its "true bands" would not be the ones it uses)."""
    return ((models["synthetic_accuracy"] >= min_accuracy)
            & (models["accuracy_rule_bands_permuted"] < models["synthetic_accuracy"] - min_drop))


def recovery(summary: pd.DataFrame, level: float = 0.8, chance_method: str = "random") -> pd.DataFrame:
    """Per ``(stack, synthetic_rule, method, grade)`` of a :func:`summarise` table: ``recovered`` (mean
    >= ``level``) and ``above_chance`` (the interval's lower bound above the ``chance_method``'s mean
    for the same rule and grade; for the chance method itself, False)."""
    keys = ["stack", "synthetic_rule", "grade"]
    chance = summary[summary["method"] == chance_method][[*keys, "mean"]].rename(columns={"mean": "chance_mean"})
    out = summary.merge(chance, on=keys, how="left")
    out["recovered"] = out["mean"] >= level
    out["above_chance"] = (out["ci_low"] > out["chance_mean"]) & (out["method"] != chance_method)
    return out



#: the explanation scorecard's methods (notebook 08b, :data:`eoxai.xai.scoring.METHODS`) -> the
#: methods of this benchmark that compute the same thing (08b's ``shap``: a partition map and
#: exact band-group values; its Grad-CAM is at a decoder layer)
SCORECARD_METHODS: dict[str, tuple[str, ...]] = {
    "gradcam": ("gradcam_decoder",), "ig": ("integrated_gradients",), "occlusion": ("occlusion",),
    "shap": ("shap_partition", "band_shapley_exact"), "random": ("random",),
}
#: known-answer grade -> scorecard column
SCORECARD_COLUMNS = {"band_reciprocal_rank": "known_band_mrr", "modality_top1": "known_modality_top1",
                     "pointing_game": "known_pointing_game", "evidence_auroc": "known_evidence_auroc"}


def scorecard_columns(card: pd.DataFrame, summary: pd.DataFrame | None) -> pd.DataFrame:
    """``card`` (the explanation scorecard, one row per ``stack, method``) with "correctness on known
    answers" columns (:data:`SCORECARD_COLUMNS`): for each grade, the mean over the stack's
    synthetic rules of the mean grade of the matching methods (:data:`SCORECARD_METHODS`), and
    ``known_rules`` (how many synthetic rules were graded). NaN where the benchmark has no grade;
    ``summary`` None (the profile does not run notebook 11): every such column NaN, ``known_rules`` 0.
    """
    if summary is None:
        summary = pd.DataFrame(columns=["stack", "synthetic_rule", "method", "grade", "mean"])
    rows = []
    for method, ours in SCORECARD_METHODS.items():
        sub = summary[summary["method"].isin(ours) & summary["grade"].isin(list(SCORECARD_COLUMNS))]
        for stack, g in sub.groupby("stack"):
            per_rule = g.groupby(["synthetic_rule", "grade"])["mean"].mean().reset_index()
            row = {"stack": stack, "method": method, "known_rules": per_rule["synthetic_rule"].nunique()}
            row.update({SCORECARD_COLUMNS[k]: v for k, v in per_rule.groupby("grade")["mean"].mean().items()})
            rows.append(row)
    known = pd.DataFrame(rows, columns=["stack", "method", "known_rules", *SCORECARD_COLUMNS.values()])
    keys = ["stack", "method"] if "stack" in card else ["method"]
    out = card.merge(known if "stack" in card else known.drop(columns="stack"), on=keys, how="left")
    out["known_rules"] = out["known_rules"].fillna(0).astype(int)
    return out

# --------------------------------------------------------------------------- figures


def plot_grades(summary: pd.DataFrame, title: str = "Known-answer benchmark (synthetic labels)") -> Any:
    """Heatmaps of the mean grades: one panel per grade, rows methods, columns ``stack / synthetic_rule``."""
    import matplotlib.pyplot as plt

    grades = [g for g in GRADES if g in set(summary["grade"])]
    if not grades:  # no model learned its rule (e.g. the one-epoch smoke profile): say so, plot nothing
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no synthetic model learned its rule: nothing to grade", ha="center", va="center")
        ax.set_axis_off()
        fig.suptitle(title)
        return fig
    fig, axes = plt.subplots(1, len(grades), figsize=(3.2 * len(grades) + 2, 0.35 * summary["method"].nunique() + 2),
                             squeeze=False, sharey=True)
    methods = list(dict.fromkeys(summary["method"]))
    for ax, g in zip(axes[0], grades, strict=True):
        t = summary[summary["grade"] == g].assign(rule=lambda d: d["stack"] + " / " + d["synthetic_rule"])
        m = t.pivot_table(index="method", columns="rule", values="mean").reindex(methods)
        im = ax.imshow(m.to_numpy(np.float64), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(m.shape[1]), m.columns, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(methods)), methods, fontsize=7)
        for (r, c), v in np.ndenumerate(m.to_numpy(np.float64)):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < 0.6 else "k")
        ax.set_title(g.replace("_", " "), fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title)
    return fig


def plot_labels(panels: Sequence[tuple[str, SyntheticLabels]], title: str = "Synthetic labels (known answers)") -> Any:
    """Each ``(caption, labels)``: the synthetic label map, with a spatial rule's marks (evidence) in red."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    cmap = ListedColormap(["#d9d9d9", "#1f78b4", "#ffd92f"])
    for ax, (caption, lab) in zip(axes[0], panels, strict=True):
        ax.imshow(lab.label + 1, cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
        if lab.truth.evidence is not None:
            r, c = np.nonzero(lab.truth.evidence)
            ax.scatter(c, r, s=0.3, c="red", marker=".", linewidths=0)
        ax.set_title(caption, fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"{title}: grey no data, blue {CLASS_NAMES[0]}, yellow {CLASS_NAMES[1]}, red marks", fontsize=9)
    return fig


__all__ = [
    "CLASS_NAMES", "GRADES", "RULE_KINDS", "SCORECARD_COLUMNS", "SCORECARD_METHODS", "Explained", "ExplainerSettings",
    "KnownAnswerError", "SyntheticLabels", "SyntheticRule", "Truth", "evidence_auroc", "grade", "learned_rule",
    "permute_bands",
    "pixel_accuracy", "plot_grades", "plot_labels", "pointing_game", "precision_at_k", "ranks", "reciprocal_rank",
    "recovery", "rule_use", "run_explainers", "scorecard_columns", "summarise", "synthetic_cube", "top_is_true",
    "train_on_rule",
]
