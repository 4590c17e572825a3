"""Per-sample explanation reports whose every number is read from the result tables.

CLAIRE (Sutradhar et al. 2025) turns metrics into a per-sample explanation with a language model.
Here the text comes from a fixed template, and each number in it is a :class:`Fact`: a cell of a
named result table (CSV) found by its row keys, so a reader (and a test) can trace every number
back to the table and row it came from. Nothing is computed in the text: no share, difference or
ratio that the tables do not hold.

An optional hook (:func:`narrate`) passes the same facts to a local language model the user
installs (any ``prompt -> text`` callable, e.g. :func:`transformers_generator`); it is off by
default, never needed by the tests, and its output is checked with :func:`unsupported_numbers`
so a number the model invents is reported, not trusted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from eoxai.errors import EoxaiError, ReportError

#: a number standing on its own (not part of a name such as ``s2.B11`` or ``s2_t1``)
NUMBER = re.compile(r"(?<![\w.\-])[-+]?\d+(?:\.\d+)?(?![\w.]*\w)")


@dataclass(frozen=True)
class Fact:
    """One value of the report: ``table[column]`` at the row where every ``row`` key matches."""

    name: str
    value: Any
    table: str
    column: str
    row: Mapping[str, Any] = field(default_factory=dict)
    digits: int | None = 2

    @property
    def text(self) -> str:
        """The value as printed in the report (``digits`` decimals for floats)."""
        if self.digits is None or isinstance(self.value, str):
            return str(self.value)
        if isinstance(self.value, (int, np.integer)) and not isinstance(self.value, bool):
            return str(int(self.value))
        return f"{float(self.value):.{self.digits}f}"


def lookup(tables: Mapping[str, pd.DataFrame], table: str, column: str, row: Mapping[str, Any]) -> Any:
    """The single cell ``tables[table][column]`` where all ``row`` keys match; :class:`ReportError` otherwise."""
    if table not in tables:
        raise ReportError(f"table {table!r} not given; have {sorted(tables)}")
    df = tables[table]
    missing = [c for c in (column, *row) if c not in df.columns]
    if missing:
        raise ReportError(f"table {table!r} has no column(s) {missing}")
    hits = _rows(df, row)[column]
    if len(hits) != 1:
        raise ReportError(f"{len(hits)} rows of {table!r} match {dict(row)} (need exactly one)")
    value = hits.iloc[0]
    return value.item() if hasattr(value, "item") else value


def fact(tables: Mapping[str, pd.DataFrame], name: str, table: str, column: str, row: Mapping[str, Any],
         digits: int | None = 2) -> Fact:
    """A :class:`Fact` whose value is looked up now (see :func:`lookup`)."""
    return Fact(name, lookup(tables, table, column, row), table, column, dict(row), digits)


def _rows(df: pd.DataFrame, key: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``df`` where every ``key`` column equals its value."""
    sel = np.ones(len(df), dtype=bool)
    for k, v in key.items():
        sel &= (df[k] == v).to_numpy()
    return df.loc[sel]


def _best_row(df: pd.DataFrame, sel: Mapping[str, Any], by: str, largest: bool = True) -> pd.Series:
    sub = _rows(df, sel).dropna(subset=[by])
    if sub.empty:
        raise ReportError(f"no rows with {dict(sel)} and a value in {by!r}")
    return sub.loc[sub[by].idxmax() if largest else sub[by].idxmin()]


def collect_facts(
    tables: Mapping[str, pd.DataFrame],
    stack: str,
    tile: Sequence[Any],
    *,
    occlusion_replacement: str = "mean",
    band_method: str = "ig",
    n_bands: int = 3,
) -> list[Fact]:
    """The facts of the report on test tile ``tile`` of ``stack``: ``(row, col)`` in a single-scene
    cube, ``(scene, row, col)`` in a collection (:func:`eoxai.xai.maps.tile_columns`).

    Tables (by file stem): ``modality_occlusion_tiles`` and ``shap_band_groups`` (notebooks 07-08),
    ``xai_faithfulness``, ``xai_attributions``, ``xai_agreement`` (the scorecard). The tile must be one
    of the scorecard's instances. Which row is reported (the largest value, ...) is decided here;
    every value comes from a table cell.
    """
    from eoxai.xai.maps import tile_columns

    key = {"stack": stack, **tile_columns(tile)}
    rows = _rows(tables["xai_faithfulness"], key)
    if rows.empty:
        raise ReportError(f"tile {tuple(tile)} of {stack!r} is not among the scorecard's instances")
    first = {**key, "method": rows["method"].iloc[0]}
    facts = [fact(tables, "stack", "xai_faithfulness", "stack", first, None),
             *([fact(tables, "scene", "xai_faithfulness", "scene", first, None)] if "scene" in key else []),
             fact(tables, "tile_row", "xai_faithfulness", "tile_row", first, None),
             fact(tables, "tile_col", "xai_faithfulness", "tile_col", first, None),
             fact(tables, "class", "xai_faithfulness", "class", first, None),
             fact(tables, "score", "xai_faithfulness", "score", first)]
    target = str(facts[-2].value)

    occ_key = {**key, "replacement": occlusion_replacement}
    sel = _rows(tables["modality_occlusion_tiles"], occ_key)
    one_mod = sel["modality"].iloc[0] if len(sel) else None
    for cls in sel.loc[(sel["modality"] == one_mod) & sel["iou_clean"].notna(), "class"]:
        facts.append(fact(tables, f"iou.{cls}", "modality_occlusion_tiles", "iou_clean",
                          {**occ_key, "modality": one_mod, "class": cls}))

    groups = tables["shap_band_groups"]
    best = _best_row(groups, {**key, "class": target}, "shap")
    mod = str(best["modality"])
    gkey = {**key, "class": target, "modality": mod}
    facts += [Fact("top_modality", mod, "shap_band_groups", "modality", gkey, None),
              fact(tables, "top_modality.shap", "shap_band_groups", "shap", gkey),
              fact(tables, "top_modality.miou_drop", "modality_occlusion_tiles", "miou_drop",
                   {**occ_key, "modality": mod, "class": target})]

    bands = _rows(tables["xai_attributions"], {**key, "method": band_method, "level": "band"})
    top = bands.sort_values("attribution", ascending=False, kind="stable").head(n_bands)
    for i, (_, b) in enumerate(top.iterrows()):
        bkey = {**key, "method": band_method, "level": "band", "feature": b["feature"]}
        facts += [Fact(f"band{i + 1}", str(b["feature"]), "xai_attributions", "feature", bkey, None),
                  fact(tables, f"band{i + 1}.value", "xai_attributions", "attribution", bkey, digits=3)]

    agree = tables["xai_agreement"]
    spatial = {**key, "level": "spatial"}
    for label, largest in (("disagree", False), ("agree", True)):
        pair = _best_row(agree, spatial, "spearman", largest=largest)
        pkey = {**spatial, "a": pair["a"], "b": pair["b"]}
        facts += [Fact(f"{label}.a", str(pair["a"]), "xai_agreement", "a", pkey, None),
                  Fact(f"{label}.b", str(pair["b"]), "xai_agreement", "b", pkey, None),
                  fact(tables, f"{label}.spearman", "xai_agreement", "spearman", pkey)]

    real = rows[rows["method"] != "random"]
    top = real.loc[(real["insertion_auc"] - real["deletion_auc"]).idxmax(), "method"]
    fkey = {**key, "method": top}
    facts += [Fact("faithful", str(top), "xai_faithfulness", "method", fkey, None),
              fact(tables, "faithful.insertion", "xai_faithfulness", "insertion_auc", fkey),
              fact(tables, "faithful.deletion", "xai_faithfulness", "deletion_auc", fkey)]
    return facts


TEMPLATE = (
    "Tile (row {tile_row}, column {tile_col}) of {where} test split.\n"
    "The model segments it with a per-class IoU of {ious}. The explanations below all target the class "
    "'{class}', whose mean predicted probability over its own region is {score}.\n"
    "The modality that matters most for '{class}' is {top_modality}: its exact Shapley value is "
    "{top_modality.shap} (mean logit over the region), and replacing it by the training mean lowers "
    "this tile's mIoU by {top_modality.miou_drop}.\n"
    "Integrated Gradients ranks highest the bands {bands}.\n"
    "The attribution maps disagree most between {disagree.a} and {disagree.b} (Spearman {disagree.spearman}) "
    "and agree most between {agree.a} and {agree.b} (Spearman {agree.spearman}).\n"
    "By deletion and insertion, the most faithful method on this tile is {faithful} "
    "(insertion area {faithful.insertion}, deletion area {faithful.deletion})."
)


def render(facts: Sequence[Fact], template: str = TEMPLATE) -> str:
    """Fill ``template`` with the facts' texts (``{name}``); ``{ious}`` and ``{bands}`` list the
    ``iou.*`` and ``band*`` facts."""
    by = {f.name: f.text for f in facts}
    by["where"] = f"scene {by['scene']} of the {by.get('stack')}" if "scene" in by else f"the {by.get('stack')}"
    ious = [f"{f.text} for {f.name.split('.', 1)[1]}" for f in facts if f.name.startswith("iou.")]
    by["ious"] = _join(ious) if ious else "n/a (no labelled class)"
    bands = [f"{by[f.name]} ({by[f.name + '.value']})" for f in facts
             if re.fullmatch(r"band\d+", f.name)]
    by["bands"] = _join(bands) if bands else "n/a"
    try:
        return re.sub(r"\{([\w.]+)\}", lambda m: by[m.group(1)], template)
    except KeyError as exc:
        raise ReportError(f"the template needs fact {exc.args[0]!r}, which was not collected") from exc


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def facts_table(facts: Sequence[Fact], **keys: Any) -> pd.DataFrame:
    """The facts as a table (``fact, value, text, table, column, row``), plus constant ``keys`` columns."""
    rows = [{**keys, "fact": f.name, "value": f.value, "text": f.text, "table": f.table, "column": f.column,
             "row": "; ".join(f"{k}={v}" for k, v in f.row.items())} for f in facts]
    return pd.DataFrame(rows)


def unsupported_numbers(text: str, facts: Sequence[Fact]) -> list[str]:
    """Numbers in ``text`` that no fact prints: what a template bug or a language model invented."""
    known = {f.text for f in facts} | {n for f in facts if isinstance(f.value, str) for n in NUMBER.findall(f.text)}
    return [n for n in NUMBER.findall(text) if n not in known]


def prompt(facts: Sequence[Fact]) -> str:
    """A prompt that asks a language model to explain the sample using these facts only."""
    lines = "\n".join(f"- {f.name}: {f.text}" for f in facts)
    return ("You explain a segmentation model's prediction on one satellite image tile to a remote-sensing "
            "researcher. Use only the facts below; copy every number exactly as written and add no other number.\n"
            f"Facts:\n{lines}\nExplanation:")


def narrate(facts: Sequence[Fact], generate: Callable[[str], str] | None = None) -> tuple[str, list[str]]:
    """The report text and the numbers in it that no fact supports.

    With ``generate=None`` (the default) the text is :func:`render`'s template; with a callable
    (``prompt -> text``, e.g. a local language model) the facts go to it through :func:`prompt`.
    """
    text = render(facts) if generate is None else generate(prompt(facts))
    return text, unsupported_numbers(text, facts)


def transformers_generator(model: str, max_new_tokens: int = 200) -> Callable[[str], str]:  # pragma: no cover
    """A ``prompt -> text`` callable from a locally installed Hugging Face ``transformers`` model.

    Optional: needs ``pip install transformers`` and the model's weights on disk. Not used by the
    notebooks unless asked for.
    """
    try:
        from transformers import pipeline
    except ImportError as exc:
        raise EoxaiError("the language-model hook needs `pip install transformers` and a local model") from exc
    pipe = pipeline("text-generation", model=model)
    return lambda p: pipe(p, max_new_tokens=max_new_tokens, return_full_text=False)[0]["generated_text"]
