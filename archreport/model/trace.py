"""Trace one forward pass: every layer call and every ``keras.ops`` operation, with shapes.

Keras infers a layer's output from ``compute_output_shape`` when the layer has
one, so its ``call`` (and every op inside it) never runs while a model is
built. To count what a layer really does, the tracer calls the model on
inputs of the declared shapes and, for every layer it meets, runs that layer's
own ``call``, recursively, recording each sub-layer call and each op.

Two substrates, one tracer:

* **abstract** (shape-only builds, and any model on Keras's JAX backend): the
  model runs inside ``jax.make_jaxpr`` on abstract arrays of the declared shapes,
  its weights abstract too. Every shape is a Python int, so a layer may take
  ``int()`` of a dimension or loop over time; nothing is computed or allocated,
  whatever the size. The jaxpr holds every primitive the pass ran, and each one
  carries the tracer's name scope of the call that ran it (:data:`SCOPE`), so the
  work Keras's op rules cannot see (a layer's own ``jnp`` code) is attributed to
  its layer (primitives.py), and memory is counted by liveness (memory.py).
* **symbolic** (a real TensorFlow or PyTorch build): the model is called on
  Keras's symbolic tensors; ops only compute output shapes. A layer whose
  ``call`` needs a concrete value cannot be traced this way and keeps Keras's
  own shape inference; the call records why.

The model is left as it was: no call records a graph node
(:func:`keras_compat.detached_nodes`).
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
# The name scope of the call with this index: in the jaxpr's name stacks, "§12" is call 12.
SCOPE = "§"


@dataclass(frozen=True)
class ShapeLeaf:
    """A shape at a leaf of an output structure (a tuple would read as a nested structure)."""

    shape: Shape


@dataclass
class Call:
    """One call of a layer or op during the traced pass (worker-side: holds the Keras object)."""

    obj: Any
    kind: str  # "layer" | "op"
    inputs: list[Shape]  # layers: the tensors passed; ops: every array operand, weights included
    operands: dict[str, Any] = field(default_factory=dict)  # ops: call parameter -> shape, [shapes] or None
    outputs: list[Shape] = field(default_factory=list)
    output_structure: Any = None  # the outputs' nesting (list, dict, ...) with a shape at each leaf
    output_dtypes: list[str] = field(default_factory=list)
    children: list[Call] = field(default_factory=list)
    error: str | None = None  # why a layer's call could not be traced
    index: int = 0  # the call's number in the pass: its name scope is SCOPE + index
    weights: list[Any] = field(default_factory=list, repr=False)  # ops: the variables passed as operands
    # The tensors in and out, held so their identity says which call fed which.
    in_tensors: list[Any] = field(default_factory=list, repr=False)
    out_tensors: list[Any] = field(default_factory=list, repr=False)

    def walk(self) -> Iterator[Call]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Trace:
    """The model's traced call, and (abstract substrate) the jaxpr of the whole pass."""

    call: Call
    jaxpr: Any = None  # a ClosedJaxpr; None on the symbolic substrate
    folded: bool = False  # constants were computed eagerly (a layer needed a concrete value)
    calls: dict[int, Call] = field(default_factory=dict)  # by index


def _leaves(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    from keras import tree

    return list(tree.flatten((list(args), {k: v for k, v in kwargs.items() if v is not None})))


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (int, float, bool))


class Tracer:
    def __init__(self, *, abstract: bool) -> None:
        self.abstract = abstract
        self.root = Call(None, "root", [])
        self.stack = [self.root]
        self.muted = 0
        self.calls: dict[int, Call] = {}

    @contextlib.contextmanager
    def _mute(self) -> Iterator[None]:
        self.muted += 1
        try:
            yield
        finally:
            self.muted -= 1

    def _new(self, call: Call) -> Call:
        call.index = len(self.calls) + 1
        self.calls[call.index] = call
        self.stack[-1].children.append(call)
        return call

    def _is_input(self, value: Any) -> bool:
        """A tensor a call takes: one the pass computed or, in an abstract trace, a constant (an
        input given by value) too; never a weight."""
        if keras_compat.is_traced(value):
            return True
        return self.abstract and _is_array(value) and not keras_compat.is_variable(value)

    def _scope(self, call: Call) -> Any:
        return keras_compat.name_scope(f"{SCOPE}{call.index}") if self.abstract else contextlib.nullcontext()

    def on_layer(self, layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any], default: Any) -> Any:
        if self.muted:
            return layer.call(*args, **kwargs) if self.abstract else default()
        # Tensors in the order of the call's parameters (Keras may reorder keyword arguments;
        # rules read the query before the value); a mask Keras filled in is not an input.
        given = [v for name, v in _bound(layer, args, kwargs).items() if name != "mask"]
        tensors = [t for t in _leaves(tuple(given), {}) if self._is_input(t)]
        call = self._new(Call(layer, "layer", [tuple(t.shape) for t in tensors], in_tensors=tensors))
        self.stack.append(call)
        try:
            try:
                with self._scope(call):
                    outputs = layer.call(*args, **kwargs)
            except Exception as exc:  # the layer cannot run here: keep Keras's inference
                call.children.clear()
                call.error = _reason(exc)
                with self._mute():
                    outputs = default()
                if self.abstract:  # the calls after it are still traced, on stand-ins of its shape
                    outputs = keras_compat.placeholders(outputs)
        finally:
            self.stack.pop()
        self._record_outputs(call, outputs)
        return outputs

    def on_op(self, op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.abstract:
            if self.muted:
                return keras_compat.op_call(op, args, kwargs)
            tensors = [t for t in _leaves(args, kwargs) if self._is_input(t)]
            call = Call(op, "op", [], in_tensors=tensors)
            call.operands = _operands(op, args, kwargs)
            call.inputs = [tuple(x.shape) for x in _leaves(args, kwargs) if _is_array(x)]
            call.weights = [x for x in _leaves(args, kwargs) if keras_compat.is_variable(x)]
            self._new(call)
            # An op's implementation may call other ops: those are part of it, not further ops.
            with self._mute(), self._scope(call):
                try:
                    outputs = keras_compat.op_call(op, args, kwargs)
                except Exception as exc:  # Keras's own inference still knows its shape (and a rule its FLOPs)
                    call.error = _reason(exc)
                    symbolic = keras_compat.as_symbolic((args, kwargs))
                    outputs = keras_compat.placeholders(keras_compat.op_output_spec(op, *symbolic))
            self._record_outputs(call, outputs)
            return outputs
        tensors = [t for t in _leaves(args, kwargs) if keras_compat.is_traced(t)]
        weights = [x for x in _leaves(args, kwargs) if keras_compat.is_variable(x)]
        # Shape inference reads a symbolic tensor's attributes, which a variable lacks.
        args, kwargs = keras_compat.weights_as_symbolic((args, kwargs))
        with self._mute():
            outputs = keras_compat.op_output_spec(op, args, kwargs)
        if self.muted == 0:
            operands = [tuple(x.shape) for x in _leaves(args, kwargs) if _is_array(x)]
            call = Call(op, "op", operands, _operands(op, args, kwargs), in_tensors=tensors, weights=weights)
            self._record_outputs(call, outputs)
            self._new(call)
        return outputs

    @staticmethod
    def _record_outputs(call: Call, outputs: Any) -> None:
        from keras import tree

        flat = [t for t in tree.flatten(outputs) if _is_array(t)]
        call.out_tensors = flat
        call.outputs = [tuple(t.shape) for t in flat]
        # A None among the outputs (an attention block's unused weights) is shown as None; any other
        # value that is no tensor as "?".
        call.output_structure = tree.map_structure(
            lambda t: ShapeLeaf(tuple(t.shape)) if _is_array(t) else (None if t is None else "?"), outputs
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


# Where JAX's explanations of a tracer error start: the rest names this process's files and links.
_JAX_DETAILS = ("The error occurred while tracing", "See https://", "For further help")


def _reason(exc: Exception) -> str:
    text = " ".join(plain(str(exc)).split())
    for marker in _JAX_DETAILS:
        text = text.split(marker, 1)[0].strip()
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# JAX's errors for a traced value used where a concrete one is needed (int(), NumPy, if).
CONCRETE_ERRORS = ("ConcretizationTypeError", "TracerArrayConversionError", "TracerBoolConversionError",
             "TracerIntegerConversionError")  # fmt: skip


def trace_model(
    model: Any, input_shapes: list[Shape], input_dtypes: list[str], values: list[Any] | None = None
) -> Trace:
    """Call ``model`` once on inputs of these shapes (batch included); return its call.

    ``values``: per input, None, or the value every sample of it has (an input whose values
    the model needs, not only its shape): those inputs are constants of the trace, and it
    runs abstractly with constants computed eagerly.

    Symbolically first: it is the cheaper of the two, and enough for most models. On
    Keras's JAX backend (every shape-only build), a model with a call that could not be
    traced that way, and that no exact rule covers, is traced again abstractly (and once
    more with constants computed eagerly, when a layer needed a concrete value).

    Raises:
        Exception: whatever Keras raises when the model cannot take inputs of these shapes.
    """
    abstract = keras_compat.backend_name() == "jax" and all(d is not None for s in input_shapes for d in s)
    if abstract and values is not None and any(v is not None for v in values):
        return _abstract(model, input_shapes, input_dtypes, fold_constants=True, values=values)
    try:
        found = _symbolic(model, input_shapes, input_dtypes)
    except Exception:
        if not abstract:
            raise
    else:
        if not abstract or not untraced(found.call):
            return found
    found = _abstract(model, input_shapes, input_dtypes, fold_constants=False)
    if any(c.error and c.error.startswith(CONCRETE_ERRORS) for c in found.call.walk()):
        found = _abstract(model, input_shapes, input_dtypes, fold_constants=True)
    return found


def untraced(call: Call) -> list[Call]:
    """The calls under ``call`` that a symbolic trace cannot count: layers that could not be traced
    and that no exact rule covers, and ops without a rule (a ``fori_loop`` whose body is the user's)."""
    from archreport.model.flops import layer_rule, op_rule

    return [
        c
        for c in call.walk()
        if (c.error is not None and layer_rule(c.obj) is None) or (c.kind == "op" and op_rule(c.obj) is None)
    ]


def _packed(model: Any, flat: list[Any]) -> Any:
    from keras import tree

    structure = keras_compat.inputs_structure(model)
    if structure is not None:
        return tree.pack_sequence_as(structure, flat)
    return flat[0] if len(flat) == 1 else flat


def _the_model_call(tracer: Tracer, model: Any) -> Call:
    calls = [c for c in tracer.root.children if c.obj is model]
    if not calls:
        raise RuntimeError("the traced call did not reach the model")
    return calls[0]


def _symbolic(model: Any, input_shapes: list[Shape], input_dtypes: list[str]) -> Trace:
    flat = [
        keras_compat.symbolic_tensor(tuple(s), d) for s, d in zip(input_shapes, input_dtypes, strict=True)
    ]
    tracer = Tracer(abstract=False)
    with (
        keras_compat.intercept_symbolic_calls(tracer.on_layer, tracer.on_op),
        keras_compat.symbolic_weights(),
    ):
        model(_packed(model, flat))
    return Trace(_the_model_call(tracer, model), calls=tracer.calls)


def _abstract(
    model: Any,
    input_shapes: list[Shape],
    input_dtypes: list[str],
    *,
    fold_constants: bool,
    values: list[Any] | None = None,
) -> Trace:
    from keras import tree

    variables = list(model.variables)
    tracer = Tracer(abstract=True)

    shapes = [tuple(int(n or 1) for n in s) for s in input_shapes]
    given = values or [None] * len(shapes)
    constants = {
        i: keras_compat.constant_input(v, shape, dtype)
        for i, (v, shape, dtype) in enumerate(zip(given, shapes, input_dtypes, strict=True))
        if v is not None
    }

    def run(weights: list[Any], traced: list[Any]) -> list[Any]:
        fed = iter(traced)
        inputs = [constants[i] if i in constants else next(fed) for i in range(len(shapes))]
        with (
            keras_compat.stateless_scope(variables, weights),
            keras_compat.abstract_calls(tracer.on_layer, tracer.on_op),
        ):
            outputs = model(_packed(model, inputs))
        return [t for t in tree.flatten(outputs) if keras_compat.is_jax_tracer(t)]

    weights = [keras_compat.abstract_array(tuple(v.shape), v.dtype) for v in variables]
    traced = [
        keras_compat.abstract_array(shape, dtype)
        for i, (shape, dtype) in enumerate(zip(shapes, input_dtypes, strict=True))
        if i not in constants
    ]
    jaxpr = keras_compat.jax_trace(run, weights, traced, fold_constants=fold_constants)
    return Trace(_the_model_call(tracer, model), jaxpr=jaxpr, folded=fold_constants, calls=tracer.calls)
