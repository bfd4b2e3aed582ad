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
from pathlib import Path
from typing import Any

import pytest

from archreport.data import BlockNode, Expectation, ModelReport, RepeatedBlock, Report
from archreport.render.exports import LAYER_COLUMNS, _cell, indented_json, layers_csv, layers_md, report_json
from tests.helpers import check_golden
from tests.models import TRICKY_NAMES
from tests.unit import reports

GOLDEN = Path(__file__).parent.parent / "golden"


@pytest.fixture(scope="module")
def tricky() -> ModelReport:
    """A real model whose cells need care: formula-like names, unknown FLOPs, several inputs, floats.

    tests.models.tricky, as the pipeline analysed it (tests/unit/fixtures/tricky).
    """
    report = reports.model("tricky")
    assert [r.name for r in report.layers][1:] == TRICKY_NAMES
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
    frame["active_flops"] = frame["active_flops"].astype("Int64")
    frame["live_at_peak_bytes"] = frame["live_at_peak_bytes"].astype("Int64")
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
    assert rows["@at"]["flops_note"].startswith(
        "Mystery: its call cannot be traced (TracerArrayConversionError"
    )
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


def known(data: Any, like: Any) -> Any:
    """``data`` with only the keys that ``like`` has, at every depth: what a fixture written before
    a field was added can be compared with."""
    if isinstance(data, dict) and isinstance(like, dict):
        return {k: known(v, like[k]) for k, v in data.items() if k in like}
    if isinstance(data, list) and isinstance(like, list) and len(data) == len(like):
        return [known(v, w) for v, w in zip(data, like, strict=True)]
    return data


@pytest.mark.parametrize("slug", reports.SLUGS)
def test_report_json_from_the_data_is_what_the_pipeline_wrote(slug: str) -> None:
    """ModelReport.from_dict and report_json give back the fixture's report.json.

    Byte for byte as long as the data has the fields the fixture was written with; a field added
    since is left out of the comparison (tests/unit/fixtures/make.py writes the fixtures again).
    """
    written = (reports.FIXTURES / slug / "report.json").read_text(encoding="utf-8")
    data = reports.report_data(slug)
    assert indented_json(data) + "\n" == written  # the encoder, on what the pipeline wrote
    report = Report(
        title=data["title"], generated=data["generated"], versions=data["versions"],
        models=[ModelReport.from_dict(m) for m in data["models"]], changes=data["changes"],
    )  # fmt: skip
    again = json.loads(report_json(report, timings=False))
    assert indented_json(known(again, data)) + "\n" == written


def test_transformer_layer_table_golden(update_golden: bool) -> None:
    model = reports.model("transformer")
    text = layers_md(model)
    check_golden(GOLDEN / "transformer_layers.md", text, update_golden)
    # Beside the golden file, what makes it right: a row per layer, in order, nested rows indented ...
    assert model.totals is not None
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    assert [int(r[0].removeprefix("| ")) for r in rows] == [r.index for r in model.layers]
    assert [r[1].count("&nbsp;&nbsp;") for r in rows] == [r.depth for r in model.layers]
    # ... whose top-level params add up to the total, each of the 32 blocks the same ...
    params = [int(r[4].replace(",", "")) for r in rows]
    top = [p for p, layer in zip(params, model.layers, strict=True) if layer.depth == 0]
    # By hand (tests.models.LLAMA, 32 layers): untied input and output embeddings of 1,000 x 128; per
    # layer q and o 128 x 128, k and v 128 x 64 (2 of 4 heads of 32), three 128 x 320 feed-forward
    # kernels and two 128-wide norms; a final 128-wide norm.
    per_layer = 2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 320 + 2 * 128
    assert sum(top) == model.totals.params == 2 * 1000 * 128 + 32 * per_layer + 128
    blocks = [
        p
        for p, layer in zip(params, model.layers, strict=True)
        if layer.name.startswith("transformer_layer_")
    ]
    assert blocks == [model.repeated_blocks[0].params_each] * 32 == [per_layer] * 32
    # ... and whose sub-layers' FLOPs are not counted again: they are in their block's.
    flops = [r[5] for r in rows]
    counted = [f for f, layer in zip(flops, model.layers, strict=True) if not layer.counted_in_parent]
    assert sum(int(f.replace(",", "")) for f in counted) == model.totals.flops
    assert all(
        f == "(in parent)" for f, layer in zip(flops, model.layers, strict=True) if layer.counted_in_parent
    )
