"""Readers on the shipped real data, and one clear error per kind of bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rioxarray  # noqa: F401
from rasterio.crs import CRS

from eoxai.checksums import read_sha256sums, sha256_file, verify_files
from eoxai.data import EOLearnPatch, Sen1Floods11, check_informative
from eoxai.errors import (
    BandCountError,
    ChecksumError,
    ClassLabelError,
    DatasetNotFoundError,
    EmptyTileError,
    GridMismatchError,
)

CHIP = "Spain_7370579"


def test_shipped_data_checksums(data_dir):
    sums = read_sha256sums(data_dir / "SHA256SUMS")
    checked = verify_files(data_dir, sums, only=["sen1floods11_sample", "eolearn_patch"])
    assert len(checked) == 3 + 8  # 3 rasters, 8 eo-learn files
    assert all(len(d) == 64 for d in sums.values())


def test_sen1floods11_sample(sen1floods11_sample):
    s = sen1floods11_sample
    assert s["s1"].shape == (2, 512, 512) and list(s["s1"].band.values) == ["VV", "VH"]
    assert s["s2"].shape == (13, 512, 512) and s["s2"].band.values[8] == "B8A"
    assert s["s1"].rio.crs == CRS.from_epsg(4326)
    assert s["s2"].attrs["sensor"] == "optical" and s["s1"].attrs["sensor"] == "sar"
    # reflectance scaled to 0-1, wavelengths as a coordinate
    assert 0 < float(s["s2"].sel(band="B4").mean()) < 1
    assert float(s["s2"].wavelength_nm.sel(band="B8")) == 842.0
    # labels encoded as 0 not water / 1 water / -1 no data, with the published 26.7 % water
    lab = s["label"].values
    assert set(np.unique(lab)) <= {-1, 0, 1}
    assert s["label"].attrs["class_names"] == ["not_water", "water"]
    assert abs((lab == 1).sum() / (lab >= 0).sum() - 0.267) < 0.01


def test_eolearn_patch(eolearn_sample):
    s = eolearn_sample
    assert set(s) == {"s2_t1", "s2_t2", "dem", "label"}
    assert s["s2_t1"].shape == (13, 101, 100) and s["dem"].shape == (1, 101, 100)
    assert s["dem"].attrs["units"] == "m" and 600 < float(s["dem"].mean()) < 850
    assert str(s["label"].rio.crs) == "EPSG:32633"
    assert abs(s["label"].rio.resolution()[0] - 10.0) < 0.01
    assert not np.array_equal(s["s2_t1"].values, s["s2_t2"].values)
    # forest dominates the patch: 7601 of 10100 pixels in the publisher's LULC map
    assert (s["label"].values == 1).sum() == 7601


def test_missing_file(data_copy):
    root = data_copy("sen1floods11_sample")
    (root / "sen1floods11_sample" / "S2" / f"{CHIP}_S2Hand.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match="S2Hand.tif not found"):
        Sen1Floods11(root).load(CHIP)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"data/README\.md"):
        Sen1Floods11(tmp_path)


def test_checksum_mismatch(data_copy):
    root = data_copy("sen1floods11_sample")
    f = root / "sen1floods11_sample" / "Labels" / f"{CHIP}_LabelHand.tif"
    raw = bytearray(f.read_bytes())
    raw[-10] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="LabelHand.tif"):
        Sen1Floods11(root).load(CHIP)


def _rewrite(path, transform):
    """Rewrite a GeoTIFF in place after applying ``transform`` to its DataArray."""
    import rioxarray as rxr

    da = rxr.open_rasterio(path, mask_and_scale=False).load()
    out = transform(da)
    path.unlink()
    out.rio.to_raster(path)


def test_wrong_band_count(data_copy):
    root = data_copy("sen1floods11_sample")
    d = root / "sen1floods11_sample"
    shutil.copy(d / "S1" / f"{CHIP}_S1Hand.tif", d / "S2" / f"{CHIP}_S2Hand.tif")
    with pytest.raises(BandCountError, match=r"found 2 band\(s\), expected 13"):
        Sen1Floods11(root, checksum=False).load(CHIP)


def test_crs_mismatch_between_modalities(data_copy):
    from eoxai.fusion import fuse

    root = data_copy("sen1floods11_sample")
    _rewrite(root / "sen1floods11_sample" / "S1" / f"{CHIP}_S1Hand.tif", lambda da: da.rio.write_crs("EPSG:3857"))
    s = Sen1Floods11(root, checksum=False).load(CHIP)
    with pytest.raises(GridMismatchError, match="CRS"):
        fuse({"s2": s["s2"], "s1": s["s1"]}, s["label"], block_size=128, buffer=8)


def test_labels_outside_declared_classes(data_copy):
    root = data_copy("sen1floods11_sample")
    path = root / "sen1floods11_sample" / "Labels" / f"{CHIP}_LabelHand.tif"

    def inject(da):
        da = da.copy()
        da.values[0, :5, :5] = 7
        return da

    _rewrite(path, inject)
    with pytest.raises(ClassLabelError, match=r"\[7\]"):
        Sen1Floods11(root, checksum=False).load(CHIP)


def test_eolearn_labels_outside_declared_classes(data_copy):
    root = data_copy("eolearn_patch")
    path = root / "eolearn_patch" / "mask_timeless" / "LULC.npy"
    lulc = np.load(path)
    lulc[0, 0, 0] = 5  # water: not among this patch's declared classes
    np.save(path, lulc)
    with pytest.raises(ClassLabelError, match=r"\[5\]"):
        EOLearnPatch(root, checksum=False).load()
    with pytest.raises(ChecksumError, match="LULC.npy"):
        EOLearnPatch(root).load()


def test_all_nan_band_is_rejected(data_copy):
    root = data_copy("sen1floods11_sample")

    def blank(da):
        da = da.copy()
        da.values[1] = np.nan
        return da

    _rewrite(root / "sen1floods11_sample" / "S1" / f"{CHIP}_S1Hand.tif", blank)
    with pytest.raises(EmptyTileError, match="s1 band VH: every value is missing"):
        Sen1Floods11(root, checksum=False).load(CHIP)


def test_constant_and_empty_tiles(sen1floods11_sample):
    tile = sen1floods11_sample["s2"].sel(band="B4").isel(y=slice(0, 64), x=slice(0, 64)).copy()
    check_informative(tile, "real tile")  # a real tile passes
    with pytest.raises(EmptyTileError, match="constant"):
        check_informative(tile * 0 + 0.1, "constant tile")
    with pytest.raises(EmptyTileError, match="missing"):
        check_informative(tile * np.nan, "empty tile")


def test_eolearn_wrong_band_count(data_copy):
    root = data_copy("eolearn_patch")
    path = root / "eolearn_patch" / "REFERENCE_SCENES.npy"
    np.save(path, np.load(path)[..., :12])
    with pytest.raises(BandCountError, match="expected 13"):
        EOLearnPatch(root, checksum=False).load()


def test_sha256_file_matches_list(data_dir):
    sums = read_sha256sums(data_dir / "SHA256SUMS")
    rel = "eolearn_patch/bbox.geojson"
    assert sha256_file(data_dir / rel) == sums[rel]
