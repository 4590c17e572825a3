"""The paper profile's download-and-verify path, exercised offline on the shipped sample."""

from __future__ import annotations

import shutil

import pytest

from eoxai.checksums import read_sha256sums
from eoxai.data import Sen1Floods11
from eoxai.data.download import REGISTRY, download
from eoxai.errors import ChecksumError, DatasetNotFoundError

CHIP = "Spain_7370579"


@pytest.fixture()
def mirror(tmp_path, data_dir):
    """A local copy of the shipped chip laid out like the public Sen1Floods11 bucket."""
    base = tmp_path / "bucket"
    src = data_dir / "sen1floods11_sample"
    for local, remote in (("S1", "S1Hand"), ("S2", "S2Hand"), ("Labels", "LabelHand")):
        dest = base / "data/flood_events/HandLabeled" / remote
        dest.mkdir(parents=True)
        for f in (src / local).iterdir():
            shutil.copy(f, dest / f.name)
    (base / "splits/flood_handlabeled").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        rows = f"{CHIP}_S1Hand.tif,{CHIP}_LabelHand.tif\n" if split == "test" else ""
        (base / f"splits/flood_handlabeled/flood_{split}_data.csv").write_text(rows)
    return base


def test_download_from_mirror_then_read_and_verify(tmp_path, mirror):
    root = tmp_path / "data"
    files = download("sen1floods11", root, base_url=mirror.as_uri(), progress=lambda x, **k: x)
    assert len(files) == 6  # the chip's three files and the three official split lists
    sums = read_sha256sums(root / "SHA256SUMS.sen1floods11")
    assert set(sums) == {f"sen1floods11/{d}/{CHIP}_{k}.tif" for d, k in
                         (("S1", "S1Hand"), ("S2", "S2Hand"), ("Labels", "LabelHand"))} | {
                         f"sen1floods11/splits/flood_handlabeled/flood_{s}_data.csv" for s in ("train", "valid", "test")}
    assert (root / "sen1floods11/splits/flood_handlabeled/flood_test_data.csv").read_text().startswith(CHIP)
    sample = Sen1Floods11(root, folder="sen1floods11").load(CHIP)  # verified against the recorded sums
    assert sample["s2"].shape == (13, 512, 512)
    # a second download keeps verified files; a corrupted one is caught
    f = root / "sen1floods11/S1" / f"{CHIP}_S1Hand.tif"
    f.write_bytes(f.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match="S1Hand.tif"):
        download("sen1floods11", root, base_url=mirror.as_uri(), progress=lambda x, **k: x)


def test_offline_download_fails_clearly(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="offline"):
        download("sen1floods11", tmp_path, base_url="http://127.0.0.1:9", chips=[CHIP],
                 timeout=2, progress=lambda x, **k: x)


@pytest.mark.parametrize("name", ["whu_opt_sar", "mapinwild", "dfc2020", "prisma_l2d"])
def test_manual_datasets_explain_how_to_get_them(tmp_path, name):
    with pytest.raises(DatasetNotFoundError, match=REGISTRY[name].homepage.split("//")[1][:15]):
        download(name, tmp_path)


def test_unknown_dataset():
    with pytest.raises(KeyError, match="known"):
        download("imagenet", "data")


def test_list_names_each_paper_dataset_with_its_split_and_the_seed_result_it_targets(capsys):
    from eoxai.data.download import main

    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for number in ("mIoU 56.02 / OA 84.56", "IoU 69.1 -> 78.5"):
        assert number in out
    for name in ("sen1floods11", "whu_opt_sar", "mapinwild", "dfc2020"):
        block = out.split(name, 1)[1].split("\n\n", 1)[0]
        assert "split: " in block and "reproduces: " in block and "cite: " in block, name
