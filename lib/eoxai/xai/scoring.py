"""Evaluating explanations themselves: faithfulness, sanity, agreement and stability.

For several attribution methods (Grad-CAM, Integrated Gradients, occlusion, partition SHAP and a
random reference) explained on the same instances and the same scalar target:

- **faithfulness** - deletion and insertion curves and their areas (Petsiuk, Das & Saenko 2018,
  *RISE*, BMVC): remove (deletion) or reveal (insertion) pixels in order of attribution and track
  the target score; a faithful map makes the deletion curve fall fast (small area) and the
  insertion curve rise fast (large area). Deletion replaces pixels by the training mean (0 in
  z-score space); insertion starts from a blurred copy of the image, as RISE does. The curve is
  quantus' ``PixelFlipping`` when features are single pixels and the baseline is constant
  (a test checks it).
- **sanity** - the model-parameter randomisation test (Adebayo et al. 2018, *Sanity checks for
  saliency maps*, NeurIPS): explain a copy of the model whose weights are all re-initialised
  (the last step of their cascading randomisation); a method whose maps stay similar (Spearman
  rank correlation of absolute values) does not depend on what the model learned. The random map
  is drawn independently for the trained and for the randomised model (:func:`sanity_seed`), so
  its value is the chance level (the similarity of two unrelated maps), not 1 by construction;
  it neither passes nor fails.
- **agreement** - Spearman's rho and Kendall's tau between the methods' rankings of pixels,
  bands and modalities.
- **stability** - the same between the maps of models trained with different seeds.

:func:`scorecard` summarises everything per method in one table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy import stats
from torch import nn

from eoxai.errors import ExplainerInputError
from eoxai.xai import registry
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.maps import tile_columns
from eoxai.xai.registry import Settings
from eoxai.xai.shap_seg import box_blur
from eoxai.xai.targets import ScalarOutput, predicted_regions, region_mean

#: the methods the scorecard grades by default (registry names)
METHODS = ("gradcam", "ig", "occlusion", "shap", "random")


def method_settings(
    *,
    gradcam_layer: str = "decoder.blocks.2",
    ig_steps: int = 32,
    occlusion_grid: int = 8,
    shap_grid: int = 8,
    shap_blur: int = 9,
    shap_max_evals: int = 300,
    batch_size: int = 32,
    kind: str = registry.KIND,
    memory_mb: float | None = None,
) -> dict[str, Settings]:
    """The registry settings of each scorecard method from the profile's ``08b_explanation_scorecard``
    keys: ``{method: settings}``; every other method gets its defaults (with ``kind``, ``batch_size``
    and ``memory_mb``). Notebooks 04-06 build the same explainers from the same settings."""
    common = {"kind": kind, "batch_size": batch_size, "memory_mb": memory_mb}
    own: dict[str, dict[str, object]] = {
        "gradcam": {"layer": gradcam_layer},
        "ig": {"steps": ig_steps},
        "occlusion": {"grid": occlusion_grid},
        "shap": {"grid": shap_grid, "blur": shap_blur, "max_evals": shap_max_evals},
    }
    return {name: registry.settings_of(name, {**common, **own.get(name, {})}) for name in registry.names()}


@dataclass
class Attribution:
    """One method's explanation of one instance: ``spatial`` ``(H, W)``, ``bands`` ``(C,)`` or None,
    ``modalities`` ``{name: value}`` or None."""

    spatial: np.ndarray
    bands: np.ndarray | None = None
    modalities: dict[str, float] | None = None


def spatial_map(attribution: xr.DataArray) -> np.ndarray:
    """A registry explainer's map of one sample and one class as ``(H, W)`` float64: bands summed,
    the first sample and the (only) class taken."""
    da = attribution.isel(sample=0)
    if "band" in da.dims:
        da = da.sum("band")
    if "class" in da.dims:
        da = da.isel({"class": 0})
    if set(da.dims) != {"y", "x"}:
        raise ExplainerInputError(f"{attribution.name!r} gives no (y, x) map: dims {attribution.dims}")
    return np.asarray(da.transpose("y", "x").values, dtype=np.float64)


def _modalities(groups: Mapping[str, Sequence[int]], c: int) -> dict[str, int]:
    """``{name: band count}`` of contiguous ``groups`` covering the ``c`` bands in order."""
    order = [i for g in groups.values() for i in g]
    if order != list(range(c)):
        raise ExplainerInputError(f"band groups {dict(groups)} must cover bands 0..{c - 1} in order")
    return {str(g): len(b) for g, b in groups.items()}


def explain(
    method: str,
    model: nn.Module,
    image: torch.Tensor,
    target: int,
    regions: torch.Tensor,
    groups: Mapping[str, Sequence[int]],
    settings: Mapping[str, Settings] | None = None,
    seed: int = 0,
    features: bool = True,
) -> Attribution:
    """Explain ``target``'s region score (:func:`eoxai.xai.targets.region_mean` of the settings'
    ``kind``) for one ``image`` ``(1, C, H, W)`` with the registry's ``method``; ``regions``
    ``(K, H, W)`` bool fixes each class's region.

    The map is the registry explainer's (:mod:`eoxai.xai.methods`: Grad-CAM upsampled with
    :data:`eoxai.xai.registry.UPSAMPLE`, IG and occlusion summed over bands, SHAP's block values,
    the seeded random map). ``features`` adds band and modality attributions: IG's sums; for
    occlusion the drop when one band / one modality is set to the training mean
    (``modality_occlusion``, captum's ``FeatureAblation``); for SHAP exact modality Shapley values
    (``modality_shap``); for ``random`` further standard-normal draws of the same generator.
    """
    settings = settings or {}
    if image.shape[0] != 1:
        raise ExplainerInputError(f"explain() takes one image (1, C, H, W), got {tuple(image.shape)}")
    _, c, h, w = image.shape
    mods = _modalities(groups, c)

    def build(name: str, modalities: Mapping[str, int] | None = mods, **overrides: Any) -> registry.Explainer:
        return registry.get(name)(model, None if overrides else settings.get(name), modalities=modalities,
                                  **overrides)

    da = build(method).attribute(image, target, regions=regions, seed=seed)
    spatial = spatial_map(da)
    if not features:
        return Attribution(spatial)
    if method == "ig":
        bands = da.isel(sample=0).sum(("y", "x")).values.astype(np.float64)
        return Attribution(spatial, bands, {g: float(bands[list(b)].sum()) for g, b in groups.items()})
    own = settings.get(method) or Settings()
    common = {"kind": own.kind, "batch_size": own.batch_size, "memory_mb": own.memory_mb}
    if method == "occlusion":  # one band, then one modality, at the training mean
        drops = {level: build("modality_occlusion", m, **common).attribute(image, target, regions=regions, seed=seed)
                 .isel(sample=0).values.astype(np.float64) for level, m in (("band", None), ("modality", mods))}
        mods_drop = {g: float(v) for g, v in zip(groups, drops["modality"], strict=True)}
        return Attribution(spatial, drops["band"], mods_drop)
    if method == "shap":
        exact = build("modality_shap", mods, **common).attribute(image, target, regions=regions, seed=seed)
        return Attribution(spatial, None, {g: float(exact.isel(sample=0).sel(modality=g)) for g in groups})
    if method == "random":
        rng = np.random.default_rng(seed)
        rng.standard_normal((h, w))  # the map's draw (registry "random"); the features continue the stream
        return Attribution(spatial, rng.standard_normal(c),
                           {g: float(v) for g, v in zip(groups, rng.standard_normal(len(groups)), strict=True)})
    return Attribution(spatial)


# --------------------------------------------------------------------------- faithfulness


def pixel_order(saliency: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from most to least salient; ties (flat regions, blocks) broken at random
    by ``seed`` so no method gains from the raster order."""
    flat = np.asarray(saliency, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        raise ExplainerInputError("saliency map has NaN or infinite values")
    tiebreak = np.random.default_rng(seed).permutation(flat.size)
    return np.lexsort((tiebreak, -flat))


def perturbation_curves(
    forward: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    saliency: np.ndarray,
    *,
    steps: int = 16,
    baseline: float | torch.Tensor = 0.0,
    start: torch.Tensor | None = None,
    blur: int = 9,
    batch_size: int = 32,
    seed: int = 0,
) -> pd.DataFrame:
    """Deletion and insertion curves (Petsiuk et al. 2018) of one image ``(C, H, W)``.

    ``forward`` maps ``(B, C, H, W)`` -> ``(B,)`` (the explained score). At step ``k`` of
    ``steps`` the top ``round(k / steps * H * W)`` pixels of ``saliency`` ``(H, W)`` (all bands)
    are replaced by ``baseline`` (deletion) or copied onto ``start`` (insertion; default the
    image box-blurred with a ``blur`` window). Returns ``fraction, deletion, insertion``
    (``steps + 1`` rows); :func:`curve_auc` gives the areas.
    """
    c, h, w = image.shape
    if saliency.shape != (h, w):
        raise ExplainerInputError(f"saliency map {saliency.shape} does not match the image's (H, W) = {(h, w)}")
    if steps < 1:
        raise ExplainerInputError(f"steps must be >= 1, got {steps}")
    rank = np.empty(h * w, dtype=np.int64)
    rank[pixel_order(saliency, seed)] = np.arange(h * w)
    rank_t = torch.from_numpy(rank.reshape(1, 1, h, w)).to(image.device)
    fraction = np.arange(steps + 1) / steps
    counts = torch.from_numpy(np.round(fraction * h * w).astype(np.int64)).view(-1, 1, 1, 1).to(image.device)
    chosen = rank_t < counts  # (steps + 1, 1, H, W): pixels removed / revealed at each step
    base = torch.as_tensor(baseline, dtype=image.dtype, device=image.device)
    base = (base.view(-1, 1, 1) if base.ndim == 1 else base).expand_as(image)
    canvas = (start if start is not None else box_blur(image, blur)).to(image.device)
    deleted = torch.where(chosen, base[None], image[None])
    inserted = torch.where(chosen, image[None], canvas[None])
    batch = torch.cat([deleted, inserted])
    with torch.no_grad():
        scores = torch.cat([forward(batch[i:i + batch_size]).detach() for i in range(0, len(batch), batch_size)])
    values = scores.double().cpu().numpy()
    return pd.DataFrame({"fraction": fraction, "deletion": values[: steps + 1], "insertion": values[steps + 1:]})


def curve_auc(fraction: np.ndarray, values: np.ndarray) -> float:
    """Area under a curve over ``fraction`` in [0, 1] (trapezoidal rule)."""
    return float(np.trapezoid(np.asarray(values, dtype=np.float64), np.asarray(fraction, dtype=np.float64)))


# --------------------------------------------------------------------------- sanity


def sanity_seed(method: str, seed: int) -> int:
    """Seed of ``method``'s explanation of the *randomised* model when the trained model's used ``seed``.

    Model-dependent methods keep ``seed``, so their maps differ only through the weights. The
    ``random`` map gets an independent stream (``SeedSequence([seed, 1])``): with the same seed
    it would equal the trained model's map and score Spearman 1 by construction; drawn anew it
    scores what two unrelated maps score (the chance level, about 0 +- 1 / sqrt(pixels)).
    """
    if method != "random":
        return seed
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def randomize_model(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` (eval mode) with every learnable parameter re-initialised.

    Modules with ``reset_parameters()`` use their own initialiser; parameters no such method
    touches are redrawn from a normal with the parameter's own standard deviation. This is the
    fully randomised end point of Adebayo et al.'s cascading randomisation. The draw is seeded
    (``seed``) without touching the global generator.
    """
    rand = copy.deepcopy(model)
    before = {n: p.detach().clone() for n, p in rand.named_parameters()}
    cuda = sorted({p.device.index or 0 for p in rand.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for module in rand.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset) and any(True for _ in module.parameters(recurse=False)):
                reset()
        with torch.no_grad():
            for name, p in rand.named_parameters():
                if torch.equal(p, before[name]):
                    std = float(before[name].std()) if p.numel() > 1 else 1.0
                    p.normal_(0.0, std if std > 0 else 0.02)
    return rand.eval()


def rank_similarity(a: np.ndarray, b: np.ndarray, absolute: bool = True) -> float:
    """Spearman rank correlation of two attribution maps (of their absolute values by default, as
    Adebayo et al. report); NaN when either map is constant."""
    x, y = np.ravel(a), np.ravel(b)
    if absolute:
        x, y = np.abs(x), np.abs(y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


# --------------------------------------------------------------------------- agreement and stability


def pairwise_agreement(rankings: Mapping[str, np.ndarray] | Mapping[int, np.ndarray]) -> pd.DataFrame:
    """Spearman's rho and Kendall's tau (tau-b) for each pair of ``rankings`` (same-shape score arrays,
    flattened). Returns ``a, b, spearman, kendall, n``; NaN where one array is constant."""
    rows = []
    for (na, a), (nb, b) in combinations(rankings.items(), 2):
        x, y = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
        if x.shape != y.shape:
            raise ExplainerInputError(f"rankings {na!r} {x.shape} and {nb!r} {y.shape} differ in size")
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            rho = tau = float("nan")
        else:
            rho, tau = float(stats.spearmanr(x, y).statistic), float(stats.kendalltau(x, y).statistic)
        rows.append({"a": na, "b": nb, "spearman": rho, "kendall": tau, "n": x.size})
    return pd.DataFrame(rows, columns=["a", "b", "spearman", "kendall", "n"])


def top_k_bands(bands: np.ndarray, names: Sequence[str], k: int = 3) -> list[str]:
    """Names of the ``k`` bands with the largest attribution (signed: the most supporting evidence)."""
    order = np.argsort(-np.asarray(bands, dtype=np.float64), kind="stable")
    return [names[i] for i in order[:k]]


# --------------------------------------------------------------------------- the whole evaluation


def evaluate_explanations(
    models: Mapping[int, nn.Module],
    reference_seed: int,
    images: torch.Tensor,
    groups: Mapping[str, Sequence[int]],
    *,
    band_names: Sequence[str],
    class_names: Sequence[str],
    origins: Sequence[Sequence[Any]] | None = None,
    methods: Sequence[str] = METHODS,
    settings: Mapping[str, Settings] | None = None,
    steps: int = 16,
    blur: int = 9,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Explain ``images`` ``(N, C, H, W)`` with every method and evaluate the explanations.

    ``models`` maps training seed -> model (eval mode); ``models[reference_seed]`` is the model
    explained; the others serve the stability check. Each image's target is the class with the
    largest predicted area; every method explains the same target over the same region (the
    reference model's prediction), for every model.

    Returns tables (one row per instance unless noted), with ``tile_row, tile_col, class``:

    - ``curves``: ``method, fraction, deletion, insertion`` (per step)
    - ``faithfulness``: ``method, deletion_auc, insertion_auc``
    - ``sanity``: ``method, spearman_abs, spearman`` (trained vs randomised model)
    - ``agreement``: ``level`` (spatial, band, modality), ``a, b, spearman, kendall, n``
    - ``stability``: ``method, seed_a, seed_b, spearman, kendall``
    - ``attributions``: ``method, level, feature, attribution`` (band and modality values)
    """
    from tqdm.std import tqdm  # text, not a widget: an executed notebook keeps the final bar

    settings = settings or method_settings()
    registry.check_names(methods)
    first = settings.get(methods[0]) or Settings()
    kinds = {(settings.get(m) or Settings()).kind for m in methods}
    if len(kinds) != 1:
        raise ExplainerInputError(f"the methods' settings explain different scalars (kind {sorted(kinds)}); "
                                  "the scorecard compares them on one")
    kind = kinds.pop()
    if reference_seed not in models:
        raise ExplainerInputError(f"reference seed {reference_seed} not among the models' seeds {sorted(models)}")
    model = models[reference_seed]
    randomised = randomize_model(model, seed=seed)
    origins = list(origins) if origins is not None else [(i, 0) for i in range(len(images))]
    out: dict[str, list[dict[str, object]]] = {k: [] for k in
                                               ("curves", "faithfulness", "sanity", "agreement", "stability",
                                                "attributions")}
    for i in tqdm(range(len(images)), desc="explanation scorecard", disable=not progress):
        x = images[i:i + 1]
        with torch.inference_mode():
            regions = predicted_regions(model(x))[0]
        area = regions.flatten(1).sum(1)
        target = int(area.argmax())
        key = {**tile_columns(origins[i]), "class": class_names[target]}
        forward = ScalarOutput(model, region_mean(regions, kind))
        rows = budget_batch_size(model, x.shape[1:], first.memory_mb, cap=first.batch_size or 32, dtype=x.dtype)
        spatial, bands, mods = {}, {}, {}
        for m in methods:
            att = explain(m, model, x, target, regions, groups, settings, seed=seed + i)
            spatial[m] = att.spatial
            curve = perturbation_curves(lambda z: forward(z)[:, target], x[0], att.spatial, steps=steps,  # noqa: B023 - called now
                                        blur=blur, batch_size=rows, seed=seed + i)
            out["curves"] += [{**key, "method": m, **r} for r in curve.to_dict("records")]
            out["faithfulness"].append({**key, "method": m,
                                        "deletion_auc": curve_auc(curve["fraction"], curve["deletion"]),
                                        "insertion_auc": curve_auc(curve["fraction"], curve["insertion"]),
                                        "score": float(curve["deletion"].iloc[0])})
            rand_att = explain(m, randomised, x, target, regions, groups, settings, seed=sanity_seed(m, seed + i),
                               features=False)
            out["sanity"].append({**key, "method": m, "spearman_abs": rank_similarity(att.spatial, rand_att.spatial),
                                  "spearman": rank_similarity(att.spatial, rand_att.spatial, absolute=False)})
            if att.bands is not None:
                bands[m] = att.bands
                out["attributions"] += [{**key, "method": m, "level": "band", "feature": b, "attribution": float(v)}
                                        for b, v in zip(band_names, att.bands, strict=True)]
            if att.modalities is not None:
                mods[m] = np.array([att.modalities[g] for g in groups])
                out["attributions"] += [{**key, "method": m, "level": "modality", "feature": g, "attribution": v}
                                        for g, v in att.modalities.items()]
            if m == "random":  # model-independent: "stable" by construction, so not scored
                continue
            seed_maps = {reference_seed: att.spatial}
            for s, other in models.items():
                if s != reference_seed:
                    seed_maps[s] = explain(m, other, x, target, regions, groups, settings, seed=seed + i,
                                           features=False).spatial
            for r in pairwise_agreement(seed_maps).to_dict("records"):
                out["stability"].append({**key, "method": m, "seed_a": r["a"], "seed_b": r["b"],
                                         "spearman": r["spearman"], "kendall": r["kendall"]})
        real = [m for m in methods if m != "random"]
        for level, maps in (("spatial", spatial), ("band", bands), ("modality", mods)):
            maps = {m: v for m, v in maps.items() if m in real}
            out["agreement"] += [{**key, "level": level, **r} for r in pairwise_agreement(maps).to_dict("records")]
    return {k: pd.DataFrame(v) for k, v in out.items()}


def scorecard(tables: Mapping[str, pd.DataFrame], sanity_threshold: float = 0.5) -> pd.DataFrame:
    """One row per method: mean deletion/insertion AUC, randomisation similarity and whether the
    sanity check passed (mean ``spearman_abs`` below ``sanity_threshold``; NA for ``random``, whose
    similarity is the chance level of two independent draws, see :func:`sanity_seed`), mean
    spatial agreement with the other methods, and mean stability across training seeds.

    ``tables`` are those of :func:`evaluate_explanations` (optionally with a ``stack`` column,
    which is then kept as a key).
    """
    keys = ["stack", "method"] if "stack" in tables["faithfulness"] else ["method"]
    faith = tables["faithfulness"].groupby(keys, sort=False).agg(
        n_instances=("deletion_auc", "size"), deletion_auc=("deletion_auc", "mean"),
        insertion_auc=("insertion_auc", "mean"))
    faith["insertion_minus_deletion"] = faith["insertion_auc"] - faith["deletion_auc"]
    sanity = tables["sanity"].groupby(keys, sort=False).agg(randomisation_spearman_abs=("spearman_abs", "mean"))
    passed = (sanity["randomisation_spearman_abs"] < sanity_threshold).astype("boolean")
    is_random = sanity.index.get_level_values("method") == "random"
    sanity["sanity_passed"] = passed.mask(is_random, pd.NA)  # a model-independent map neither passes nor fails
    card = faith.join(sanity)
    agree = tables["agreement"]
    agree = agree[agree["level"] == "spatial"]
    if len(agree):
        long = pd.concat([agree.rename(columns={"a": "method"}), agree.rename(columns={"b": "method"})])
        card = card.join(long.groupby(keys, sort=False).agg(agreement_spearman=("spearman", "mean"),
                                                             agreement_kendall=("kendall", "mean")))
    stab = tables["stability"]
    if len(stab):
        card = card.join(stab.groupby(keys, sort=False).agg(seed_stability_spearman=("spearman", "mean"),
                                                            seed_pairs=("spearman", "size")))
    for col in ("agreement_spearman", "agreement_kendall", "seed_stability_spearman"):
        if col not in card:
            card[col] = np.nan
    return card.reset_index()
