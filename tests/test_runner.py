"""The notebook runner: relative path parameters, stabilised executed notebooks, console progress."""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

from eoxai.runner import Progress, final_text, path_parameters, relative_path, stabilise_file, stabilise_notebook


def test_path_parameters_are_relative_to_the_project_root(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    assert relative_path(root / "results" / "x", root) == "results/x"
    assert relative_path("results", root) == "results"
    assert relative_path(tmp_path / "elsewhere", root) == "../elsewhere"
    params = path_parameters({"data_dir": str(root / "data"), "results_dir": "results", "seed": 3,
                              "title": "/not/a/dir/parameter"}, root)
    assert params == {"data_dir": "data", "results_dir": "results", "seed": 3, "title": "/not/a/dir/parameter"}


def test_final_text_keeps_what_a_terminal_shows():
    bar = "\rfit:   0%|   | 0/8 [00:00<?, ?it/s]\rfit:  50%|#  | 4/8 [00:02<00:02]\rfit: 100%|###| 8/8 [00:04<00:00]\n"
    assert final_text(bar) == "fit: 100%|###| 8/8 [00:04<00:00]\n"
    assert final_text("a\nb\r\nc") == "a\nb\nc"


def _executed_notebook() -> dict:
    timing = {"start_time": "2026-01-01T00:00:00", "end_time": "2026-01-01T00:00:05", "duration": 5.0}
    return {
        "metadata": {"papermill": {"input_path": "notebooks/x.ipynb", "parameters": {"results_dir": "results"},
                                   **timing},
                     "widgets": {"state": {}}},
        "cells": [
            {"cell_type": "code", "source": "train()",
             "metadata": {"execution": {"iopub.execute_input": "2026-01-01T00:00:01Z"},
                          "papermill": {"status": "completed", "exception": False, **timing}},
             "outputs": [
                 {"output_type": "stream", "name": "stderr", "text": ["\rgrid:  0%|  | 0/2 [00:00<?, ?cell/s]"]},
                 {"output_type": "stream", "name": "stderr", "text": ["\rgrid: 100%|##| 2/2 [00:03<00:00]"]},
                 {"output_type": "stream", "name": "stderr", "text": ["\n"]},
                 {"output_type": "stream", "name": "stdout", "text": ["mIoU 0.75\n"]},
             ]},
        ],
    }


def test_stabilised_notebook_holds_no_timestamps_and_final_progress_text():
    nb = stabilise_notebook(_executed_notebook())
    assert nb["metadata"]["papermill"] == {"input_path": "notebooks/x.ipynb", "parameters": {"results_dir": "results"}}
    assert "widgets" not in nb["metadata"]
    cell = nb["cells"][0]
    assert cell["metadata"] == {"papermill": {"status": "completed", "exception": False}}
    assert cell["outputs"] == [
        {"output_type": "stream", "name": "stderr", "text": "grid: 100%|##| 2/2 [00:03<00:00]\n"},
        {"output_type": "stream", "name": "stdout", "text": "mIoU 0.75\n"},
    ]
    assert stabilise_notebook(nb) == nb  # idempotent


def test_an_executed_notebook_file_is_rewritten_stable(tmp_path):
    import json

    import nbformat

    nb = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, **_executed_notebook()})
    nb["cells"][0]["execution_count"] = 1
    nb["cells"][0]["id"] = "c1"
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    stabilise_file(path)
    stored = json.loads(path.read_text())
    assert [o["text"] for o in stored["cells"][0]["outputs"]] == [["grid: 100%|##| 2/2 [00:03<00:00]\n"],
                                                                  ["mIoU 0.75\n"]]
    assert "start_time" not in path.read_text()


def test_progress_echoes_cells_outputs_and_a_heartbeat():
    stream = io.StringIO()
    log = logging.getLogger("papermill")
    with Progress("train/02_training_seed0", 5, stream=stream, heartbeat_s=0.05) as progress:
        log.info("Working directory: /home/someone/project")  # the job's log names no folder of the machine
        log.info("Executing Cell 3---------------------------------------")
        log.info("first line\nsecond line\nthird line\nfourth line\nfifth line")
        log.info("Ending Cell 3------------------------------------------")
        beat = threading.Event()
        while not beat.wait(0.05):  # wait for the heartbeat thread (the assertion is on the text, not the time)
            if "still running" in stream.getvalue():
                beat.set()
        assert progress.cell == 3
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[train/02_training_seed0] cell 3/5 (")
    assert lines[1:4] == ["[train/02_training_seed0] first line", "[train/02_training_seed0] second line",
                          "[train/02_training_seed0] third line"]
    assert lines[4] == "[train/02_training_seed0] ... (2 more lines in the executed notebook)"
    assert not any("Ending Cell" in ln or "/home/someone" in ln for ln in lines)
    assert any(ln.startswith("[train/02_training_seed0] still running cell 3/5 (") for ln in lines)
    assert Progress not in {type(h) for h in log.handlers}


def test_notebooks_get_paths_from_parameters_only():
    """Every notebook reads and writes through its data_dir/results_dir parameters, which the runner
    injects relative to the project root where the kernel runs."""
    for nb in sorted(Path(__file__).resolve().parents[1].glob("notebooks/[0-9]*.py")):
        text = nb.read_text()
        assert 'data_dir = "../data"' in text and 'results_dir = "../results"' in text, nb.name
        assert text.count('"../') == 2, f"{nb.name} names a path of its own outside its parameters"


def test_the_injected_parameters_cell_gets_a_fixed_id():
    nb = _executed_notebook()
    nb["cells"].insert(0, {"cell_type": "code", "id": "a1b2c3d4", "source": "seed = 1", "outputs": [],
                           "metadata": {"tags": ["injected-parameters"]}})
    assert stabilise_notebook(nb)["cells"][0]["id"] == "injected-parameters"
