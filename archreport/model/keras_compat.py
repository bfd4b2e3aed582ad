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

    Call once, in a worker process whose ``KERAS_BACKEND`` is ``numpy``, before any
    model is built. Two hooks, both process-wide and both on purpose:

    * every variable's initial value becomes a zero-stride view of its shape and dtype
      (``np.broadcast_to``), so an 8-billion-parameter model holds no weight memory;
    * the numpy backend's ``compute_output_spec``, which infers a layer's output by
      running its ``call`` on real arrays (``np.empty`` with every open dimension set
      to 83, then 89), instead calls it on symbolic tensors, so no kernel runs.
    """
    import numpy as np
    from keras.src import backend

    if backend.backend() != "numpy":
        # Checked before importing the numpy backend: importing it into another backend's process
        # would replace keras.src.backend.numpy, which that backend's ops use.
        raise RuntimeError(f"shape-only builds need KERAS_BACKEND=numpy, not {backend.backend()!r}")
    from keras.src.backend.common import dtypes, variables
    from keras.src.backend.common.keras_tensor import KerasTensor
    from keras.src.backend.numpy import core

    array_class = _shape_only_array_class()

    def _initialize_with_initializer(self: Any, initializer: Any) -> None:
        zero = np.zeros((), dtype=self._dtype)
        self._initialize(np.broadcast_to(zero, self._shape).view(array_class))

    def compute_output_spec(fn: Any, *args: Any, **kwargs: Any) -> Any:
        from keras import tree

        with detached_nodes(), symbolic_weights():
            outputs = fn(*args, **kwargs)

        def spec(x: Any) -> Any:
            if isinstance(x, KerasTensor) or not hasattr(x, "shape") or not hasattr(x, "dtype"):
                return x
            return KerasTensor(tuple(x.shape), standardize_dtype(x.dtype))

        return tree.map_structure(spec, outputs)

    def numpy(self: Any) -> Any:
        _note_read("numpy()")  # variable.numpy(), get_weights()
        return self.value.view(np.ndarray)  # no copy: an 8-billion-parameter model has no memory to spare

    def __array__(self: Any, dtype: Any = None) -> Any:
        _note_read("numpy()")  # np.asarray(variable)
        return self.value if dtype is None else self.value.astype(dtype)

    # Keras names a Python int int64 on TensorFlow and int32 elsewhere (a Normalization layer's
    # `count` weight is dtype "int"): a shape-only build reports what a TensorFlow build would.
    for key in (int, "int"):
        dtypes.PYTHON_DTYPES_MAP[key] = "int64"
    dtypes.PYTHON_DTYPES_MAP[complex] = "complex128"
    variables.Variable._initialize_with_initializer = _initialize_with_initializer
    variables.Variable.numpy = numpy
    core.Variable.__array__ = __array__
    core.compute_output_spec = compute_output_spec
    backend.compute_output_spec = compute_output_spec


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
    from keras import tree
    from keras.src.backend import is_tensor
    from keras.src.backend.common import keras_tensor, variables

    KerasTensor = keras_tensor.KerasTensor
    Variable = variables.Variable
    original_check = keras_tensor.any_symbolic_tensors
    original_value = Variable.__dict__["value"]

    def symbolic(x: Any) -> bool:
        # Constants a call computes (position ids, rotary tables) count too: the profiler
        # counts ops on them, as nothing folds them away, and so does the tracer. A NumPy
        # scalar (Gemma's 1 / np.sqrt(head_dim)) does not: it is a Python number to every
        # backend but NumPy's, whose is_tensor() says yes, and the traces must not differ.
        if isinstance(x, np.generic):
            return False
        return isinstance(x, (KerasTensor, Variable, np.ndarray)) or (hasattr(x, "shape") and is_tensor(x))

    def any_symbolic_tensors(args: Any = None, kwargs: Any = None) -> bool:
        for items in (args or (), kwargs.values() if kwargs else ()):
            for x in items:
                if symbolic(x):
                    return True
                if tree.is_nested(x) and any(symbolic(n) for n in tree.flatten(x)):
                    return True
        return False

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

    # Keras modules import the check by name: swap it wherever it was imported.
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("keras.src") and getattr(module, "any_symbolic_tensors", None) is original_check
    ]
    for module in holders:
        setattr(module, "any_symbolic_tensors", any_symbolic_tensors)  # noqa: B010
    # ``variable * x`` calls the backend directly on the variable's value (Variable.__mul__), not
    # keras.ops, so with a symbolic value it fails on every backend (AdditiveAttention's
    # ``scale * tanh(...)``, a user's ``self.gamma * x``): a layer doing so could not be traced and
    # its FLOPs were unknown. Here the variable's operators are its symbolic value's, which
    # run (and are recorded) as keras.ops. __eq__ / __ne__ stay: tracking code compares variables.
    originals = {name: Variable.__dict__[name] for name in _VARIABLE_OPERATORS if name in Variable.__dict__}
    for name in originals:
        setattr(Variable, name, _on_value(name))
    Variable.value = property(value)
    _state.symbolic_weights = True
    try:
        yield
    finally:
        _state.symbolic_weights = False
        Variable.value = original_value
        for name, method in originals.items():
            setattr(Variable, name, method)
        for module in holders:
            setattr(module, "any_symbolic_tensors", original_check)  # noqa: B010


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
