"""The PRISMA L2D reader against a *layout fixture*.

No PRISMA product ships with the compendium (ASI distributes them after registration), so these
tests write a tiny HDF5 file that mimics the L2D layout (dataset paths, attribute names, the
``(line, band, sample)`` cube order, uint16 DN with min/max scaling, flags, error matrices). Its
values are made up: it is a layout fixture, not data. What it checks is the reader's logic:
band selection by flag and wavelength, sorting, scaling, masking and its errors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from eoxai.data.prisma import PrismaL2D
from eoxai.errors import BandCountError, ChecksumError, DatasetNotFoundError



FIELDS = "HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields"
LINES, SAMPLES = 8, 6


def write_fixture(path: Path, *, vnir_bands: int = 3, drop_swir_cube: bool = False) -> Path:
    """A 8 x 6-pixel L2D-shaped file: VNIR 3 bands (stored long-to-short, one flagged 0), SWIR 4 bands."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        vnir = rng.integers(0, 65535, (LINES, vnir_bands, SAMPLES), dtype=np.uint16)
        vnir[0, :, 0] = 65535  # reflectance = max at (0, 0)
        swir = rng.integers(0, 65535, (LINES, 4, SAMPLES), dtype=np.uint16)
        f.create_dataset(f"{FIELDS}/VNIR_Cube", data=vnir)
        if not drop_swir_cube:
            f.create_dataset(f"{FIELDS}/SWIR_Cube", data=swir)
        err = np.zeros_like(vnir, dtype=np.uint8)
        err[2, :, 3] = 1  # one flagged pixel in every VNIR band
        f.create_dataset(f"{FIELDS}/VNIR_PIXEL_L2_ERR_MATRIX", data=err)
        f.attrs["List_Cw_Vnir"] = np.array([700.0, 550.0, 450.0], np.float32)
        f.attrs["List_Fwhm_Vnir"] = np.array([10.0, 11.0, 12.0], np.float32)
        f.attrs["List_Cw_Vnir_Flags"] = np.array([1, 0, 1], np.int8)  # 550 nm not delivered
        f.attrs["List_Cw_Swir"] = np.array([1000.0, 1400.0, 1600.0, 2200.0], np.float32)
        f.attrs["List_Fwhm_Swir"] = np.array([13.0, 14.0, 15.0, 16.0], np.float32)
        f.attrs["List_Cw_Swir_Flags"] = np.array([1, 1, 1, 1], np.int8)
        f.attrs["L2ScaleVnirMin"], f.attrs["L2ScaleVnirMax"] = 0.0, 0.5
        f.attrs["L2ScaleSwirMin"], f.attrs["L2ScaleSwirMax"] = 0.0, 1.0
        f.attrs["Epsg_Code"] = 32630
        f.attrs["Product_ULcorner_easting"] = 230000.0
        f.attrs["Product_ULcorner_northing"] = 4150000.0
    (path.parent / "SHA256SUMS").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    return path


@pytest.fixture
def product(tmp_path):
    return write_fixture(tmp_path / "PRS_L2D_fixture.he5")


def test_band_table_keeps_delivered_bands_sorted(product):
    table = PrismaL2D(product).band_table()
    assert list(table.band) == ["VNIR_003", "VNIR_001", "SWIR_001", "SWIR_002", "SWIR_003", "SWIR_004"]
    assert table.wavelength_nm.is_monotonic_increasing
    assert "VNIR_002" not in set(table.band)  # flag 0


def test_read_scales_masks_and_georeferences(product):
    da = PrismaL2D(product).read()
    assert da.dims == ("band", "y", "x") and da.shape == (6, LINES, SAMPLES)
    assert list(da.wavelength_nm.values) == [450.0, 700.0, 1000.0, 1400.0, 1600.0, 2200.0]
    with h5py.File(product) as f:
        dn = f[f"{FIELDS}/SWIR_Cube"][:, 2, :].astype(np.float64)
    np.testing.assert_allclose(da.sel(band="SWIR_003").values, dn / 65535.0, rtol=1e-6)
    assert float(da.sel(band="VNIR_001").values[0, 0]) == pytest.approx(0.5)
    assert np.isnan(da.sel(band="VNIR_001").values[2, 3]) and np.isnan(da.sel(band="VNIR_003").values[2, 3])
    assert np.isfinite(da.sel(band="SWIR_001").values).all()  # no SWIR error matrix in the fixture
    assert da.rio.crs.to_epsg() == 32630
    assert da.rio.transform().c == 230000.0 and da.rio.transform().a == 30.0


def test_exclude_ranges_and_band_selection(product):
    reader = PrismaL2D(product, exclude_nm=[[1340, 1470]])
    assert "SWIR_002" not in set(reader.band_table().band)
    da = reader.read(bands=["SWIR_004", "VNIR_003"], window=(slice(1, 3), slice(0, 2)))
    assert list(da.band.values) == ["SWIR_004", "VNIR_003"] and da.shape == (2, 2, 2)
    with pytest.raises(BandCountError, match="SWIR_002"):
        reader.read(bands=["SWIR_002"])  # excluded window
    with pytest.raises(BandCountError, match="VNIR_002"):
        reader.read(bands=["VNIR_002"])  # flagged 0


def test_missing_file_cube_and_band_count_errors(tmp_path, product):
    with pytest.raises(DatasetNotFoundError, match="prisma.asi.it"):
        PrismaL2D(tmp_path / "absent.he5")
    broken = write_fixture(tmp_path / "nocube.he5", drop_swir_cube=True)
    with pytest.raises(DatasetNotFoundError, match="SWIR_Cube"):
        PrismaL2D(broken).band_table()
    wrong = write_fixture(tmp_path / "wrong.he5", vnir_bands=4)
    with pytest.raises(BandCountError, match="VNIR_Cube has 4 bands"):
        PrismaL2D(wrong).read()


def test_checksum_is_verified(product):
    with h5py.File(product, "a") as f:
        f.attrs["L2ScaleSwirMax"] = 2.0
    with pytest.raises(ChecksumError, match=product.name):
        PrismaL2D(product)


def test_tiles_merge_label_masks_into_block_split(tmp_path):
    path = write_fixture(tmp_path / "scene.he5")
    train = np.zeros((LINES, SAMPLES), np.int64)
    test = np.zeros((LINES, SAMPLES), np.int64)
    train[:4] = 1
    test[4:, :3] = 2
    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "test.npy", test)
    ds = PrismaL2D(path).tiles([tmp_path / "train.npy", tmp_path / "test.npy"], {1: "wheat", 2: "rice"},
                               block_size=2, seed=0)
    assert ds.sizes["tile"] == 12 and ds.sizes["y"] == 2 and ds.sizes["band"] == 6
    assert set(ds.split.values) == {"train", "validation", "test"}
    assert list(ds["class"].values) == ["wheat", "rice"]
    labels = ds["label"].values
    assert set(np.unique(labels)) == {-1, 0, 1}
    np.save(tmp_path / "bad.npy", np.zeros((3, 3)))
    with pytest.raises(Exception, match="label grid"):
        PrismaL2D(path).tiles([tmp_path / "bad.npy"], {1: "wheat"}, block_size=2)


def test_study_loads_a_prisma_scene_as_normalised_tiles(tmp_path):
    from eoxai.hyperspectral.study import load_tile_set

    write_fixture(tmp_path / "scene.he5")
    label = np.zeros((LINES, SAMPLES), np.int64)
    label[::2] = 1
    label[1::2, ::2] = 2
    np.save(tmp_path / "labels.npy", label)
    spec = {"file": "scene.he5", "labels": ["labels.npy"], "classes": {1: "wheat", 2: "rice"}, "block_size": 2,
            "exclude_nm": [[1340, 1470]]}
    ds = load_tile_set("prisma", tmp_path, spec, seed=0)
    assert ds.sizes["band"] == 5 and "valid" in ds and "band_mean" in ds
    assert ds.attrs["dataset"] == "prisma"
    train = ds["image"].values[ds.split.values == "train"]
    assert abs(float(train[:, 2].mean())) < 1e-5  # a SWIR band (no flagged pixel), z-scored on training blocks
    assert not ds["valid"].values.all()  # the pixel flagged in the VNIR error matrix
    with pytest.raises(KeyError, match="prisma.file"):
        load_tile_set("prisma", tmp_path, None)
