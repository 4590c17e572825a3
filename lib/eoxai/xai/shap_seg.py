"""SHAP for segmentation models on multiband inputs: spatial Owen values and exact band-group Shapley values.

Two explainers of the same scalar per class ``c`` - the mean logit of ``c`` over the pixels the
model predicts as ``c`` on the unperturbed input (:func:`eoxai.xai.targets.region_mean`):

- :func:`explain_partition` - ``shap.PartitionExplainer`` (Owen values over a hierarchy of
  image regions; Lundberg & Lee 2017, and shap's partition algorithm) with :class:`BlurMasker`:
  the features are square blocks of pixels spanning **all** bands, and a hidden block takes the
  values of a box-blurred copy of the image, band by band. This is the source paper's
  ``shap.maskers.Image("blur(k,k)")`` set-up (reasonfieldlab blog), made to work on any number of
  bands (shap's masker uses OpenCV, which stops at a few channels, and splits bands only below
  single pixels, so it can never attribute to bands at a usable ``max_evals``).
- :func:`band_group_shap` - exact Shapley values whose players are band groups (modalities:
  S2 dates, S1, DEM): with a handful of players every coalition is enumerated (``2^n`` model
  evaluations), so there is no sampling error and the result can be compared with occlusion.
  The same coalition table gives leave-one-out and keep-one occlusion for free.

shap wants NHWC numpy; :class:`SegmentationScorer` wraps any NCHW torch model for it and runs
the masked images through the model in batches of ``batch_size``, or as many as fit the memory
budget ``memory_mb`` if fewer (:mod:`eoxai.xai.budget`). shap's own ``batch_size`` (how many
coalitions the partition explainer expands per step) is left as given, so the values do not
depend on the budget.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shap
import torch
import xarray as xr
from scipy.ndimage import uniform_filter
from torch import nn
from tqdm.std import tqdm  # text, not a widget: an executed notebook keeps the final bar

from eoxai.errors import ExplainerInputError, MaxEvalsError
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs, check_mask, check_targets
from eoxai.xai.maps import tile_columns
from eoxai.xai.targets import predicted_regions, region_mean


@contextlib.contextmanager
def numpy_seed(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator inside the block and restore its state afterwards.

    shap's partition explainer breaks ties in its priority queue with ``np.random.randn``.
    """
    state = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        yield
    finally:
        np.random.set_state(state)


class SegmentationScorer:
    """A model for shap: NHWC numpy images ``(N, H, W, C)`` -> class scores ``(N, K)`` numpy.

    The score of class ``c`` is the mean logit (``kind='logit'``) or softmax probability of ``c``
    over ``regions[c]`` (``(K, H, W)`` for all images, or ``(N, K, H, W)`` one per image; set per
    instance; default: all pixels). Images go through
    the model under ``torch.inference_mode`` in chunks of ``batch_size``. ``evaluations`` counts
    the images scored and ``seconds`` the time spent in the model (for throughput figures).
    """

    def __init__(self, model: nn.Module, batch_size: int = 64, device: str | torch.device = "cpu",
                 kind: str = "logit") -> None:
        check_eval_mode(model)
        self.model = model
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.kind = kind
        self.regions: torch.Tensor | None = None
        self.evaluations = 0
        self.seconds = 0.0
        p = next(model.parameters(), None)
        self.dtype = p.dtype if p is not None else torch.float32

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, K)`` of NCHW images ``x`` ``(N, C, H, W)``, batched, no gradients."""
        out = []
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(x), self.batch_size):
                logits = self.model(x[i:i + self.batch_size].to(self.device))
                regions = self.regions if self.regions is not None else torch.ones(logits.shape[1:], dtype=torch.bool)
                if regions.ndim == 4 and regions.shape[0] == len(x) > 1:  # one region set per image
                    regions = regions[i:i + self.batch_size]
                out.append(region_mean(regions, self.kind)(logits).cpu())
        self.seconds += time.perf_counter() - start
        self.evaluations += len(x)
        return torch.cat(out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.asarray(x)).to(self.dtype)
        return self.scores(batch.permute(0, 3, 1, 2)).numpy()


class BlurMasker(shap.maskers.Masker):
    """shap masker for multiband images ``(H, W, C)``: features are ``block`` x ``block`` pixel squares
    over all bands; hidden squares show a ``blur`` x ``blur`` box-blurred copy of the image (each
    band blurred on its own, mirrored at the borders as OpenCV's ``blur`` does).

    The partition tree (:func:`grid_partition_tree`) halves the block grid along its longer axis,
    as ``shap.maskers.Image`` does, so the explainer attributes coarse regions first and refines
    the regions that matter while ``max_evals`` lasts.
    """

    def __init__(self, height: int, width: int, bands: int, block: int = 8, blur: int = 9) -> None:
        if block < 1 or blur < 1:
            raise ExplainerInputError(f"block and blur must be >= 1, got block={block}, blur={blur}")
        self.input_shape = (int(height), int(width), int(bands))
        self.block, self.blur = int(block), int(blur)
        self.grid = (math.ceil(height / block), math.ceil(width / block))
        n = self.grid[0] * self.grid[1]
        self.shape = (1, n)
        self.clustering = grid_partition_tree(*self.grid)
        rows = np.arange(height)[:, None] // block
        cols = np.arange(width)[None, :] // block
        self.feature_of_pixel = rows * self.grid[1] + cols  # (H, W) -> feature index
        self.fixed_background = False  # the blurred background depends on the image
        self.immutable_outputs = True
        self._source: object = None  # the image whose blurred copy is cached
        self._image = self._background = np.zeros(0, dtype=np.float32)

    @property
    def n_features(self) -> int:
        return int(self.shape[1])

    def background(self, x: np.ndarray) -> np.ndarray:
        """The blurred copy ``(H, W, C)`` of image ``x`` ``(H, W, C)`` that replaces hidden blocks."""
        return uniform_filter(np.asarray(x), size=(self.blur, self.blur, 1), mode="mirror")

    def __call__(self, mask: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        if x is not self._source:  # shap passes the same row object for every mask of one image
            self._image = np.asarray(x).reshape(self.input_shape)
            self._background, self._source = self.background(self._image), x
        x = self._image
        if mask is None:
            mask = np.zeros(self.n_features, dtype=bool)
        keep = np.asarray(mask, dtype=bool)[self.feature_of_pixel]
        return (np.where(keep[..., None], x, self._background)[None],)

    def mask_shapes(self, x: np.ndarray) -> list[tuple[int, ...]]:
        return [(self.n_features,)]

    def to_pixels(self, values: np.ndarray) -> np.ndarray:
        """Spread per-feature values ``(F, ...)`` over their pixels ``(H, W, ...)`` so sums are kept."""
        counts = np.bincount(self.feature_of_pixel.ravel(), minlength=self.n_features).astype(np.float64)
        per_pixel = np.asarray(values, dtype=np.float64) / counts.reshape(-1, *([1] * (np.ndim(values) - 1)))
        return per_pixel[self.feature_of_pixel]


def box_blur(image: torch.Tensor, size: int) -> torch.Tensor:
    """``image`` ``(C, H, W)`` box-blurred band by band with a ``size`` x ``size`` window (borders
    mirrored): the background of :class:`BlurMasker`, as a tensor."""
    blurred = uniform_filter(image.detach().cpu().numpy().astype(np.float32), size=(1, size, size), mode="mirror")
    return torch.from_numpy(blurred).to(image.dtype)


def grid_partition_tree(rows: int, cols: int) -> np.ndarray:
    """A hierarchical clustering of the cells of a ``rows`` x ``cols`` grid (cell ``r * cols + c``) in
    scipy linkage format ``(n - 1, 4)`` ``[left, right, distance, size]``: each node halves its
    rectangle along the longer side (rows first on ties), the axis-aligned tree of
    ``shap.maskers.Image`` built in NumPy (no JIT compilation). Distance is the node's cell count.
    """
    n = rows * cols
    if n < 2:
        raise ExplainerInputError(f"a partition tree needs at least 2 cells, got a {rows}x{cols} grid")
    out: list[list[float]] = []

    def build(r0: int, r1: int, c0: int, c1: int) -> int:
        h, w = r1 - r0, c1 - c0
        if h == 1 and w == 1:
            return r0 * cols + c0
        if h >= w:
            mid = r0 + h // 2
            left, right = build(r0, mid, c0, c1), build(mid, r1, c0, c1)
        else:
            mid = c0 + w // 2
            left, right = build(r0, r1, c0, mid), build(r0, r1, mid, c1)
        out.append([left, right, h * w, h * w])
        return n + len(out) - 1

    build(0, rows, 0, cols)
    return np.asarray(out, dtype=np.float64)


def min_evals(n_features: int) -> int:
    """The fewest model evaluations that can toggle every feature once: ``2 * n_features + 1``
    (shap's own floor for its permutation explainer)."""
    return 2 * int(n_features) + 1


def largest_region_classes(regions: torch.Tensor, k: int) -> list[int]:
    """The ``k`` classes with the largest predicted area in ``regions`` ``(K, H, W)`` (empty ones never)."""
    area = regions.flatten(1).sum(1)
    order = torch.argsort(area, descending=True, stable=True)
    return [int(c) for c in order[:k] if area[c] > 0]


def explain_partition(
    model: nn.Module,
    images: torch.Tensor,
    *,
    classes: Sequence[int] | None = None,
    top_k: int = 2,
    regions: torch.Tensor | None = None,
    class_names: Sequence[str] | None = None,
    block: int = 8,
    blur: int = 9,
    max_evals: int = 500,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
    kind: str = "logit",
    scorer: SegmentationScorer | None = None,
    memory_mb: float | None = None,
) -> xr.Dataset:
    """Partition SHAP (Owen values) maps of the region score of each explained class.

    ``images`` ``(B, C, H, W)``; ``regions`` ``(B, K, H, W)`` bool (default: the model's own
    prediction on each image, :func:`eoxai.xai.targets.predicted_regions`). Explained classes per
    image: ``classes`` if given, else the ``top_k`` classes by predicted area (the source paper's top-k).

    Returns a Dataset with ``shap`` ``(sample, class, y, x)`` (per pixel: each block's value spread
    evenly over its pixels, so a map sums to the block total; NaN for classes not explained for
    that sample), ``base_value`` and ``score`` ``(sample, class)`` (f(blurred image), f(image)):
    ``shap.sum((y, x)) == score - base_value`` (Owen values are efficient), ``evaluations``
    (model evaluations per sample, at most ``max_evals``) and ``region`` ``(sample, class, y, x)``
    (the pixels scored).

    Features are ``block`` x ``block`` squares; ``max_evals`` must be at least
    :func:`min_evals` of their number (else :class:`MaxEvalsError`). ``seed`` fixes shap's
    tie-breaking, so a rerun gives the same values. ``scorer`` (optional) is the
    :class:`SegmentationScorer` to use, e.g. to read its evaluation counts. ``batch_size`` is
    shap's (coalitions expanded per step) and the most images per model pass; a pass holds fewer
    if they do not fit ``memory_mb`` (None: the device's default budget).
    """
    check_eval_mode(model)
    check_inputs(model, images)
    b, c, h, w = images.shape
    masker = BlurMasker(h, w, c, block=block, blur=blur)
    if max_evals < min_evals(masker.n_features):
        raise MaxEvalsError(
            f"max_evals={max_evals} is too small for {masker.n_features} features "
            f"({masker.grid[0]}x{masker.grid[1]} blocks of {block} px): need at least "
            f"{min_evals(masker.n_features)}; raise max_evals or the block size"
        )
    scorer = scorer or SegmentationScorer(
        model, batch_size=budget_batch_size(model, (c, h, w), memory_mb, cap=batch_size, dtype=images.dtype),
        device=_device(model), kind=kind)
    logits = _all_logits(scorer, images)  # one pass gives K, the regions and f(image) of every sample
    k = logits.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ExplainerInputError(f"{len(names)} class names for a model with {k} classes")
    if classes is not None:
        classes = check_targets(list(classes), k)
    if regions is None:
        regions = predicted_regions(logits)
    check_mask(regions, (b, k, h, w), what="regions")
    explainer = shap.PartitionExplainer(scorer, masker)
    values = np.full((b, k, h, w), np.nan)
    base = np.full((b, k), np.nan)
    score = np.full((b, k), np.nan)
    evals = np.zeros(b, dtype=np.int64)
    nhwc = images.permute(0, 2, 3, 1).cpu().numpy()
    f_x = region_mean(regions.bool(), scorer.kind)(logits).numpy()  # f(image), checked against shap's sum
    for i in tqdm(range(b), desc="partition SHAP", disable=not progress):
        scorer.regions = regions[i].bool()
        targets = classes if classes is not None else largest_region_classes(regions[i], top_k)
        if not targets:
            continue
        before = scorer.evaluations
        with numpy_seed(seed + i):
            # an even budget: shap evaluates masks in pairs and would overshoot an odd one by one
            expl = explainer(nhwc[i:i + 1], max_evals=max_evals - max_evals % 2, batch_size=batch_size,
                             outputs=np.asarray(targets), silent=True)
        evals[i] = scorer.evaluations - before
        v = np.asarray(expl.values[0]).reshape(masker.n_features, len(targets))
        values[i, targets] = np.moveaxis(masker.to_pixels(v), -1, 0)
        base[i, targets] = np.asarray(expl.base_values[0]).reshape(-1)
        score[i, targets] = f_x[i, targets]
    scorer.regions = None
    coords = {"sample": np.arange(b), "class": names}
    return xr.Dataset(
        {
            "shap": (("sample", "class", "y", "x"), values),
            "base_value": (("sample", "class"), base),
            "score": (("sample", "class"), score),
            "evaluations": (("sample",), evals),
            "region": (("sample", "class", "y", "x"), regions.bool().cpu().numpy()),
        },
        coords=coords,
        attrs={"method": "shap.PartitionExplainer + BlurMasker", "block": block, "blur": blur,
               "max_evals": max_evals, "target": f"mean {scorer.kind} of the class over its region"},
    )


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _all_logits(scorer: SegmentationScorer, images: torch.Tensor) -> torch.Tensor:
    """Logits ``(B, K, H, W)`` (on the CPU) of ``images`` in the scorer's batches, no gradients."""
    with torch.inference_mode():
        return torch.cat([scorer.model(images[i:i + scorer.batch_size].to(scorer.device)).cpu()
                          for i in range(0, len(images), scorer.batch_size)])


def _predict_regions(scorer: SegmentationScorer, image: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return predicted_regions(scorer.model(image.to(scorer.device))).cpu()


# --------------------------------------------------------------------------- exact band-group SHAP


def coalitions(n: int) -> np.ndarray:
    """All ``2^n`` coalitions of ``n`` players as bool rows ``(2^n, n)``; row ``j`` holds player ``i``
    iff bit ``i`` of ``j`` is set (row 0 is the empty coalition, the last the grand coalition)."""
    j = np.arange(2**n)[:, None]
    return ((j >> np.arange(n)[None, :]) & 1).astype(bool)


def shapley_matrix(n: int) -> np.ndarray:
    """``(n, 2^n)`` weights ``W`` such that ``W @ v`` are the exact Shapley values of the game ``v``
    given on :func:`coalitions` (``v`` ``(2^n, ...)``; Shapley 1953):

    ``phi_i = sum_{S not containing i} |S|! (n-|S|-1)! / n! * (v(S + i) - v(S))``.
    """
    members = coalitions(n)
    size = members.sum(1)
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    out = np.zeros((n, 2**n))
    for i in range(n):
        has = members[:, i]
        out[i, has] = weight[size[has] - 1]  # S + i, with |S| = size - 1
        out[i, ~has] -= weight[size[~has]]  # S without i
    return out


def band_group_shap(
    model: nn.Module,
    images: torch.Tensor,
    groups: Mapping[str, Sequence[int]],
    *,
    baseline: float | torch.Tensor = 0.0,
    regions: torch.Tensor | None = None,
    class_names: Sequence[str] | None = None,
    kind: str = "logit",
    batch_size: int = 64,
    max_evals: int | None = None,
    max_players: int = 12,
    memory_mb: float | None = None,
) -> xr.Dataset:
    """Exact Shapley values of band groups (modalities) for every class's region score.

    ``images`` ``(B, C, H, W)``; ``groups`` maps a name (e.g. ``'s1'``) to its band indices; a
    player absent from a coalition has its bands set to ``baseline`` (a scalar, ``(C,)`` per band or
    ``(C, H, W)``; 0 is the training mean of z-scored inputs). ``regions`` ``(B, K, H, W)`` as in
    :func:`explain_partition` (default: the model's prediction). Costs ``2^n`` evaluations per
    image; ``max_evals`` (if given) must allow them. ``batch_size`` coalitions (at most; fewer if
    they do not fit ``memory_mb``, None: the device's default budget) go through the model per pass.

    Returns a Dataset with ``shap`` ``(sample, class, group)``, ``leave_one_out`` (v(N) - v(N - i))
    and ``keep_one`` (v({i}) - v({})) ``(sample, class, group)``, ``score`` (v(N)) and
    ``base_value`` (v({})) and ``region_pixels`` ``(sample, class)``;
    ``shap.sum('group') == score - base_value``.
    """
    check_eval_mode(model)
    check_inputs(model, images)
    b, c, h, w = images.shape
    names = list(groups)
    n = len(names)
    if n == 0:
        raise ExplainerInputError("band_group_shap needs at least one band group")
    if n > max_players:
        raise MaxEvalsError(f"{n} band groups need 2^{n} = {2**n} evaluations per image; exact enumeration "
                            f"is limited to {max_players} players (group bands into fewer modalities)")
    if max_evals is not None and max_evals < 2**n:
        raise MaxEvalsError(f"max_evals={max_evals} is too small for exact Shapley values of {n} band groups: "
                            f"need all 2^{n} = {2**n} coalitions")
    for g, idx in groups.items():
        bad = [i for i in idx if not 0 <= int(i) < c]
        if bad or not len(idx):
            raise ExplainerInputError(f"band group {g!r} has band indices {list(idx)} outside 0..{c - 1} or none")
    scorer = SegmentationScorer(
        model, batch_size=budget_batch_size(model, (c, h, w), memory_mb, cap=batch_size, dtype=images.dtype),
        device=_device(model), kind=kind)
    members = coalitions(n)
    band_on = np.zeros((2**n, c), dtype=bool)
    for i, g in enumerate(names):
        band_on[:, list(groups[g])] = members[:, [i]]
    keep = torch.from_numpy(band_on)[:, :, None, None].to(images.device)
    base = torch.as_tensor(baseline, dtype=images.dtype, device=images.device)
    base = base.view(-1, 1, 1) if base.ndim == 1 else base
    weights = shapley_matrix(n)
    full_base = base.expand_as(images[0])
    per_batch = max(1, batch_size // 2**n)  # tiles whose coalitions fill one batch
    v_all, pixels = [], []
    for start in range(0, b, per_batch):
        x = images[start:start + per_batch]
        reg = (regions[start:start + per_batch] if regions is not None else _predict_regions(scorer, x)).bool()
        check_mask(reg, (len(x), reg.shape[1], h, w), what="regions")
        pixels.append(reg.flatten(2).sum(2).cpu().numpy())
        batch = torch.where(keep[None], x[:, None], full_base[None, None]).flatten(0, 1)  # (t * 2^n, C, H, W)
        scorer.regions = reg.repeat_interleave(2**n, dim=0)
        v_all.append(scorer.scores(batch).double().numpy().reshape(len(x), 2**n, -1))
    scorer.regions = None
    v = np.concatenate(v_all)  # (B, 2^n, K)
    k = v.shape[-1]
    cls = list(class_names) if class_names is not None else [str(j) for j in range(k)]
    phi = np.einsum("gj,bjk->bkg", weights, v)
    full, empty = v[:, -1], v[:, 0]
    singles = [1 << i for i in range(n)]
    without = [(2**n - 1) ^ (1 << i) for i in range(n)]
    return xr.Dataset(
        {
            "shap": (("sample", "class", "group"), phi),
            "leave_one_out": (("sample", "class", "group"), np.moveaxis(full[:, None, :] - v[:, without], 1, 2)),
            "keep_one": (("sample", "class", "group"), np.moveaxis(v[:, singles] - empty[:, None, :], 1, 2)),
            "score": (("sample", "class"), full),
            "base_value": (("sample", "class"), empty),
            "region_pixels": (("sample", "class"), np.concatenate(pixels)),
        },
        coords={"sample": np.arange(b), "class": cls, "group": names},
        attrs={"method": "exact Shapley values over band groups (all coalitions)", "evaluations_per_sample": 2**n},
    )


def partition_table(result: xr.Dataset, origins: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per explained (sample, class) of :func:`explain_partition`'s ``result``: tile origin,
    ``region_pixels``, ``score``, ``base_value``, ``shap_sum`` (equals ``score - base_value``),
    ``positive_share_in_region`` (share of the positive SHAP mass that lies inside the class's own
    region) and ``evaluations``."""
    rows = []
    for i, place in enumerate(origins):
        for cls in result["class"].values:
            sel = {"sample": i, "class": cls}
            v = result["shap"].sel(sel).values
            if not np.isfinite(v).any():
                continue
            region = result["region"].sel(sel).values
            pos = np.clip(v, 0, None)
            rows.append({**tile_columns(place), "class": str(cls), "region_pixels": int(region.sum()),
                         "score": float(result["score"].sel(sel)), "base_value": float(result["base_value"].sel(sel)),
                         "shap_sum": float(v.sum()),
                         "positive_share_in_region": float(pos[region].sum() / pos.sum()) if pos.sum() > 0 else np.nan,
                         "evaluations": int(result["evaluations"].sel(sample=i))})
    return pd.DataFrame(rows)


def band_group_table(result: xr.Dataset, origins: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """:func:`band_group_shap`'s ``result`` as one row per tile x class x modality, for the classes
    with a non-empty region: ``shap, leave_one_out, keep_one, score, base_value, region_pixels``."""
    df = result[["shap", "leave_one_out", "keep_one"]].to_dataframe().reset_index()
    per = result[["score", "base_value", "region_pixels"]].to_dataframe().reset_index()
    df = df.merge(per, on=["sample", "class"]).rename(columns={"group": "modality"})
    df = df[df["region_pixels"] > 0].copy()
    where = pd.DataFrame([tile_columns(origins[i]) for i in df["sample"]], index=df.index)
    df = pd.concat([where, df], axis=1)
    df["class"] = df["class"].astype(str)
    df["modality"] = df["modality"].astype(str)
    return df.drop(columns="sample").reset_index(drop=True)


__all__ = [
    "BlurMasker", "MaxEvalsError", "SegmentationScorer", "band_group_shap", "band_group_table", "box_blur",
    "coalitions", "explain_partition", "grid_partition_tree", "min_evals", "numpy_seed", "partition_table",
    "shapley_matrix", "largest_region_classes",
]
