"""Check a model's declared expectations (``[model.expect]``) against its analysis."""

from __future__ import annotations

import math
from typing import Any

from .data import Expectation, ModelReport

_TOTALS = ("params", "trainable_params", "non_trainable_params", "flops", "macs", "layers", "depth")
_MAXIMA = {"max_param_bytes": "param_bytes", "max_flops": "flops", "max_activation_bytes": "activation_bytes"}


def check(report: ModelReport, expect: dict[str, Any]) -> list[Expectation]:
    """One Expectation per declared key, in the manifest's order."""
    if not report.ok or report.totals is None:
        return []
    totals = report.totals
    out = []
    for key, expected in expect.items():
        actual: Any
        if key in _TOTALS:
            actual = getattr(totals, key)
            ok = _close(actual, expected)
        elif key in _MAXIMA:
            actual = getattr(totals, _MAXIMA[key])
            ok = actual is not None and actual <= expected
        elif key in ("output_shape", "input_shape"):
            shapes = report.output_shapes if key == "output_shape" else report.input_shapes
            actual = shapes[0] if len(shapes) == 1 else shapes
            ok = _norm(actual) == _norm(expected)
        else:  # output_shapes, input_shapes
            actual = report.output_shapes if key == "output_shapes" else report.input_shapes
            ok = [_norm(a) for a in actual] == [_norm(e) for e in expected]
        out.append(Expectation(key=key, expected=expected, actual=actual, ok=bool(ok)))
    return out


def _close(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(expected, dict):
        return math.isclose(
            actual,
            expected["value"],
            rel_tol=expected.get("rel_tol", 0.0),
            abs_tol=expected.get("abs_tol", 0.0),
        )
    return actual == expected


def _norm(shape: Any) -> str:
    return "".join(str(shape).split())
