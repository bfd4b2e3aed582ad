"""Trace one symbolic forward pass: every layer call and every ``keras.ops`` operation, with shapes.

Keras infers a layer's output from ``compute_output_shape`` when the layer has
one, so its ``call`` (and every op inside it) never runs while a model is
built. To count what a layer really does, the tracer calls the model on
symbolic tensors of the declared input shapes and, for every layer it meets,
runs that layer's own ``call`` on symbolic tensors too, recursively. Ops given
symbolic tensors only compute output shapes: no numerical kernel runs, and no
memory is allocated for activations, whatever their size.

The model is left as it was: no call records a graph node
(:func:`keras_compat.detached_nodes`). A layer whose ``call`` cannot run on
symbolic tensors (it converts them to NumPy, or calls a backend directly)
keeps Keras's own shape inference, and the call records why.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archreport.errors import plain
from archreport.model import keras_compat

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class ShapeLeaf:
    """A shape at a leaf of an output structure (a tuple would read as a nested structure)."""

    shape: Shape


@dataclass
class Call:
    """One call of a layer or op during the traced pass (worker-side: holds the Keras object)."""

    obj: Any
    kind: str  # "layer" | "op"
    inputs: list[Shape]  # layers: the symbolic tensors passed; ops: every array operand, weights included
    operands: dict[str, Any] = field(default_factory=dict)  # ops: call parameter -> shape, [shapes] or None
    outputs: list[Shape] = field(default_factory=list)
    output_structure: Any = None  # the outputs' nesting (list, dict, ...) with a shape at each leaf
    output_dtypes: list[str] = field(default_factory=list)
    children: list[Call] = field(default_factory=list)
    error: str | None = None  # why a layer's call could not be traced
    # The symbolic tensors in and out, held so their identity says which call fed which.
    in_tensors: list[Any] = field(default_factory=list, repr=False)
    out_tensors: list[Any] = field(default_factory=list, repr=False)

    def walk(self) -> Iterator[Call]:
        yield self
        for child in self.children:
            yield from child.walk()


def _leaves(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    from keras import tree

    return list(tree.flatten((list(args), {k: v for k, v in kwargs.items() if v is not None})))


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (int, float, bool))


class Tracer:
    def __init__(self) -> None:
        self.root = Call(None, "root", [])
        self.stack = [self.root]
        self.muted = 0

    @contextlib.contextmanager
    def _mute(self) -> Iterator[None]:
        self.muted += 1
        try:
            yield
        finally:
            self.muted -= 1

    def on_layer(self, layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any], default: Any) -> Any:
        if self.muted:
            return default()
        # Tensors in the order of the call's parameters (Keras may reorder keyword arguments;
        # rules read the query before the value); a mask Keras filled in is not an input.
        given = [v for name, v in _bound(layer, args, kwargs).items() if name != "mask"]
        tensors = [t for t in _leaves(tuple(given), {}) if keras_compat.is_symbolic(t)]
        call = Call(layer, "layer", [tuple(t.shape) for t in tensors], in_tensors=tensors)
        self.stack[-1].children.append(call)
        self.stack.append(call)
        try:
            try:
                outputs = layer.call(*args, **kwargs)
            except Exception as exc:  # the layer cannot run on symbolic tensors: keep Keras's inference
                call.children.clear()
                call.error = _reason(exc)
                with self._mute():
                    outputs = default()
        finally:
            self.stack.pop()
        self._record_outputs(call, outputs)
        return outputs

    def on_op(self, op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        tensors = [t for t in _leaves(args, kwargs) if keras_compat.is_symbolic(t)]
        # Shape inference reads a symbolic tensor's attributes, which a variable lacks.
        args, kwargs = keras_compat.weights_as_symbolic((args, kwargs))
        # An op may infer its shape by calling other ops (SeparableConv calls DepthwiseConv
        # and Conv): those are part of it, not further ops.
        with self._mute():
            outputs = keras_compat.op_output_spec(op, args, kwargs)
        if self.muted == 0:
            operands = [tuple(x.shape) for x in _leaves(args, kwargs) if _is_array(x)]
            call = Call(op, "op", operands, _operands(op, args, kwargs), in_tensors=tensors)
            self._record_outputs(call, outputs)
            self.stack[-1].children.append(call)
        return outputs

    @staticmethod
    def _record_outputs(call: Call, outputs: Any) -> None:
        from keras import tree

        flat = [t for t in tree.flatten(outputs) if _is_array(t)]
        call.out_tensors = flat
        call.outputs = [tuple(t.shape) for t in flat]
        call.output_structure = tree.map_structure(
            lambda t: ShapeLeaf(tuple(t.shape)) if _is_array(t) else None, outputs
        )
        call.output_dtypes = [keras_compat.standardize_dtype(t.dtype) for t in flat]


_SIGNATURES: dict[type, inspect.Signature | None] = {}


def _bound(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments by parameter name, in the order of ``obj.call``'s signature."""
    cls = type(obj)
    if cls not in _SIGNATURES:
        try:
            _SIGNATURES[cls] = inspect.signature(obj.call)
        except (TypeError, ValueError):
            _SIGNATURES[cls] = None
    signature = _SIGNATURES[cls]
    try:
        bound = dict(signature.bind(*args, **kwargs).arguments) if signature is not None else {}
    except TypeError:
        bound = {}
    return bound or {**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs}


def _operands(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The op's arguments by the name of its ``call`` parameter: shapes for arrays, None otherwise."""
    bound = _bound(op, args, kwargs)

    def shape(value: Any) -> Any:
        if _is_array(value):
            return tuple(value.shape)
        if isinstance(value, (list, tuple)) and any(_is_array(v) for v in value):
            return [tuple(v.shape) if _is_array(v) else None for v in value]
        return None

    return {name: shape(value) for name, value in bound.items()}


def _reason(exc: Exception) -> str:
    text = " ".join(plain(str(exc)).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def trace_model(model: Any, input_shapes: list[Shape], input_dtypes: list[str]) -> Call:
    """Call ``model`` once on symbolic inputs of these shapes (batch included); return its call.

    Raises:
        Exception: whatever Keras raises when the model cannot take inputs of these shapes.
    """
    from keras import tree

    flat = [
        keras_compat.symbolic_tensor(tuple(s), d) for s, d in zip(input_shapes, input_dtypes, strict=True)
    ]
    structure = keras_compat.inputs_structure(model)
    if structure is not None:
        inputs: Any = tree.pack_sequence_as(structure, flat)
    else:
        inputs = flat[0] if len(flat) == 1 else flat
    tracer = Tracer()
    with (
        keras_compat.intercept_symbolic_calls(tracer.on_layer, tracer.on_op),
        keras_compat.symbolic_weights(),
    ):
        model(inputs)
    calls = [c for c in tracer.root.children if c.obj is model]
    if not calls:
        raise RuntimeError("the traced call did not reach the model")
    return calls[0]
