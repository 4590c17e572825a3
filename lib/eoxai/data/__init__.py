"""Dataset readers. Each returns labelled :mod:`xarray` objects: bands as a named coordinate,
``modality``/``sensor`` attributes and coordinates, a CRS (rioxarray) and nodata as NaN (never
silently zero-filled).

Readers follow torchgeo's dataset conventions: a ``root`` folder, checksums verified against the
``SHA256SUMS`` that ships with the data, a :class:`~eoxai.errors.DatasetNotFoundError` that says
what is missing and how to get it, and a ``plot()`` that returns a :class:`matplotlib.figure.Figure`.
"""

from eoxai.data.enmap import EnMAPPotsdam
from eoxai.data.eolearn import EOLearnPatch
from eoxai.data.eurosat import EuroSAT, EuroSATMS
from eoxai.data.prisma import PrismaL2D
from eoxai.data.sen1floods11 import Sen1Floods11
from eoxai.data.validate import check_classes, check_informative

__all__ = [
    "EOLearnPatch",
    "EnMAPPotsdam",
    "EuroSAT",
    "EuroSATMS",
    "PrismaL2D",
    "Sen1Floods11",
    "check_classes",
    "check_informative",
]
