"""The data files written beside each model: layers.csv, without pandas (issue 13).

layers.csv is written with the csv module because importing pandas and building
a frame per model was most of a warm re-run's export time; the frame
(``layers_frame``) stays the library's ``to_dataframe`` and the reference here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import keras
import pytest

import archreport
from archreport.data import ModelReport
from archreport.exports import layers_csv, layers_frame

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
