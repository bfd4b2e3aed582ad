"""Turn a built Keras model and one traced forward pass into layer rows and totals (plain data).

This is the only stage besides ``build`` that touches Keras objects. The steps:
the inputs and the shapes to trace at (inputs.py), one traced call (trace.py),
the layer table walked beside it (rows.py), the totals (totals.py), and the runs
of repeated blocks (repeats.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archreport.data import LayerRow, RepeatedBlock, Totals
from archreport.errors import ModelError
from archreport.model import keras_compat, primitives, totals
from archreport.model.inputs import ModelInput, input_values_of, model_inputs, tokens, traced_input_shapes
from archreport.model.repeats import repeated_blocks
from archreport.model.rows import Rows, children, flat, format_shape, top_level
from archreport.model.trace import Shape, Trace, trace_model


@dataclass
class Analysis:
    rows: list[LayerRow]
    totals: Totals
    input_shapes: list[str]
    output_shapes: list[str]
    warnings: list[str]
    kind: str
    paths: dict[tuple[str, ...], str] = field(default_factory=dict)  # layer path -> row anchor
    repeated_blocks: list[RepeatedBlock] = field(default_factory=list)


def analyse(
    model: Any,
    slug: str,
    *,
    batch_size: int = 1,
    inputs: Mapping[str, Sequence[int]] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
    input_values: Mapping[str, Any] | None = None,
    on_trace: Callable[[Trace], None] | None = None,
) -> Analysis:
    """Rows, totals and shapes of a built Keras model, from one traced call at these input shapes.

    Raises:
        ModelError: declared inputs do not fit the model, or the model cannot be called on them.
    """
    kind = keras_compat.model_kind(model)
    declared = model_inputs(model, kind)
    shapes = traced_input_shapes(declared, batch_size, inputs, input_shapes)
    values = input_values_of(declared, input_values, shapes)
    warnings: list[str] = []
    traced = _trace(model, declared, shapes, bool(inputs or input_shapes or input_values), warnings, values)
    if traced is not None and on_trace is not None:
        on_trace(traced)
    walker = _walk(model, kind, slug, batch_size, declared, traced, warnings)
    figures = totals.compute(
        model, kind, walker, traced, shapes, [i.dtype for i in declared], batch_size, tokens(declared, shapes),
        warnings,
    )  # fmt: skip
    root = traced.call if traced is not None else None
    outputs = (
        root.outputs
        if root is not None
        else [tuple(t.shape) for t in flat(getattr(model, "outputs", None) or [])]
    )
    return Analysis(
        rows=figures.rows,
        totals=figures.totals,
        input_shapes=[walker.shape_text(s) for s in shapes],
        output_shapes=[walker.shape_text(s) for s in outputs],
        warnings=figures.warnings,
        kind=kind,
        paths=walker.paths,
        repeated_blocks=repeated_blocks(walker) if root is not None else [],
    )


def _trace(
    model: Any,
    declared: list[ModelInput],
    shapes: list[Shape],
    given: bool,
    warnings: list[str],
    values: list[Any] | None = None,
) -> Trace | None:
    """The model's traced call at ``shapes``; None (and a warning) when it cannot be traced.

    Raises:
        ModelError: the model cannot be called on the shapes the manifest declared.
    """
    if not declared:
        return None
    try:
        return trace_model(model, shapes, [i.dtype for i in declared], values)
    except Exception as exc:
        if given:
            raise ModelError(
                f"the model cannot be called on the declared input shapes "
                f"{', '.join(format_shape(s) for s in shapes)}: {type(exc).__name__}: {exc}"
            ) from None
        warnings.append(
            f"The model could not be traced ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "shapes come from Keras's graph, FLOPs are unknown and activation memory counts only "
            "each layer's outputs (a lower bound)."
        )
        return None


def _walk(
    model: Any,
    kind: str,
    slug: str,
    batch_size: int,
    declared: list[ModelInput],
    traced: Trace | None,
    warnings: list[str],
) -> Rows:
    """The layer table, walked beside the traced call (a subclassed model lists what Keras tracks)."""
    root = traced.call if traced is not None else None
    costs = primitives.costs(traced.jaxpr) if traced is not None and traced.jaxpr is not None else None
    open_batch = all(i.shape[:1] in ((None,), ()) for i in declared)
    walker = Rows(slug, model.count_params(), batch_size, open_batch, costs)
    owner_calls = [root] if root is not None else None
    if kind != "subclassed":
        walker.walk(owner_calls, top_level(model), 0, None, (), False, model)
        return walker
    walker.walk(owner_calls or [], children(model), 0, None, (), False, model)
    if root is None:
        warnings.append(
            "Subclassed model: give its input shapes ([model.inputs] or input_shapes) so archreport "
            "can trace it; without them the table lists the sub-layers Keras tracks, without shapes or FLOPs."
        )
    else:
        warnings.append(
            "Subclassed model: Keras records no connectivity between its layers, so the diagram is a single "
            "box; the table lists its sub-layers with the shapes and FLOPs of one traced call."
        )
    return walker
