"""Shared fixtures: the shipped real data, read once per session, and copies for error injection."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def sen1floods11_sample():
    from eoxai.data import Sen1Floods11

    return Sen1Floods11(DATA).load("Spain_7370579")


@pytest.fixture(scope="session")
def eolearn_sample():
    from eoxai.data import EOLearnPatch

    return EOLearnPatch(DATA).load()


@pytest.fixture(scope="session")
def sen1floods11_cube(sen1floods11_sample):
    from eoxai.fusion import fuse

    s = sen1floods11_sample
    return fuse({"s1": s["s1"], "s2": s["s2"]}, s["label"], block_size=128, buffer=8, seed=3, name="sen1floods11")


@pytest.fixture(scope="session")
def eolearn_cube(eolearn_sample):
    from eoxai.fusion import fuse

    s = eolearn_sample
    mods = {k: v for k, v in s.items() if k != "label"}
    return fuse(mods, s["label"], block_size=32, buffer=2, seed=3, name="eolearn")


@pytest.fixture()
def data_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy ``data/<folder>`` and ``data/SHA256SUMS`` into a temporary root; return that root."""

    def make(folder: str) -> Path:
        root = tmp_path / "data"
        root.mkdir(exist_ok=True)
        shutil.copytree(DATA / folder, root / folder)
        shutil.copy(DATA / "SHA256SUMS", root / "SHA256SUMS")
        for p in (root / folder).rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
        return root

    return make


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Run every test with one torch thread: faster on small tensors and on shared 2-core machines."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
