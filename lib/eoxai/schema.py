"""The profile schema: every key, type and range a profile may hold (pydantic models).

:func:`eoxai.config.load_profile` merges ``config/base.yaml`` (every default) with a profile and
validates the result against :class:`Profile` before any job starts. Models are strict (``"3"``
is not an int, ``1`` is not a bool) and forbid unknown keys; :func:`explain` turns pydantic's
errors into lines naming the dotted key, the value, the allowed range and the nearest valid name.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Literal, Union

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from eoxai.data.declaration import StackDeclaration

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Split = Literal["train", "validation", "test"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TrainParams(Section):
    """Training hyper-parameters (:class:`eoxai.engine.TrainConfig`); every key optional here."""

    arch: str | None = None
    size: Literal["b0", "b1", "b2", "b3", "b4", "b5"] | None = None
    weights: str | None = None
    loss: str | None = None
    loss_params: dict[str, float] | None = None
    class_weights: Literal["balanced"] | None = None
    max_class_weight: PosFloat | None = None
    epochs: PosInt | None = None
    batch_size: PosInt | None = None
    lr: PosFloat | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    warmup: Annotated[float, Field(ge=0, lt=1)] | None = None
    floor: Annotated[float, Field(ge=0, le=1)] | None = None
    grad_clip: PosFloat | None = None
    patience: NonNegInt | None = None
    keep: Literal["best", "last"] | None = None
    augment: bool | None = None
    train_stride: PosInt | None = None
    max_train_tiles: PosInt | None = None
    random_crops: PosInt | None = None
    bf16: bool | None = None
    channels_last: bool | None = None
    compile: bool | None = None


class RunEntry(TrainParams):
    """One line of ``runs``: an architecture, its input sets, and per-run training overrides."""

    arch: str
    inputs: list[str] = Field(min_length=1)


class DataFusion(Section):
    stacks: list[str] = Field(min_length=1)
    split_fractions: list[Fraction] = Field(min_length=3, max_length=3)


class Training(Section):
    seeds: list[NonNegInt] = Field(min_length=1)
    train: TrainParams
    runs: dict[str, list[RunEntry]] = Field(min_length=1)


class Evaluation(Training):
    level: Annotated[float, Field(gt=0, lt=1)]


class Interclass(Section):
    stacks: list[str] = Field(min_length=1)
    split: Split
    max_tiles: PosInt
    batch_size: PosInt
    score: str
    layers: dict[str, str]


class Spectral(Section):
    stacks: list[str] = Field(min_length=1)
    split: Split
    max_tiles: dict[str, PosInt]
    batch_size: PosInt
    layer: str
    score: str
    modes: list[Literal["keep", "drop"]] = Field(min_length=1)
    baselines: list[str] = Field(min_length=1)
    violin_pixels: PosInt


class OcclusionIG(Section):
    stacks: list[str] = Field(min_length=1)
    split: Split
    n_instances: PosInt
    targets: dict[str, str]
    layer: str
    baseline: str
    ig_steps: PosInt
    ig_batch: PosInt
    occlusion_window: list[PosInt] = Field(min_length=3, max_length=3)
    occlusion_strides: list[PosInt] = Field(min_length=3, max_length=3)
    occlusion_batch: PosInt


class ShapSegmentation(Section):
    max_tiles: PosInt | None = None
    n_instances: PosInt
    top_k: PosInt
    grid: PosInt
    blur: PosInt
    max_evals: PosInt
    batch_size: PosInt


class ModalityInfluence(Section):
    max_tiles: PosInt | None = None
    replacements: list[str] = Field(min_length=1)
    influence_replacement: str
    influence_measure: str
    head_score_means_less_influence: bool
    batch_size: PosInt


def _registered(methods: list[str]) -> list[str]:
    """Every method named by its explainer-registry name (:mod:`eoxai.xai.registry`); an unknown one
    fails with the list of registered names."""
    from eoxai.xai.registry import check_names  # the explainers load only when a profile names them

    return check_names(methods)


class Scorecard(Section):
    max_tiles: PosInt | None = None
    n_instances: PosInt
    methods: Annotated[list[str], Field(min_length=1), AfterValidator(_registered)]
    gradcam_layer: str
    ig_steps: PosInt
    occlusion_grid: PosInt
    shap_grid: PosInt
    shap_blur: PosInt
    shap_max_evals: PosInt
    curve_steps: PosInt
    batch_size: PosInt
    sanity_threshold: Fraction
    report_instance: NonNegInt


class HsiTrain(Section):
    """The patch models' training (:func:`eoxai.hyperspectral.train.patch_config`); ``lr`` is the peak rate."""

    epochs: PosInt
    batch_size: PosInt
    lr: PosFloat
    weight_decay: Annotated[float, Field(ge=0)]
    warmup: Annotated[float, Field(ge=0, lt=1)] | None = None
    floor: Annotated[float, Field(ge=0, le=1)] | None = None
    class_weights: Literal["balanced"] | None = None


class HsiIG(Section):
    nt_samples: PosInt
    stdevs: Annotated[float, Field(ge=0)]
    n_steps: PosInt
    batch_size: PosInt


class Prisma(Section):
    file: str
    labels: list[str] = Field(min_length=1)
    classes: dict[int, str] = Field(min_length=1)
    label_nodata: int
    block_size: PosInt
    fractions: list[Fraction] = Field(min_length=3, max_length=3)
    exclude_nm: list[list[float]]


class PatchSize(Section):
    dataset: Literal["enmap", "prisma"]
    split_jobs: bool
    classes: list[str] = Field(min_length=1)
    patch_sizes: list[PosInt] = Field(min_length=1)
    instances: PosInt
    models: dict[str, dict[str, Any]] = Field(min_length=1)
    train: HsiTrain
    train_per_class: PosInt | None
    explain_per_class: PosInt
    explain_split: Split
    explain_pixels: Literal["all", "correct_all"]
    ig: HsiIG
    bootstrap: PosInt
    prisma: Prisma | None


class SceneShap(Section):
    dataset: Literal["eurosat_rgb", "eurosat_ms"]
    limit_per_class: PosInt | None
    arch: str
    pretrained: bool
    epochs: PosInt
    batch_size: PosInt
    lr: PosFloat
    n_explain: PosInt
    top_k: PosInt
    blur: list[PosInt] = Field(min_length=2, max_length=2)
    max_evals: PosInt
    shap_batch_size: PosInt
    drop_fraction: Annotated[float, Field(gt=0, lt=1)]
    n_random: PosInt


class KnownAnswerRule(Section):
    """One synthetic rule of notebook 11 (:class:`eoxai.xai.known_answer.SyntheticRule`)."""

    name: str = Field(min_length=1)
    kind: Literal["band", "modality", "spatial"]
    bands: list[str] = Field(default_factory=list, max_length=2)
    modality: str | None = None
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.5
    radius: Annotated[float, Field(ge=0)] = 0.0
    smooth: Annotated[float, Field(ge=0)] = 0.0
    #: training settings of this rule's models (over the section's ``train`` and ``train_overrides``)
    train: TrainParams | None = None


class KnownAnswer(Section):
    """Notebook 11: explainers graded against synthetic rules with a known answer."""

    stacks: list[str] = Field(min_length=1)
    split: Split
    rules: dict[str, list[KnownAnswerRule]] = Field(min_length=1)
    seeds: list[NonNegInt] = Field(min_length=1)
    arch: str
    influence_arch: str | None
    tile_size: PosInt
    train: TrainParams
    train_overrides: dict[str, TrainParams]
    n_tiles: PosInt
    gradcam_layers: dict[str, str] = Field(min_length=1)
    spectral_layer: str
    ig_steps: PosInt
    occlusion_window: PosInt
    shap_block: PosInt
    shap_blur: PosInt
    shap_max_evals: PosInt
    replacements: list[str] = Field(min_length=1)
    batch_size: PosInt
    min_accuracy: Fraction
    recover_level: Fraction


class Notebooks(Section):
    """One optional section per numbered notebook; a notebook without a section is not scheduled."""

    data_fusion: DataFusion | None = Field(None, alias="01_data_fusion")
    training: Training | None = Field(None, alias="02_training")
    evaluation: Evaluation | None = Field(None, alias="03_evaluation")
    interclass: Interclass | None = Field(None, alias="04_interclass_gradcam")
    spectral: Spectral | None = Field(None, alias="05_spectral_gradcam")
    occlusion: OcclusionIG | None = Field(None, alias="06_occlusion_ig_gradcam")
    shap: ShapSegmentation | None = Field(None, alias="07_shap_segmentation")
    modality: ModalityInfluence | None = Field(None, alias="08_modality_influence")
    scorecard: Scorecard | None = Field(None, alias="08b_explanation_scorecard")
    patch_size: PatchSize | None = Field(None, alias="09_patch_size_hyperopt")
    scene: SceneShap | None = Field(None, alias="10_scene_shap")
    known_answer: KnownAnswer | None = Field(None, alias="11_known_answer_benchmark")


class Profile(Section):
    """A whole profile after merging with the base: common keys, stack declarations, notebooks."""

    profile: str = Field(min_length=1)
    extends: str | None = None
    seed: NonNegInt
    data_dir: str = Field(min_length=1)
    results_dir: str = Field(min_length=1)
    device: Annotated[str, Field(pattern=r"^(cpu|cuda(:\d+)?|mps|auto)$")]
    explainer_memory_mb: PosInt | None = None
    stacks: dict[str, StackDeclaration]
    notebooks: Notebooks


#: notebook -> notebooks whose outputs it reads (a profile that runs it must run those too)
NEEDS: dict[str, tuple[str, ...]] = {
    "02_training": ("01_data_fusion",),
    "03_evaluation": ("01_data_fusion", "02_training"),
    **{nb: ("01_data_fusion", "02_training") for nb in (
        "04_interclass_gradcam", "05_spectral_gradcam", "06_occlusion_ig_gradcam", "07_shap_segmentation",
        "08_modality_influence")},
    # the scorecard's per-sample report reads the tables of 07 and 08
    "08b_explanation_scorecard": ("01_data_fusion", "02_training", "07_shap_segmentation", "08_modality_influence"),
    "11_known_answer_benchmark": ("01_data_fusion",),
}


# --- error messages -------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip Annotated/Optional/Union down to the first model, dict or list type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
        else:
            return tp


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, Any]:
    """Follow ``loc`` through the model types; return ``(type at loc, FieldInfo of the last field)``."""
    tp: Any = model
    info = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = _field(tp, str(part))
            if info is None:
                return None, None
            tp = info.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return None, info
    return tp, info


def _names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _range(tp: Any, info: Any) -> str | None:
    """``[lo, hi]``-style range from Field/annotated_types constraints of the field or its item type."""
    metas = list(getattr(info, "metadata", []) or [])
    inner = tp
    if typing.get_origin(inner) in (Union, types.UnionType):
        inner = next(a for a in typing.get_args(inner) if a is not type(None))
    while typing.get_origin(inner) is Annotated:
        args = typing.get_args(inner)
        metas += [m for a in args[1:] for m in (getattr(a, "metadata", None) or [a])]
        inner = args[0]
    lo: object = "-inf"
    hi: object = "inf"
    lo_open, hi_open = True, True
    for m in metas:
        if isinstance(m, annotated_types.Ge):
            lo, lo_open = m.ge, False
        elif isinstance(m, annotated_types.Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, annotated_types.Le):
            hi, hi_open = m.le, False
        elif isinstance(m, annotated_types.Lt):
            hi, hi_open = m.lt, True
    if (lo, hi) == ("-inf", "inf"):
        return None
    return f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def explain(exc: ValidationError, model: type[BaseModel] = Profile, prefix: str = "") -> list[str]:
    """One line per error: ``dotted.key = value: problem (allowed range, nearest valid name)``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # drop pydantic's union-branch markers such as 'int' or 'constrained-int' in the location
        clean = tuple(p for p in loc if not (isinstance(p, str) and (p in {"int", "float", "str", "bool", "none"}
                                                                      or p.startswith(("constrained-", "function-")))))
        dotted = prefix + ".".join(str(p) for p in clean)
        if err["type"] == "extra_forbidden":
            parent, _ = _walk(model, clean[:-1])
            parent = _unwrap(parent)
            valid = _names(parent) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
            near = difflib.get_close_matches(str(clean[-1]), valid, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            lines.append(f"{dotted}: unknown key{hint} Valid keys here: {', '.join(valid)}")
            continue
        tp, info = _walk(model, clean)
        value = err.get("input")
        text = f"{dotted}: {err['msg']}"
        if err["type"] != "missing":
            text = f"{dotted} = {value!r}: {err['msg']}"
        allowed = _range(tp, info) if err["type"].startswith(("greater_than", "less_than")) else None
        if allowed:
            text += f" (allowed range {allowed})"
        lines.append(text)
    return lines
