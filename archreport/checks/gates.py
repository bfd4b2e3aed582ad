"""Gates: how much each model's totals may change against the ``--compare`` baseline.

A gate (``[report.gates] params = "+1%"``, a model's ``[model.gates]``, or ``--gate
params=+1%``) turns growth a reviewer would otherwise have to spot into a failed
expectation (exit 1), shown at the top of report.md with the numbers. The most
specific gate wins: a model's own, then the command line's, then ``[report.gates]``.

An intended change is accepted in the pull request itself, so it is reviewed like
code: by raising the gate, or with ``[model.accept]``, which names the new value and
the reason. An accept holds for that value only: once the baseline has moved to it,
a later change fails the gate again.

A gate is checked only where both reports have the figure: a new model, or one that
failed in the baseline, has nothing to be measured against. A figure that is only a
lower bound on either side (FLOPs with an op the counter does not know) cannot show
the change; its gate is "unknown" and does not fail, but report.md and the report
say so.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from archreport.data import FLOPS_FIGURES, MEMORY_FIGURES, Expectation, ModelReport
from archreport.errors import UsageError
from archreport.manifest import ModelSpec
from archreport.manifest.schema import (
    GATE_FIGURES,
    Accept,
    Gate,
    Gates,
    Problem,
    Tolerance,
    parse_gate,
    suggest,
)

REPORT, MODEL, COMMAND = "[report.gates]", "[model.gates]", "--gate"


def from_command(values: list[str]) -> Gates:
    """``--gate params=+1% --gate flops=+5%`` as :class:`Gates`.

    Raises:
        UsageError: a value is not FIGURE=CHANGE, names no figure a gate can hold, or is no change.
    """
    given: dict[str, Gate] = {}
    for value in values:
        name, sep, text = value.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(
                f'--gate {value!r}: expected FIGURE=CHANGE, e.g. --gate params=+1% or --gate param_bytes="+10 MiB".'
            )
        if name not in GATE_FIGURES:
            raise UsageError(
                f"--gate {value!r}: {name!r} is not a figure a gate can hold{suggest(name, GATE_FIGURES)}; "
                f"expected one of {', '.join(GATE_FIGURES)}."
            )
        try:
            given[name] = parse_gate(text)
        except Problem as exc:
            raise UsageError(f"--gate {value!r}: {exc.message}") from None
    try:
        return Gates(**given)
    except Problem as exc:
        raise UsageError(f"--gate: {exc.message}") from None


def effective(spec: ModelSpec, command: Gates | None) -> dict[str, tuple[Gate, str]]:
    """The gate on each figure for this model, with where it was declared."""
    out = {name: (gate, REPORT) for name, gate in spec.gates.given().items()}
    if command is not None:
        out.update({name: (gate, COMMAND) for name, gate in command.given().items()})
    out.update({name: (gate, MODEL) for name, gate in spec.own_gates.given().items()})
    return out


def check(
    report: ModelReport,
    before: dict[str, Any] | None,
    gates: dict[str, tuple[Gate, str]],
    accept: Accept | None,
) -> list[Expectation]:
    """One expectation per gate (key ``gates.<figure>``), in the order the figures are declared.

    Args:
        report: the model as this run analysed it.
        before: the model's entry in the baseline's report.json, or None (a new model).
        gates: :func:`effective`.
        accept: the model's ``[model.accept]``.
    """
    if not gates or before is None or not report.ok or report.totals is None:
        return []
    totals = dataclasses.asdict(report.totals)
    old = before.get("totals") if isinstance(before.get("totals"), dict) else None
    out = []
    for name, (gate, where) in gates.items():
        key = f"gates.{name}"
        after = totals.get(name)
        was = old.get(name) if old is not None else None
        if not isinstance(was, int) or not isinstance(after, int) or not _whole(was) or not _whole(after):
            why = (
                "the baseline has no figure (the model failed there)"
                if old is None
                else "a figure is not known"
            )
            out.append(
                _result(key, gate, after, "unknown", True, f"{name}: not checked against {gate.text}: {why}.")
            )
            continue
        if _bounded(name, totals) or _bounded(name, old or {}):
            message = f"{name}: not checked against {gate.text}: the figure is only a lower bound ({was:,} → {after:,})."
            out.append(_result(key, gate, after, "unknown", True, message))
            continue
        out.append(_judge(key, name, gate, where, was, after, accept))
    return out


def _judge(
    key: str, name: str, gate: Gate, where: str, was: int, after: int, accept: Accept | None
) -> Expectation:
    change = after - was
    allowed = _allowed(gate, was)
    broken = change > allowed or (gate.either_way and -change > allowed)
    moved = _moved(was, after)
    accepted = getattr(accept, name, None) if accept is not None else None
    if not broken:
        note = ""
        if accepted is not None and change == 0:
            note = f" The [model.accept] entry for {name} is no longer needed."
        return _result(key, gate, after, "held", True, f"{name}: {moved}, within {gate.text}.{note}")
    if accepted is not None and accept is not None and _matches(after, accepted):
        message = f"{name}: {moved}, over {gate.text} of {where}; accepted: {accept.reason}"
        return _result(key, gate, after, "accepted", True, message)
    hint = (
        f"[model.accept] {name} = {_shown(accepted)} does not match the new value {after:,}."
        if accepted is not None
        else f"If it is intended, raise the gate or add [model.accept] {name} = {after} with a reason."
    )
    return _result(
        key, gate, after, "violated", False, f"{name}: {moved}, over {gate.text} of {where}. {hint}"
    )


def _allowed(gate: Gate, before: int) -> Fraction:
    """The largest change the gate lets through, exactly: "+1%" of 25,557,032 is 255,570.32."""
    amount = Fraction(Decimal(gate.amount))
    return amount * abs(before) / 100 if gate.relative else amount * gate.scale


def _moved(before: int, after: int) -> str:
    """``+2.3 % (25,557,032 → 26,145,000, +587,968)``."""
    change = after - before
    sign = "+" if change >= 0 else "−"
    percent = f"{sign}{abs(change) / abs(before) * 100:.3g} % " if before else ""
    return f"{percent}({before:,} → {after:,}, {sign}{abs(change):,})"


def _matches(value: int, accepted: float | Tolerance) -> bool:
    """As [model.expect] compares a count with its value (checks/expect.py)."""
    if isinstance(accepted, Tolerance):
        return math.isclose(
            value, accepted.value, rel_tol=accepted.rel_tol or 0.0, abs_tol=accepted.abs_tol or 0.0
        )
    return value == accepted


def _shown(accepted: float | Tolerance | None) -> str:
    if isinstance(accepted, Tolerance):
        return f"{accepted.value:,}"
    return f"{accepted:,}" if accepted is not None else ""


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded(name: str, totals: dict[str, Any]) -> bool:
    return bool(
        (name in FLOPS_FIGURES and totals.get("flops_lower_bound"))
        or (name in MEMORY_FIGURES and totals.get("memory_lower_bound"))
    )


def _result(key: str, gate: Gate, actual: Any, status: str, ok: bool, message: str) -> Expectation:
    return Expectation(key=key, expected=gate.text, actual=actual, ok=ok, status=status, message=message)
