"""Notebook 10's lib: the EuroSAT readers, the SHAP wrapper and maps, the blur-drop metric, training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from eoxai import scene
from eoxai.data.eurosat import EuroSAT, EuroSATMS, class_counts, open_eurosat
from eoxai.errors import BandCountError, ChecksumError, DatasetNotFoundError
from eoxai.xai import scene_shap
from eoxai.xai.checks import ModelModeError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CLASSES = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
           "PermanentCrop", "Residential", "River", "SeaLake"]


@pytest.fixture(scope="module")
def test_split() -> EuroSAT:
    return EuroSAT(DATA, "test", limit=2)


@pytest.fixture(scope="module")
def model() -> scene.SceneClassifier:
    torch.manual_seed(0)
    return scene.SceneClassifier("test_resnet", CLASSES, EuroSAT.bands, [0.34, 0.38, 0.41], [0.2, 0.13, 0.11]).eval()


# ---------------------------------------------------------------- readers


def test_eurosat_reads_the_shipped_splits():
    sizes = {s: len(EuroSAT(DATA, s, checksum=False)) for s in EuroSAT.splits}
    assert sizes == {"train": 1500, "validation": 500, "test": 1000}
    ds = EuroSAT(DATA, "validation")
    assert ds.classes == CLASSES
    assert class_counts(ds.targets, ds.classes) == {c: 50 for c in CLASSES}
    sample = ds[7]
    assert set(sample) == {"image", "label"}
    assert sample["image"].shape == (3, 64, 64) and sample["image"].dtype == torch.float32
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    assert sample["image"].std() > 0.01  # a real scene, not a blank
    assert sample["label"].dtype == torch.int64 and int(sample["label"]) == ds.targets[7]
    assert ds.files[7].startswith(CLASSES[ds.targets[7]] + "/")
    x, y = ds.stack()
    assert x.shape == (500, 3, 64, 64) and y.shape == (500,)
    assert torch.equal(x[7], sample["image"])


def test_eurosat_limit_transforms_and_plots(test_split):
    assert len(test_split) == 20 and class_counts(test_split.targets, CLASSES) == {c: 2 for c in CLASSES}
    flipped = EuroSAT(DATA, "test", limit=2, checksum=False,
                      transforms=lambda s: {**s, "image": s["image"].flip(-1)})
    assert torch.equal(flipped[0]["image"], test_split[0]["image"].flip(-1))
    assert isinstance(test_split.plot(test_split[0], prediction=3), Figure)
    assert isinstance(test_split.plot_grid(per_class=2), Figure)
    assert open_eurosat("eurosat_rgb", DATA, "test", limit=1).files == EuroSAT(DATA, "test", limit=1).files


def test_eurosat_errors_name_the_cause(tmp_path):
    with pytest.raises(ValueError, match="unknown EuroSAT split 'val'"):
        EuroSAT(DATA, "val")
    with pytest.raises(DatasetNotFoundError, match="eurosat_rgb_subset not found"):
        EuroSAT(tmp_path, "train")
    with pytest.raises(KeyError, match="unknown scene dataset"):
        open_eurosat("aid", DATA, "train")
    # a modified image in a copy of the data: the checksum error names the file
    root = tmp_path / "data"
    shutil.copytree(DATA / "eurosat_rgb_subset", root / "eurosat_rgb_subset")
    shutil.copy(DATA / "SHA256SUMS", root / "SHA256SUMS")
    first = EuroSAT(root, "train", limit=1, checksum=False).files[0]
    with (root / "eurosat_rgb_subset" / first).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ChecksumError, match=first.split("/")[-1]):
        EuroSAT(root, "train", limit=1)
    # a 32x32 image where 64x64 is expected
    from PIL import Image

    Image.new("RGB", (32, 32)).save(root / "eurosat_rgb_subset" / first, format="JPEG")
    with pytest.raises(BandCountError, match="32x32"):
        EuroSAT(root, "train", limit=1, checksum=False)[0]


def test_eurosat_ms_absent_or_corrupt_gives_clear_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="EuroSATallBands.zip"):
        EuroSATMS(tmp_path, "train")
    (tmp_path / "eurosat_ms").mkdir()
    (tmp_path / "eurosat_ms" / "EuroSATallBands.zip").write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match="expected MD5 5ac12b3b2557aa56e1826e981e8e200e"):
        EuroSATMS(tmp_path, "train")


def test_eurosat_ms_reads_13_band_geotiffs(tmp_path):
    """The paper-profile reader on a two-scene tree in torchgeo's layout (synthetic values)."""
    import rasterio
    from rasterio.transform import from_origin

    root = tmp_path / "eurosat_ms"
    rng = np.random.default_rng(0)
    for name in ("Forest_1", "River_7"):
        folder = root / EuroSATMS.base_dir / name.split("_")[0]
        folder.mkdir(parents=True, exist_ok=True)
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", width=64, height=64, count=13,
                           dtype="uint16", crs="EPSG:32633", transform=from_origin(500000, 5e6, 10, 10)) as dst:
            dst.write(rng.integers(0, 4000, (13, 64, 64), dtype=np.uint16))
    for split, listed in {"train": "Forest_1.jpg\nRiver_7.jpg\n", "val": "", "test": ""}.items():
        (root / f"eurosat-{split}.txt").write_text(listed)
    ds = EuroSATMS(tmp_path, "train")
    assert len(ds) == 2 and ds.targets == [CLASSES.index("Forest"), CLASSES.index("River")]
    img = ds[1]["image"]
    assert img.shape == (13, 64, 64) and float(img.max()) < 0.4  # reflectance = DN / 10,000
    assert ds.rgb(img).shape == (64, 64, 3)
    (root / EuroSATMS.base_dir / "River" / "River_7.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing"):
        EuroSATMS(tmp_path, "train")


# ---------------------------------------------------------------- SHAP wrapper and maps


def test_nhwc_predictor_shapes(model):
    pred = scene_shap.NHWCPredictor(model, batch_size=3)
    x = np.random.default_rng(0).random((5, 64, 64, 3), dtype=np.float32)
    p = pred(x)
    assert p.shape == (5, 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    expected = scene.predict_proba(model, torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).numpy()
    np.testing.assert_allclose(p, expected, atol=1e-6)
    assert pred(x[0]).shape == (1, 10)  # a single (H, W, C) image
    assert pred.n_images == 6
    assert scene_shap.to_nhwc(torch.zeros(2, 3, 64, 32)).shape == (2, 64, 32, 3)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        pred(np.zeros((2, 3)))


def test_predictor_refuses_a_model_in_training_mode():
    m = scene.SceneClassifier("test_resnet", CLASSES, EuroSAT.bands).train()
    with pytest.raises(ModelModeError):
        scene_shap.NHWCPredictor(m)


def test_partition_maps_of_top_classes_on_real_scenes(model, test_split):
    images = test_split.stack()[0][:2]
    maps = scene_shap.explain_scenes(model, images, top_k=3, max_evals=40, blur=(16, 16), batch_size=40)
    assert maps.dims == ("image", "rank", "y", "x") and maps.shape == (2, 3, 64, 64)
    probs = scene.predict_proba(model, images).numpy()
    np.testing.assert_array_equal(maps.class_index.values, scene_shap.most_probable_classes(probs, 3))
    assert list(maps.class_name.values[0]) == [CLASSES[i] for i in maps.class_index.values[0]]
    np.testing.assert_allclose(maps.probability.values, np.take_along_axis(probs, maps.class_index.values, 1),
                               atol=1e-6)
    # Owen values are efficient: each map sums to p(class | scene) - p(class | fully blurred scene)
    blurred = np.stack([scene_shap.blur_image(im, (16, 16)) for im in scene_shap.to_nhwc(images)])
    p_blur = scene_shap.NHWCPredictor(model)(blurred)
    np.testing.assert_allclose(maps.base_value.values, np.take_along_axis(p_blur, maps.class_index.values, 1),
                               atol=1e-6)
    np.testing.assert_allclose(maps.sum(("y", "x")).values, maps.probability.values - maps.base_value.values,
                               atol=1e-6)


def test_blur_image_is_the_maskers_blur():
    import shap

    x = np.random.default_rng(1).random((16, 16, 3), dtype=np.float32)
    masker = shap.maskers.Image("blur(8,8)", x.shape)
    fully_masked = masker(np.zeros(x.size, dtype=bool), x)[0][0]
    np.testing.assert_allclose(scene_shap.blur_image(x, (8, 8)), fully_masked.reshape(x.shape), atol=1e-6)


def test_top_classes_and_top_fraction_mask():
    np.testing.assert_array_equal(scene_shap.most_probable_classes(np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4]]), 2),
                                  [[1, 2], [2, 0]])  # ties: lower class index first
    with pytest.raises(ValueError, match="top_k=4"):
        scene_shap.most_probable_classes(np.ones((1, 3)), 4)
    m = scene_shap.top_fraction_mask(np.arange(100.0).reshape(10, 10), 0.1)
    assert m.sum() == 10 and m[9].all()
    with pytest.raises(ValueError, match="fraction"):
        scene_shap.top_fraction_mask(np.zeros((4, 4)), 0.0)


# ---------------------------------------------------------------- blur drop on a hand-built case


def _region_model(region: np.ndarray, gain: float = 5.0):
    """p(class 0) = sigmoid(gain * mean of channel 0 over ``region``): only those pixels matter."""
    def predict(x: np.ndarray) -> np.ndarray:
        z = gain * x[:, region, 0].mean(axis=1)
        p0 = 1.0 / (1.0 + np.exp(-z))
        return np.stack([p0, 1.0 - p0], axis=1)
    return predict


def test_blur_drop_on_a_case_with_a_known_answer():
    region = np.zeros((10, 10), dtype=bool)
    region[0] = True  # the 10 % pixels the model looks at
    image = region[None, :, :, None].astype(np.float32)  # 1 inside the region, 0 elsewhere
    background = np.zeros_like(image)  # "blurring" replaces with 0
    predict = _region_model(region)
    p0 = 1.0 / (1.0 + np.exp(-5.0))
    # a map that points at the region: blurring its top 10 % removes all evidence, p -> 0.5
    good = scene_shap.blur_drop(predict, image, region[None].astype(float), [0], fraction=0.1, n_random=20,
                           seed=0, background=background)
    row = good.iloc[0]
    assert row["pixels"] == 10
    assert row["probability"] == pytest.approx(p0)
    assert row["probability_top_blurred"] == pytest.approx(0.5)
    assert row["drop_top"] == pytest.approx(p0 - 0.5)
    # random 10 % pixels hit the region only partly: a smaller drop on average
    assert 0.0 <= row["drop_random"] < row["drop_top"]
    assert row["drop_difference"] == pytest.approx(row["drop_top"] - row["drop_random"])
    # a map that points away from the region: blurring its top pixels changes nothing
    bad = scene_shap.blur_drop(predict, image, -region[None].astype(float), [0], fraction=0.1, n_random=5,
                          seed=0, background=background)
    assert bad.iloc[0]["drop_top"] == pytest.approx(0.0)
    # the same random draws for the same seed
    again = scene_shap.blur_drop(predict, image, region[None].astype(float), [0], fraction=0.1, n_random=20,
                            seed=0, background=background)
    assert again.iloc[0]["drop_random"] == row["drop_random"]


def test_blur_drop_is_zero_for_a_model_that_ignores_the_image():
    images = np.random.default_rng(2).random((2, 8, 8, 3), dtype=np.float32)
    constant = lambda x: np.tile([0.7, 0.3], (len(x), 1))  # noqa: E731
    out = scene_shap.blur_drop(constant, images, images.sum(-1), [0, 1], fraction=0.25, kernel=(4, 4), n_random=3)
    assert list(out["class_index"]) == [0, 1]
    np.testing.assert_allclose(out[["drop_top", "drop_random"]].to_numpy(), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="shapes do not match"):
        scene_shap.blur_drop(constant, images, images[..., 0][:, :4], [0, 1])


# ---------------------------------------------------------------- training, evaluation, selection


def test_fit_is_seeded_and_evaluate_is_consistent(test_split):
    x, y = test_split.stack()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = scene.SceneClassifier("test_resnet", CLASSES, EuroSAT.bands, *scene.band_statistics(x))
        hist = scene.fit(m, (x, y), (x[:6], y[:6]), epochs=2, batch_size=8, lr=0.005, seed=3)
        runs.append((m, hist))
    (m, hist), (m2, hist2) = runs
    assert list(hist.columns) == ["epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy"]
    assert list(hist["epoch"]) == [1, 2] and not m.training
    assert hist.equals(hist2)  # same seed, same batches, same weights
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values(), strict=True))
    metrics, cm = scene.evaluate(m, x, y, CLASSES)
    assert cm.dims == ("true", "predicted") and int(cm.sum()) == metrics["n"] == 20
    assert metrics["accuracy"] == pytest.approx(np.trace(cm.values) / 20)
    assert list(cm.sum("predicted").values) == [2] * 10
    summary = scene.confusion_summary(cm)
    assert summary["hardest_class"] in CLASSES and 0 <= summary["hardest_recall"] <= 1


def test_checkpoint_roundtrip(tmp_path, model, test_split):
    path = scene.save_classifier(tmp_path / "m.pt", model, dataset="eurosat_rgb", seed=1)
    loaded, meta = scene.load_classifier(path)
    assert meta["arch"] == "timm:test_resnet" and meta["class_names"] == CLASSES and meta["dataset"] == "eurosat_rgb"
    x = test_split.stack()[0][:4]
    torch.testing.assert_close(scene.predict_proba(loaded, x), scene.predict_proba(model, x))


def test_choose_images_is_seeded_and_spreads_over_classes(test_split):
    targets = np.asarray(test_split.targets)
    a = scene_shap.choose_images(targets, 6, seed=5)
    assert np.array_equal(a, scene_shap.choose_images(targets, 6, seed=5))
    assert len(set(targets[a])) == 6  # one scene per class while classes last
    assert not np.array_equal(a, scene_shap.choose_images(targets, 6, seed=6))
    assert len(set(scene_shap.choose_images(targets, 15, seed=5))) == 15
    with pytest.raises(ValueError):
        scene_shap.choose_images(targets, 21, seed=0)


def test_explain_and_score_table(model, test_split):
    images = test_split.stack()[0][:2]
    maps, table, pred = scene_shap.explain_and_score(model, images, top_k=2, max_evals=30, blur=(16, 16),
                                                batch_size=30, n_random=2, seed=0)
    assert len(table) == 4 and list(table["rank"]) == [1, 2, 1, 2] and list(table["image"]) == [0, 0, 1, 1]
    np.testing.assert_array_equal(table["class_index"], maps.class_index.values.reshape(-1))
    np.testing.assert_allclose(table["probability"], maps.probability.values.reshape(-1), atol=1e-9)
    assert pred.n_images > 30
