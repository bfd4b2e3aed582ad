"""A model's inputs, and the shapes the trace calls it with: the declared batch size and shapes."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archreport.errors import ModelError
from archreport.model import keras_compat
from archreport.model.rows import flat, format_shape
from archreport.model.trace import Shape

# -- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInput:
    name: str
    shape: Shape  # as the model declares it, batch included
    dtype: str


def input_name(tensor: Any) -> str:
    """An input's name as the model shows it: its InputLayer's (a Sequential model's input tensor
    itself is only ``keras_tensor``)."""
    made_by = keras_compat.producer(tensor)
    return str(made_by[0].name) if made_by is not None else str(tensor.name)


def model_inputs(model: Any, kind: str) -> list[ModelInput]:
    if kind != "subclassed":
        return [ModelInput(input_name(t), tuple(t.shape), str(t.dtype)) for t in flat(model.inputs)]
    # A subclassed model remembers the shape it was first called or built with, batch included;
    # its batch is whatever the report declares.
    shapes = keras_compat.build_input_shapes(model) or []
    dtype = str(getattr(model, "input_dtype", None) or "float32")
    return [ModelInput(f"input_{i}", (None, *tuple(s)[1:]), dtype) for i, s in enumerate(shapes)]


def traced_input_shapes(
    inputs: list[ModelInput],
    batch_size: int,
    declared: Mapping[str, Sequence[int]] | None,
    positional: Sequence[Sequence[int]] | None,
) -> list[Shape]:
    """Each input's shape for the traced call: the declared batch size, then the declared shape.

    Raises:
        ModelError: a declared name is not one of the model's inputs, or a declared shape
            does not fit its input.
    """
    names = [i.name for i in inputs]
    chosen: dict[int, Sequence[int]] = {}
    if declared:
        for name, shape in declared.items():
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ModelError(
                    f"the declared input shapes name {name!r}{hint}, but the model's inputs are "
                    f"{', '.join(repr(n) for n in names) or 'none'}."
                )
            chosen[names.index(name)] = shape
    if positional:
        if len(positional) != len(inputs):
            raise ModelError(
                f"input_shapes gives {len(positional)} shape(s), but the model has {len(inputs)} input(s): "
                f"{', '.join(repr(n) for n in names)}."
            )
        chosen = dict(enumerate(positional))
    shapes = []
    for i, spec in enumerate(inputs):
        rest: Shape = tuple(spec.shape[1:])
        if i in chosen:
            want = tuple(int(d) for d in chosen[i])
            if len(want) != len(rest) or any(
                d is not None and d != w for d, w in zip(rest, want, strict=False)
            ):
                raise ModelError(
                    f"the declared shape {list(want)} does not fit input {spec.name!r} of shape "
                    f"{format_shape(spec.shape)} (the batch dimension is not declared)."
                )
            rest = want
        shapes.append((batch_size if spec.shape[:1] in ((None,), ()) else spec.shape[0], *rest))
    return shapes


def input_values_of(
    inputs: list[ModelInput], given: Mapping[str, Any] | None, shapes: list[Shape]
) -> list[Any] | None:
    """Each input's declared value (``[model.input_values]``), in the model's input order, or None.

    Raises:
        ModelError: a declared name is not one of the model's inputs, or its value does not fit
            one sample of the input's traced shape (``shapes``, batch first).
    """
    import numpy as np

    if not given:
        return None
    names = [i.name for i in inputs]
    for name in given:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ModelError(
                f"the declared input values name {name!r}{hint}, but the model's inputs are "
                f"{', '.join(repr(n) for n in names) or 'none'}."
            )
    for shape, declared in zip(shapes, inputs, strict=True):
        if any(d is None for d in shape[1:]):
            # A value is a constant of the abstract trace, which needs every dimension.
            raise ModelError(
                f"input values need every input's shape, and the model leaves input "
                f"{declared.name!r}'s open {format_shape(shape)}: give it in [model.inputs]."
            )
    for name, value in given.items():
        sample = tuple(d or 1 for d in shapes[names.index(name)][1:])
        try:
            np.broadcast_to(np.asarray(value, dtype=float), sample)
        except ValueError:
            raise ModelError(
                f"the declared value of input {name!r} is not one sample of it: expected a number "
                f"or an array of shape {list(sample)} (the input's shape without the batch dimension)."
            ) from None
    return [given.get(name) for name in names]


def tokens(inputs: list[ModelInput], shapes: list[Shape]) -> int | None:
    """Batch x sequence length of a sequence model (an integer input of shape (batch, length))."""
    candidates = [
        (i.name, s) for i, s in zip(inputs, shapes, strict=True) if "int" in i.dtype and len(s) == 2 and s[1]
    ]
    if not candidates:
        return None
    named = [s for name, s in candidates if "token" in name]
    shape = (named or [s for _, s in candidates])[0]
    return int((shape[0] or 1) * (shape[1] or 1))
