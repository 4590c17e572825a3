"""eoxai: explainable AI for multisensor Earth-observation data.

The package behind the compendium's notebooks. Stages, in the order data flows:

- :mod:`eoxai.data`        readers for the shipped samples and the full datasets (xarray out)
- :mod:`eoxai.fusion`      alignment on one grid, per-modality normalisation, nodata masks
- :mod:`eoxai.split`       spatially blocked train/validation/test split with a buffer
- :mod:`eoxai.tiles`       tiles of a fused cube as a torch dataset (samples are dicts)
- :mod:`eoxai.provenance`  hashes, versions, git commit and timings of every output
- :mod:`eoxai.plots`       shared figure helpers (colour-blind-safe palettes, labels from coords)

Paths always come in as parameters: nothing here knows about ``results/`` or Snakemake.
"""

from eoxai.errors import (
    BandCountError,
    ChecksumError,
    ClassLabelError,
    ConfigError,
    DatasetNotFoundError,
    EmptyTileError,
    EoxaiError,
    GridMismatchError,
)

__version__ = "0.1.0"

__all__ = [
    "BandCountError",
    "ChecksumError",
    "ClassLabelError",
    "ConfigError",
    "DatasetNotFoundError",
    "EmptyTileError",
    "EoxaiError",
    "GridMismatchError",
    "__version__",
]
