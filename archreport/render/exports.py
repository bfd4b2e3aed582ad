"""The data files: report.json (the CI contract) and each model's layers.csv and layers.md."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Callable
from json.encoder import encode_basestring as _quote  # the C escaper; ensure_ascii=False's
from typing import Any

from archreport import units
from archreport.data import ModelReport, Report

SCHEMA_VERSION = 1
# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

LAYER_COLUMNS = [
    "index", "name", "class_name", "depth", "parent", "input_shapes", "output_shape", "kernel",
    "strides", "activation", "params", "trainable_params", "non_trainable_params", "param_percent",
    "trainable", "flops", "activation_bytes", "dtype", "connected_to", "path", "called", "flops_note",
    "kv_cache_bytes_per_token", "active_flops", "live_at_peak_bytes",
]  # fmt: skip


# -- report.json --------------------------------------------------------------
def report_dict(report: Report, *, timings: bool = True) -> dict[str, Any]:
    models = []
    for m in report.models:
        data = m.to_dict()
        data.pop("cached")
        data.pop("details")
        if not timings:
            data.pop("timings")
        models.append(data)
    return {
        "schema_version": SCHEMA_VERSION,
        "archreport_version": report.versions.get("archreport", "unknown"),
        "generated": report.generated,
        "title": report.title,
        "versions": report.versions,
        "summary": {
            "models": len(report.models),
            "ok": sum(m.ok for m in report.models),
            "failed": len(report.failed),
            "expectation_failures": len(report.expectation_failures),
        },
        "models": models,
        "changes": report.changes,
        # Report-wide stages (the HTML and PDF are one pass over all models); left out
        # under SOURCE_DATE_EPOCH like the per-model timings, so reruns stay byte-identical.
        **({"timings": dict(report.timings)} if timings else {}),
    }


def report_json(report: Report, *, timings: bool = True) -> str:
    return indented_json(report_dict(report, timings=timings)) + "\n"


class _Unusual(Exception):
    """A value the fast encoder leaves to ``json.dumps``."""


def indented_json(data: Any) -> str:
    """``json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)``: the same text, faster.

    With ``indent`` set, the json module encodes in pure Python through nested generators
    (its C encoder does not indent before Python 3.14): 40 ms for six models' layer rows, a
    tenth of a warm re-run (issue 13). This walks plain data (str, int, float, bool, None,
    lists, tuples, dicts with str keys) in half the time, leaving strings to the json
    module's C escaper; anything else (an int or str subclass, a non-str key, NaN) is left
    to ``json.dumps`` itself, which encodes or refuses it as it always did.
    """
    parts: list[str] = []
    try:
        _encode(data, "\n", parts.append)
    except _Unusual:
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    return "".join(parts)


def _encode(value: Any, indent: str, out: Callable[[str], None]) -> None:
    kind = type(value)
    if kind is str:
        out(_quote(value))
    elif kind is int:
        out(int.__repr__(value))
    elif kind is dict:
        if not value:
            out("{}")
            return
        inner = indent + "  "
        out("{" + inner)
        first = True
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            out(("" if first else "," + inner) + _quote(key) + ": ")
            first = False
            _encode(item, inner, out)
        out(indent + "}")
    elif kind is list or kind is tuple:
        if not value:
            out("[]")
            return
        inner = indent + "  "
        out("[" + inner)
        first = True
        for item in value:
            if not first:
                out("," + inner)
            first = False
            _encode(item, inner, out)
        out(indent + "]")
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif kind is float and math.isfinite(value):
        out(float.__repr__(value))
    else:
        raise _Unusual


# -- layers.csv and layers.md -------------------------------------------------
def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str):
        value = units.visible(value)
        if value.startswith(_FORMULA_START):
            return "'" + value  # shown as text, never run as a formula
    return value


# Columns layers.csv gives to 3 decimals, rounded the way numpy (and pandas) round.
_ROUNDED = {"param_percent"}


def _round3(value: float) -> float:
    """``numpy.round(value, 3)``: scale, round half to even, scale back (not Python's exact ``round``)."""
    return float(round(value * 1000.0)) / 1000.0


def layers_csv(model: ModelReport) -> str:
    """The layer table as CSV: the bytes pandas wrote for it before (tests/test_exports.py).

    Written with the csv module, because importing pandas and building a frame per model
    cost a warm re-run more than all its other exports together (issue 13). Unknown
    numbers (None) are empty cells, as the frame's nullable Int64 columns write them.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LAYER_COLUMNS)
    for r in model.layers:
        row = []
        for col in LAYER_COLUMNS:
            value = _cell(getattr(r, col))
            if col in _ROUNDED:
                value = _round3(value)
            row.append(value)
        writer.writerow(row)
    return buffer.getvalue()


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(value: Any) -> str:
    text = html.escape(units.visible(str(value)), quote=False).replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def layers_md(model: ModelReport) -> str:
    head = ["#", "Layer", "Class", "Output shape", "Params", "FLOPs", "Trainable"]
    lines = [
        f"### {md_escape(model.name)}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if h in {"#", "Params", "FLOPs"} else "---" for h in head) + "|",
    ]
    for r in model.layers:
        indent = "&nbsp;&nbsp;" * r.depth
        flops = "(in parent)" if r.counted_in_parent else units.count(r.flops)
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r.index),
                    indent + md_escape(r.name),
                    md_escape(r.class_name),
                    md_escape(r.output_shape),
                    f"{r.params:,}",
                    flops,
                    "yes" if r.trainable else "no",
                ]
            )
            + " |"
        )
    if model.totals:
        t = model.totals
        lines += [
            "",
            f"Total params: {t.params:,} (trainable {t.trainable_params:,}, non-trainable "
            f"{t.non_trainable_params:,}); {units.nbytes(t.param_bytes)}. FLOPs: {units.flops(t.flops, t.flops_lower_bound)}.",
        ]
    return "\n".join(lines) + "\n"
