"""A fused stack as a declaration: which files, bands, units, label legend and tiling (no code).

A declaration is a YAML mapping (``config/stacks/<name>.yaml``, or inline under ``stacks:`` in a
profile) validated by :class:`StackDeclaration`::

    description: Sentinel-1 + Sentinel-2 + water labels   # free text, shown in figures/tables
    source: Bonafilia et al. (2020) ...                   # the published description followed
    reader: geotiff          # a name in eoxai.data.stack.READERS (default geotiff)
    folder: my_chips         # under the profile's data_dir
    chip: tile_01            # fills {chip} in the file patterns
    checksums: my_chips/SHA256SUMS   # optional extra checksum list, relative to data_dir
    download: sen1floods11   # optional entry of eoxai.data.download.REGISTRY
    modalities:              # in stacking order
      sar: {file: "S1/{chip}.tif", bands: [VV, VH], sensor: sar, units: dB}
      opt: {file: "S2/{chip}.tif", bands: [B2, B3, B4, B8], sensor: optical,
            units: reflectance (0-1), scale: 1.0e-4, nodata: 0,
            wavelengths_nm: {B2: 490, B3: 560, B4: 665, B8: 842}}
    label:
      file: "labels/{chip}.tif"
      nodata: 0
      legend: {1: water, 2: forest}    # raw value -> class name; class index = legend order
      target: water                     # class explained by default (default: the last one)
    reference: sar           # the grid the others are put on (default: the first modality)
    reproject: false         # true: resample modalities that are not on the reference grid
    rgb: [opt.B4, opt.B3, opt.B2]
    tiling: {block_size: 64, buffer: 4, tile_size: 32}

Every key is checked: an unknown key fails with its dotted path and the nearest valid name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from eoxai.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModalityDeclaration(_Strict):
    """One modality: a raster (or array) file with ``len(bands)`` bands on the stack's grid."""

    file: str = Field(description="file pattern under the stack folder; {chip} is replaced by the chip")
    bands: list[str] = Field(min_length=1, description="band names, in file order")
    sensor: str = Field(description="sensor family, e.g. sar, optical, elevation")
    units: str = Field(description="units after scale and offset, e.g. dB, reflectance (0-1), m")
    scale: float = Field(default=1.0, description="value = raw * scale + offset")
    offset: float = 0.0
    nodata: float | None = Field(default=None, description="raw nodata value (default: the file's own)")
    wavelengths_nm: dict[str, float] | None = Field(default=None, description="band -> centre wavelength")
    resampling: Literal["nearest", "bilinear", "cubic", "average"] = "bilinear"
    options: dict[str, Any] = Field(default_factory=dict, description="reader-specific options")

    @model_validator(mode="after")
    def _wavelength_bands(self) -> ModalityDeclaration:
        unknown = sorted(set(self.wavelengths_nm or {}) - set(self.bands))
        if unknown:
            raise InputError(f"wavelengths_nm names bands {unknown} that are not in bands {self.bands}")
        if len(set(self.bands)) != len(self.bands):
            raise InputError(f"band names must be unique, got {self.bands}")
        return self


class LabelDeclaration(_Strict):
    """The label raster: raw values mapped to class names by ``legend`` (class index = legend order)."""

    file: str
    nodata: int | None = None
    legend: dict[int, str] = Field(min_length=1)
    colours: dict[str, str] | None = None
    target: str | None = Field(default=None, description="class explained by default (default: the last)")

    @model_validator(mode="after")
    def _names(self) -> LabelDeclaration:
        names = list(self.legend.values())
        if len(set(names)) != len(names):
            raise InputError(f"class names in legend must be unique, got {names}")
        if self.nodata is not None and self.nodata in self.legend:
            raise InputError(f"nodata {self.nodata} is also a legend value")
        for what, given in (("target", [self.target] if self.target else []), ("colours", list(self.colours or {}))):
            bad = [n for n in given if n not in names]
            if bad:
                raise InputError(f"{what} names {bad}, not classes of the legend {names}")
        return self

    @property
    def class_names(self) -> list[str]:
        return list(self.legend.values())

    @property
    def default_target(self) -> str:
        return self.target or self.class_names[-1]


class TilingDeclaration(_Strict):
    """Spatially blocked split and tile size (pixels)."""

    block_size: int = Field(ge=1)
    buffer: int = Field(ge=0)
    tile_size: int = Field(ge=1)


class PanelDeclaration(_Strict):
    """The overview figure of notebook 01: a colour composite, one more band, the label."""

    composite: list[str] | None = Field(default=None, min_length=3, max_length=3)
    second: str | None = None
    second_label: str | None = None
    title: str | None = None


class StackDeclaration(_Strict):
    """A fused stack: modalities, label, grid handling, figure bands and tiling. See the module doc."""

    name: str = ""
    description: str = ""
    source: str = Field(default="", description="the published description this declaration follows")
    reader: str = "geotiff"
    folder: str
    chip: str | None = None
    checksums: str | None = None
    download: str | None = None
    modalities: dict[str, ModalityDeclaration] = Field(min_length=1)
    label: LabelDeclaration
    reference: str | None = None
    reproject: bool = False
    rgb: list[str] = Field(min_length=3, max_length=3)
    panel: PanelDeclaration = Field(default_factory=PanelDeclaration)
    tiling: TilingDeclaration

    @model_validator(mode="after")
    def _references(self) -> StackDeclaration:
        if self.reference is not None and self.reference not in self.modalities:
            raise InputError(f"reference {self.reference!r} is not a modality ({list(self.modalities)})")
        known = {f"{m}.{b}" for m, d in self.modalities.items() for b in d.bands}
        named = [*self.rgb, *(self.panel.composite or []), *([self.panel.second] if self.panel.second else [])]
        bad = [b for b in named if b not in known]
        if bad:
            raise InputError(f"bands {bad} are not declared; use <modality>.<band>, one of {sorted(known)}")
        return self

    @property
    def reference_modality(self) -> str:
        return self.reference or next(iter(self.modalities))

    def resolved_file(self, pattern: str) -> str:
        """``pattern`` with ``{chip}`` filled in (relative to the stack folder)."""
        if "{chip}" in pattern and self.chip is None:
            raise InputError(f"file pattern {pattern!r} uses {{chip}} but the declaration sets no chip")
        return pattern.format(chip=self.chip) if "{chip}" in pattern else pattern
