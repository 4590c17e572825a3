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
    collection:              # optional: a collection of scenes, used when ``chip`` is not set
      split: {rule: official, files: {train: splits/train.csv, validation: splits/valid.csv,
              test: splits/test.csv}, column: 0, entry: "{chip}_S1Hand.tif"}
      memory_mb: 1024        # bound on the decoded scenes a tile reader keeps (per worker)

With ``collection`` and no ``chip``, the stack is a collection of scenes: every ``{chip}`` the
reference modality's file pattern matches on disk is one scene (see
:mod:`eoxai.data.collection`), split by scene, never by block.

Every key is checked: an unknown key fails with its dotted path and the nearest valid name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator


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
            raise ValueError(f"wavelengths_nm names bands {unknown} that are not in bands {self.bands}")
        if len(set(self.bands)) != len(self.bands):
            raise ValueError(f"band names must be unique, got {self.bands}")
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
            raise ValueError(f"class names in legend must be unique, got {names}")
        if self.nodata is not None and self.nodata in self.legend:
            raise ValueError(f"nodata {self.nodata} is also a legend value")
        for what, given in (("target", [self.target] if self.target else []), ("colours", list(self.colours or {}))):
            bad = [n for n in given if n not in names]
            if bad:
                raise ValueError(f"{what} names {bad}, not classes of the legend {names}")
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


class SplitDeclaration(_Strict):
    """How the scenes of a collection are split (see :func:`eoxai.data.collection.split_scenes`).

    ``official``: the dataset's own split files; ``files`` maps a split (train, validation, test)
    to a file (csv or text, relative to the stack folder); ``column`` is the column holding the
    scene (an index in a file without header, or the name of a header column; ``"{split}"``: the
    column named after the split, as in one csv with columns train/validation/test); ``entry``
    is how an entry names the scene (``{chip}`` and any other pattern field).
    ``field``: the split is a field of the file pattern (e.g. ``{group}`` in
    ``ROIs0000_{group}/...``); ``values`` maps its values to splits; ``holdout`` moves a seeded
    share of the training scenes to validation when the dataset publishes no validation split.
    ``seeded``: no published split; the sorted scene names are permuted with ``seed`` and cut
    by ``fractions`` (train, validation, test).
    """

    rule: Literal["official", "field", "seeded"]
    files: dict[Literal["train", "validation", "test"], str] = Field(default_factory=dict)
    column: int | str = 0
    entry: str = "{chip}"
    field: str | None = None
    values: dict[str, Literal["train", "validation", "test"]] = Field(default_factory=dict)
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0)
    fractions: list[float] = Field(default_factory=lambda: [0.7, 0.15, 0.15], min_length=3, max_length=3)
    seed: int = 0

    @model_validator(mode="after")
    def _rule_keys(self) -> SplitDeclaration:
        if self.rule == "official" and not self.files:
            raise ValueError("split rule 'official' needs files: {train: ..., validation: ..., test: ...}")
        if self.rule == "field" and (self.field is None or not self.values):
            raise ValueError("split rule 'field' needs field (a pattern field) and values (field value -> split)")
        if self.rule == "seeded" and (min(self.fractions) < 0 or abs(sum(self.fractions) - 1.0) > 1e-6):
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {self.fractions}")
        return self


class CollectionDeclaration(_Strict):
    """A stack made of many scenes (chips, tiles, image pairs), split by scene and streamed from disk."""

    split: SplitDeclaration
    memory_mb: float = Field(default=1024.0, ge=0.0,
                             description="decoded scenes a tile reader keeps in memory (MB, per worker)")
    statistics_rows: int = Field(default=256, ge=1, description="rows read at a time by the statistics pass")
    cache_dir: str | None = Field(default=None, description="folder for decoded scenes read as memory maps "
                                                            "(when a split does not fit in memory_mb)")


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
    collection: CollectionDeclaration | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        """Dumped as before collections existed when it is none (the single-scene stacks' parameters
        and records stay byte for byte the same)."""
        data: dict[str, Any] = handler(self)
        if data.get("collection", 0) is None:
            del data["collection"]
        return data

    @property
    def is_collection(self) -> bool:
        """A collection of scenes: ``collection`` is declared and no single ``chip`` is chosen."""
        return self.collection is not None and self.chip is None

    @model_validator(mode="after")
    def _references(self) -> StackDeclaration:
        if self.reference is not None and self.reference not in self.modalities:
            raise ValueError(f"reference {self.reference!r} is not a modality ({list(self.modalities)})")
        known = {f"{m}.{b}" for m, d in self.modalities.items() for b in d.bands}
        named = [*self.rgb, *(self.panel.composite or []), *([self.panel.second] if self.panel.second else [])]
        bad = [b for b in named if b not in known]
        if bad:
            raise ValueError(f"bands {bad} are not declared; use <modality>.<band>, one of {sorted(known)}")
        return self

    @property
    def reference_modality(self) -> str:
        return self.reference or next(iter(self.modalities))

    def resolved_file(self, pattern: str) -> str:
        """``pattern`` with ``{chip}`` filled in (relative to the stack folder)."""
        if "{chip}" in pattern and self.chip is None:
            raise ValueError(f"file pattern {pattern!r} uses {{chip}} but the declaration sets no chip")
        return pattern.format(chip=self.chip) if "{chip}" in pattern else pattern
