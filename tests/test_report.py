"""The per-sample report (notebook 08b): every number in its text is a cell of a result table."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from eoxai.report import (
    NUMBER,
    Fact,
    ReportError,
    collect_facts,
    facts_table,
    lookup,
    narrate,
    prompt,
    render,
    unsupported_numbers,
)
from eoxai.xai.scoring import evaluate_explanations, method_settings
from eoxai.xai.modality import modality_occlusion
from eoxai.xai.shap_seg import band_group_shap, band_group_table
from tests.xai_helpers import BandModel, eolearn_cube, eolearn_groups, eolearn_test_tiles

TABLES = ["modality_occlusion_tiles", "shap_band_groups", "xai_faithfulness", "xai_attributions", "xai_agreement"]


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory) -> Path:
    """The five result tables the report reads, made by the lib on the real eo-learn test tiles and
    written as the notebooks write them (CSV, 6 significant digits)."""
    out = tmp_path_factory.mktemp("tables")
    tiles, groups, cube = eolearn_test_tiles(), eolearn_groups(), eolearn_cube()
    model = BandModel(27, tiles.class_names, used=range(27), seed=4)
    _, occ = modality_occlusion(model, tiles.images, tiles.masks, groups, class_names=tiles.class_names,
                                band_mean=cube["band_mean"].values, band_std=cube["band_std"].values,
                                origins=tiles.origins)
    shap_groups = band_group_table(band_group_shap(model, tiles.images, groups, class_names=tiles.class_names),
                                   tiles.origins)
    settings = method_settings(gradcam_layer="encoder", ig_steps=8, occlusion_grid=4, shap_grid=4, shap_blur=3,
                              shap_max_evals=40, batch_size=16)
    xai = evaluate_explanations({0: model}, 0, tiles.images[:1], groups, band_names=tiles.bands,
                                class_names=tiles.class_names, origins=tiles.origins[:1], settings=settings, steps=4, blur=3,
                                progress=False)
    frames = {"modality_occlusion_tiles": occ, "shap_band_groups": shap_groups, "xai_faithfulness": xai["faithfulness"],
              "xai_attributions": xai["attributions"], "xai_agreement": xai["agreement"]}
    for name, df in frames.items():
        df.insert(0, "stack", "eolearn")
        df.to_csv(out / f"{name}.csv", index=False, float_format="%.6g")
    return out


@pytest.fixture(scope="module")
def report(table_dir):
    saved = {n: pd.read_csv(table_dir / f"{n}.csv") for n in TABLES}
    tile = tuple(saved["xai_faithfulness"][["tile_row", "tile_col"]].iloc[0])
    facts = collect_facts(saved, "eolearn", tile)
    return facts, render(facts)


def cell(table_dir: Path, fact: Fact) -> str:
    """The fact's cell read with the csv module (no pandas), formatted as the report prints it."""
    with (table_dir / f"{fact.table}.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if all(_same(r[k], v) for k, v in fact.row.items())]
    assert len(rows) == 1, (fact, len(rows))
    raw = rows[0][fact.column]
    if fact.digits is None:
        return raw
    return f"{float(raw):.{fact.digits}f}"


def _same(raw: str, value) -> bool:
    try:
        return float(raw) == float(value)
    except ValueError:
        return raw == str(value)


def test_every_number_in_the_report_matches_the_csvs(table_dir, report):
    facts, text = report
    numbers = NUMBER.findall(text)
    assert len(numbers) >= 12, text  # tile, IoUs, score, SHAP, mIoU drop, bands, Spearman, areas
    printed = {f.text: f for f in facts}
    for n in numbers:
        assert n in printed, f"number {n} in the report has no fact: {text}"
    for f in facts:
        assert cell(table_dir, f) == f.text, f
        assert f.text in text, f"fact {f.name} is not in the text"
    assert unsupported_numbers(text, facts) == []


def test_the_report_names_what_it_reports(report):
    facts, text = report
    names = {f.name: f.text for f in facts}
    assert f"Tile (row {names['tile_row']}, column {names['tile_col']}) of the eolearn test split" in text
    assert f"matters most for '{names['class']}' is {names['top_modality']}" in text
    assert names["top_modality"] in {"s2_t1", "s2_t2", "dem"}
    assert names["faithful"] in {"gradcam", "ig", "occlusion", "shap"}
    assert names["band1"] in eolearn_test_tiles().bands
    table = facts_table(facts, stack="eolearn")
    assert len(table) == len(facts) and {"fact", "value", "text", "table", "column", "row"} <= set(table.columns)


def test_invented_numbers_are_caught(report):
    facts, text = report
    assert unsupported_numbers(text + " Accuracy was 0.987.", facts) == ["0.987"]
    assert unsupported_numbers("band s2_t2.B11 and s2.B8A", facts) == []  # names are not numbers
    generated, bad = narrate(facts, generate=lambda p: "The tile has IoU 0.42 and 17 classes.")
    assert generated.startswith("The tile") and set(bad) <= {"0.42", "17"} and bad
    for f in facts:
        assert f.text in prompt(facts)
    default, none = narrate(facts)
    assert default == text and none == []


def test_missing_or_ambiguous_rows_are_clear_errors(table_dir):
    saved = {n: pd.read_csv(table_dir / f"{n}.csv") for n in TABLES}
    with pytest.raises(ReportError, match="not among the scorecard's instances"):
        collect_facts(saved, "eolearn", (999, 999))
    with pytest.raises(ReportError, match="rows of 'xai_faithfulness' match"):
        lookup(saved, "xai_faithfulness", "deletion_auc", {"stack": "eolearn"})
    with pytest.raises(ReportError, match="no column"):
        lookup(saved, "xai_faithfulness", "nope", {})
    with pytest.raises(ReportError, match="table 'other' not given"):
        lookup(saved, "other", "x", {})
