"""The data files: layers.csv without pandas, report.json without asdict or json's slow indent (issue 13).

Both were most of a warm re-run's export time. layers.csv is written with the csv
module, and must stay the bytes that the pandas frame it was written from before
(``layers_frame`` here) gives; report.json must stay what ``json.dumps`` wrote
from ``dataclasses.asdict``.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import math
from typing import Any

import keras
import pytest

import archreport
from archreport.data import BlockNode, Expectation, ModelReport, RepeatedBlock
from archreport.render.exports import LAYER_COLUMNS, _cell, indented_json, layers_csv

# Spreadsheets run cells starting with =, +, - or @ as formulas; a comma and a quote need CSV quoting.
TRICKY_NAMES = ["=HYPERLINK(x)", "+plus", "-minus", "@at", 'comma, "quoted"']


@pytest.fixture(scope="module")
def tricky() -> ModelReport:
    """A real model whose cells need care: formula-like names, unknown FLOPs, several inputs, floats."""

    class Mystery(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return keras.ops.logaddexp(x, x)  # no FLOPs rule: the row's flops is None

    keras.backend.clear_session()
    inputs = keras.Input((6,), name="features")
    a = keras.layers.Dense(5, name=TRICKY_NAMES[0])(inputs)
    b = keras.layers.Dense(5, activation="relu", name=TRICKY_NAMES[1])(inputs)
    added = keras.layers.Add(name=TRICKY_NAMES[2])([a, b])  # two input shapes, two connections
    odd = Mystery(name=TRICKY_NAMES[3])(added)
    out = keras.layers.Dense(3, name=TRICKY_NAMES[4])(odd)
    report = archreport.describe(keras.Model(inputs, out, name="tricky")).report
    # Percentages where Python's exact round(x, 3) and numpy's scaled rounding disagree (0.0005 is
    # a little above a half thousandth; scaled by 1000 it is exactly 0.5, which rounds to even).
    percents = [0.0005, 33.33333333, 1e-9, 100.0, 2.0125]
    rows = [
        dataclasses.replace(row, param_percent=percents[i % len(percents)])
        for i, row in enumerate(report.layers)
    ]
    return dataclasses.replace(report, layers=rows)


def layers_frame(model: ModelReport) -> Any:
    """The layer table as the pandas frame that layers.csv was written from before."""
    import pandas as pd

    rows = [{col: _cell(getattr(r, col)) for col in LAYER_COLUMNS} for r in model.layers]
    frame = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    frame["flops"] = frame["flops"].astype("Int64")  # unknown stays empty, never 0
    frame["activation_bytes"] = frame["activation_bytes"].astype("Int64")
    frame["kv_cache_bytes_per_token"] = frame["kv_cache_bytes_per_token"].astype("Int64")
    frame["param_percent"] = frame["param_percent"].round(3)
    return frame


def test_layers_csv_equals_the_pandas_frames_csv(tricky: ModelReport) -> None:
    expected = layers_frame(tricky).to_csv(index=False, lineterminator="\n")
    assert layers_csv(tricky) == expected


def test_layers_csv_cells_are_safe_and_unknowns_empty(tricky: ModelReport) -> None:
    rows = {r["path"].lstrip("'"): r for r in csv.DictReader(io.StringIO(layers_csv(tricky)))}
    for name in TRICKY_NAMES[:4]:
        assert rows[name]["name"] == "'" + name  # shown as text, never run as a formula
    assert rows[TRICKY_NAMES[4]]["name"] == TRICKY_NAMES[4]  # read back whole through the quoting
    assert rows["@at"]["flops"] == ""  # unknown, never 0
    assert rows["@at"]["flops_note"] == "no FLOPs rule for keras.ops.logaddexp"
    assert rows["-minus"]["input_shapes"] == "(None, 5); (None, 5)"
    assert rows["-minus"]["connected_to"] == "'=HYPERLINK(x); +plus"
    # Rounded as pandas rounds: 0.0005 gives 0.0 (Python's round(0.0005, 3) gives 0.001).
    assert [r["param_percent"] for r in rows.values()][:4] == ["0.0", "33.333", "0.0", "100.0"]


# -- report.json ----------------------------------------------------------------------------
# Values the fast encoder must write exactly as json.dumps does: exponents, escapes, empties,
# non-ASCII text, tuples, nesting.
AWKWARD = {
    "floats": [0.1, 1e-05, 1e16, -2.5e-300, 1.0, 0.0, -0.0, 123456789.125],
    "ints": [0, -1, 2**70, True, False, None],
    "text": ["", "é ü 中文 😀", 'quote " backslash \\ slash /', "\n\t\r\b\f\x00\x1f\x7f\u2028"],
    "empty": {"list": [], "dict": {}, "tuple": ()},
    "nested": [[[]], [{}], {"a": [1, {"b": (2, 3)}]}],
}


def test_indented_json_is_json_dumps() -> None:
    assert indented_json(AWKWARD) == json.dumps(AWKWARD, indent=2, ensure_ascii=False, allow_nan=False)


def test_indented_json_leaves_what_it_does_not_know_to_json_dumps() -> None:
    class Kind(enum.IntEnum):
        ONE = 1

    unusual = {"enum": Kind.ONE, "keys": {1: "a", None: "b", 2.5: "c"}}
    assert indented_json(unusual) == json.dumps(unusual, indent=2, ensure_ascii=False)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        indented_json({"flops_per_token": math.nan})


def test_to_dict_is_asdict(tricky: ModelReport) -> None:
    """pydantic's serializer gives what dataclasses.asdict gave, field order and tuples included."""
    block = RepeatedBlock(
        parent=None, names=["b0", "b1"], class_name="Block", params_each=3, flops_each=None,
        anchor="tricky-r1", nodes=[BlockNode("in", "input", "", "(None, 6)", None)], edges=[(0, 1)],
    )  # fmt: skip
    checks = [
        Expectation(key="flops", expected={"value": 13.1e6, "rel_tol": 0.02}, actual=None, ok=False),
        Expectation(key="output_shapes", expected=["(None, 3)"], actual=("(None, 3)",), ok=True),
    ]
    report = dataclasses.replace(tricky, repeated_blocks=[block], expectations=checks, timings={"build": 0.5})
    data = report.to_dict()
    assert data == dataclasses.asdict(report)
    assert list(data) == [f.name for f in dataclasses.fields(ModelReport)]
    assert data["repeated_blocks"][0]["edges"] == [(0, 1)]
    assert json.dumps(data) == json.dumps(dataclasses.asdict(report))
