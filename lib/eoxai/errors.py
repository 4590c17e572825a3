"""The one error family: every error :mod:`eoxai` raises on purpose, defined here and nowhere else.

Messages name the cause (file, band, key, scene), never a numpy traceback. Every class derives
from :class:`EoxaiError`, from the *kind* it belongs to (data, config, checkpoint, explainer
input, training, workflow) and from the builtin it refines (``FileNotFoundError``,
``ValueError``, ``KeyError``, ...), so callers can catch any of the three::

    EoxaiError
    ├── DataError            the data on disk or in memory is wrong or missing
    │   ├── DatasetNotFoundError, ChecksumError, RasterReadError
    │   ├── BandCountError, GridMismatchError (MissingCRSError), EmptyTileError
    │   ├── ClassLabelError, ClassAbsentError, TileSizeError, PatchSizeError
    │   ├── SceneNotFoundError (a DatasetNotFoundError), LayoutError
    ├── ConfigError          a profile, a declaration or a function argument is malformed
    │   └── InputError       a value given to a function is out of range / of the wrong shape
    ├── CheckpointError      a checkpoint is missing, corrupt, unsafe or of another config
    │   ├── CheckpointNotFoundError, CorruptFileError, UnsafeFileError
    ├── ExplainerInputError  an explainer cannot run on this model/input
    │   ├── ModelModeError, MaskShapeError, ModalityError, StrategyError
    │   ├── MaxEvalsError, MemoryBudgetError, KnownAnswerError
    ├── TrainingError        training cannot go on
    │   └── NonFiniteError
    └── WorkflowError        the run itself: lock, audit, report
        ├── ResultsLockedError, AuditError, ReportError
"""

from __future__ import annotations


class EoxaiError(Exception):
    """Base class of every error raised on purpose by :mod:`eoxai`."""


# --- kinds -----------------------------------------------------------------------------------


class DataError(EoxaiError):
    """The data (a file, a raster, a label, a cube) is missing or wrong."""


class ConfigError(EoxaiError, KeyError):
    """A profile, a declaration or one of its keys is missing or malformed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(ConfigError, ValueError):
    """A value passed to a function is invalid (out of range, wrong shape, unknown name)."""


class CheckpointError(EoxaiError, ValueError):
    """A checkpoint is corrupt, of another format, or does not match the expected config."""


class ExplainerInputError(EoxaiError, ValueError):
    """An explainer cannot run on this model, input or setting."""


class TrainingError(EoxaiError, RuntimeError):
    """Training cannot go on (non-finite values, an empty training split)."""


class WorkflowError(EoxaiError, RuntimeError):
    """The run itself cannot proceed (results folder locked, audit or report impossible)."""


# --- data ------------------------------------------------------------------------------------


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset (or one of its files) is not where it was looked for.

    Modelled on ``torchgeo.datasets.DatasetNotFoundError``: the message says which file is
    missing, where it was looked for and how to get it.
    """


class ChecksumError(DataError, ValueError):
    """A file's SHA-256 does not match the recorded checksum."""


class SceneNotFoundError(DatasetNotFoundError):
    """A split file (or a list of scenes) names a scene whose files are not in the collection."""


class LayoutError(DataError, ValueError):
    """Files of a scene collection match none of its declared file patterns (another layout)."""


class RasterReadError(DataError, OSError):
    """A raster file cannot be read (truncated, corrupt, not a raster): the message names the file."""


class BandCountError(DataError, ValueError):
    """A raster or a batch has a number of bands other than the one declared."""


class GridMismatchError(DataError, ValueError):
    """Two modalities do not share a CRS, a resolution or an extent and cannot be stacked."""


class MissingCRSError(GridMismatchError):
    """A raster carries no coordinate reference system, so it cannot be put on a common grid."""


class EmptyTileError(DataError, ValueError):
    """A tile holds no information: every value missing (NaN/nodata) or every value equal."""


class ClassLabelError(DataError, ValueError):
    """A label raster holds values outside the dataset's declared classes."""


class ClassAbsentError(DataError, ValueError):
    """A class to be evaluated has no labelled pixel in one of the splits."""


class TileSizeError(DataError, ValueError):
    """The tile size does not fit the scene or its split blocks (no tile can be cut)."""


class PatchSizeError(DataError, ValueError):
    """A patch size that is even, not positive or larger than the tiles."""


# --- checkpoints -----------------------------------------------------------------------------


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint file is not where it was looked for (the message says which rule writes it)."""


class CorruptFileError(CheckpointError, ChecksumError):
    """A torch file's SHA-256 does not match its sidecar (or the sidecar is missing)."""


class UnsafeFileError(CheckpointError):
    """A torch file holds pickled objects other than tensors and plain data (it could run code)."""


# --- explainers ------------------------------------------------------------------------------


class ModelModeError(ExplainerInputError, RuntimeError):
    """The model is in training mode (dropout/batch-norm updates make explanations random)."""


class MaskShapeError(ExplainerInputError, ValueError):
    """A pixel mask (region, label) does not have the shape of the model's output."""


class ModalityError(ExplainerInputError, KeyError):
    """A modality (band group) name is not in the data or the model."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StrategyError(ExplainerInputError, ValueError):
    """An unknown backward strategy, or a chunk size below 1."""


class MaxEvalsError(ExplainerInputError, ValueError):
    """``max_evals`` is too small for the number of features (players) to be explained."""


class MemoryBudgetError(ExplainerInputError, ValueError):
    """A memory budget that is not a positive number of MB."""


class UnknownExplainerError(ExplainerInputError, ValueError):
    """A method name that is not in the explainer registry (:mod:`eoxai.xai.registry`)."""


class KnownAnswerError(ExplainerInputError, ValueError):
    """A synthetic rule that cannot be built on this cube (unknown band, bands of two modalities, ...)."""


# --- training --------------------------------------------------------------------------------


class NonFiniteError(TrainingError, FloatingPointError):
    """A batch holds NaN/inf values, or the loss became NaN/inf during training."""


# --- workflow --------------------------------------------------------------------------------


class ResultsLockedError(WorkflowError):
    """Another run holds the results folder's lock."""


class AuditError(WorkflowError):
    """The audit cannot run (no committed results, a scratch folder it must not overwrite)."""


class ReportError(WorkflowError, LookupError):
    """A fact cannot be read: its table, column or row is missing, or the row is ambiguous."""
