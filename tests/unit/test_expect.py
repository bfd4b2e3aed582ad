"""expect.check: held, violated or unknown, for totals, limits, shapes and single layers (no Keras here)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from archreport.checks import expect
from archreport.data import Expectation, LayerRow, ModelReport, Report, Totals
from archreport.manifest.schema import Expect, LayerExpect, Tolerance
from archreport.render.write import report_json


def _filled(cls: type, **given: Any) -> Any:
    """An instance with ``given`` and neutral values for any other required field."""
    neutral = {"str": "", "int": 0, "bool": False, "float": 0.0}
    for f in dataclasses.fields(cls):
        if (
            f.name in given
            or f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING
        ):
            continue
        kind = str(f.type)
        given[f.name] = [] if kind.startswith("list") else None if "None" in kind else neutral.get(kind, 0)
    return cls(**given)


def _row(name: str, depth: int = 0, output_shape: str = "(None, 4)", **more: Any) -> LayerRow:
    return _filled(
        LayerRow, name=name, depth=depth, output_shape=output_shape, input_shapes=["(None, 3)"],
        anchor=f"m-r-{name}", **more,
    )  # fmt: skip


ROWS = [
    _row("x", class_name="InputLayer", output_shape="(None, 3)"),
    _row("block", class_name="Functional", flops=100, params=40),
    _row("dense", depth=1, parent="block", flops=60, params=16),
    _row("block_1", class_name="Functional", flops=40, params=24),
    _row("dense", depth=1, parent="block_1", flops=40, params=24, output_shape="(None, 5)"),
    _row("head", output_shape="(None, 2)", flops=None, params=10),
]


def _report(
    flops: int | None = 1000,
    lower_bound: bool = False,
    rows: list[LayerRow] = ROWS,
    memory_lower_bound: bool = False,
) -> ModelReport:
    totals = _filled(
        Totals, params=50, trainable_params=50, non_trainable_params=0, param_bytes=200, flops=flops,
        flops_lower_bound=lower_bound, macs=None if flops is None else flops // 2, activation_bytes=64,
        layers=3, depth=3, memory_lower_bound=memory_lower_bound,
    )  # fmt: skip
    return ModelReport(
        name="m", slug="m", source={}, description=None, status="ok", totals=totals, layers=rows,
        input_shapes=["(None, 3)"], output_shapes=["(None, 2)"],
    )  # fmt: skip


def _one(report: ModelReport, **declared: Any) -> Expectation:
    results = expect.check(report, Expect(**declared))
    assert len(results) == 1, results
    return results[0]


@pytest.mark.parametrize(
    ("declared", "bounded", "status", "ok"),
    [
        ({"max_flops": 2000}, "", "held", True),
        ({"max_flops": 999}, "", "violated", False),
        # A lower bound of 1000 cannot show that the true count is at most 2000 ...
        ({"max_flops": 2000}, "flops", "unknown", False),
        ({"max_flops": 2000, "accept_lower_bound": True}, "flops", "unknown", True),
        # ... but it does show that it is not at most 999, nor equal to 500.
        ({"max_flops": 999}, "flops", "violated", False),
        ({"flops": 500}, "flops", "violated", False),
        ({"flops": 1000}, "flops", "unknown", False),
        ({"flops": Tolerance(value=900, rel_tol=0.2)}, "flops", "unknown", False),
        ({"flops": Tolerance(value=900, rel_tol=0.05)}, "flops", "violated", False),
        ({"macs": 500}, "flops", "unknown", False),
        ({"macs": 500, "accept_lower_bound": True}, "flops", "unknown", True),
        ({"flops": Tolerance(value=990, abs_tol=10)}, "", "held", True),
        ({"flops": 999}, "", "violated", False),
        # Parameter counts are exact whatever the FLOPs are.
        ({"params": 50}, "flops", "held", True),
        ({"params": 51, "accept_lower_bound": True}, "flops", "violated", False),
        ({"max_param_bytes": 100}, "", "violated", False),
        # Open input dimensions make activation memory a lower bound too (64 bytes or more) ...
        ({"max_activation_bytes": 100}, "", "held", True),
        ({"max_activation_bytes": 100}, "memory", "unknown", False),
        ({"max_activation_bytes": 100, "accept_lower_bound": True}, "memory", "unknown", True),
        ({"max_activation_bytes": 10}, "memory", "violated", False),
        # ... which says nothing about FLOPs, nor about parameter bytes, which are exact.
        ({"max_flops": 2000}, "memory", "held", True),
        ({"max_param_bytes": 300}, "memory", "held", True),
        ({"max_activation_bytes": 100}, "flops", "held", True),
    ],
)
def test_lower_bounds_prove_only_violations(
    declared: dict[str, Any], bounded: str, status: str, ok: bool
) -> None:
    report = _report(lower_bound=bounded == "flops", memory_lower_bound=bounded == "memory")
    result = _one(report, **declared)
    assert (result.status, result.ok) == (status, ok), result.message


def test_unknown_flops_are_unknown_not_zero() -> None:
    result = _one(_report(flops=None), max_flops=10)
    assert (result.status, result.ok, result.actual) == ("unknown", False, None)
    # accept_lower_bound accepts FLOPs that are not known at all, as it accepts a lower bound.
    accepted = _one(_report(flops=None), max_flops=10, accept_lower_bound=True)
    assert (accepted.status, accepted.ok) == ("unknown", True)


def test_every_expect_key_checks_a_known_figure() -> None:
    kinds = {f.name: expect.classify(f.name) for f in dataclasses.fields(Expect)}
    assert kinds["max_activation_bytes"] == ("limit", "activation_bytes")
    assert kinds["flops"] == ("total", "flops") and kinds["layers"] == ("total", "layers")
    assert kinds["output_shape"] == ("shape", "output_shapes")
    assert kinds["input_shapes"] == ("shape", "input_shapes")
    assert kinds["accept_lower_bound"] == ("option", "accept_lower_bound")
    # A key the schema may gain without this module learning it is refused, not read as a shape.
    with pytest.raises(ValueError, match=r"\[model.expect\] key 'max_widgets' checks no figure"):
        expect.classify("max_widgets")


def test_messages_name_expected_and_actual() -> None:
    result = _one(_report(), params=Tolerance(value=40, rel_tol=0.1))
    assert result.message == "params: expected 40 ± 10 %, got 50."
    assert result.expected == {"value": 40, "rel_tol": 0.1}  # report.json keeps the manifest's table
    bound = _one(_report(lower_bound=True), max_flops=2000)
    assert "lower bound (1,000 or more)" in bound.message


def test_model_shapes() -> None:
    results = expect.check(
        _report(), Expect(output_shape="(None,2)", input_shapes=("(None, 3)",), input_shape="(None, 4)")
    )
    assert [(r.key, r.status) for r in results] == [
        ("output_shape", "held"), ("input_shape", "violated"), ("input_shapes", "held"),
    ]  # fmt: skip


def test_layers_by_name_and_by_path() -> None:
    declared = {
        "head": "(None, 2)",
        "block/dense": LayerExpect(output_shape="(None, 4)", params=16),
        "block": LayerExpect(flops=100, params=Tolerance(value=40)),
    }
    results = expect.check(_report(), Expect(layers=declared))
    assert [(r.key, r.status, r.anchor) for r in results] == [
        ("layers.head.output_shape", "held", "m-r-head"),
        ('layers."block/dense".output_shape', "held", "m-r-dense"),
        ('layers."block/dense".params', "held", "m-r-dense"),
        ("layers.block.params", "held", "m-r-block"),
        ("layers.block.flops", "held", "m-r-block"),
    ]
    assert all(r.ok and r.layer in declared for r in results)


def test_a_wrong_layer_shape_names_the_layer_and_both_shapes() -> None:
    result = _one(_report(), layers={"head": "(None, 3)"})
    assert (result.status, result.ok, result.layer, result.anchor) == ("violated", False, "head", "m-r-head")
    assert result.message == "layer 'head' output shape: expected (None, 3), got (None, 2)."


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("haed", "the model has no layer 'haed' (did you mean 'head'?)"),
        ("block/dnese", "the model has no layer 'block/dnese' (did you mean 'block/dense'?)"),
        ("dense", "2 layers are called 'dense' (block/dense, block_1/dense); name one by its path"),
    ],
)
def test_unknown_or_ambiguous_layer_fails(name: str, fragment: str) -> None:
    result = _one(_report(), layers={name: "(None, 4)"})
    assert (result.status, result.ok, result.anchor, result.expected) == (
        "violated",
        False,
        None,
        "(None, 4)",
    )
    assert fragment in result.message


def test_layer_flops_unknown_or_bounded() -> None:
    unknown = _one(_report(), layers={"head": LayerExpect(flops=0)})
    assert (unknown.status, unknown.ok) == ("unknown", False)
    accepted = _one(_report(), layers={"head": LayerExpect(flops=0)}, accept_lower_bound=True)
    assert (accepted.status, accepted.ok) == ("unknown", True)
    # With open input dimensions a row's FLOPs are a lower bound too.
    bounded = _one(_report(lower_bound=True), layers={"block": LayerExpect(flops=100)})
    assert bounded.status == "unknown"


def test_an_unknown_shape_is_never_accepted() -> None:
    rows = [_row("x"), _row("inner", output_shape="?")]
    result = _one(_report(rows=rows), layers={"inner": "(None, 4)"}, accept_lower_bound=True)
    assert (result.status, result.ok) == ("unknown", False)


def test_failed_models_have_no_expectations() -> None:
    failed = dataclasses.replace(_report(), status="failed", totals=None)
    assert expect.check(failed, Expect(params=1)) == []


def test_status_reaches_report_json() -> None:
    model = _report(lower_bound=True)
    model.expectations = expect.check(model, Expect(max_flops=2000, params=50, layers={"head": "(None, 3)"}))
    report = Report(title="t", generated="2026-01-01T00:00:00Z", versions={}, models=[model])
    data = json.loads(report_json(report, timings=False))
    rows = data["models"][0]["expectations"]
    assert [(e["key"], e["status"], e["ok"]) for e in rows] == [
        ("params", "held", True), ("max_flops", "unknown", False), ("layers.head.output_shape", "violated", False),
    ]  # fmt: skip
    assert rows[2]["anchor"] == "m-r-head" and rows[2]["layer"] == "head"
    assert data["summary"]["expectation_failures"] == 2


def _with(report: ModelReport, **totals: Any) -> ModelReport:
    assert report.totals is not None
    return dataclasses.replace(report, totals=dataclasses.replace(report.totals, **totals))


@pytest.mark.parametrize(
    ("declared", "totals", "status", "message"),
    [
        ({"min_coverage": 0.99}, {"flops_coverage": 0.995}, "held", "min_coverage: 99.5%, at least 99.0% as expected."),
        ({"min_coverage": 0.99}, {"flops_coverage": 0.9}, "violated", "min_coverage: expected at least 99.0%, got 90.0%."),
        ({"min_layer_coverage": 1.0}, {"layer_coverage": 0.8}, "violated", "min_layer_coverage: expected at least 100.0%, got 80.0%."),
        # A mixture-of-experts model's active figures are checked as declared ...
        ({"active_params": 20}, {"active_params": 20, "active_flops": 400}, "held", "active_params: 20, as expected."),
        ({"max_active_flops": 300}, {"active_params": 20, "active_flops": 400}, "violated", "max_active_flops: expected at most 300, got 400."),
        # ... and a dense model's are its executed ones.
        ({"active_flops": 1000}, {}, "held", "active_flops: 1,000, as expected."),
        ({"active_params": 49}, {}, "violated", "active_params: expected 49, got 50."),
        ({"max_inference_peak_bytes": 300}, {"inference_peak_bytes": 320}, "violated", "max_inference_peak_bytes: expected at most 300, got 320."),
    ],
)  # fmt: skip
def test_coverage_active_and_peak_expectations(
    declared: dict[str, Any], totals: dict[str, Any], status: str, message: str
) -> None:
    result = _one(_with(_report(), **totals), **declared)
    assert (result.status, result.message) == (status, message)
    assert result.ok == (status == "held")


def test_an_active_flops_lower_bound_cannot_show_a_limit_held() -> None:
    result = _one(_with(_report(lower_bound=True), active_flops=400, active_params=20), max_active_flops=500)
    assert result.status == "unknown"
