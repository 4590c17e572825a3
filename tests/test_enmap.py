"""The EnMAP Potsdam reader and the tile-set helpers, on the shipped tiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eoxai.data.enmap import EnMAPPotsdam
from eoxai.data.hyperspectral import drop_nodata_bands, normalise, select_bands, tiles_of
from eoxai.errors import BandCountError, ChecksumError, DatasetNotFoundError

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def raw():
    return EnMAPPotsdam(DATA).load()


@pytest.fixture(scope="module")
def prepared(raw):
    return normalise(drop_nodata_bands(raw))


def test_tiles_bands_and_wavelengths(raw):
    assert raw.sizes == {"tile": 18, "band": 224, "y": 32, "x": 32, "class": 6}
    srf = pd.read_csv(DATA / "enmap_potsdam" / "enmap_potsdam_srf.csv")
    # every band's wavelength is in the spectral response table (which is sorted, the file is not)
    assert sorted(raw.wavelength_nm.values) == pytest.approx(sorted(srf.wavelength.round(3)))
    assert raw.wavelength_nm.values[0] == pytest.approx(418.24)
    assert raw.wavelength_nm.values[91] == pytest.approx(902.257)  # band 92: first SWIR band
    assert list(raw.detector.values[:91]) == ["VNIR"] * 91
    assert list(raw.detector.values[91:]) == ["SWIR"] * 133
    assert raw.attrs["units"] == "reflectance (0-1)"
    finite = raw["image"].values[np.isfinite(raw["image"].values)]
    assert 0 <= np.percentile(finite, 50) < 1  # scaled from reflectance x 10,000


def test_labels_match_the_publishers_class_counts(raw):
    """Per-split class counts equal the publisher's Summary_train_val.csv (0 = unlabelled excluded)."""
    summary = pd.read_csv(DATA / "enmap_potsdam" / "Summary_train_val.csv")
    for split, column in (("train", "Train Count"), ("validation", "Validation Count"), ("test", "Test Count")):
        lab = raw["label"].values[raw.split.values == split]
        counts = np.bincount(lab[lab >= 0], minlength=6)
        assert counts.tolist() == summary[column].tolist(), split
    assert raw["label"].values.min() == -1 and raw["label"].values.max() == 5


def test_publisher_split_is_disjoint_whole_tiles(raw):
    table = EnMAPPotsdam(DATA).split_table()
    assert not table.tile.duplicated().any()
    assert table.groupby("split").size().to_dict() == {"test": 2, "train": 14, "validation": 2}
    # no two tiles overlap on the ground (tiles are 32 x 30 m = 960 m apart at least)
    xy = np.stack([raw.x_origin.values, raw.y_origin.values], axis=1)
    d = np.abs(xy[:, None] - xy[None]).max(axis=-1)
    assert (d[~np.eye(len(xy), dtype=bool)] >= 960).all()


def test_nodata_bands_dropped_using_training_tiles(raw, prepared):
    assert prepared.attrs["dropped_bands"] == [f"B{i}" for i in range(130, 136)]
    assert prepared.sizes["band"] == 218
    assert len(prepared.attrs["dropped_wavelengths_nm"]) == 6
    assert np.isfinite(prepared["image"].values).all()


def test_normalisation_uses_training_pixels_only(raw, prepared):
    train = tiles_of(prepared, "train")["image"].values
    per_band = np.moveaxis(train, 1, 0).reshape(train.shape[1], -1)
    assert np.abs(per_band.mean(axis=1)).max() < 1e-4
    assert per_band.std(axis=1) == pytest.approx(np.ones(218), abs=1e-3)
    # validation and test tiles were not used: their mean is not zero
    held = tiles_of(prepared, "test")["image"].values
    assert np.abs(held.mean(axis=(0, 2, 3))).max() > 0.05
    b = "B050"
    raw_train = tiles_of(raw, "train")["image"].sel(band=b).values
    assert float(prepared.band_mean.sel(band=b)) == pytest.approx(float(np.nanmean(raw_train)), rel=1e-6)


def test_band_list_must_match_the_cube(prepared):
    assert list(select_bands(prepared, ["B001", "B224"]).band.values) == ["B001", "B224"]
    with pytest.raises(BandCountError, match="B130"):
        select_bands(prepared, ["B001", "B130"])  # a dropped nodata band


def test_plot_returns_a_figure(prepared):
    fig = EnMAPPotsdam.plot(prepared, 0)
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA / "enmap_potsdam", root / "enmap_potsdam")
    shutil.copy(DATA / "SHA256SUMS", root / "SHA256SUMS")
    return root


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="enmap_potsdam"):
        EnMAPPotsdam(tmp_path)
    root = _copy(tmp_path)
    (root / "enmap_potsdam" / "images" / "enmap_potsdam_tile_96_32.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match="enmap_potsdam_tile_96_32.tif"):
        EnMAPPotsdam(root).load()


def test_checksum_mismatch_and_duplicate_tile(tmp_path):
    root = _copy(tmp_path)
    label = root / "enmap_potsdam" / "labels" / "enmap_potsdam_tile_96_32.tif"
    raw = bytearray(label.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte
    label.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="enmap_potsdam_tile_96_32.tif"):
        EnMAPPotsdam(root).load(["test"])
    val = root / "enmap_potsdam" / "validation_files.csv"
    test_rows = (root / "enmap_potsdam" / "test_files.csv").read_text().splitlines()[1:]
    val.write_text(val.read_text() + test_rows[0] + "\n")
    with pytest.raises(ValueError, match="more than one split"):
        EnMAPPotsdam(root, checksum=False).split_table()
