"""Dataset readers. Each returns labelled :mod:`xarray` objects: bands as a named coordinate,
``modality``/``sensor`` attributes and coordinates, a CRS (rioxarray) and nodata as NaN (never
silently zero-filled).

Readers follow torchgeo's dataset conventions: a ``root`` folder, checksums verified against the
``SHA256SUMS`` that ships with the data, a :class:`~eoxai.errors.DatasetNotFoundError` that says
what is missing and how to get it, and a ``plot()`` that returns a :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> defining module, imported on first use (importing torch-based readers is slow,
#: and the profile check, which needs only the declarations, must stay fast)
_LAZY = {
    "EOLearnPatch": "eoxai.data.eolearn",
    "EnMAPPotsdam": "eoxai.data.enmap",
    "EuroSAT": "eoxai.data.eurosat",
    "EuroSATMS": "eoxai.data.eurosat",
    "PrismaL2D": "eoxai.data.prisma",
    "Sen1Floods11": "eoxai.data.sen1floods11",
    "StackDeclaration": "eoxai.data.declaration",
    "SceneCollection": "eoxai.data.collection",
    "open_collection": "eoxai.data.collection",
    "SceneTileDataset": "eoxai.data.streaming",
    "collection_datasets": "eoxai.data.streaming",
    "tile_loader": "eoxai.data.streaming",
    "open_stack": "eoxai.data.stack",
    "READERS": "eoxai.data.stack",
    "check_classes": "eoxai.data.validate",
    "check_informative": "eoxai.data.validate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eoxai.data' has no attribute {name!r}")
