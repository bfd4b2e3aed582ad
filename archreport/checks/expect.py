"""Check a model's declared expectations (``[model.expect]``) against its analysis.

Each check ends "held", "violated" or "unknown". A figure that is only a lower
bound (FLOPs with an op the counter does not know; FLOPs and activation memory
with open input dimensions) can prove ``max_flops`` or ``max_activation_bytes``
broken or ``flops = X`` wrong, but never that any held: those checks are
"unknown", and so are FLOPs that are not known at all. Unknown checks fail
unless the model sets ``accept_lower_bound = true``; an unknown shape always
fails (issue 10, item 8). Per-layer checks find their row by name or by path
("outer/inner") and name the layer, the expected value and the actual one
(issue 12).

Which figure each ``[model.expect]`` key checks is derived from the schema's
``Expect`` fields, so a key added there is either classified here or refused.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from archreport.data import FLOPS_FIGURES, MEMORY_FIGURES, Expectation, LayerRow, ModelReport, Totals
from archreport.manifest import key_text
from archreport.manifest.schema import Expect, LayerExpect, Tolerance, suggest

_OPTIONS = {"accept_lower_bound"}  # how to judge the checks, not a check
_MINIMA = {"min_coverage": "flops_coverage", "min_layer_coverage": "layer_coverage"}  # at least
# A dense model computes all of it: its active figure is the executed one.
_ACTIVE = {"active_flops": "flops", "active_params": "params"}


def classify(key: str) -> tuple[str, str]:
    """What an ``Expect`` key checks: ("total", figure), ("limit", figure) for ``max_*`` (at most),
    ("shape", report attribute), or ("option", key).

    Raises:
        ValueError: a key that fits none of them (a new schema key this module does not know).
    """
    totals = {f.name for f in dataclasses.fields(Totals)}
    shapes = {f.name for f in dataclasses.fields(ModelReport) if f.name.endswith("_shapes")}
    if key in _OPTIONS:
        return "option", key
    if key.startswith("max_") and key.removeprefix("max_") in totals:
        return "limit", key.removeprefix("max_")
    if key in _MINIMA:
        return "minimum", _MINIMA[key]
    if key in totals:
        return "total", key
    if key in shapes or f"{key}s" in shapes:
        return "shape", key if key in shapes else f"{key}s"
    raise ValueError(f"[model.expect] key {key!r} checks no figure of the report that archreport knows")


def _bounded(figure: str, totals: Totals) -> bool:
    """Whether a Totals figure is only a lower bound in this report."""
    return (figure in FLOPS_FIGURES and totals.flops_lower_bound) or (
        figure in MEMORY_FIGURES and totals.memory_lower_bound
    )


def check(report: ModelReport, expect: Expect) -> list[Expectation]:
    """One Expectation per declared key, in the schema's order, then one per declared layer fact."""
    if not report.ok or report.totals is None:
        return []
    totals = report.totals
    out = []
    for key in (f.name for f in dataclasses.fields(Expect)):
        kind, target = classify(key)  # tests/test_expect.py classifies every key the schema has
        expected = getattr(expect, key)
        if expected is None or kind == "option" or isinstance(expected, dict):
            continue
        if kind == "minimum":
            out.append(_minimum(key, expected, getattr(totals, target)))
        elif kind in ("total", "limit"):
            actual = getattr(totals, target)
            if actual is None and target in _ACTIVE:
                actual = getattr(totals, _ACTIVE[target])
            bound = _bounded(target, totals)
            out.append(_number(key, key, expected, actual, bound=bound, limit=kind == "limit"))
        elif key == target:  # output_shapes, input_shapes: every shape
            out.append(_shape(key, key, list(expected), getattr(report, target)))
        else:  # output_shape, input_shape: the one shape (or all, when there are several)
            shapes = getattr(report, target)
            out.append(_shape(key, key, expected, shapes[0] if len(shapes) == 1 else shapes))
    if isinstance(expect.layers, dict):
        out.extend(_layers(report.layers, expect.layers, totals.flops_lower_bound))
    return [_settle(e, expect.accept_lower_bound) for e in out]


def _settle(result: Expectation, accept_lower_bound: bool) -> Expectation:
    # accept_lower_bound lets an undecided count pass (a figure that is a lower bound, or FLOPs not
    # known at all); an unknown shape is never a pass.
    checked = result.key.rsplit(".", 1)[-1]  # "max_flops", "layers.head.flops", "output_shape(s)"
    acceptable = accept_lower_bound and result.status == "unknown" and "_shape" not in checked
    return dataclasses.replace(result, ok=result.status == "held" or acceptable)


def _number(
    key: str, label: str, expected: float | Tolerance, actual: int | None, *, bound: bool, limit: bool
) -> Expectation:
    """A count against a value (with a tolerance) or, for ``max_*``, against a limit."""
    shown = _plain(expected)
    want = f"at most {_text(shown)}" if limit else _text(shown)
    if actual is None:
        return _result(key, shown, None, "unknown", f"{label}: expected {want}; the figure is not known.")
    if limit:
        broken = actual > _value(expected)
    else:
        broken = (
            not _close(actual, expected)
            if not bound
            else actual > _value(expected) and not _close(actual, expected)
        )
    if broken:
        at_least = "at least " if bound else ""
        return _result(key, shown, actual, "violated", f"{label}: expected {want}, got {at_least}{actual:,}.")
    if bound:
        return _result(
            key, shown, actual, "unknown",
            f"{label}: expected {want}; the figure is only a lower bound ({actual:,} or more), which cannot show it.",
        )  # fmt: skip
    return _result(key, shown, actual, "held", f"{label}: {actual:,}, as expected.")


def _minimum(key: str, expected: float, actual: float) -> Expectation:
    """A share that must be at least ``expected`` (coverage)."""
    if actual < expected:
        return _result(
            key, expected, actual, "violated", f"{key}: expected at least {expected:.1%}, got {actual:.1%}."
        )
    return _result(
        key, expected, actual, "held", f"{key}: {actual:.1%}, at least {expected:.1%} as expected."
    )


def _shape(key: str, label: str, expected: Any, actual: Any) -> Expectation:
    if actual in (None, "?", []):
        return _result(
            key, expected, actual, "unknown", f"{label}: expected {_text(expected)}; the shape is not known."
        )
    if _norm(actual) == _norm(expected):
        return _result(key, expected, actual, "held", f"{label}: {_text(actual)}, as expected.")
    return _result(
        key, expected, actual, "violated", f"{label}: expected {_text(expected)}, got {_text(actual)}."
    )


def _layers(rows: list[LayerRow], declared: dict[str, str | LayerExpect], bound: bool) -> list[Expectation]:
    paths, names = _index(rows)
    out = []
    for name, facts in declared.items():
        spec = LayerExpect(output_shape=facts) if isinstance(facts, str) else facts
        key = key_text(("layers", name))
        row = paths.get(name)
        matches = [row] if row is not None else names.get(name, []) if "/" not in name else []
        if len(matches) != 1:
            if matches:
                why = f"{len(matches)} layers are called {name!r} ({', '.join(p for p, r in paths.items() if r.name == name)}); name one by its path."
            else:
                why = f"the model has no layer {name!r}{suggest(name, [*paths, *names])}."
            out.append(_result(key, _plain(facts), None, "violated", f"layer {name!r}: {why}", layer=name))
            continue
        row = matches[0]
        for field in (f.name for f in dataclasses.fields(LayerExpect)):
            expected = getattr(spec, field)
            if expected is None:
                continue
            label = f"layer {name!r} {field.replace('_', ' ')}"
            if field == "output_shape":
                result = _shape(f"{key}.{field}", label, expected, row.output_shape)
            elif field == "input_shape":
                inputs = row.input_shapes
                result = _shape(f"{key}.{field}", label, expected, inputs[0] if len(inputs) == 1 else inputs)
            else:
                actual = getattr(row, field)
                # With open input dimensions a row's FLOPs are computed at size 1: a lower bound too.
                result = _number(
                    f"{key}.{field}", label, expected, actual, bound=bound and field == "flops", limit=False
                )
            out.append(dataclasses.replace(result, layer=name, anchor=row.anchor or None))
    return out


def _index(rows: list[LayerRow]) -> tuple[dict[str, LayerRow], dict[str, list[LayerRow]]]:
    """Rows by path ("outer/inner") and by name. Children follow their parent, so depth gives the path."""
    paths: dict[str, LayerRow] = {}
    names: dict[str, list[LayerRow]] = {}
    stack: list[str] = []
    for row in rows:
        stack = [*stack[: row.depth], row.name]
        path = getattr(row, "path", None) or "/".join(stack)
        paths.setdefault(path, row)
        names.setdefault(row.name, []).append(row)
    return paths, names


def _result(
    key: str, expected: Any, actual: Any, status: str, message: str, *, layer: str | None = None
) -> Expectation:
    return Expectation(
        key=key,
        expected=expected,
        actual=actual,
        ok=status == "held",
        status=status,
        message=message,
        layer=layer,
    )


def _plain(value: Any) -> Any:
    """An expectation as report.json holds it: a tolerance as the table the manifest wrote."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
    return value


def _value(expected: float | Tolerance) -> float:
    return expected.value if isinstance(expected, Tolerance) else expected


def _close(actual: float, expected: float | Tolerance) -> bool:
    if isinstance(expected, Tolerance):
        return math.isclose(
            actual, expected.value, rel_tol=expected.rel_tol or 0.0, abs_tol=expected.abs_tol or 0.0
        )
    return actual == expected


def _text(value: Any) -> str:
    if isinstance(value, dict):
        from archreport.units import expected

        return expected(value)
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _norm(shape: Any) -> str:
    return "".join(_text(shape).split())
