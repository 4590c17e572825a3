"""The one-shot GPU benchmark runs on a CPU at tiny sizes and writes the CSV the issue asks for."""

from __future__ import annotations

import pytest
import importlib.util
import math

import pandas as pd

from tests.conftest import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_gpu_benchmark_runs_on_cpu_at_tiny_sizes(tmp_path):
    gpu = _load("gpu")
    out = tmp_path / "gpu.csv"
    assert gpu.main(["--device", "cpu", "--size", "b0", "--tile", "32", "--batch", "2", "--warmup", "1",
                     "--steps", "1", "--classes", "3", "--no-compile", "--repeats", "1",
                     "--gradcam-scales", "b0:32", "--gradcam-batch", "1", "--overhead-tiles", "32",
                     "--ig-steps", "4", "--shap-evals", "130",
                     "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df["section"]) == {"train", "gradcam", "overhead"}
    train = df[df["section"] == "train"].set_index("mode")
    assert list(train.index) == ["fp32 eager", "bf16 autocast + channels_last"]
    assert (train["tiles_per_s"] > 0).all() and (train["flops_per_tile"] > 1e6).all()
    assert train["mfu"].isna().all()  # no peak FLOP/s is known for a CPU: MFU is not made up
    cam = df[df["section"] == "gradcam"]
    assert sorted(cam["layer"]) == ["decoder.blocks.3", "segmentation_head.0"]
    assert (cam["max_rel_diff"] < 1e-4).all() and (cam["speedup"] > 0).all()
    over = df[df["section"] == "overhead"]
    assert sorted(over["method"]) == ["SHAP partition", "integrated gradients", "occlusion"]
    assert (over["fraction_of_raw"] > 0).all() and (over["evaluations"] > 1).all()
    assert df["device"].str.startswith("CPU").all()


def test_peak_flops_lookup():
    gpu = _load("gpu")
    assert gpu.peak_tflops("NVIDIA H200", None) == 989.0
    assert gpu.peak_tflops("NVIDIA L40S", None) == 362.0  # the longer name wins over "L4"
    assert gpu.peak_tflops("NVIDIA H200", 500.0) == 500.0
    assert math.isnan(gpu.peak_tflops("CPU (x86_64, 1 threads)", None))
