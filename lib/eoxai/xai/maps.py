"""Attribution maps as labelled :mod:`xarray` objects: band and class names travel with the numbers.

Tensors from the explainers are positional (``(B, C, H, W)``, ``(B, K, H, W)``); these helpers
attach the coordinates that plots and tables read (``band``, ``modality``, ``class``, ``sample``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from eoxai.errors import ExplainerInputError


def _numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def modality_of_bands(modalities: Mapping[str, int]) -> list[str]:
    """``{'s1': 2, 's2': 3}`` -> ``['s1', 's1', 's2', 's2', 's2']``: each band's modality, in input order."""
    return [name for name, n in modalities.items() for _ in range(int(n))]


def band_groups(modalities: Mapping[str, int]) -> dict[str, list[int]]:
    """Band indices of each modality from ``{name: band count}`` in input order (checkpoint meta)."""
    out, start = {}, 0
    for name, count in modalities.items():
        out[str(name)] = list(range(start, start + int(count)))
        start += int(count)
    return out


def band_map(
    values: torch.Tensor | np.ndarray,
    bands: Sequence[str],
    modalities: Mapping[str, int] | None = None,
    samples: Sequence[Any] | None = None,
    name: str = "attribution",
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """``(B, C, H, W)`` per-band attributions -> DataArray ``(sample, band, y, x)``.

    ``bands`` names the ``C`` bands; ``modalities`` (name -> band count, input order) adds a
    ``modality`` coordinate on ``band``; ``samples`` labels the batch (default ``0..B-1``).
    """
    v = _numpy(values)
    if v.ndim != 4 or v.shape[1] != len(bands):
        raise ExplainerInputError(f"expected (B, {len(bands)}, H, W) for bands {list(bands)[:3]}..., got {v.shape}")
    coords: dict[str, Any] = {"sample": list(samples) if samples is not None else np.arange(v.shape[0]),
                              "band": [str(b) for b in bands]}
    if modalities is not None:
        mods = modality_of_bands(modalities)
        if len(mods) != len(bands):
            raise ExplainerInputError(f"modalities {dict(modalities)} give {len(mods)} bands, not {len(bands)}")
        coords["modality"] = ("band", mods)
    return xr.DataArray(v, dims=("sample", "band", "y", "x"), coords=coords, name=name, attrs=dict(attrs or {}))


def class_map(
    values: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    classes: Sequence[int] | None = None,
    samples: Sequence[Any] | None = None,
    name: str = "cam",
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """``(B, n, h, w)`` per-class maps -> DataArray ``(sample, class, y, x)``.

    ``classes`` are the class indices of the ``n`` maps (default ``0..n-1``), named from
    ``class_names``; the index is kept as a ``class_index`` coordinate.
    """
    v = _numpy(values)
    idx = list(range(v.shape[1])) if classes is None else [int(c) for c in classes]
    if v.ndim != 4 or v.shape[1] != len(idx):
        raise ExplainerInputError(f"expected (B, {len(idx)}, h, w) maps, got {v.shape}")
    coords = {"sample": list(samples) if samples is not None else np.arange(v.shape[0]),
              "class": [str(class_names[i]) for i in idx], "class_index": ("class", idx)}
    return xr.DataArray(v, dims=("sample", "class", "y", "x"), coords=coords, name=name, attrs=dict(attrs or {}))


def tile_columns(place: Sequence[Any]) -> dict[str, Any]:
    """The table columns that identify one explained tile: ``(row, col)`` (a tile of a single-scene
    cube) -> ``{tile_row, tile_col}``; ``(scene, row, col)`` (a tile of a collection's scene) ->
    ``{scene, tile_row, tile_col}``. Rows and columns are the tile's top-left pixel in its scene."""
    if len(place) == 3:
        return {"scene": str(place[0]), "tile_row": int(place[1]), "tile_col": int(place[2])}
    if len(place) != 2:
        from eoxai.errors import ExplainerInputError

        raise ExplainerInputError(f"a tile's place is (row, col) or (scene, row, col), got {tuple(place)!r}")
    return {"tile_row": int(place[0]), "tile_col": int(place[1])}


def tile_keys(table: Any) -> list[str]:
    """The columns of ``table`` that identify a tile (:func:`tile_columns`): ``scene, tile_row,
    tile_col`` where the table names a scene (tiles of a collection), else ``tile_row, tile_col``.
    Group with ``dropna=False``: in a table of a cube's and a collection's tiles together, the
    cube's rows have no scene."""
    named = "scene" in table.columns and bool(table["scene"].notna().any())
    return ["scene", "tile_row", "tile_col"] if named else ["tile_row", "tile_col"]


def place_label(place: Sequence[Any]) -> str:
    """A tile's place in words: ``row 32, col 64`` or ``scene Spain_7370579, row 32, col 64``."""
    cols = tile_columns(place)
    where = f"scene {cols['scene']}, " if "scene" in cols else ""
    return f"{where}row {cols['tile_row']}, col {cols['tile_col']}"


def tile_places(origins: Sequence[Sequence[int]], scenes: Sequence[str] | None) -> list[tuple[Any, ...]]:
    """The places (:func:`tile_columns`) of tiles at ``origins`` ``[(row, col), ...]``: ``(row, col)``
    each, or ``(scene, row, col)`` where their ``scenes`` are given (tiles of a collection)."""
    if scenes is None:
        return [tuple(o) for o in origins]
    return [(s, *o) for s, o in zip(scenes, origins, strict=True)]

