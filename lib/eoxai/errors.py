"""Exceptions with a message that names the cause (file, band, key), never a numpy traceback.

Every error is a subclass of :class:`EoxaiError` and of the builtin it refines
(``FileNotFoundError``, ``ValueError``, ``KeyError``), so callers can catch either.
"""

from __future__ import annotations


class EoxaiError(Exception):
    """Base class of every error raised on purpose by :mod:`eoxai`."""


class DatasetNotFoundError(EoxaiError, FileNotFoundError):
    """A dataset (or one of its files) is not where it was looked for.

    Modelled on ``torchgeo.datasets.DatasetNotFoundError``: the message says which file is
    missing, where it was looked for and how to get it.
    """


class ChecksumError(EoxaiError, ValueError):
    """A file's SHA-256 does not match the recorded checksum."""


class BandCountError(EoxaiError, ValueError):
    """A raster or a batch has a number of bands other than the one declared."""


class GridMismatchError(EoxaiError, ValueError):
    """Two modalities do not share a CRS, a resolution or an extent and cannot be stacked."""


class EmptyTileError(EoxaiError, ValueError):
    """A tile holds no information: every value missing (NaN/nodata) or every value equal."""


class ClassLabelError(EoxaiError, ValueError):
    """A label raster holds values outside the dataset's declared classes."""


class ConfigError(EoxaiError, KeyError):
    """A profile or one of its keys is missing or malformed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RasterReadError(EoxaiError, OSError):
    """A raster file cannot be read (truncated, corrupt, not a raster): the message names the file."""


class MissingCRSError(GridMismatchError):
    """A raster carries no coordinate reference system, so it cannot be put on a common grid."""


class TileSizeError(EoxaiError, ValueError):
    """The tile size does not fit the scene or its split blocks (no tile can be cut)."""
