"""The registered explanation methods: one class per method, one :func:`register` line each.

Every class wraps the module that implements its method (the algorithms stay there) and returns
a labelled :class:`xarray.DataArray` (see :mod:`eoxai.xai.registry` for the call and the target):

==================  ===========================================  =================================
name                method (paper)                               dims
==================  ===========================================  =================================
gradcam             Grad-CAM of any layer, every class in one    sample, class, y, x
                    pass (Selvaraju et al. 2017)
interclass          Interclass-Grad-CAM sign counts              class, region
                    (Ebrahimi & Kumar 2025)
spectral_keep       Spectral-Grad-CAM, keep one group            sample, group, class, y, x
spectral_loo        Spectral-Grad-CAM, leave one group out       sample, group, class, y, x
ig                  Integrated Gradients (Sundararajan 2017)     sample, band, y, x
occlusion           sliding-window occlusion (Zeiler & Fergus)   sample, band, y, x
shap                partition SHAP, blur masker (Lundberg 2017)  sample, class, y, x
modality_shap       exact Shapley values of modalities           sample, modality
modality_occlusion  one modality replaced (Ekim & Schmitt's      sample, modality
                    MODO), each replacement a setting
influence           the influence head's learned scores          sample, modality
                    (Ekim & Schmitt)
scene_shap          partition SHAP of a scene classifier,        sample, class, y, x
                    shap's blur Image masker (notebook 10)
random              seeded standard-normal map (the control)     sample, y, x
==================  ===========================================  =================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from eoxai.errors import ExplainerInputError
from eoxai.xai import attribution, gradcam, interclass, modality, scene_shap, shap_seg, spectral
from eoxai.xai.registry import UPSAMPLE, Explainer, Settings, Upsample, class_map, labelled, random_map, register


@dataclass(frozen=True)
class GradCAMSettings(Settings):
    """``layer`` (dotted name; None: the last Conv2d, the seed's logits layer), ``score`` when no
    regions are given (``'softmax_sum'``, the seed's; ``'softmax_mean'``; ``'masked_logit'``),
    ``upsample`` to the input's (H, W), ``relu`` (captum's ``relu_attributions``; default signed
    maps), ``strategy`` of the class gradients."""

    layer: str | None = None
    score: str = "softmax_sum"
    upsample: Upsample = UPSAMPLE
    relu: bool = False
    strategy: gradcam.Strategy = "auto"
    batch_size: int | None = None  # type: ignore[assignment]  # Grad-CAM: the whole batch per pass


@register
class GradCAM(Explainer):
    """All-class Grad-CAM (:class:`eoxai.xai.gradcam.AllClassGradCAM`); ``target`` None: every class."""

    name = "gradcam"
    Settings = GradCAMSettings
    dims = ("sample", "class", "y", "x")

    def explainer(self, score: str | gradcam.ScoreFn | None = None) -> gradcam.AllClassGradCAM:
        """The :class:`~eoxai.xai.gradcam.AllClassGradCAM` of these settings (``score`` overrides the setting's)."""
        s = self.settings
        return gradcam.AllClassGradCAM(self.model, s.layer, score=score or s.score, strategy=s.strategy,
                                       batch_size=s.batch_size, memory_mb=s.memory_mb)

    def attribute_all(self, inputs: torch.Tensor, target: int | None = None) -> gradcam.GradCAMResult:
        """The maps of every class (``target`` None) with the scores and logits of the same pass
        (:meth:`eoxai.xai.gradcam.AllClassGradCAM.attribute_all`, upsampled as the settings say)."""
        return self.explainer().attribute_all(inputs, target, relu_attributions=self.settings.relu,
                                              upsample=self.settings.upsample)

    def attribute(self, inputs: torch.Tensor, target: int | None = None, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        score = None
        if target is not None:
            self._check(inputs, target, regions)
        if regions is not None:
            reduce = self.reduce(regions)
            score = lambda logits, c: reduce(logits)[:, c]  # noqa: E731
        explainer = self.explainer(score)
        cams = explainer.attribute(inputs, target, relu_attributions=self.settings.relu,
                                   upsample=self.settings.upsample)
        names = self.class_names or [str(i) for i in range(cams.shape[1] if target is None else int(target) + 1)]
        return class_map(cams, names, None if target is None else [int(target)], name=self.name,
                         attrs={"layer": str(explainer.layer), "upsample": self.settings.upsample})


@register
class InterclassGradCAM(Explainer):
    """Interclass-Grad-CAM (Ebrahimi & Kumar): for each explained class ``target`` and each predicted
    region ``region``, the share of the region's pixels where the class's Grad-CAM is positive,
    summed over ``inputs``. ``target`` is ignored (every class is explained)."""

    name = "interclass"
    Settings = GradCAMSettings
    dims = ("target", "region")

    def attribute(self, inputs: torch.Tensor, target: int | None = None, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        r = GradCAM(self.model, self.settings).attribute_all(inputs)
        names = self.class_names or [str(i) for i in range(r.cams.shape[1])]
        counts = interclass.sign_counts(r.cams, r.logits.argmax(1), names)
        return interclass.row_shares(counts["positive"]).rename(self.name)


@dataclass(frozen=True)
class SpectralSettings(GradCAMSettings):
    """Grad-CAM's settings plus the ``baseline`` the perturbed bands take (scalar or per-band values;
    0 is the training mean of z-scored inputs)."""

    baseline: float | tuple[float, ...] = 0.0
    batch_size: int | None = 64  # type: ignore[assignment]


class _Spectral(Explainer):
    mode: spectral.Mode = "keep"
    Settings = SpectralSettings
    dims = ("sample", "group", "class", "y", "x")

    def dataset(self, inputs: torch.Tensor, target: int | None = None) -> xr.Dataset:
        """The whole :meth:`eoxai.xai.spectral.SpectralGradCAM.attribute` Dataset (references
        included) for every class (``target`` None); groups: each band and each modality."""
        s = self.settings
        groups = self.groups(inputs.shape[1])
        if self.modalities is not None and self.bands is not None:
            groups = spectral.band_groups(self.bands, self.modalities)
        base = torch.as_tensor(s.baseline, dtype=inputs.dtype, device=inputs.device)
        return spectral.SpectralGradCAM(self.model, s.layer, score=s.score, batch_size=s.batch_size,
                                        class_names=self.class_names, memory_mb=s.memory_mb).attribute(
            inputs, groups, mode=self.mode, baseline=base if base.ndim else float(s.baseline),  # type: ignore[arg-type]
            target=target, kinds=spectral.group_kinds(groups, self.band_names(inputs.shape[1])))

    def attribute(self, inputs: torch.Tensor, target: int | None = None, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        return self.dataset(inputs, target)["cam"].transpose(*self.dims).rename(self.name)


@register
class SpectralKeep(_Spectral):
    """Spectral-Grad-CAM, keep one group (all other bands at the baseline)."""

    name = "spectral_keep"
    mode = "keep"


@register
class SpectralLeaveOneOut(_Spectral):
    """Spectral-Grad-CAM, leave one group out (its bands at the baseline)."""

    name = "spectral_loo"
    mode = "drop"


@dataclass(frozen=True)
class IGSettings(Settings):
    """``steps`` of the path from ``baseline`` (scalar or per-band; 0: the training mean),
    ``integration`` method (captum's); ``batch_size`` path points per pass at most."""

    steps: int = 200
    baseline: float | tuple[float, ...] = 0.0
    integration: str = "gausslegendre"


@register
class IntegratedGradients(Explainer):
    """captum Integrated Gradients (:func:`eoxai.xai.attribution.integrated_gradients`); the
    convergence ``delta``, ``output`` and ``output_baseline`` ride along as ``sample`` coordinates."""

    name = "ig"
    Settings = IGSettings
    dims = ("sample", "band", "y", "x")

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        self._check(inputs, target, regions)
        s = self.settings
        ds = attribution.integrated_gradients(
            self.model, inputs, target, self.band_names(inputs.shape[1]), self.modalities,
            baseline=_baseline(s.baseline, inputs), n_steps=s.steps, method=s.integration,
            internal_batch_size=s.batch_size, reduce=self.reduce(regions), memory_mb=s.memory_mb)
        return ds["attribution"].assign_coords(delta=ds["delta"], output=ds["output"],
                                               output_baseline=ds["output_baseline"]).rename(self.name)


@dataclass(frozen=True)
class OcclusionSettings(Settings):
    """``window`` ``(bands, rows, cols)`` and ``strides`` (the seed's ``(3, 15, 15)``, ``(3, 8, 8)``),
    or ``grid``: a ``grid`` x ``grid`` partition of the tile into all-band windows (stride = window),
    as the scorecard cuts it; ``baseline`` scalar or per band; ``batch_size`` windows per pass."""

    window: tuple[int, int, int] = (3, 15, 15)
    strides: tuple[int, int, int] = (3, 8, 8)
    grid: int | None = None
    baseline: float | tuple[float, ...] = 0.0


@register
class Occlusion(Explainer):
    """captum Occlusion (:func:`eoxai.xai.attribution.occlusion`)."""

    name = "occlusion"
    Settings = OcclusionSettings
    dims = ("sample", "band", "y", "x")

    def window(self, inputs: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The window and strides for ``inputs`` ``(B, C, H, W)``."""
        s = self.settings
        if s.grid is None:
            return tuple(s.window), tuple(s.strides)
        c, h = inputs.shape[1], inputs.shape[2]
        if not 1 <= s.grid <= h:
            raise ExplainerInputError(f"occlusion grid {s.grid} must lie in 1..{h} (the tile side)")
        win = max(1, h // s.grid)
        return (c, win, win), (c, win, win)

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        self._check(inputs, target, regions)
        window, strides = self.window(inputs)
        return attribution.occlusion(
            self.model, inputs, target, self.band_names(inputs.shape[1]), self.modalities, window=window,
            strides=strides, baseline=_baseline(self.settings.baseline, inputs),
            perturbations_per_eval=self.settings.batch_size, reduce=self.reduce(regions),
            memory_mb=self.settings.memory_mb).rename(self.name)


@dataclass(frozen=True)
class ShapSettings(Settings):
    """``grid`` x ``grid`` blocks as features, blurred by a ``blur`` window when absent (the
    BlurMasker), ``max_evals`` model evaluations per image."""

    grid: int = 8
    blur: int = 9
    max_evals: int = 300


@register
class PartitionShap(Explainer):
    """Partition SHAP with a blur masker (:func:`eoxai.xai.shap_seg.explain_partition`); per pixel
    each block's Owen value spread over its pixels. Regions default to the model's prediction."""

    name = "shap"
    Settings = ShapSettings
    dims = ("sample", "class", "y", "x")

    def dataset(self, inputs: torch.Tensor, classes: list[int] | None = None, *, top_k: int = 2,
                regions: torch.Tensor | None = None, seed: int = 0, progress: bool = False) -> xr.Dataset:
        """The whole :func:`~eoxai.xai.shap_seg.explain_partition` Dataset (base values, scores,
        evaluations) of ``classes``, or of each image's ``top_k`` classes by predicted area;
        ``regions`` ``(B, K, H, W)`` or None (the prediction)."""
        s = self.settings
        h = inputs.shape[2]
        if not 1 <= s.grid <= h:
            raise ExplainerInputError(f"SHAP grid {s.grid} must lie in 1..{h} (the tile side)")
        return shap_seg.explain_partition(
            self.model, inputs, classes=classes, top_k=top_k, regions=regions, class_names=self.class_names,
            block=max(1, h // s.grid), blur=s.blur, max_evals=s.max_evals, batch_size=s.batch_size, seed=seed,
            progress=progress, kind=s.kind, memory_mb=s.memory_mb)

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        self._check(inputs, target, regions)
        part = self.dataset(inputs, [target], seed=seed,
                            regions=None if regions is None else regions[None].expand(len(inputs), *regions.shape))
        return part["shap"].isel({"class": [target]}).rename(self.name)


@dataclass(frozen=True)
class ModalityShapSettings(Settings):
    """``max_players``: the most groups (``2^n`` evaluations per image) the exact values may take."""

    max_players: int = 12


@register
class ModalityShap(Explainer):
    """Exact Shapley values of the modalities (:func:`eoxai.xai.shap_seg.band_group_shap`); without
    modalities, of each band."""

    name = "modality_shap"
    Settings = ModalityShapSettings
    dims = ("sample", "modality")

    def dataset(self, inputs: torch.Tensor, regions: torch.Tensor | None = None) -> xr.Dataset:
        """The whole :func:`~eoxai.xai.shap_seg.band_group_shap` Dataset of every class (leave-one-out,
        keep-one, scores); ``regions`` ``(B, K, H, W)`` or None (the prediction)."""
        s = self.settings
        return shap_seg.band_group_shap(self.model, inputs, self.groups(inputs.shape[1]), regions=regions,
                                        class_names=self.class_names, kind=s.kind, batch_size=s.batch_size,
                                        max_players=s.max_players, memory_mb=s.memory_mb)

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        self._check(inputs, target, regions)
        exact = self.dataset(inputs, None if regions is None else regions[None].expand(len(inputs), *regions.shape))
        return exact["shap"].isel({"class": target}).rename({"group": "modality"}).rename(self.name)


@dataclass(frozen=True)
class ModalityOcclusionSettings(Settings):
    """``replacement`` of the occluded modality's bands (:data:`eoxai.xai.modality.REPLACEMENTS`);
    ``band_mean``/``band_std`` (raw training statistics) for ``'zeros'``."""

    replacement: str = "mean"
    band_mean: tuple[float, ...] | None = None
    band_std: tuple[float, ...] | None = None


@register
class ModalityOcclusion(Explainer):
    """Ekim & Schmitt's modality occluder as an attribution: per modality, the drop of the explained
    score when its bands are replaced (f(x) - f(x with the modality replaced)); noise replacements
    are drawn from ``seed``. With ``replacement='mean'`` this is captum's ``FeatureAblation`` of band
    groups with baseline 0. Without modalities every band is its own group."""

    name = "modality_occlusion"
    Settings = ModalityOcclusionSettings
    dims = ("sample", "modality")

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        self._check(inputs, target, regions)
        s = self.settings
        if s.replacement not in modality.REPLACEMENTS:
            raise ExplainerInputError(f"unknown replacement {s.replacement!r}; "
                                      f"expected one of {list(modality.REPLACEMENTS)}")
        forward = self.forward(regions)
        groups = self.groups(inputs.shape[1])
        gen = torch.Generator().manual_seed(int(seed))
        batch = torch.cat([inputs] + [
            modality.occlude(inputs, bands, s.replacement, band_mean=s.band_mean, band_std=s.band_std, generator=gen)
            for bands in groups.values()])
        rows = self.rows(inputs)
        with torch.no_grad():
            scores = torch.cat([forward(batch[i:i + rows])[:, target] for i in range(0, len(batch), rows)])
        scores = scores.view(len(groups) + 1, len(inputs))
        drop = (scores[0][None] - scores[1:]).T  # (B, groups)
        return labelled(drop, self.dims, self.name, modality=list(groups)).assign_attrs(replacement=s.replacement)


@register
class InfluenceHead(Explainer):
    """The learned per-modality scores of Ekim & Schmitt's influence head (``model.influence``),
    as influence ``1 - score`` (the head scores higher when the occluded modality mattered less).
    ``target`` and ``regions`` are not used: the head explains the whole tile."""

    name = "influence"
    Settings = Settings
    dims = ("sample", "modality")

    def attribute(self, inputs: torch.Tensor, target: int | None = None, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        head = getattr(self.model, "influence", None)
        if head is None or not getattr(self.model, "use_influence", True):
            raise ExplainerInputError(f"{type(self.model).__name__} has no influence head")
        with torch.no_grad():
            scores = head(inputs)
        names = list(getattr(self.model, "modality_names", self.groups(inputs.shape[1])))
        return labelled(1.0 - scores, self.dims, self.name, modality=names)


@dataclass(frozen=True)
class SceneShapSettings(Settings):
    """Scene classifiers (notebook 10): the ``top_k`` most probable classes, ``max_evals`` per image,
    the Image masker's ``blur`` kernel ``(kx, ky)``; the blur drop's pixel ``fraction`` and
    ``n_random`` random pixel sets."""

    top_k: int = 4
    max_evals: int = 500
    blur: tuple[int, int] = (32, 32)
    batch_size: int = 64
    fraction: float = 0.1
    n_random: int = 10


@register
class SceneShap(Explainer):
    """Partition SHAP of a scene classifier ``(B, C, H, W)`` -> logits ``(B, K)`` with shap's blur
    Image masker (:func:`eoxai.xai.scene_shap.explain_scenes`): per pixel, summed over bands."""

    name = "scene_shap"
    Settings = SceneShapSettings
    dims = ("sample", "class", "y", "x")

    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def explain_and_score(self, inputs: torch.Tensor, seed: int = 0) -> tuple[xr.DataArray, Any, Any]:
        """The top-k maps ``(image, rank, y, x)``, the blur-drop table and the predictor
        (:func:`eoxai.xai.scene_shap.explain_and_score`)."""
        s = self.settings
        return scene_shap.explain_and_score(self.model, inputs, top_k=s.top_k, max_evals=s.max_evals,
                                            blur=tuple(s.blur), batch_size=s.batch_size, fraction=s.fraction,
                                            n_random=s.n_random, seed=seed, device=self.device(),
                                            memory_mb=s.memory_mb)

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        s = self.settings
        maps = scene_shap.explain_scenes(self.model, inputs, classes=[target], max_evals=s.max_evals,
                                         blur=tuple(s.blur), batch_size=s.batch_size, device=self.device(),
                                         memory_mb=s.memory_mb)
        names = self.class_names or list(getattr(self.model, "class_names", [])) or None
        return labelled(maps.values, self.dims, self.name,
                        **{"class": [names[target] if names else str(target)]}).assign_attrs(maps.attrs)


@register
class RandomMap(Explainer):
    """A seeded standard-normal ``(H, W)`` map per sample (sample ``i`` from ``seed + i``),
    independent of the model: the chance reference every method must beat."""

    name = "random"
    Settings = Settings
    dims = ("sample", "y", "x")

    def attribute(self, inputs: torch.Tensor, target: int | None = None, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        h, w = inputs.shape[-2:]
        return labelled(np.stack([random_map((h, w), seed + i) for i in range(len(inputs))]), self.dims, self.name)


def _baseline(value: float | tuple[float, ...], inputs: torch.Tensor) -> float | torch.Tensor:
    if isinstance(value, (int, float)):
        return float(value)
    return torch.as_tensor(value, dtype=inputs.dtype, device=inputs.device)


__all__ = ["GradCAM", "GradCAMSettings", "IGSettings", "InfluenceHead", "IntegratedGradients", "InterclassGradCAM",
           "ModalityOcclusion", "ModalityOcclusionSettings", "ModalityShap", "ModalityShapSettings", "Occlusion",
           "OcclusionSettings", "PartitionShap", "RandomMap", "SceneShap", "SceneShapSettings", "ShapSettings",
           "SpectralKeep", "SpectralLeaveOneOut", "SpectralSettings"]
