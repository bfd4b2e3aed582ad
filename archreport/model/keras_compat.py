"""Every use of Keras internals, in one place.

archreport reads parts of Keras that have no public API: a layer's call
nodes, a tensor's producer, a model's input structure, and the two hooks
that make shape-only builds and op-level tracing possible. They live here
so a Keras release can break archreport in one module only, which
``tests/test_keras_compat.py`` checks function by function, and
``pyproject.toml`` caps Keras below its next major version.

Nothing here runs at import time; Keras is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

# -- models and graphs ----------------------------------------------------------


def model_kind(model: Any) -> str:
    """ "sequential", "functional" or "subclassed"."""
    from keras.src.models.functional import Functional
    from keras.src.models.sequential import Sequential

    if isinstance(model, Sequential):
        return "sequential"
    if isinstance(model, Functional):
        return "functional"
    return "subclassed"


def is_graph_model(layer: Any) -> bool:
    """A Functional or Sequential model: one whose layers Keras connects in a graph."""
    return hasattr(layer, "layers") and model_kind(layer) != "subclassed"


def graph_of(model: Any) -> Any:
    """The Functional graph behind a model (a Sequential model keeps one in ``_functional``), or None."""
    kind = model_kind(model)
    if kind == "sequential":
        return getattr(model, "_functional", None)
    return model if kind == "functional" else None


def graph_operations(model: Any) -> list[Any]:
    """A Functional model's operations in Keras's order, inline ops (``x + 3.0``) included."""
    return list(model._operations)


def inbound_nodes(operation: Any) -> list[Any]:
    """Every recorded call of ``operation`` (Keras's ``Node`` objects), in call order."""
    return list(getattr(operation, "_inbound_nodes", []))


def node_inputs(node: Any) -> Any:
    """The tensors a recorded call (a Keras ``Node``) took, in their structure."""
    return node.input_tensors


def node_outputs(node: Any) -> Any:
    """The tensors a recorded call (a Keras ``Node``) made, in their structure."""
    return node.output_tensors


def node_operation(node: Any) -> Any:
    """The layer or operation a recorded call (a Keras ``Node``) called."""
    return node.operation


def backend_name() -> str:
    """This process's Keras backend: "jax", "tensorflow", "numpy", "torch"."""
    import keras

    return str(keras.backend.backend())


def node_in_graph(model: Any, operation: Any, index: int) -> bool:
    """Whether the ``index``-th call of ``operation`` is part of ``model``'s own graph."""
    from keras.src.ops.function import make_node_key

    graph = graph_of(model)
    return graph is None or make_node_key(operation, index) in getattr(graph, "_nodes", ())


def calls_in_graph(model: Any, operation: Any) -> list[Any]:
    """The calls of ``operation`` that belong to ``model``'s graph (a layer may be reused elsewhere)."""
    from keras.src.ops.function import make_node_key

    graph = graph_of(model)
    nodes = inbound_nodes(operation)
    if graph is None or not hasattr(graph, "_nodes"):
        return nodes[-1:]
    return [node for i, node in enumerate(nodes) if make_node_key(operation, i) in graph._nodes]


def producer(tensor: Any) -> tuple[Any, int, int] | None:
    """(operation, node index, output index) that made a symbolic tensor, or None for a model input."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None
    return history.operation, history.node_index, history.tensor_index


def tracked_layers(layer: Any) -> list[Any]:
    """The layers a layer holds as attributes (an attention block's projections, a wrapper's layer)."""
    try:
        return list(layer._flatten_layers(include_self=False, recursive=False))
    except AttributeError:
        return []


def tracked_attribute_names(layer: Any) -> dict[int, str]:
    """``id(sub-layer) -> attribute name`` for the layers ``layer`` holds directly (``_key_dense``, ...)."""
    names: dict[int, str] = {}
    for name, value in vars(layer).items():
        if hasattr(value, "_flatten_layers") and id(value) not in names:
            names[id(value)] = name
    return names


# Where Keras defines its own classes. FLOPs rules are keyed by class name, and only Keras's own
# classes may use them: a user's class that shares a name (or subclasses and overrides ``call``)
# computes something else.
_KERAS_MODULES = (
    ("keras.src.ops.", "op"),
    ("keras.src.activations.", "op"),
    ("keras.src.layers.", "layer"),
    ("keras.layers.", "layer"),
)


def keras_class(obj: Any) -> tuple[str, str] | None:
    """``("op", "Einsum")`` or ``("layer", "Dense")`` for an object (or a class) Keras itself defines
    (a ``keras.ops`` operation or a ``keras.layers`` layer), None for any other class."""
    cls = obj if isinstance(obj, type) else type(obj)
    for prefix, family in _KERAS_MODULES:
        if cls.__module__.startswith(prefix):
            return family, cls.__name__
    return None


def op_output_spec(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``op.compute_output_spec(*args, **kwargs)``, corrected where Keras's own spec is wrong.

    Keras 3.15's ``DotProductAttention`` returns the query's shape, but attention x V has the
    value's head size: with ``MultiHeadAttention(value_dim != key_dim)`` the output projection
    would then be traced (and counted) on the wrong shape. Where Keras gets it right already,
    the correction changes nothing.
    """
    outputs = op.compute_output_spec(*args, **kwargs)
    if keras_class(op) == ("op", "DotProductAttention"):
        from keras.src.backend.common.keras_tensor import KerasTensor

        value = kwargs["value"] if "value" in kwargs else args[2]
        shape = (*tuple(outputs.shape)[:-1], value.shape[-1])
        return KerasTensor(shape, dtype=outputs.dtype)
    return outputs


def attention_projections(layer: Any) -> tuple[Any, Any, Any, Any]:
    """A ``MultiHeadAttention`` layer's query, key, value and output projections (EinsumDense layers)."""
    return layer._query_dense, layer._key_dense, layer._value_dense, layer._output_dense


def inputs_structure(model: Any) -> Any:
    """The nested structure (dict, list, single tensor) a graph model takes its inputs in."""
    graph = graph_of(model)
    return getattr(graph, "_inputs_struct", None) if graph is not None else None


def build_input_shapes(model: Any) -> list[tuple[int | None, ...]] | None:
    """The input shapes a subclassed model was built with (``model.build(shape)``), or None."""
    shapes = getattr(model, "_build_shapes_dict", None)
    if not shapes or len(shapes) != 1:
        return None
    shape = next(iter(shapes.values()))
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return [tuple(shape)] if isinstance(shape, (list, tuple)) else None


def dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a Keras dtype name (bfloat16: 2, bool: 1)."""
    from keras.src.backend import standardize_dtype
    from keras.src.utils.dtype_utils import dtype_size

    return max(1, int(dtype_size(standardize_dtype(dtype))) // 8)


def standardize_dtype(dtype: Any) -> str:
    from keras.src.backend import standardize_dtype as standardize

    return str(standardize(dtype))


# -- calls without graph nodes ------------------------------------------------------

_state = threading.local()


def _depth() -> int:
    return int(getattr(_state, "detached", 0))


@contextlib.contextmanager
def detached_nodes() -> Iterator[None]:
    """Within this block, symbolic calls record no ``Node``: the model's graph is left exactly as it was.

    A symbolic call normally appends a Node to the called layer's ``_inbound_nodes``
    and to its inputs' ``_outbound_nodes``. Calling a layer's ``call`` on symbolic
    tensors to infer shapes (shape-only builds) or to trace ops must not: the rest
    of the analysis reads those lists, and a TensorFlow build would not have them.
    """
    from keras.src.ops import node as node_module

    cls = node_module.Node
    if _depth() == 0:
        original = cls.__init__

        def __init__(
            self: Any, operation: Any, call_args: Any = None, call_kwargs: Any = None, outputs: Any = None
        ) -> None:
            if _depth() == 0:
                original(self, operation, call_args, call_kwargs, outputs)
                return
            from keras import tree
            from keras.src.ops.symbolic_arguments import SymbolicArguments

            self.operation = operation
            self.arguments = SymbolicArguments(*(call_args or ()), **(call_kwargs or {}))
            self.outputs = [] if outputs is None else tree.flatten(outputs)
            self.is_input = not self.arguments.keras_tensors

        _state.original_node_init = original
        cls.__init__ = __init__
    _state.detached = _depth() + 1
    try:
        yield
    finally:
        _state.detached = _depth() - 1
        if _depth() == 0:
            cls.__init__ = _state.original_node_init


# -- shape-only builds ---------------------------------------------------------------


class _WeightReads:
    """Records that some code computed on a shape-only weight (whose values are all zero)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.folder = ""
        self.enabled = False


WEIGHT_READS = _WeightReads()


def _shape_only_array_class() -> type:
    import numpy as np

    class ShapeOnlyArray(np.ndarray):
        """A zero-stride, read-only view standing in for a weight: its shape and dtype, no memory."""

        def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
            _note_read(ufunc.__name__)
            plain = [x.view(np.ndarray) if isinstance(x, ShapeOnlyArray) else x for x in inputs]
            return getattr(ufunc, method)(*plain, **kwargs)

        def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
            _note_read(getattr(func, "__name__", "a numpy function"))
            return super().__array_function__(func, (np.ndarray,), args, kwargs)

        def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
            _note_read("numpy()")  # get_weights(), variable.numpy(), np.asarray(variable)
            plain = self.view(np.ndarray)
            return plain if dtype is None else plain.astype(dtype)

    return ShapeOnlyArray


def _note_read(what: str) -> None:
    if WEIGHT_READS.enabled and what not in WEIGHT_READS.names and _read_by_the_builder():
        WEIGHT_READS.names.append(what)


# Frames a read passes through on its way down: NumPy, Keras's ops and backends, archreport.
_PASS_THROUGH = ("/numpy/", "/keras/src/backend/", "/keras/src/ops/", "/archreport/")
# Keras methods that hand weight values to their caller (and the comprehensions inside them).
_READERS = {"get_weights", "numpy", "__array__", "get_variables", "<listcomp>", "<genexpr>"}


def _read_by_the_builder() -> bool:
    """Whether the builder's own code asked for weight values (not Keras building a layer).

    Walking out from the read: NumPy, Keras's ops and backends pass it through; the first
    other frame decides. The builder's module reads; Keras's own layers read at build time
    (a Normalization layer reshapes its statistics) and do not count.
    """
    frame: Any = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if WEIGHT_READS.folder and name.startswith(WEIGHT_READS.folder):
            return True
        if any(part in name for part in _PASS_THROUGH) or frame.f_code.co_name in _READERS:
            frame = frame.f_back
            continue
        return False
    return False


@contextlib.contextmanager
def watching_weight_reads(folder: str) -> Iterator[_WeightReads]:
    """Within this block, the code under ``folder`` computing on a shape-only weight is recorded."""
    WEIGHT_READS.names = []
    WEIGHT_READS.folder = folder.rstrip("/") + "/"
    WEIGHT_READS.enabled = True
    try:
        yield WEIGHT_READS
    finally:
        WEIGHT_READS.enabled = False


def enable_shape_only() -> None:
    """Make this process build Keras models without weight memory and without numerical kernels.

    Call once, in a worker process whose ``KERAS_BACKEND`` is ``jax``, before any model is
    built; then build with :func:`build_shape_only` and trace with :func:`abstract_calls`.
    The hooks are process-wide, on purpose:

    * a weight created while a model is built keeps no value (Keras's own deferred
      variables, under ``StatelessScope``): read inside a JAX trace it is an abstract
      array of its shape and dtype, so nothing is allocated or computed, whatever the size;
    * ``variable.numpy()``, ``get_weights()`` and ``np.asarray(variable)`` give a zero-stride
      view of the weight's shape (its values read as zero), and :func:`watching_weight_reads`
      records that the builder asked;
    * Keras's JAX shape inference (``compute_output_spec``, which runs a layer under
      ``jax.eval_shape`` with symbolic dimensions) never folds constants eagerly, which
      symbolic dimensions cannot take.
    """
    import numpy as np
    from keras.src import backend

    if backend.backend() != "jax":
        raise RuntimeError(f"shape-only builds need KERAS_BACKEND=jax, not {backend.backend()!r}")
    import keras.src.backend.jax as jax_backend
    from jax._src import config as jax_config
    from keras.src.backend.common import dtypes, stateless_scope, variables
    from keras.src.backend.jax import core

    if getattr(_state, "shape_only", False):
        return
    _state.shape_only = True
    array_class = _shape_only_array_class()
    original_value = variables.Variable.__dict__["value"]
    original_spec = core.compute_output_spec

    def value(self: Any) -> Any:
        if self._value is None:
            if stateless_scope.in_stateless_scope():
                found = stateless_scope.get_stateless_scope().get_current_value(self)
                if found is not None:
                    return self._maybe_autocast(found)
            abstract = _abstract_weight(self._shape, self._dtype)
            if abstract is not None:
                return self._maybe_autocast(abstract)
        return original_value.fget(self)

    def zeros(self: Any) -> Any:
        return np.broadcast_to(np.zeros((), dtype=self._dtype), self._shape).view(array_class)

    def numpy(self: Any) -> Any:
        _note_read("numpy()")  # variable.numpy(), get_weights()
        # A plain view: what the caller computes on it is one read, already noted.
        return zeros(self).view(np.ndarray) if self._value is None else np.asarray(self._value)

    def __array__(self: Any, dtype: Any = None, copy: Any = None) -> Any:
        _note_read("numpy()")  # np.asarray(variable)
        found = zeros(self) if self._value is None else np.asarray(self._value)
        return found if dtype is None else found.astype(dtype)

    def compute_output_spec(fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Symbolic dimensions cannot be folded into constants (jax raises UnexpectedDimVar).
        with jax_config.eager_constant_folding(False):
            return original_spec(fn, *args, **kwargs)

    # Keras names a Python int int64 on TensorFlow and int32 elsewhere (a Normalization layer's
    # `count` weight is dtype "int"): a shape-only build reports what a TensorFlow build would.
    for key in (int, "int"):
        dtypes.PYTHON_DTYPES_MAP[key] = "int64"
    dtypes.PYTHON_DTYPES_MAP[complex] = "complex128"
    variables.Variable.value = property(value)
    variables.Variable.numpy = numpy
    variables.Variable.__array__ = __array__
    core.compute_output_spec = compute_output_spec
    jax_backend.compute_output_spec = compute_output_spec
    backend.compute_output_spec = compute_output_spec


_abstract = threading.local()  # the abstract scalar every unset weight is broadcast from, inside a trace


def _abstract_weight(shape: Any, dtype: Any) -> Any:
    """An abstract array of ``shape`` and ``dtype`` inside a shape-only trace, else None.

    Broadcast from an abstract scalar the trace was given, so that it stays abstract even
    where constants are folded eagerly (a builder's ``float(ops.linspace(...))``).
    """
    anchor = getattr(_abstract, "anchor", None)
    if anchor is None:
        return None
    import jax

    spec = abstract_array(tuple(shape), dtype)
    return jax.lax.broadcast_in_dim(anchor.astype(spec.dtype), spec.shape, ())


@contextlib.contextmanager
def _anchored(anchor: Any) -> Iterator[None]:
    previous = getattr(_abstract, "anchor", None)
    _abstract.anchor = anchor
    try:
        yield
    finally:
        _abstract.anchor = previous


def build_shape_only(build: Callable[[], Any]) -> Any:
    """``build()`` inside an abstract JAX trace, in a process set up by :func:`enable_shape_only`.

    Weights keep no value, and whatever the builder computes on them is abstract: nothing
    is allocated or computed. Constants it computes (``ops.linspace`` turned into floats)
    are folded eagerly, so a builder may use their values. A model that creates a variable
    from a value in its constructor (T5Gemma 2), which Keras refuses while variables are
    deferred, is built again with every variable set to an abstract value in the trace.

    Raises:
        Exception: whatever ``build`` raises, as it raised it.
    """
    try:
        return _build_abstractly(build, deferred=True)
    except ValueError as exc:
        if "while in a stateless scope" not in str(exc):
            raise
    return _build_abstractly(build, deferred=False)


def _build_abstractly(build: Callable[[], Any], *, deferred: bool) -> Any:
    import jax
    import keras
    from keras.src.backend.common import global_state

    made: list[Any] = []

    def trace(anchor: Any) -> int:
        deferring = keras.StatelessScope(initialize_variables=False) if deferred else _abstract_initializers()
        with _anchored(anchor), jax.ensure_compile_time_eval(), deferring:
            made.append(build())
        return 0

    try:
        jax.eval_shape(trace, jax.ShapeDtypeStruct((), "float32"))  # type: ignore[no-untyped-call]
    finally:
        # The model's weights stay unset for good: a later stateless scope must not set them.
        global_state.set_global_attribute("uninitialized_variables", [])
    if not deferred:
        # Each weight holds an abstract value of the finished trace: forget it, as a deferred one
        # never had one (the traces that read it give it a value of their own).
        for variable in made[0].variables:
            variable._value = None
    return made[0]


@contextlib.contextmanager
def _abstract_initializers() -> Iterator[None]:
    """Variables made from an initializer start from an abstract value of their shape.

    Constants are folded eagerly in a build, so an initializer would otherwise compute every
    weight for real (T5Gemma 2's 954 M parameters: 7.8 GB). A variable made from a value
    keeps that value: a builder gave it, so it is already in memory.
    """
    from keras.src.backend.common import variables

    original = variables.Variable._initialize_with_initializer

    def initialize(self: Any, initializer: Any) -> None:
        self._initialize(_abstract_weight(self._shape, self._dtype))

    variables.Variable._initialize_with_initializer = initialize
    try:
        yield
    finally:
        variables.Variable._initialize_with_initializer = original


# -- tracing symbolic calls ------------------------------------------------------------

LayerHook = Callable[[Any, tuple[Any, ...], dict[str, Any], Callable[[], Any]], Any]
OpHook = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]


@contextlib.contextmanager
def intercept_symbolic_calls(on_layer: LayerHook, on_op: OpHook) -> Iterator[None]:
    """Route every symbolic layer call and op call through the given hooks, recording no Node.

    ``on_layer(layer, args, kwargs, default)`` returns the layer's outputs; ``default()``
    is Keras's own shape inference. ``on_op(op, args, kwargs)`` returns the op's outputs.
    Keras ops given symbolic tensors go through ``Operation.symbolic_call``, and a layer
    called on them through ``Layer.symbolic_call`` (after ``Layer.__call__`` has converted
    its inputs, built it, and filled in ``training`` and ``mask``).
    """
    from keras.src.layers.layer import Layer
    from keras.src.ops.operation import Operation

    layer_call = Layer.symbolic_call
    op_call = Operation.symbolic_call

    def layer_symbolic_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return on_layer(self, args, kwargs, lambda: layer_call(self, *args, **kwargs))

    def op_symbolic_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return on_op(self, args, kwargs)

    with detached_nodes():
        Layer.symbolic_call = layer_symbolic_call
        Operation.symbolic_call = op_symbolic_call
        try:
            yield
        finally:
            Layer.symbolic_call = layer_call
            Operation.symbolic_call = op_call


# Operators of a Keras variable that compute on its value (variables.Variable defines them).
_VARIABLE_OPERATORS = (
    "__neg__", "__abs__", "__invert__", "__lt__", "__le__", "__gt__", "__ge__",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__",
    "__rmatmul__", "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__",
)  # fmt: skip


def _on_value(name: str) -> Callable[..., Any]:
    """A variable operator that applies the same operator to the variable's (symbolic) value."""

    def operator(self: Any, *args: Any) -> Any:
        return getattr(self.value, name)(*args)

    operator.__name__ = name
    return operator


@contextlib.contextmanager
def symbolic_weights() -> Iterator[None]:
    """Within this block, weights are symbolic: an op on a variable runs symbolically too.

    A layer's ``call`` may compute on its weights directly (a convolution reshapes its
    bias, PReLU negates ``alpha``, a weight normalisation divides by a norm). Keras runs
    an op symbolically only when an argument is a symbolic tensor, so those ops would run
    eagerly, on real (or shape-only) weight values. Here a variable counts as symbolic
    and its value is a symbolic tensor of its shape and dtype: the tracer records and
    counts those ops, and no kernel runs over a weight's values.
    """
    import numpy as np

    if getattr(_state, "symbolic_weights", False):  # already on (a shape inference inside a trace)
        yield
        return
    from keras.src.backend import is_tensor
    from keras.src.backend.common import keras_tensor, variables

    KerasTensor = keras_tensor.KerasTensor
    Variable = variables.Variable
    original_value = Variable.__dict__["value"]

    def symbolic(x: Any) -> bool:
        # Constants a call computes (position ids, rotary tables) count too: the profiler
        # counts ops on them, as nothing folds them away, and so does the tracer. A NumPy
        # scalar (Gemma's 1 / np.sqrt(head_dim)) does not: it is a Python number to every
        # backend but NumPy's, whose is_tensor() says yes, and the traces must not differ.
        if isinstance(x, np.generic):
            return False
        return isinstance(x, (KerasTensor, Variable, np.ndarray)) or (hasattr(x, "shape") and is_tensor(x))

    def value(self: Any) -> Any:
        dtype = self.dtype
        scope = variables.get_autocast_scope()
        if (
            self._autocast
            and scope is not None
            and scope.dtype is not None
            and variables.is_float_dtype(dtype)
        ):
            dtype = scope.dtype
        return KerasTensor(tuple(self.shape), dtype=dtype)

    Variable.value = property(value)
    _state.symbolic_weights = True
    try:
        with _symbolic_check(symbolic), _variable_operators():
            yield
    finally:
        _state.symbolic_weights = False
        Variable.value = original_value


def weights_as_symbolic(structure: Any) -> Any:
    """``structure`` with every variable replaced by a symbolic tensor of its shape and dtype
    (inside :func:`symbolic_weights`, a variable's value is one)."""
    from keras import tree
    from keras.src.backend.common import variables

    return tree.map_structure(lambda x: x.value if isinstance(x, variables.Variable) else x, structure)


def is_symbolic(value: Any) -> bool:
    from keras.src.backend.common.keras_tensor import KerasTensor

    return isinstance(value, KerasTensor)


def symbolic_tensor(shape: tuple[int | None, ...], dtype: str, name: str | None = None) -> Any:
    from keras.src.backend.common.keras_tensor import KerasTensor

    return KerasTensor(shape, dtype=dtype, name=name)


# -- tracing calls on JAX tracers (shape-only builds) ------------------------------------

# KerasTensor's operators (x + y on a symbolic tensor is keras.ops.add): on a JAX tracer in a
# layer's own call they are made keras.ops too, so the tracer records them as it records them
# on symbolic tensors (a residual add is a step of the block). Not __ne__: tracking code compares.
_TENSOR_OPERATORS = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__matmul__", "__rmatmul__",
    "__truediv__", "__rtruediv__", "__neg__", "__abs__", "__pow__", "__rpow__", "__floordiv__",
    "__rfloordiv__", "__mod__", "__rmod__", "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__rand__",
    "__or__", "__ror__", "__invert__", "__xor__", "__rxor__", "__getitem__", "__round__",
)  # fmt: skip
# Code that implements operations: an operator there is the array's own (jnp's), not a step to record.
_IMPLEMENTATIONS = ("jax", "jaxlib", "numpy", "keras.src.backend", "keras.src.ops", "opt_einsum", "ml_dtypes")


@contextlib.contextmanager
def _symbolic_check(symbolic: Callable[[Any], bool]) -> Iterator[None]:
    """Within this block, Keras's ``any_symbolic_tensors`` takes ``symbolic(x)`` for "x is symbolic"."""
    from keras import tree
    from keras.src.backend.common import keras_tensor

    original_check = keras_tensor.any_symbolic_tensors

    def any_symbolic_tensors(args: Any = None, kwargs: Any = None) -> bool:
        for items in (args or (), kwargs.values() if kwargs else ()):
            for x in items:
                if symbolic(x):
                    return True
                if tree.is_nested(x) and any(symbolic(n) for n in tree.flatten(x)):
                    return True
        return False

    # Keras modules import the check by name: swap it wherever it was imported.
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("keras.src") and getattr(module, "any_symbolic_tensors", None) is original_check
    ]
    for module in holders:
        setattr(module, "any_symbolic_tensors", any_symbolic_tensors)  # noqa: B010
    try:
        yield
    finally:
        for module in holders:
            setattr(module, "any_symbolic_tensors", original_check)  # noqa: B010


@contextlib.contextmanager
def _tracer_operators() -> Iterator[None]:
    """Within this block, an operator on a JAX tracer in a layer's code is the keras.ops op KerasTensor's is."""
    from jax._src.core import Tracer
    from keras.src.backend.common.keras_tensor import KerasTensor

    originals = {name: Tracer.__dict__[name] for name in _TENSOR_OPERATORS if name in Tracer.__dict__}

    def forward(name: str, original: Any) -> Any:
        as_keras = KerasTensor.__dict__[name]

        def operator(self: Any, *args: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith(_IMPLEMENTATIONS):
                return original(self, *args)
            return as_keras(self, *args)

        operator.__name__ = name
        return operator

    for name, original in originals.items():
        setattr(Tracer, name, forward(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(Tracer, name, original)


@contextlib.contextmanager
def _variable_operators() -> Iterator[None]:
    """Within this block, ``variable * x`` applies the operator to the variable's value, which is traced.

    ``variable * x`` calls the backend directly on the variable's value (Variable.__mul__), not
    keras.ops, so with a symbolic value it fails on every backend (AdditiveAttention's
    ``scale * tanh(...)``, a user's ``self.gamma * x``), and on a JAX tracer it is an op the
    tracer never sees. Here the variable's operators are its value's, which run (and are
    recorded) as keras.ops. __eq__ / __ne__ stay: tracking code compares variables.
    """
    from keras.src.backend.common import variables

    Variable = variables.Variable
    originals = {name: Variable.__dict__[name] for name in _VARIABLE_OPERATORS if name in Variable.__dict__}
    for name in originals:
        setattr(Variable, name, _on_value(name))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(Variable, name, method)


def is_variable(value: Any) -> bool:
    """A Keras variable (a weight, passed to an op as it is)."""
    from keras.src.backend.common import variables

    return isinstance(value, variables.Variable)


def abstract_array(shape: tuple[int, ...], dtype: Any) -> Any:
    """An abstract JAX array: a shape and a dtype, no values (int64 is int32 without JAX's x64 mode)."""
    import jax
    import jax.numpy as jnp

    kind = jax.dtypes.canonicalize_dtype(jnp.dtype(standardize_dtype(dtype)))
    return jax.ShapeDtypeStruct(shape, kind)  # type: ignore[no-untyped-call]


def is_jax_tracer(value: Any) -> bool:
    """A JAX tracer: an abstract array inside a JAX trace."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.core.Tracer)


def is_traced(value: Any) -> bool:
    """A symbolic tensor or a JAX tracer: a value the traced call computed."""
    from keras.src.backend.common.keras_tensor import KerasTensor

    if isinstance(value, KerasTensor):
        return True
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.core.Tracer)


@contextlib.contextmanager
def abstract_calls(on_layer: LayerHook, on_op: OpHook) -> Iterator[None]:
    """Route every layer call and op call on JAX tracers through the given hooks, recording no Node.

    Keras calls a layer's ``call`` or an op's backend function directly when none of its
    arguments is a KerasTensor. Here a JAX tracer, a variable, and a constant the call made
    (a NumPy or JAX array) count as symbolic too, so every call goes through
    ``Layer.symbolic_call`` and ``Operation.symbolic_call`` to the hooks, as in
    :func:`intercept_symbolic_calls`; ``on_op`` then runs the op itself (``op.call``) on the
    tracers. Python operators on tracers and variables in a layer's code become keras.ops too.
    """
    import jax
    import numpy as np
    from keras.src.backend.common import variables
    from keras.src.backend.common.keras_tensor import KerasTensor

    kinds = (KerasTensor, variables.Variable, jax.core.Tracer, jax.Array, np.ndarray)

    def symbolic(x: Any) -> bool:
        return isinstance(x, kinds) and not isinstance(x, np.generic)

    with (
        _symbolic_check(symbolic),
        _tracer_operators(),
        _variable_operators(),
        intercept_symbolic_calls(on_layer, on_op),
    ):
        yield


def op_call(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a Keras op on traced arrays: what ``op(*args, **kwargs)`` computes, without the symbolic path.

    Keras calls the backend function directly when no argument is symbolic, so an op's own
    ``call`` is rarely run; Keras 3.15's ``ConvTranspose.call`` passes ``output_padding`` and
    ``padding`` in each other's place, and is called the way ``keras.ops.conv_transpose`` does.
    """
    if keras_class(op) == ("op", "ConvTranspose"):
        from keras.src import backend

        return backend.nn.conv_transpose(
            *args, op.strides, op.padding, op.output_padding, op.data_format, op.dilation_rate
        )
    return op.call(*args, **kwargs)


def constant_input(value: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """An input every sample of which has ``value`` (batch first): a constant of the trace, a JAX
    array (a layer refuses a NumPy array beside tensors in one argument)."""
    import jax.numpy as jnp
    import numpy as np

    one = np.asarray(value, dtype=abstract_array((), dtype).dtype)
    return jnp.asarray(np.broadcast_to(one, shape))


def as_symbolic(structure: Any) -> Any:
    """``structure`` with each JAX tracer replaced by a symbolic tensor of its shape and dtype."""
    from keras import tree

    return tree.map_structure(
        lambda x: symbolic_tensor(tuple(x.shape), standardize_dtype(x.dtype)) if is_jax_tracer(x) else x,
        structure,
    )


def placeholders(structure: Any) -> Any:
    """``structure`` with each symbolic tensor replaced by zeros of its shape inside the JAX trace.

    What a call the trace could not run (a layer that needs values no trace has) hands on, so
    the calls after it are still traced; its shape is Keras's own inference.
    """
    import jax.numpy as jnp
    from keras import tree

    def fill(x: Any) -> Any:
        if not is_symbolic(x):
            return x
        shape = tuple(1 if d is None else int(d) for d in x.shape)
        return jnp.zeros(shape, abstract_array(shape, x.dtype).dtype)

    return tree.map_structure(fill, structure)


def jax_trace(fn: Callable[..., Any], *specs: Any, fold_constants: bool = False) -> Any:
    """``jax.make_jaxpr(fn)(*specs)``: every primitive ``fn`` runs, with static shapes, and nothing computed.

    ``fold_constants``: compute what depends on no input eagerly (a mask turned into NumPy
    by a layer); slower, as each such operation is compiled on its own.
    """
    import warnings

    import jax
    from jax._src import config as jax_config

    with jax_config.eager_constant_folding(fold_constants), warnings.catch_warnings():
        # An int64 weight (a Normalization's count) is int32 without JAX's x64 mode, as its
        # abstract value already says; JAX warns on each conversion.
        warnings.filterwarnings("ignore", "Explicitly requested dtype int64", UserWarning)
        return jax.make_jaxpr(fn)(*specs)


def name_scope(name: str) -> Any:
    """A JAX name scope: primitives traced within it carry ``name`` in their name stack."""
    import jax

    return jax.named_scope(name)


def stateless_scope(variables: list[Any], values: list[Any]) -> Any:
    """A Keras scope in which ``variables`` read as ``values`` (the trace's abstract arrays)."""
    import keras

    return keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True)))


# -- model files -------------------------------------------------------------------


def model_from_architecture(fmt: str, text: str, *, safe_mode: bool) -> Any:
    """Build a model from a saved architecture without reading any weights.

    ``fmt`` is "keras" (the ``config.json`` of a ``.keras`` archive), "h5" (the
    ``model_config`` attribute of a legacy ``.h5`` file) or "json" (``model.to_json()``).
    Safe mode works as in ``keras.saving.load_model``: a Lambda layer holding Python
    code is refused unless ``safe_mode`` is False.
    """
    from keras.src.saving import serialization_lib

    if fmt == "h5":
        from keras.src.legacy.saving import saving_options, saving_utils

        config = json.loads(text)
        legacy = saving_options.keras_option_scope(use_legacy_config=True)
        with legacy, serialization_lib.SafeModeScope(safe_mode):
            return saving_utils.model_from_config(config)
    config = json.loads(text)
    if fmt == "keras":
        config["compile_config"] = None
    with serialization_lib.ObjectSharingScope():
        return serialization_lib.deserialize_keras_object(config, safe_mode=safe_mode)
