"""The explainer registry: every explanation method by name, with its settings type.

Each method is a class built on a model, captum-style::

    explainer = registry.get("gradcam")(model, layer="decoder.blocks.2")   # settings as keywords
    maps = explainer.attribute(x, target)                                  # labelled xarray.DataArray

``attribute(inputs, target, *, regions=None, seed=0)`` explains ``inputs`` ``(B, C, H, W)`` for the
class index ``target`` and returns an :class:`xarray.DataArray` with the dims the class declares
(:attr:`Explainer.dims`, among ``sample``, ``band``, ``class``, ``modality``, ``y``, ``x``) and band /
class / modality coordinates. The explained scalar is the same for every method:

- ``regions`` None: the spatial mean over all pixels of the softmax of ``target`` (the seeds'
  forward, :class:`~eoxai.xai.targets.ScalarOutput`'s default; Grad-CAM's ``score`` setting may
  choose another, e.g. the seed's sum);
- ``regions`` ``(K, H, W)`` bool: the mean of ``kind`` (probability or logit) of ``target`` over
  ``regions[target]`` (:func:`eoxai.xai.targets.region_mean`), as the scorecard explains.

Every map at input resolution comes from a layer map upsampled with :data:`UPSAMPLE` unless a
method's ``upsample`` setting says otherwise: one default for every notebook and the scorecard.

Adding a method is one class (subclass :class:`Explainer`, give it a frozen ``Settings``
dataclass) and one :func:`register` line. Notebooks 04-08b and 10 and the scorecard
(:mod:`eoxai.xai.scoring`) build their explainers here, so the scorecard grades the maps the
notebooks show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import xarray as xr
from torch import nn

from eoxai.errors import ExplainerInputError, UnknownExplainerError
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs, check_mask, check_targets
from eoxai.xai.maps import band_groups, band_map, class_map
from eoxai.xai.targets import ScalarOutput, region_mean

Upsample = Literal["nearest", "bilinear"]
#: the one upsampling of layer maps to the input's (H, W), used by every notebook and the scorecard
UPSAMPLE: Upsample = "nearest"
#: the one scalar kind of a region target (``regions`` given): the mean softmax probability
KIND = "probability"


@dataclass(frozen=True)
class Settings:
    """Settings every method shares: ``kind`` of a region target (``'probability'``/``'logit'``),
    ``batch_size`` (images per model pass at most) and ``memory_mb`` (the profile's
    ``explainer_memory_mb``: fewer images per pass if they do not fit; None: the device's default)."""

    kind: str = KIND
    batch_size: int = 32
    memory_mb: float | None = None


class Explainer:
    """Base of every registered method: ``Explainer(model, settings=None, *, bands, class_names,
    modalities, **overrides)``; ``attribute(inputs, target, regions=None, seed=0)`` -> DataArray.

    ``bands`` / ``class_names`` / ``modalities`` (``{name: band count}`` in input order) label the
    output; ``overrides`` replace fields of ``settings`` (default ``Settings()``).
    """

    name: ClassVar[str] = ""
    Settings: ClassVar[type] = Settings
    dims: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: nn.Module, settings: Any = None, *, bands: Sequence[str] | None = None,
                 class_names: Sequence[str] | None = None, modalities: Mapping[str, int] | None = None,
                 **overrides: Any) -> None:
        settings = self.Settings() if settings is None else settings
        if not isinstance(settings, self.Settings):
            raise ExplainerInputError(f"{self.name!r} takes {self.Settings.__name__}, got {type(settings).__name__}")
        known = {f.name for f in fields(settings)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ExplainerInputError(f"{self.name!r} has no setting(s) {bad}; its settings are {sorted(known)}")
        self.model = model
        self.settings = replace(settings, **overrides)
        self.bands = None if bands is None else [str(b) for b in bands]
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.modalities = None if modalities is None else {str(k): int(v) for k, v in modalities.items()}

    # ------------------------------------------------------------------ shared pieces
    def _check(self, inputs: torch.Tensor, target: int, regions: torch.Tensor | None) -> None:
        check_eval_mode(self.model)
        check_inputs(self.model, inputs)
        if regions is not None:
            check_mask(regions, (1, regions.shape[0], *inputs.shape[-2:]), what="regions")
            check_targets(target, regions.shape[0])

    def reduce(self, regions: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """logits ``(B, K, H, W)`` -> scores ``(B, K)``: the region mean of ``kind``, or None (mean softmax)."""
        return None if regions is None else region_mean(regions, self.settings.kind)

    def forward(self, regions: torch.Tensor | None) -> ScalarOutput:
        """The model as ``(B, C, H, W)`` -> ``(B, K)`` scores of the explained scalar."""
        return ScalarOutput(self.model, self.reduce(regions))

    def rows(self, inputs: torch.Tensor) -> int:
        """Images of ``inputs``' shape per model pass: ``batch_size`` at most, fewer if over ``memory_mb``."""
        return budget_batch_size(self.model, inputs.shape[1:], self.settings.memory_mb, cap=self.settings.batch_size,
                                 dtype=inputs.dtype)

    def band_names(self, c: int) -> list[str]:
        """The ``c`` band names (``'0'``, ``'1'``, ... when none were given)."""
        return self.bands if self.bands is not None else [str(i) for i in range(c)]

    def groups(self, c: int) -> dict[str, list[int]]:
        """Band indices per modality (one group per band when no modalities were given)."""
        if self.modalities is None:
            return {b: [i] for i, b in enumerate(self.band_names(c))}
        if sum(self.modalities.values()) != c:
            raise ExplainerInputError(f"modalities {self.modalities} give {sum(self.modalities.values())} bands; "
                                      f"the inputs have {c}")
        return band_groups(self.modalities)

    def attribute(self, inputs: torch.Tensor, target: int, *, regions: torch.Tensor | None = None,
                  seed: int = 0) -> xr.DataArray:
        """Explain ``target`` for ``inputs`` ``(B, C, H, W)``; see the module doc."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Explainer]] = {}


def register(cls: type[Explainer]) -> type[Explainer]:
    """Add ``cls`` under ``cls.name`` (a class decorator); a name registered twice is an error."""
    if not cls.name or cls.name in _REGISTRY:
        raise ExplainerInputError(f"explainer name {cls.name!r} is empty or already registered")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """The registered method names, in registration order."""
    _load_methods()
    return list(_REGISTRY)


def get(name: str) -> type[Explainer]:
    """The explainer class registered as ``name``; otherwise
    :class:`~eoxai.errors.UnknownExplainerError`, listing the registered names."""
    _load_methods()
    if name not in _REGISTRY:
        raise UnknownExplainerError(f"unknown explainer {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def check_names(methods: Sequence[str]) -> list[str]:
    """``methods`` unchanged if every one is registered, else :class:`UnknownExplainerError`."""
    for m in methods:
        get(m)
    return list(methods)


def settings_of(name: str, values: Mapping[str, Any]) -> Any:
    """The settings of ``name`` from ``values``, keeping only the keys its settings type has (a
    profile section holds the settings of several methods)."""
    cls = get(name).Settings
    return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def _load_methods() -> None:
    from eoxai.xai import methods  # noqa: F401  (each method registers itself on import)


def random_map(shape: Sequence[int], seed: int) -> np.ndarray:
    """A seeded standard-normal array of ``shape`` (the chance reference; independent of any model)."""
    return np.random.default_rng(seed).standard_normal(tuple(shape))


def labelled(values: torch.Tensor | np.ndarray, dims: Sequence[str], name: str, **coords: Any) -> xr.DataArray:
    """``values`` as a DataArray with ``dims`` and the given coordinates (``sample`` numbered if absent)."""
    v = values.detach().double().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    coords.setdefault("sample", np.arange(v.shape[0]))
    return xr.DataArray(v, dims=tuple(dims), coords=coords, name=name)


__all__ = ["KIND", "UPSAMPLE", "Explainer", "Settings", "band_map", "check_names", "class_map", "get",
           "labelled", "names", "random_map", "register", "settings_of"]
