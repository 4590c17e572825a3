"""eoxai: explainable AI for multisensor Earth-observation data.

The package behind the compendium's notebooks. Stages, in the order data flows:

- :mod:`eoxai.data`        readers for the shipped samples and the full datasets (xarray out),
                           download-and-verify for the paper profile
- :mod:`eoxai.fusion`      alignment on one grid, per-modality normalisation, nodata masks
- :mod:`eoxai.split`       spatially blocked train/validation/test split with a buffer
- :mod:`eoxai.tiles`       tiles of a fused cube as a torch dataset (samples are dicts)
- :mod:`eoxai.stacks`      fused stacks from YAML declarations (notebook 01; eoxai.data.declaration)
- :mod:`eoxai.models`      ``build_model``: MAnet-MiT, CLAIRE-style dual encoder, influence UNet
- :mod:`eoxai.losses`      cross-entropy, focal, Tversky, RIFT
- :mod:`eoxai.engine`      the one training loop (seeded, early-stopped, resumable) for every model
- :mod:`eoxai.train`       segmentation runs on it, reusing finished runs; :mod:`eoxai.checkpoint`
                           checkpoints with their config, SHA-256-verified, loaded without unpickling code
- :mod:`eoxai.metrics`, :mod:`eoxai.stats`, :mod:`eoxai.accuracy`  model accuracy assessment: scores,
                           intervals, the ablation (02-03); explanations are scored in :mod:`eoxai.xai.scoring`
- :mod:`eoxai.reference`   the model and held-out tiles every XAI notebook explains
- :mod:`eoxai.xai`         Grad-CAM family, captum wrappers, SHAP, modality occlusion, explanation metrics
- :mod:`eoxai.report`      per-sample text whose every number is read from the result tables
- :mod:`eoxai.hyperspectral`  patch-size selection from IG consistency (notebook 09)
- :mod:`eoxai.scene`       scene classification explained with SHAP (notebook 10)
- :mod:`eoxai.provenance`  hashes, versions, git commit and timings of every output
- :mod:`eoxai.audit`       the reviewer audit: rerun and compare with the committed results
- :mod:`eoxai.runner`      executes one notebook with papermill and records its provenance
- :mod:`eoxai.layout`      where each stage writes under a results folder (the paths the Snakemake rules declare)
- :mod:`eoxai.session`     a notebook's first call: seeds, threads, determinism, device (start_notebook)
- :mod:`eoxai.lock`        one writer per results folder (the Snakefile holds the lock for a run)
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
