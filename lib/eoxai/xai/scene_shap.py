"""Partition SHAP of scene classifiers (notebook 10) and the blur drop that checks the maps.

The SHAP seed explains an AID scene classifier (30 classes, 256 x 256 RGB) with
``shap.PartitionExplainer`` (Owen values over a hierarchy of image regions; Lundberg & Lee 2017,
*A unified approach to interpreting model predictions*, NeurIPS), an ``Image`` masker that
replaces hidden regions by a blurred copy (``blur(128,128)``) and the top-4 classes of each image.
This module does the same for any ``(B, C, H, W)`` -> logits ``(B, K)`` classifier, and adds one
number per image that the seed lacks: the **blur drop**, the drop of a class probability when the
10 % pixels with the highest SHAP values are blurred, against the drop when 10 % random pixels
are blurred (a deletion test in the spirit of Samek et al. 2017, IEEE TNNLS).

The segmentation twin is :func:`eoxai.xai.shap_seg.explain_partition` (the same explainer, with
region scores and a block masker); the registry names this one ``scene_shap``. Its figures live
in :mod:`eoxai.xai.explanation_figures`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from eoxai.errors import BandCountError, ExplainerInputError, InputError
from eoxai.xai.budget import batch_size as budget_batch_size
from eoxai.xai.checks import check_eval_mode, check_inputs


def probabilities(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """Class probabilities (softmax) ``(N, K)`` of ``images`` ``(N, C, H, W)``, in batches, no autograd."""
    check_eval_mode(model)
    check_inputs(model, images)
    with torch.no_grad():
        out = [torch.softmax(model(images[i:i + batch_size].to(device)), 1).cpu()
               for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, len(getattr(model, "class_names", [])))


@dataclass
class NHWCPredictor:
    """The function SHAP calls: ``numpy (N, H, W, C)`` in data units -> probabilities ``(N, K)``.

    SHAP's ``Image`` masker works on channels-last numpy arrays; torch models take
    ``(B, C, H, W)`` tensors. This wrapper transposes, batches, runs ``model`` under
    ``torch.no_grad()`` in eval mode and returns softmax probabilities as float64 numpy. It counts
    the images it has evaluated (``n_images``) and the seconds spent in the model (``seconds``).
    """

    model: nn.Module
    batch_size: int = 256
    device: str | torch.device = "cpu"
    n_images: int = field(default=0, init=False)
    seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        check_eval_mode(self.model)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise BandCountError(f"expected images (N, H, W, C), got shape {x.shape}")
        start = time.perf_counter()
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        out = probabilities(self.model, t, self.batch_size, self.device).double().numpy()
        self.seconds += time.perf_counter() - start
        self.n_images += x.shape[0]
        return out


def to_nhwc(images: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` tensor -> ``(N, H, W, C)`` float32 numpy (what SHAP's Image masker takes)."""
    if images.ndim != 4:
        raise BandCountError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    return np.ascontiguousarray(images.detach().cpu().numpy().transpose(0, 2, 3, 1).astype(np.float32))


def most_probable_classes(probabilities: np.ndarray | torch.Tensor, k: int) -> np.ndarray:
    """Indices ``(N, k)`` of the ``k`` most probable classes per row of ``(N, K)``, most probable first.

    Ties are broken by the lower class index (a stable sort), so the order is reproducible.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if not 1 <= k <= p.shape[1]:
        raise ExplainerInputError(f"top_k={k} must lie in 1..{p.shape[1]} (the number of classes)")
    return np.argsort(-p, axis=1, kind="stable")[:, :k]


def _model_batch(model: nn.Module, images: torch.Tensor, cap: int, memory_mb: float | None) -> int:
    """Images of ``images``' shape ``(N, C, H, W)`` per model call: ``cap`` at most, fewer if they
    do not fit ``memory_mb`` (:func:`eoxai.xai.budget.batch_size`)."""
    return budget_batch_size(model, images.shape[1:], memory_mb, cap=cap)


def explain_scenes(
    model: nn.Module,
    images: torch.Tensor,
    *,
    top_k: int = 4,
    classes: Sequence[int] | None = None,
    max_evals: int = 500,
    blur: tuple[int, int] = (32, 32),
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    predictor: NHWCPredictor | None = None,
    memory_mb: float | None = None,
) -> xr.DataArray:
    """Partition SHAP maps of the ``top_k`` most probable classes of each image.

    Parameters
    ----------
    model:
        Classifier in eval mode, ``(B, C, H, W)`` -> logits ``(B, K)``, with ``class_names``.
    images:
        ``(N, C, H, W)`` in the model's data units.
    top_k, max_evals, blur:
        ``classes`` (if given) replaces each image's ``top_k`` most probable classes. As in the
        seed (``top 4``, ``max_evals=50000``, ``blur(128,128)`` on 256 x 256); the blur
        kernel is in pixels ``(kx, ky)``; fewer evaluations give coarser maps.
    batch_size:
        Masked images shap evaluates per step, and the most per model call; a call holds fewer
        if they do not fit ``memory_mb`` (the profile's ``explainer_memory_mb``; None: the
        device's default, :mod:`eoxai.xai.budget`).

    Returns
    -------
    xarray.DataArray
        SHAP values ``(image, rank, y, x)`` summed over bands (contribution of each pixel to the
        class probability), with coordinates ``class_index``, ``class_name``, ``probability`` and
        ``base_value`` (the probability of the fully blurred image) along ``(image, rank)``. By
        SHAP's efficiency property, the map sums to ``probability - base_value``.
    """
    import shap

    class_names = list(getattr(model, "class_names", []))
    check_eval_mode(model)
    check_inputs(model, images)
    predictor = predictor or NHWCPredictor(model, batch_size=_model_batch(model, images, batch_size, memory_mb),
                                           device=device)
    x = to_nhwc(images)
    probs = predictor(x)
    k = len(class_names) or probs.shape[1]
    top = most_probable_classes(probs, top_k) if classes is None else np.tile(np.asarray(classes, dtype=np.int64),
                                                                            (len(probs), 1))
    top_k = top.shape[1]
    masker = shap.maskers.Image(f"blur({int(blur[0])},{int(blur[1])})", x[0].shape)
    explainer = shap.PartitionExplainer(predictor, masker, output_names=class_names or None)
    values = np.empty((x.shape[0], top_k) + x.shape[1:3], dtype=np.float64)
    base = np.empty((x.shape[0], top_k))
    for i in range(x.shape[0]):  # one image at a time: the top-k outputs differ per image
        exp = explainer(x[i:i + 1], max_evals=max_evals, batch_size=batch_size, outputs=top[i], silent=True)
        values[i] = np.moveaxis(exp.values[0].sum(axis=2), -1, 0)  # (H, W, C, k) -> (k, H, W)
        base[i] = np.asarray(exp.base_values).reshape(-1)[:top_k]
    names = np.asarray(class_names or [str(j) for j in range(k)], dtype=object)
    return xr.DataArray(
        values,
        dims=("image", "rank", "y", "x"),
        coords={
            "image": np.arange(x.shape[0]), "rank": np.arange(1, top_k + 1),
            "y": np.arange(x.shape[1]), "x": np.arange(x.shape[2]),
            "class_index": (("image", "rank"), top),
            "class_name": (("image", "rank"), names[top]),
            "probability": (("image", "rank"), np.take_along_axis(probs, top, 1)),
            "base_value": (("image", "rank"), base),
        },
        name="shap",
        attrs={"method": "shap.PartitionExplainer", "masker": f"Image blur({blur[0]},{blur[1]})",
               "max_evals": int(max_evals), "units": "change of class probability"},
    )


# --------------------------------------------------------------------------------------------
# blur drop


def blur_image(image: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """The blurred copy of ``image`` ``(H, W, C)`` that SHAP's ``Image("blur(kx,ky)")`` masker uses.

    OpenCV's normalised box filter (``cv2.blur``), borders reflected, as in the masker.
    """
    import cv2

    return cv2.blur(np.ascontiguousarray(image, dtype=np.float32), (int(kernel[0]), int(kernel[1])))


def top_fraction_mask(values: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the ``round(fraction * H * W)`` pixels with the largest ``values``.

    Ties are broken by pixel order (stable sort), so the mask is reproducible.
    """
    if not 0.0 < fraction <= 1.0:
        raise ExplainerInputError(f"fraction must lie in (0, 1], got {fraction}")
    flat = np.asarray(values, dtype=np.float64).ravel()
    n = max(1, int(round(fraction * flat.size)))
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(-flat, kind="stable")[:n]] = True
    return mask.reshape(np.shape(values))


def blur_drop(
    predict: Any,
    images: np.ndarray,
    maps: np.ndarray,
    targets: Sequence[int] | np.ndarray,
    *,
    fraction: float = 0.1,
    kernel: tuple[int, int] = (32, 32),
    n_random: int = 10,
    seed: int = 0,
    background: np.ndarray | None = None,
) -> pd.DataFrame:
    """Probability drop when the top-``fraction`` SHAP pixels are blurred vs as many random pixels.

    Parameters
    ----------
    predict:
        ``numpy (N, H, W, C) -> probabilities (N, K)`` (e.g. :class:`NHWCPredictor`).
    images:
        ``(N, H, W, C)`` in the model's data units.
    maps:
        Attribution maps ``(N, H, W)`` for class ``targets[i]`` of image ``i``.
    targets:
        ``(N,)`` class index explained by each map.
    fraction:
        Share of pixels replaced (0.1: the 10 % pixels with the highest attribution).
    kernel:
        Blur kernel ``(kx, ky)``, the masker's; ignored where ``background`` is given.
    n_random:
        Random pixel sets per image (seeded by ``seed``); their drops are averaged.
    background:
        Optional replacement images ``(N, H, W, C)`` instead of the blurred copies.

    Returns
    -------
    pandas.DataFrame
        One row per image: ``image, class_index, pixels, probability, probability_top_blurred,
        probability_random_blurred, drop_top, drop_random, drop_random_std, drop_difference``;
        ``drop = probability - probability after blurring``. A faithful map has
        ``drop_top > drop_random``.
    """
    images = np.asarray(images, dtype=np.float32)
    maps = np.asarray(maps, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if images.ndim != 4 or maps.shape != images.shape[:3] or targets.shape != images.shape[:1]:
        raise ExplainerInputError(
            f"shapes do not match: images {images.shape} (N, H, W, C), maps {maps.shape} (N, H, W), "
            f"targets {targets.shape} (N,)"
        )
    rng = np.random.default_rng(seed)
    n, h, w, _ = images.shape
    rows = []
    for i in range(n):
        x = images[i]
        bg = np.asarray(background[i], dtype=np.float32) if background is not None else blur_image(x, kernel)
        top = top_fraction_mask(maps[i], fraction)
        k = int(top.sum())
        batch = [x, np.where(top[..., None], bg, x)]
        for _ in range(n_random):
            rand = np.zeros(h * w, dtype=bool)
            rand[rng.choice(h * w, size=k, replace=False)] = True
            batch.append(np.where(rand.reshape(h, w)[..., None], bg, x))
        p = np.asarray(predict(np.stack(batch)), dtype=np.float64)[:, targets[i]]
        drops_random = p[0] - p[2:]
        rows.append({
            "image": i, "class_index": int(targets[i]), "pixels": k, "probability": p[0],
            "probability_top_blurred": p[1], "probability_random_blurred": float(p[2:].mean()),
            "drop_top": p[0] - p[1], "drop_random": float(drops_random.mean()),
            "drop_random_std": float(drops_random.std(ddof=1)) if n_random > 1 else float("nan"),
            "drop_difference": (p[0] - p[1]) - float(drops_random.mean()),
        })
    return pd.DataFrame(rows)


def choose_images(targets: Sequence[int] | np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` images to explain: one per class in a seeded class order, then repeat.

    Within a class the image is drawn with ``numpy.random.default_rng(seed)``, so the same seed
    always explains the same scenes; classes without images are skipped.
    """
    targets = np.asarray(targets, dtype=np.int64)
    if not 1 <= n <= targets.size:
        raise InputError(f"cannot choose {n} images from {targets.size}")
    rng = np.random.default_rng(seed)
    pools = {int(c): list(rng.permutation(np.flatnonzero(targets == c))) for c in np.unique(targets)}
    order = [int(c) for c in rng.permutation(sorted(pools))]
    chosen: list[int] = []
    while len(chosen) < n:
        for c in order:
            if pools[c] and len(chosen) < n:
                chosen.append(int(pools[c].pop(0)))
    return np.asarray(chosen, dtype=np.int64)


def explain_and_score(
    model: nn.Module,
    images: torch.Tensor,
    *,
    top_k: int = 4,
    max_evals: int = 500,
    blur: tuple[int, int] = (32, 32),
    batch_size: int = 64,
    fraction: float = 0.1,
    n_random: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    memory_mb: float | None = None,
) -> tuple[xr.DataArray, pd.DataFrame, NHWCPredictor]:
    """:func:`explain_scenes` on ``images`` ``(N, C, H, W)``, then :func:`blur_drop` per map.

    Returns the maps ``(image, rank, y, x)``, a table with one row per ``(image, rank)``
    (``class_name, probability, base_value, shap_sum`` and the blur-drop columns, the blur the
    masker's) and the predictor (its ``n_images``/``seconds`` count every model evaluation).
    ``batch_size`` and ``memory_mb`` as in :func:`explain_scenes`.
    """
    predictor = NHWCPredictor(model, batch_size=_model_batch(model, images, batch_size, memory_mb), device=device)
    maps = explain_scenes(model, images, top_k=top_k, max_evals=max_evals, blur=blur,
                             batch_size=batch_size, device=device, predictor=predictor)
    n, k = maps.sizes["image"], maps.sizes["rank"]
    x = to_nhwc(images)
    drops = blur_drop(predictor, np.repeat(x, k, axis=0), maps.values.reshape(n * k, *maps.shape[2:]),
                      maps.class_index.values.reshape(-1), fraction=fraction, kernel=blur, n_random=n_random,
                      seed=seed)
    table = pd.DataFrame({
        "image": np.repeat(np.arange(n), k), "rank": np.tile(maps["rank"].values, n),
        "class_name": maps.class_name.values.reshape(-1),
        "base_value": maps.base_value.values.reshape(-1),
        "shap_sum": maps.sum(("y", "x")).values.reshape(-1),
    })
    table = pd.concat([table, drops.drop(columns=["image"])], axis=1)
    return maps, table, predictor
