"""Fusion on the shipped real data: one grid, nodata kept as a mask, training-only statistics."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401
from affine import Affine

from eoxai.errors import GridMismatchError
from eoxai.fusion import align_to_grid, fuse, grid_difference, read_cube, stack_modalities, write_cube
from eoxai.split import TEST, TRAIN


def test_sen1floods11_modalities_share_one_grid(sen1floods11_sample, sen1floods11_cube):
    s = sen1floods11_sample
    # the label raster's transform differs from S1's by ~1e-16 degrees: within tolerance
    assert s["label"].rio.transform() != s["s1"].rio.transform()
    assert grid_difference(s["s1"], s["label"]) is None
    cube = sen1floods11_cube
    assert cube["image"].dims == ("band", "y", "x")
    np.testing.assert_array_equal(cube.x.values, s["s1"].x.values)
    np.testing.assert_array_equal(cube.y.values, s["s1"].y.values)
    assert list(cube["band"].values[:3]) == ["s1.VV", "s1.VH", "s2.B1"]
    assert list(cube["modality"].values).count("s2") == 13
    assert list(cube["class"].values) == ["not_water", "water"]
    assert cube.rio.crs.to_epsg() == 4326


def test_shifted_modality_is_refused_or_reprojected(eolearn_sample):
    dem = eolearn_sample["dem"]
    t = dem.rio.transform()
    shifted = dem.rio.write_transform(Affine(t.a, t.b, t.c + 5 * t.a, t.d, t.e, t.f))
    shifted = shifted.assign_coords(x=dem.x.values + 5 * t.a)
    ref = eolearn_sample["s2_t1"]
    with pytest.raises(GridMismatchError, match="x origin"):
        align_to_grid(ref, {"dem": shifted})
    out = align_to_grid(ref, {"dem": shifted}, reproject=True)["dem"]
    assert out.shape == dem.shape
    np.testing.assert_allclose(out.x.values, ref.x.values)
    # the reprojected DEM is the original moved by 5 columns; the 5 uncovered columns are NaN
    np.testing.assert_allclose(out.values[0, :, 10:60], dem.values[0, :, 5:55], rtol=1e-5)
    assert np.isnan(out.values[0, :, :5]).all()


def test_coarser_modality_is_resampled_onto_the_reference(eolearn_sample):
    dem = eolearn_sample["dem"]
    coarse = dem.rio.reproject(dem.rio.crs, resolution=20.0)
    ref = eolearn_sample["s2_t1"]
    with pytest.raises(GridMismatchError):
        align_to_grid(ref, {"dem": coarse})
    out = align_to_grid(ref, {"dem": coarse}, reproject=True)["dem"]
    assert out.shape == dem.shape
    valid = np.isfinite(out.values)
    assert valid.mean() > 0.9
    assert np.abs(out.values[valid] - dem.values[valid]).mean() < 5.0  # metres


def test_normalisation_uses_training_pixels_only(sen1floods11_cube):
    cube = sen1floods11_cube
    split = cube["split"].values
    train = cube["image"].values[:, split == TRAIN]
    np.testing.assert_allclose(np.nanmean(train, axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.nanstd(train, axis=1), 1.0, atol=1e-3)
    test = cube["image"].values[:, split == TEST]
    assert np.abs(np.nanmean(test, axis=1)).max() > 1e-3  # test pixels did not inform the statistics


def test_nodata_is_kept_as_a_mask_not_zero(sen1floods11_sample):
    s = sen1floods11_sample
    s1 = s["s1"].copy(deep=True)
    s1.values[:, 100:110, 200:230] = np.nan
    cube = fuse({"s1": s1, "s2": s["s2"]}, s["label"], block_size=128, buffer=8, seed=0)
    img = cube["image"].sel(band=["s1.VV", "s1.VH"]).values
    assert np.isnan(img[:, 100:110, 200:230]).all()
    valid = cube["valid"].values
    assert valid.shape == (15, 512, 512)
    assert (valid[:2, 100:110, 200:230] == 0).all() and (valid[2:, 100:110, 200:230] == 1).all()
    assert cube["image"].sel(band="s2.B4").values[100:110, 200:230].mean() != 0


def test_stack_band_names_are_unique_per_date(eolearn_sample):
    mods = {k: v for k, v in eolearn_sample.items() if k != "label"}
    stacked = stack_modalities(mods)
    assert stacked.sizes["band"] == 27
    assert len(set(stacked.band.values)) == 27
    assert stacked.sel(band="s2_t2.B8").band_name.item() == "B8"
    assert list(stacked.sensor.values).count("elevation") == 1


def test_cube_round_trip(tmp_path, eolearn_cube):
    write_cube(eolearn_cube, tmp_path / "cube.nc")
    back = read_cube(tmp_path / "cube.nc")
    assert back.rio.crs == eolearn_cube.rio.crs
    np.testing.assert_array_equal(back["split"].values, eolearn_cube["split"].values)
    np.testing.assert_allclose(back["image"].values, eolearn_cube["image"].values)
    assert list(back["modality"].values) == list(eolearn_cube["modality"].values)
