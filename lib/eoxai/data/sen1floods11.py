"""Sen1Floods11 hand-labelled chips: Sentinel-1 GRD + Sentinel-2 L1C + water labels.

Bonafilia, Tellman, Anderson, Issenberg (2020). *Sen1Floods11: a georeferenced dataset to train
and test deep learning flood algorithms for Sentinel-1*. CVPR Workshops, pp. 210-211.

Layout under ``root/folder`` (the shipped sample, and what :func:`eoxai.data.download.download`
writes for the full dataset)::

    S1/<chip>_S1Hand.tif       2 bands VV, VH in dB, float32, nodata NaN
    S2/<chip>_S2Hand.tif       13 bands B1..B12 (+B8A), reflectance x 10,000, int16, nodata 0
    Labels/<chip>_LabelHand.tif  -1 no data, 0 not water, 1 water
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from eoxai.data.raster import read_bands, read_label, require_file, verify_against_root
from eoxai.data.validate import S2_L1C_BANDS, S2_WAVELENGTH_NM, check_informative
from eoxai.errors import DatasetNotFoundError


class Sen1Floods11:
    """Reader for Sen1Floods11 hand-labelled chips.

    Parameters
    ----------
    root:
        Data folder holding ``SHA256SUMS`` and ``folder``.
    folder:
        Sub-folder with ``S1/``, ``S2/``, ``Labels/`` (``sen1floods11_sample`` for the shipped chip).
    chips:
        Chip identifiers (default: every chip found under ``S1/``).
    checksum:
        Verify each file against ``root/SHA256SUMS`` before reading.

    ``load(chip)`` returns a dict sample ``{"s1": (2, H, W), "s2": (13, H, W), "label": (H, W)}``
    of DataArrays; the label holds class indices (0 not water, 1 water) and -1 for no data.
    """

    modalities: dict[str, tuple[str, ...]] = {"s1": ("VV", "VH"), "s2": S2_L1C_BANDS}
    sensors: dict[str, str] = {"s1": "sar", "s2": "optical"}
    #: raw label value -> class name, in class-index order
    classes: dict[int, str] = {0: "not_water", 1: "water"}
    label_nodata: int = -1
    how_to_get = (
        "Get data/sen1floods11_sample as data/README.md describes, or for the full "
        "dataset run `python -m eoxai.data.download sen1floods11 --root data` (needs internet)."
    )

    def __init__(
        self,
        root: str | Path = "data",
        folder: str = "sen1floods11_sample",
        chips: Sequence[str] | None = None,
        checksum: bool = True,
    ) -> None:
        self.root = Path(root)
        self.dir = self.root / folder
        if not self.dir.is_dir():
            raise DatasetNotFoundError(f"Sen1Floods11 folder {self.dir} not found. {self.how_to_get}")
        found = sorted(p.name.removesuffix("_S1Hand.tif") for p in (self.dir / "S1").glob("*_S1Hand.tif"))
        self.chips = list(chips) if chips is not None else found
        if not self.chips:
            raise DatasetNotFoundError(f"no *_S1Hand.tif chips under {self.dir / 'S1'}. {self.how_to_get}")
        self.checksum = checksum

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> dict[str, xr.DataArray]:
        return self.load(self.chips[index])

    def paths(self, chip: str) -> dict[str, Path]:
        """The three files of ``chip``; each must exist."""
        return {
            "s1": require_file(self.dir / "S1" / f"{chip}_S1Hand.tif", self.how_to_get),
            "s2": require_file(self.dir / "S2" / f"{chip}_S2Hand.tif", self.how_to_get),
            "label": require_file(self.dir / "Labels" / f"{chip}_LabelHand.tif", self.how_to_get),
        }

    def load(self, chip: str) -> dict[str, xr.DataArray]:
        """Read, verify and check one chip. See the class docstring for the returned shapes."""
        paths = self.paths(chip)
        if self.checksum:
            verify_against_root(self.root, list(paths.values()))
        s1 = read_bands(paths["s1"], self.modalities["s1"], modality="s1", sensor="sar", units="dB")
        s2 = read_bands(
            paths["s2"], self.modalities["s2"], modality="s2", sensor="optical",
            units="reflectance (0-1)", scale=1e-4, nodata=0, wavelengths=S2_WAVELENGTH_NM,
        )
        for name, da in (("s1", s1), ("s2", s2)):
            for band in da.band.values:
                check_informative(da.sel(band=band), f"{chip} {name} band {band}")
        label = read_label(paths["label"], self.classes, self.label_nodata, f"{chip} label")
        return {"s1": s1, "s2": s2, "label": label}

    @staticmethod
    def plot(sample: dict[str, xr.DataArray], title: str | None = None) -> Figure:
        """False-colour S2 (B12, B8, B4), S1 VV and the label, side by side."""
        from eoxai.plots import plot_stack_panel

        return plot_stack_panel(
            rgb=sample["s2"].sel(band=["B12", "B8", "B4"]),
            sar=sample["s1"].sel(band="VV"),
            label=sample["label"],
            title=title,
        )

