"""The patch-size study: a (model x patch size x instance) grid, resumable per cell, and its summary.

Reproduces the design of Linardi, Dabo & Paris (IGARSS 2025) with its errors fixed:

1. spatially disjoint splits (whole tiles), per-band normalisation from training tiles only;
2. several independently seeded instances per (model, patch size), trained on the same pixels;
3. every instance explains the **same** held-out pixels with the same noise (IG + NoiseTunnel),
   so explanations can be compared across instances;
4. metrics named for what they measure (:mod:`eoxai.hyperspectral.consistency`): uniformity
   (the source paper's metric, closeness to a flat spectrum), concentration (1 - normalised entropy: how
   few bands an explanation uses) and cross-instance consistency (the source paper's stated aim);
5. bootstrap intervals that resample pixels; the test split is used once, at the chosen size.

Explanations and validation F1 come from the validation tiles by default, so the selection never
sees the test split (the seed explained test pixels); ``explain_split='test'`` reproduces the
seed's choice.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from eoxai.checkpoint import CheckpointError, config_hash, load_torch_file, save_torch_file
from eoxai.data.hyperspectral import SPLITS
from eoxai.engine import TrainConfig
from eoxai.errors import ConfigError, InputError
from eoxai.hyperspectral.consistency import (
    bootstrap_interval,
    class_balanced_mean,
    concentration,
    macro_f1,
    pairwise_js_divergence,
    to_distribution,
    uniformity,
)
from eoxai.hyperspectral.explain import band_attributions
from eoxai.hyperspectral.models import MODELS, build_patch_model
from eoxai.hyperspectral.patches import (
    PatchExtractor,
    Pixels,
    check_classes_present,
    check_patch_size,
    labelled_pixels,
    stratified_subsample,
)
from eoxai.hyperspectral.train import fit_patches, patch_config, predict

CACHE_FORMAT = "eoxai-patch-size-cell-2"
#: entries of a cache cell held as numpy arrays in memory and as tensors on disk (``weights_only`` loading)
_CELL_ARRAYS = ("val_pred", "explain_pred", "attributions")


@dataclass(frozen=True)
class IGConfig:
    """Integrated Gradients in a NoiseTunnel (defaults: the source paper's, with captum's 50 steps)."""

    nt_samples: int = 10
    stdevs: float = 0.2
    n_steps: int = 50
    batch_size: int = 16


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines the grid; its hash keys the per-cell cache."""

    patch_sizes: tuple[int, ...]
    instances: int
    models: Mapping[str, Mapping[str, Any]]
    train: TrainConfig = field(default_factory=patch_config)
    ig: IGConfig = field(default_factory=IGConfig)
    train_per_class: int | None = None
    explain_per_class: int | None = 10
    explain_split: str = "validation"
    seed: int = 0

    @classmethod
    def from_params(cls, *, patch_sizes: Sequence[int], instances: int, models: Mapping[str, Mapping[str, Any]],
                    train: Mapping[str, Any] | None = None, ig: Mapping[str, Any] | None = None,
                    **rest: Any) -> StudyConfig:
        """Build from plain profile values (lists, dicts), checking names and sizes."""
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            raise ConfigError(f"unknown model(s) {unknown} in the profile; known: {list(MODELS)}")
        if int(instances) < 2:
            raise InputError(f"cross-instance consistency needs at least 2 instances, got {instances}")
        if rest.get("explain_split", "validation") not in ("validation", "test"):
            raise InputError(f"explain_split must be 'validation' or 'test', got {rest['explain_split']!r}")
        return cls(patch_sizes=tuple(int(p) for p in patch_sizes), instances=int(instances),
                   models={k: dict(v or {}) for k, v in models.items()},
                   train=patch_config(train), ig=IGConfig(**(ig or {})), **rest)


@dataclass(frozen=True)
class Cell:
    """One grid cell: a model trained with one patch size and one instance seed."""

    model: str
    patch_size: int
    instance: int

    @property
    def key(self) -> str:
        return f"{self.model}-p{self.patch_size:02d}-i{self.instance}"


@dataclass
class StudyData:
    """The normalised tile set, the patch extractor and the sample pixels of every split."""

    ds: xr.Dataset
    classes: list[str]
    extractor: PatchExtractor
    train: Pixels
    validation: Pixels
    test: Pixels
    explain: Pixels

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def fingerprint(self) -> dict[str, Any]:
        """What the cache must match: bands, classes and the exact sample pixels."""
        def digest(p: Pixels) -> str:
            return config_hash({"px": np.stack([p.tile, p.row, p.col, p.label]).tolist()})

        return {"bands": [str(b) for b in self.ds.band.values], "classes": self.classes,
                "tiles": [str(t) for t in self.ds.tile.values], "train": digest(self.train),
                "explain": digest(self.explain), "validation": digest(self.validation),
                "mean": float(self.ds["band_mean"].sum()) if "band_mean" in self.ds else None}


def prepare_study(ds: xr.Dataset, classes: Sequence[str], config: StudyConfig,
                  device: str | torch.device = "cpu") -> StudyData:
    """Check classes and patch sizes against the tile set; draw the training and explanation pixels.

    ``ds`` is a normalised tile set (:func:`eoxai.data.hyperspectral.normalise`). Raises
    :class:`~eoxai.hyperspectral.patches.ClassAbsentError` if a class lacks pixels in a split and
    :class:`~eoxai.hyperspectral.patches.PatchSizeError` for an even or too large patch size.
    Patches, models and explanations run on ``device``.
    """
    index = check_classes_present(ds, classes, SPLITS)
    tile_shape = (ds.sizes["y"], ds.sizes["x"])
    for p in config.patch_sizes:
        check_patch_size(p, tile_shape)
    extractor = PatchExtractor(ds["image"].values, max(config.patch_sizes), device=device)
    pixels = {s: labelled_pixels(ds, s, index) for s in SPLITS}
    train = stratified_subsample(pixels["train"], config.train_per_class, config.seed)
    explain = stratified_subsample(pixels[config.explain_split], config.explain_per_class, config.seed + 1)
    return StudyData(ds, list(classes), extractor, train, pixels["validation"], pixels["test"], explain)


def cell_seed(seed: int, cell: Cell) -> int:
    """Independent, reproducible seed of a cell's instance (weights and batch order)."""
    model_id = MODELS.index(cell.model)
    return int(np.random.SeedSequence([seed, model_id, cell.patch_size, cell.instance]).generate_state(1)[0])


def run_cell(data: StudyData, cell: Cell, config: StudyConfig) -> dict[str, Any]:
    """Train one instance, predict the validation pixels and explain the explanation pixels.

    Returns ``state_dict``, ``losses``, ``val_pred`` ``(N_val,)``, ``explain_pred`` ``(N_exp,)``,
    ``attributions`` ``(N_exp, C)`` (towards each pixel's reference class) and timings in seconds.
    """
    n_bands = data.extractor.n_bands
    model = build_patch_model(cell.model, n_bands, data.n_classes, cell.patch_size,
                              seed=cell_seed(config.seed, cell), **config.models[cell.model])
    model.to(data.extractor.device)
    t0 = time.perf_counter()
    losses = fit_patches(model, data.extractor, data.train, cell.patch_size, config.train,
                         seed=cell_seed(config.seed, cell))
    t1 = time.perf_counter()
    val_pred = predict(model, data.extractor, data.validation, cell.patch_size)
    explain_pred = predict(model, data.extractor, data.explain, cell.patch_size)
    t2 = time.perf_counter()
    ig = config.ig
    attributions = band_attributions(
        model, data.extractor.extract(data.explain, cell.patch_size), data.explain.label,
        nt_samples=ig.nt_samples, stdevs=ig.stdevs, n_steps=ig.n_steps, batch_size=ig.batch_size,
        seed=config.seed,  # the same noise for every instance and size
    )
    t3 = time.perf_counter()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"state_dict": state, "losses": losses, "val_pred": val_pred, "explain_pred": explain_pred,
            "attributions": attributions.astype(np.float32), "train_s": t1 - t0, "predict_s": t2 - t1,
            "explain_s": t3 - t2}


def cell_fingerprint(data: StudyData, cell: Cell, config: StudyConfig) -> str:
    """Hash of everything a cell's result depends on."""
    cfg = asdict(config)
    cfg.pop("patch_sizes")
    cfg.pop("instances")
    cfg["models"] = {cell.model: cfg["models"][cell.model]}
    return config_hash({"cell": asdict(cell), "config": cfg, "data": data.fingerprint()})


def save_cell(path: str | Path, result: Mapping[str, Any], fingerprint: str) -> Path:
    """Write one cell's result (:func:`run_cell`) atomically, as tensors and plain types, with a SHA-256 sidecar."""
    payload = {k: torch.from_numpy(np.ascontiguousarray(v)) if k in _CELL_ARRAYS else v for k, v in result.items()}
    payload["losses"] = [float(x) for x in result["losses"]]
    return save_torch_file(path, {**payload, "format": CACHE_FORMAT, "fingerprint": fingerprint})


def load_cell(path: str | Path, remedy: str | None = None) -> dict[str, Any]:
    """Read a cell written by :func:`save_cell` after verifying its SHA-256 (``weights_only`` loading).

    Raises :class:`~eoxai.checkpoint.CheckpointError` (naming the file) for a damaged, truncated
    or unsafe file; ``remedy`` ends the message.
    """
    cached = load_torch_file(path, what="patch-size cache cell", remedy=remedy)
    return {k: v.numpy() if k in _CELL_ARRAYS else v for k, v in cached.items()}


def grid_cells(config: StudyConfig) -> list[Cell]:
    """Every (model, patch size, instance) cell of the grid, in a fixed order."""
    return [Cell(m, p, i) for m in config.models for p in config.patch_sizes for i in range(config.instances)]


def run_grid(data: StudyData, config: StudyConfig, cache_dir: str | Path, progress: bool = True,
             only: Sequence[Cell] | None = None) -> dict[Cell, dict[str, Any]]:
    """Run every (model, patch size, instance) cell, reusing cached cells whose fingerprint matches.

    Each finished cell is written at once to ``cache_dir/<model>-p<size>-i<k>.pt`` (with a SHA-256
    sidecar), so an interrupted run resumes where it stopped, and cells computed by separate jobs
    (see :func:`main`) are picked up. A cached cell that fails its SHA-256 check or cannot be read
    is reported (a warning naming the file) and recomputed. ``only`` restricts the run to some
    cells. A tqdm bar counts cells (``progress=False`` hides it).
    """
    from tqdm import tqdm

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    cells = grid_cells(config) if only is None else list(only)
    results: dict[Cell, dict[str, Any]] = {}
    bar = tqdm(cells, desc="patch-size grid", unit="cell", disable=not progress, mininterval=1.0)
    for cell in bar:
        bar.set_postfix_str(cell.key, refresh=False)
        path = cache / f"{cell.key}.pt"
        fp = cell_fingerprint(data, cell, config)
        if path.is_file():
            try:
                cached = load_cell(path, remedy="recomputing the cell")
            except CheckpointError as exc:
                warnings.warn(str(exc), stacklevel=2)
                cached = {}
            if cached.get("format") == CACHE_FORMAT and cached.get("fingerprint") == fp:
                results[cell] = {**cached, "cached": True}
                continue
        out = run_cell(data, cell, config)
        save_cell(path, out, fp)  # atomic: a killed run never leaves a half-written cell
        results[cell] = {**out, "cached": False}
    return results


# ---------------------------------------------------------------------- summaries
def explained_mask(results: Mapping[Cell, dict[str, Any]], data: StudyData, model: str, size: int,
                   instances: int, which: str = "all") -> np.ndarray:
    """Which explanation pixels enter the metrics: ``all`` (the same pixels for every size and
    instance) or ``correct_all`` (those every instance of this size classifies correctly; the
    seed explained correct predictions only, a set that changes with the model)."""
    preds = np.stack([results[Cell(model, size, i)]["explain_pred"] for i in range(instances)])
    if which == "all":
        return np.ones(preds.shape[1], dtype=bool)
    if which == "correct_all":
        return (preds == data.explain.label[None]).all(axis=0)
    raise InputError(f"explain_pixels must be 'correct_all' or 'all', got {which!r}")


def cell_table(results: Mapping[Cell, dict[str, Any]], data: StudyData) -> pd.DataFrame:
    """One row per cell: validation macro-F1, final training loss, timings, whether it came from the cache."""
    rows = []
    for cell, r in results.items():
        rows.append({"model": cell.model, "patch_size": cell.patch_size, "instance": cell.instance,
                     "val_macro_f1": float(macro_f1(data.validation.label, r["val_pred"], data.n_classes)),
                     "final_train_loss": float(r["losses"][-1]), "train_s": r["train_s"],
                     "predict_s": r["predict_s"], "explain_s": r["explain_s"], "cached": r["cached"]})
    return pd.DataFrame(rows)


EXPLANATION_METRICS = ("uniformity", "concentration", "consistency_js")
"""The explanation metrics of :func:`size_table`, each with ``_low`` and ``_high`` interval columns."""


def size_table(results: Mapping[Cell, dict[str, Any]], data: StudyData, config: StudyConfig,
               explain_pixels: str = "all", n_resamples: int = 1000,
               confidence: float = 0.95) -> pd.DataFrame:
    """One row per (model, patch size): validation macro-F1 and the explanation metrics with intervals.

    - ``val_f1``: mean over instances of the validation macro-F1; interval: bootstrap over
      validation pixels (the same resample for every instance); ``val_f1_sd``: across instances.
    - ``uniformity`` (the source paper's metric; 1 = flat spectrum) and ``concentration`` (1 - normalised
      entropy; 1 = one band): class-balanced means over explained pixels of the instances' mean;
      ``consistency_js``: class-balanced mean of the per-pixel mean pairwise JS divergence between
      instances (lower = more consistent). Intervals (``<metric>_low``, ``<metric>_high``):
      bootstrap over pixels.
    """
    rows = []
    k = data.n_classes
    for model in config.models:
        for size in config.patch_sizes:
            cells = [results[Cell(model, size, i)] for i in range(config.instances)]
            preds = np.stack([c["val_pred"] for c in cells])
            y = data.validation.label
            f1, f1_lo, f1_hi, _ = bootstrap_interval(
                (y, *preds), lambda t, *p: np.mean([macro_f1(t, q, k) for q in p], axis=0),
                n_resamples=n_resamples, confidence=confidence, seed=config.seed)
            per_instance = [float(macro_f1(y, p, k)) for p in preds]
            mask = explained_mask(results, data, model, size, config.instances, explain_pixels)
            attrs = np.stack([c["attributions"] for c in cells])[:, mask]  # (I, N, C)
            lab = data.explain.label[mask]
            row = {"model": model, "patch_size": size, "instances": config.instances,
                   "val_f1": f1, "val_f1_low": f1_lo, "val_f1_high": f1_hi,
                   "val_f1_sd": float(np.std(per_instance, ddof=1)),
                   "explained_pixels": int(mask.sum()), "explained_classes": int(len(np.unique(lab)))}
            if mask.sum() >= 2:
                per_pixel = {"uniformity": uniformity(attrs).mean(axis=0),
                             "concentration": concentration(attrs).mean(axis=0),
                             "consistency_js": pairwise_js_divergence(attrs)}
                for name, values in per_pixel.items():
                    est, lo, hi, _ = bootstrap_interval(
                        (values, lab), lambda v, l_: class_balanced_mean(v, l_, k),
                        n_resamples=n_resamples, confidence=confidence, seed=config.seed)
                    row.update({name: est, f"{name}_low": lo, f"{name}_high": hi})
            else:
                row.update({f"{n}{end}": np.nan for n in EXPLANATION_METRICS for end in ("", "_low", "_high")})
            rows.append(row)
    return pd.DataFrame(rows)


SELECTION_RULE = (
    "among the patch sizes whose mean cross-instance JS divergence lies within the bootstrap "
    "interval of the most consistent size (divergence <= that size's upper bound), take the one "
    "with the highest mean validation macro-F1; ties go to the smaller patch"
)


def select_patch_size(table: pd.DataFrame) -> pd.DataFrame:
    """Apply :data:`SELECTION_RULE` per model; also report what each criterion alone would pick.

    ``table`` is :func:`size_table`'s output. Returns one row per model with ``chosen``,
    ``by_val_f1`` (best validation F1: the source paper's rule), ``by_consistency`` (least cross-instance JS divergence),
    ``by_uniformity`` (highest uniformity: the source paper's explanation rule, which picks the flattest
    spectrum), ``by_concentration`` (highest concentration: the fewest bands) and
    ``uniformity_agrees`` (the source paper's metric picks the size cross-instance consistency picks).
    Ties go to the smaller patch.
    """
    rows = []
    for model, t in table.groupby("model", sort=False):
        t = t.sort_values("patch_size")
        valid = t.dropna(subset=list(EXPLANATION_METRICS))
        by_f1 = int(t.loc[t.val_f1.idxmax(), "patch_size"])
        row: dict[str, Any] = {"model": model, "by_val_f1": by_f1}
        if valid.empty:  # no size had two explained pixels: the rule falls back to validation F1
            row.update(chosen=by_f1, by_consistency=None, by_uniformity=None, by_concentration=None,
                       consistency_threshold=np.nan, uniformity_agrees=None,
                       rule="no explanation metric defined; " + "best validation macro-F1")
        else:
            best = valid.loc[valid.consistency_js.idxmin()]
            threshold = float(best.consistency_js_high)
            eligible = valid[valid.consistency_js <= threshold]
            by_unif = int(valid.loc[valid.uniformity.idxmax(), "patch_size"])
            row.update(chosen=int(eligible.loc[eligible.val_f1.idxmax(), "patch_size"]),
                       by_consistency=int(best.patch_size), by_uniformity=by_unif,
                       by_concentration=int(valid.loc[valid.concentration.idxmax(), "patch_size"]),
                       consistency_threshold=threshold, uniformity_agrees=bool(by_unif == int(best.patch_size)),
                       rule=SELECTION_RULE)
        rows.append(row)
    out = pd.DataFrame(rows)[["model", "chosen", "by_val_f1", "by_consistency", "by_uniformity", "by_concentration",
                              "consistency_threshold", "uniformity_agrees", "rule"]]
    return out.astype({"by_consistency": "Int64", "by_uniformity": "Int64", "by_concentration": "Int64",
                       "uniformity_agrees": "boolean"})


def evaluate_on_test(data: StudyData, config: StudyConfig, selection: pd.DataFrame, cache_dir: str | Path,
                n_resamples: int = 1000, confidence: float = 0.95) -> pd.DataFrame:
    """Test macro-F1 of the chosen patch size per model (the only use of the test split).

    Reloads the chosen cells' weights from the cache, predicts every test pixel and reports the
    mean over instances with a bootstrap interval over test pixels, and each instance's score.
    """
    rows = []
    for sel in selection.itertuples(index=False):
        preds = []
        for i in range(config.instances):
            cell = Cell(sel.model, int(sel.chosen), i)
            cached = load_cell(Path(cache_dir) / f"{cell.key}.pt",
                               remedy="delete it and rerun notebook 09 (rule patch_size), which recomputes it")
            model = build_patch_model(cell.model, data.extractor.n_bands, data.n_classes, cell.patch_size,
                                      seed=0, **config.models[cell.model])
            model.load_state_dict(cached["state_dict"])
            model.to(data.extractor.device)
            preds.append(predict(model, data.extractor, data.test, cell.patch_size))
        y = data.test.label
        k = data.n_classes
        est, lo, hi, _ = bootstrap_interval((y, *preds), lambda t, *p: np.mean([macro_f1(t, q, k) for q in p], axis=0),  # noqa: B023 - called now
                                            n_resamples=n_resamples, confidence=confidence, seed=config.seed)
        rows.append({"model": sel.model, "patch_size": int(sel.chosen), "test_f1": est, "test_f1_low": lo,
                     "test_f1_high": hi, "test_pixels": len(y),
                     "test_f1_instances": " ".join(f"{macro_f1(y, p, k):.3f}" for p in preds)})
    return pd.DataFrame(rows)


def spectrum_table(results: Mapping[Cell, dict[str, Any]], data: StudyData, config: StudyConfig,
                   explain_pixels: str = "all") -> pd.DataFrame:
    """Mean normalised band attribution per (model, patch size, band), with wavelength and detector.

    Each explained pixel's attribution is normalised to sum 1 over bands, then averaged over
    pixels and instances; a value of ``1 / C`` means the band gets its uniform share.
    """
    ds = data.ds
    rows = []
    for model in config.models:
        for size in config.patch_sizes:
            mask = explained_mask(results, data, model, size, config.instances, explain_pixels)
            attrs = np.stack([results[Cell(model, size, i)]["attributions"] for i in range(config.instances)])
            dist = to_distribution(attrs[:, mask])
            mean = np.nanmean(dist.reshape(-1, dist.shape[-1]), axis=0) if mask.any() else np.full(dist.shape[-1], np.nan)
            rows.append(pd.DataFrame({"model": model, "patch_size": size, "band": ds.band.values,
                                      "wavelength_nm": ds.wavelength_nm.values,
                                      "detector": ds.detector.values if "detector" in ds.coords else "",
                                      "attribution_share": mean}))
    return pd.concat(rows, ignore_index=True)


def class_counts(ds: xr.Dataset) -> pd.DataFrame:
    """Labelled pixels per split and class of a tile set (which classes can be evaluated)."""
    rows = []
    for split in SPLITS:
        lab = ds["label"].values[ds.split.values == split]
        counts = np.bincount(lab[lab >= 0].ravel(), minlength=ds.sizes["class"])
        rows += [{"split": split, "class": str(c), "pixels": int(n)} for c, n in zip(ds["class"].values, counts, strict=True)]
    return pd.DataFrame(rows)


def load_tile_set(dataset: str, data_dir: str | Path, prisma: Mapping[str, Any] | None = None,
                  seed: int = 0) -> xr.Dataset:
    """The normalised tile set of ``dataset``: ``enmap`` (shipped tiles, publisher's split) or
    ``prisma`` (a user's L2D scene cut into blocks; ``prisma`` holds ``file``, ``labels``,
    ``classes``, ``block_size`` and optional ``fractions``, ``label_nodata``, ``exclude_nm``)."""
    from eoxai.data.hyperspectral import drop_nodata_bands, normalise

    if dataset == "enmap":
        from eoxai.data.enmap import EnMAPPotsdam

        return EnMAPPotsdam(data_dir).prepare()
    if dataset == "prisma":
        from eoxai.data.prisma import PrismaL2D

        if not prisma or "file" not in prisma:
            raise ConfigError("dataset 'prisma' needs the profile's 09_patch_size_hyperopt.prisma.file (and labels, classes)")
        root = Path(data_dir)
        reader = PrismaL2D(root / prisma["file"], exclude_nm=prisma.get("exclude_nm", ()))
        tiles = reader.tiles([root / p for p in prisma["labels"]], {int(k): v for k, v in prisma["classes"].items()},
                             block_size=int(prisma["block_size"]), fractions=prisma.get("fractions", (0.6, 0.2, 0.2)),
                             seed=seed, label_nodata=int(prisma.get("label_nodata", 0)))
        return normalise(drop_nodata_bands(tiles))
    raise InputError(f"unknown dataset {dataset!r}; use 'enmap' or 'prisma'")


def describe_selection(report: pd.DataFrame, labels: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per model from the selection + test table (chosen size, test F1, agreement)."""
    out = []
    for r in report.itertuples(index=False):
        name = (labels or {}).get(r.model, r.model)
        text = (f"{name}: the rule picks patch size {r.chosen} (validation F1 alone would pick {r.by_val_f1}); "
                f"test macro-F1 at {r.chosen}: {r.test_f1:.3f} (95 % interval {r.test_f1_low:.3f}-{r.test_f1_high:.3f}, "
                f"{r.test_pixels} test pixels; per instance {r.test_f1_instances}). ")
        if pd.isna(r.uniformity_agrees):
            text += "No patch size had enough explained pixels for the explanation metrics."
        else:
            text += (f"Cross-instance consistency is best at {r.by_consistency}; the source paper's metric (uniformity, "
                     f"the flattest spectrum) is highest at {r.by_uniformity}, "
                     + ("the same size" if r.uniformity_agrees else "a different size")
                     + f"; concentration (the fewest bands) is highest at {r.by_concentration}.")
        out.append(text)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Compute the grid cells of one (model, patch size) into the cache: one cluster job per pair.

    ``python -m eoxai.hyperspectral.study --profile config/paper.yaml --model vit --size 7
    --cache results/paper/interim/patch_size --done MARKER.json``. The data, the configuration and
    hence every cell's fingerprint are those notebook 09 builds from the same profile, so the
    notebook then finds these cells in the cache and only summarises.
    """
    import argparse
    import json

    from eoxai.config import load_profile, notebook_parameters
    from eoxai.session import configure_torch, seed_everything, select_device

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--done", required=True, help="JSON marker written when the cells are cached")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    p = notebook_parameters(load_profile(a.profile), "09_patch_size_hyperopt")
    seed_everything(p["seed"])
    configure_torch(a.threads)
    config = StudyConfig.from_params(
        patch_sizes=p["patch_sizes"], instances=p["instances"], models=p["models"], train=p.get("train"),
        ig=p.get("ig"), train_per_class=p.get("train_per_class"), explain_per_class=p.get("explain_per_class", 10),
        explain_split=p.get("explain_split", "validation"), seed=p["seed"],
    )
    if a.model not in config.models or a.size not in config.patch_sizes:
        raise ConfigError(f"({a.model}, {a.size}) is not in the profile's grid: models {list(config.models)}, "
                       f"sizes {list(config.patch_sizes)}")
    ds = load_tile_set(p.get("dataset", "enmap"), p["data_dir"], p.get("prisma"), p["seed"])
    data = prepare_study(ds, p["classes"], config, device=select_device(p.get("device", "cpu")))
    cells = [c for c in grid_cells(config) if c.model == a.model and c.patch_size == a.size]
    results = run_grid(data, config, a.cache, only=cells)
    Path(a.done).write_text(json.dumps({c.key: bool(r.get("cached")) for c, r in results.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
