"""Turn a built Keras model and one traced forward pass into layer rows and totals (plain data).

This is the only stage besides ``build`` that touches Keras objects. Figures
follow Keras's own rules so they can be checked against ``model.summary()``:
params per layer are ``layer.count_params()``, totals count each weight once,
output shapes are written as the summary writes them.

Shapes and FLOPs come from a traced symbolic call of the model (trace.py) at
the declared batch size and input shapes. A Keras layer with an exact rule
(flops.py) is counted by that rule; any other layer, a user's or keras-hub's,
is counted op by op from what its ``call`` ran. A layer's row includes its
sub-layers; the model's total is the sum of its top-level rows. Activation
memory is every tensor the traced pass made (``_Rows.call_memory``); a row
shows its own outputs only.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archreport.data import BlockNode, LayerRow, OpRow, RepeatedBlock, Totals
from archreport.errors import ModelError
from archreport.model import flops as counting
from archreport.model import keras_compat
from archreport.model.graph import activation_name
from archreport.model.trace import Call, Shape, ShapeLeaf, trace_model

# Layers that are really inputs: their output is the model's input, not an activation.
_INPUT_CLASSES = {"InputLayer"}
# Ops whose output is a view of their input's data in NumPy, TensorFlow and JAX alike: they
# materialise no new tensor, so they add no activation memory (a transpose, a copy in TensorFlow, does;
# a cast does unless it casts to the dtype its input has already).
_VIEW_OPS = frozenset({"ConvertToTensor", "Reshape", "ExpandDims", "Squeeze", "StopGradient"})
# Attribute names of an attention layer's key and value projections (Keras's MultiHeadAttention,
# keras-hub's attention layers): their outputs are what a KV cache keeps per token.
_KV_ATTRIBUTE = re.compile(r"_?(key|value|k|v)(_dense|_proj|_projection)?")


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


def format_shape(shape: Any) -> str:
    """A shape as Keras's summary writes it: ``(None, 28, 28, 20)``."""
    return f"({', '.join(str(d) for d in shape)})"


def _numel(shape: Sequence[int | None]) -> int:
    return math.prod(d or 1 for d in shape)


def _bytes(tensors: Sequence[tuple[Sequence[int | None], str]], *, half: bool = False) -> int:
    """Bytes of (shape, dtype) tensors; ``half``: a float wider than 16 bits held in 16 (mixed precision)."""
    total = 0
    for shape, dtype in tensors:
        size = keras_compat.dtype_bytes(dtype)
        total += _numel(shape) * (2 if half and dtype.startswith("float") and size > 2 else size)
    return total


def unique_weights(weights: list[Any]) -> list[Any]:
    # Keras dedups by identity too (summary_utils.weight_memory_size): a shared
    # layer's weights appear once however often the layer is called.
    return list({id(w): w for w in weights}.values())


def weight_count(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) for w in unique_weights(weights))


def weight_bytes(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) * keras_compat.dtype_bytes(w.dtype) for w in unique_weights(weights))


def top_level(model: Any) -> list[Any]:
    """The rows of a model: its layers, plus the plain operations (``x + 3.0``) a Functional
    model calls inline. Keras's summary lists only layers, but those operations cost FLOPs
    and plot_model draws them, so we list them too."""
    if keras_compat.model_kind(model) == "functional":
        return keras_compat.graph_operations(model)
    return list(model.layers)


def children(layer: Any) -> list[Any]:
    """Sub-layers listed under a layer: a nested model's layers, or the layers a layer tracks."""
    if keras_compat.is_graph_model(layer):
        return top_level(layer)
    return keras_compat.tracked_layers(layer)


def _flat(structure: Any) -> list[Any]:
    from keras import tree

    return [t for t in tree.flatten(structure) if hasattr(t, "shape")]


def _size_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return "x".join(str(v) for v in value)


def table_activation(layer: Any) -> str | None:
    """The activation a table row names: none for a layer without one, or whose activation is linear."""
    if getattr(layer, "activation", None) is None:
        return None
    name = activation_name(layer)
    return None if name == "linear" and type(layer).__name__ != "Activation" else name


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# -- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    name: str
    shape: Shape  # as the model declares it, batch included
    dtype: str


def _input_name(tensor: Any) -> str:
    """An input's name as the model shows it: its InputLayer's (a Sequential model's input tensor
    itself is only ``keras_tensor``)."""
    made_by = keras_compat.producer(tensor)
    return str(made_by[0].name) if made_by is not None else str(tensor.name)


def _model_inputs(model: Any, kind: str) -> list[_Input]:
    if kind != "subclassed":
        return [_Input(_input_name(t), tuple(t.shape), str(t.dtype)) for t in _flat(model.inputs)]
    # A subclassed model remembers the shape it was first called or built with, batch included;
    # its batch is whatever the report declares.
    shapes = keras_compat.build_input_shapes(model) or []
    dtype = str(getattr(model, "input_dtype", None) or "float32")
    return [_Input(f"input_{i}", (None, *tuple(s)[1:]), dtype) for i, s in enumerate(shapes)]


def traced_input_shapes(
    inputs: list[_Input],
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


# -- rows ---------------------------------------------------------------------------


class _Rows:
    """Walks the model's layers (as Keras lists them) beside the traced calls (as they ran)."""

    def __init__(self, slug: str, total_params: int, batch: int, open_batch: bool) -> None:
        self.slug = slug
        self.total_params = total_params
        self.batch = batch
        self.open_batch = open_batch
        self.rows: list[LayerRow] = []
        self.paths: dict[tuple[str, ...], str] = {}
        self.unknown: dict[str, None] = {}  # why some FLOPs are unknown, in order
        self._flops: dict[int, int | None] = {}
        self._notes: dict[int, str] = {}
        self.input_shapes: dict[int, Shape] = {}  # id(input layer) -> the shape it was traced with
        self.row_calls: dict[int, list[Call]] = {}  # row index -> the calls it stands for
        # Untraced models only: every leaf layer's outputs as Keras's graph knows them (see call_memory).
        self.graph_activation_bytes = 0
        self.graph_half_activation_bytes = 0  # the same, float outputs held in 16 bits
        self._memory: dict[int, tuple[int, int]] = {}
        self.memory_unknown: dict[str, None] = {}  # why the activation total is a lower bound, in order

    # -- shapes as the report shows them
    def display(self, shape: Sequence[int | None]) -> Shape:
        shape = tuple(shape)
        if self.open_batch and shape and shape[0] == self.batch:
            return (None, *shape[1:])
        return shape

    def shape_text(self, shape: Sequence[int | None]) -> str:
        return format_shape(self.display(shape))

    def structure_text(self, structure: Any) -> str:
        """Keras's ``format_layer_shape``: one output as a shape, several as their structure."""
        from keras import tree

        texts = tree.map_structure(
            lambda leaf: self.shape_text(leaf.shape) if isinstance(leaf, ShapeLeaf) else "?", structure
        )
        flat = tree.flatten(texts)
        if len(flat) == 1:
            return str(flat[0])
        return str(texts).replace("'", "")

    # -- FLOPs of one call
    def call_flops(self, call: Call) -> int | None:
        key = id(call)
        if key in self._flops:
            return self._flops[key]
        value: int | None
        cls = type(call.obj).__name__
        if call.kind == "op":
            value = counting.op_flops(call.obj, call.operands, call.outputs)
            if value is None:
                self._note(call, f"no FLOPs rule for keras.ops.{_snake(cls)}")
        else:
            value = counting.layer_flops(call.obj, call.inputs, call.outputs)
            # No rule, or a rule that cannot count this call (an activation it does not know):
            # count what the call ran, op by op.
            if value is None and call.error is not None:
                self._note(call, f"{cls}: its call cannot be traced symbolically ({call.error})")
            elif value is None:
                value = 0
                for child in call.children:
                    part = self.call_flops(child)
                    if part is None:
                        value = None
                        self._notes.setdefault(key, self._notes.get(id(child), ""))
                    elif value is not None:
                        value += part
        self._flops[key] = value
        return value

    def _note(self, call: Call, reason: str) -> None:
        self._notes[id(call)] = reason
        self.unknown.setdefault(reason)

    # -- activation memory of one call
    def call_memory(self, call: Call) -> tuple[int, int]:
        """Bytes of the tensors one call materialises, and the same with float tensors in 16 bits.

        A Keras layer counted by its own rule, with no sub-layers (Dense, Conv2D): its outputs,
        as the layer table shows them. Any other layer (a keras-hub block, a user's layer, a
        nested model, MultiHeadAttention): every tensor its call made, that is each op's outputs
        (a reshape's view makes none) and each sub-layer's own count, recursively, so an attention
        block's scores count, inside a fused ``dot_product_attention`` too. A layer whose call
        could not be traced counts its outputs, and unless a rule covers it the total is then a
        lower bound.
        """
        key = id(call)
        if key in self._memory:
            return self._memory[key]
        leaf = call.kind == "op" or call.error is not None
        leaf = leaf or (
            counting.layer_rule(call.obj) is not None and not any(c.kind == "layer" for c in call.children)
        )
        found = keras_compat.keras_class(call.obj) if call.kind == "op" else None
        if found is not None and (found[1] in _VIEW_OPS or (found[1] == "Cast" and _same_dtype(call))):
            value = (0, 0)
        elif leaf:
            outs = list(zip(call.outputs, call.output_dtypes, strict=False))
            if found == ("op", "DotProductAttention"):
                outs += _attention_scores(call)
            value = (_bytes(outs), _bytes(outs, half=True))
            if call.error is not None and counting.layer_rule(call.obj) is None:
                self.memory_unknown.setdefault(
                    f"{type(call.obj).__name__} counts only its outputs, as its call cannot be traced"
                )
        else:
            parts = [self.call_memory(child) for child in call.children]
            value = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        self._memory[key] = value
        return value

    # -- finding a layer's calls among its parent's
    @staticmethod
    def find_calls(parents: list[Call], obj: Any, siblings: set[int]) -> list[Call]:
        found: list[Call] = []

        def visit(call: Call, everywhere: bool) -> None:
            for child in call.children:
                if child.obj is obj:
                    found.append(child)
                elif child.kind == "layer" and (everywhere or id(child.obj) not in siblings):
                    visit(child, everywhere)

        for everywhere in (False, True):  # a sibling may call it from inside its own call
            for parent in parents:
                visit(parent, everywhere)
            if found:
                break
        return found

    def walk(self, owner_calls: list[Call] | None, layers: list[Any], depth: int, parent: str | None,
             path: tuple[str, ...], in_parent: bool, owner: Any) -> None:  # fmt: skip
        siblings = {id(layer) for layer in layers}
        if owner_calls and keras_compat.is_graph_model(owner):
            # A graph's input layers are never called: their output is what the graph was called with.
            for i, t in enumerate(_flat(owner.inputs)):
                made_by = keras_compat.producer(t)
                if made_by is not None and i < len(owner_calls[-1].inputs):
                    self.input_shapes[id(made_by[0])] = owner_calls[-1].inputs[i]
        for layer in layers:
            calls = self.find_calls(owner_calls, layer, siblings) if owner_calls is not None else None
            self.add(layer, calls, depth, parent, path, in_parent, owner)

    def add(self, layer: Any, calls: list[Call] | None, depth: int, parent: str | None,
            path: tuple[str, ...], in_parent: bool, owner: Any) -> None:  # fmt: skip
        cls = type(layer).__name__
        is_input = cls in _INPUT_CLASSES
        graph = keras_compat.is_graph_model(layer)
        here = (*path, str(layer.name))
        anchor = f"{self.slug}-r{len(self.rows)}"
        self.paths[here] = anchor
        index = len(self.rows)
        self.rows.append(None)  # type: ignore[arg-type]  # placeholder: children follow their parent
        sub = children(layer)
        self.walk(calls, sub, depth + 1, str(layer.name), here, in_parent or not graph, layer)

        graph_nodes = [] if in_parent else keras_compat.calls_in_graph(owner, layer)
        outs: list[tuple[Shape, str]] = []
        if calls:
            last = calls[-1]
            input_shapes = [self.shape_text(s) for s in last.inputs]
            output_shape = self.structure_text(last.output_structure)
            outs = [o for c in calls for o in zip(c.outputs, c.output_dtypes, strict=False)]
        elif is_input and id(layer) in self.input_shapes:
            shape = self.input_shapes[id(layer)]
            input_shapes, output_shape = [], self.shape_text(shape)
            outs = [(shape, str(getattr(layer, "dtype", None) or "float32"))]
        elif calls is None and graph_nodes:  # not traced: Keras's graph still knows the shapes
            input_shapes = [format_shape(t.shape) for t in _flat(keras_compat.node_inputs(graph_nodes[-1]))]
            output_shape = _node_output_text(graph_nodes)
            outs = [
                ((self.batch, *t.shape[1:]) if t.shape[:1] == (None,) else tuple(t.shape), str(t.dtype))
                for n in graph_nodes
                for t in _flat(keras_compat.node_outputs(n))
            ]
        else:
            input_shapes, output_shape = [], ""
        called = bool(outs) or is_input
        act = _bytes(outs)
        if not (in_parent or is_input or graph):  # a leaf of the graph: what an untraced model can count
            self.graph_activation_bytes += act
            self.graph_half_activation_bytes += _bytes(outs, half=True)

        flops: int | None = 0 if is_input else None
        note: str | None = None
        for call in calls or []:
            part = self.call_flops(call)
            flops = None if part is None else (flops or 0) + part
            if part is None:
                note = note or self._notes.get(id(call))
                break

        self.row_calls[index] = list(calls or [])
        trainable = unique_weights(getattr(layer, "trainable_weights", []))
        params = (
            layer.count_params() if getattr(layer, "built", False) and hasattr(layer, "count_params") else 0
        )
        trainable_params = weight_count(trainable)
        self.rows[index] = LayerRow(
            index=index,
            name=str(layer.name),
            class_name=cls,
            depth=depth,
            parent=parent,
            input_shapes=input_shapes,
            output_shape=output_shape,
            params=params,
            trainable_params=trainable_params,
            non_trainable_params=params - trainable_params,
            trainable=bool(getattr(layer, "trainable", False)),
            dtype=outs[0][1] if outs else str(getattr(layer, "dtype", "") or ""),
            kernel=_size_text(getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)),
            strides=_size_text(getattr(layer, "strides", None)),
            activation=table_activation(layer),
            flops=flops,
            activation_bytes=act if called else None,
            connected_to=_connected_to(graph_nodes),
            param_percent=100.0 * params / self.total_params if self.total_params else 0.0,
            has_children=bool(sub),
            counted_in_parent=in_parent,
            anchor=anchor,
            path="/".join(here),
            called=called,
            ops=[self.op_row(c) for call in calls or [] for c in call.children if c.kind == "op"],
            flops_note=note,
            kv_cache_bytes_per_token=self.kv_cache(layer, calls),
        )

    def op_row(self, call: Call) -> OpRow:
        return OpRow(
            name=_snake(type(call.obj).__name__),
            input_shapes=[self.shape_text(s) for s in call.inputs],
            output_shape=self.structure_text(call.output_structure),
            flops=self.call_flops(call),
        )

    @staticmethod
    def kv_cache(layer: Any, calls: list[Call] | None) -> int | None:
        """Bytes a KV cache keeps per token for an attention layer: its key and value projections' outputs."""
        if not calls:
            return None
        names = keras_compat.tracked_attribute_names(layer)
        projections = {i for i, name in names.items() if _KV_ATTRIBUTE.fullmatch(name)}
        if len(projections) < 2:
            return None
        call = calls[-1]
        total = 0
        found = 0
        for child in call.children:
            if id(child.obj) in projections and child.outputs and len(child.outputs[0]) >= 3:
                found += 1
                per_token = math.prod(d or 1 for d in child.outputs[0][2:])
                total += per_token * keras_compat.dtype_bytes(getattr(layer, "compute_dtype", "float32"))
                projections.discard(id(child.obj))
        return total if found >= 2 else None


def _attention_scores(call: Call) -> list[tuple[Shape, str]]:
    """The score tensors a fused ``dot_product_attention`` makes inside itself: QK^T, the scaled
    scores and the softmax (batch x query heads x T x S each), the terms its FLOPs rule counts,
    as Keras's TensorFlow, NumPy and JAX backends compute them. Flash attention makes none."""
    if getattr(call.obj, "flash_attention", None) or not call.output_dtypes:
        return []
    query, key = call.operands.get("query"), call.operands.get("key")
    if not (isinstance(query, tuple) and isinstance(key, tuple) and len(query) == len(key) == 4):
        return []
    scores: Shape = (query[0], query[2], query[1], key[1])
    return 3 * [(scores, call.output_dtypes[0])]


def _same_dtype(call: Call) -> bool:
    """Whether an op returns its one input's dtype (a cast to the same dtype returns its input)."""
    dtypes = {keras_compat.standardize_dtype(t.dtype) for t in call.in_tensors}
    return len(call.in_tensors) == 1 and dtypes == set(call.output_dtypes)


def _node_output_text(nodes: list[Any]) -> str:
    from keras import tree

    outputs = tree.map_structure(lambda t: format_shape(t.shape), keras_compat.node_outputs(nodes[-1]))
    flat = tree.flatten(outputs)
    if len(flat) == 1:
        return str(flat[0])
    return str(outputs).replace("'", "")


def _connected_to(nodes: list[Any]) -> list[str]:
    names = []
    for node in nodes:
        for t in _flat(keras_compat.node_inputs(node)):
            made_by = keras_compat.producer(t)
            if made_by is not None:
                names.append(str(made_by[0].name))
    return names


def _longest_path(rows: list[LayerRow]) -> int:
    """Layers on the longest input-to-output path of the top-level graph (inputs excluded)."""
    top = [r for r in rows if r.depth == 0]
    length: dict[str, int] = {}
    for row in top:  # model.layers is in topological order
        here = 0 if row.class_name in _INPUT_CLASSES else 1
        length[row.name] = here + max((length.get(src, 0) for src in row.connected_to), default=0)
    return max(length.values(), default=0)


def _training_bytes(model: Any, activation_bytes: int, half_activations: int) -> tuple[int, int]:
    """Adam: weights, gradients and two moments per trainable parameter (16 bytes in float32);
    non-trainable weights once; plus the activations kept for the backward pass."""
    trainable = weight_bytes(model.trainable_weights)
    frozen = weight_bytes(model.non_trainable_weights)
    return 4 * trainable + frozen + activation_bytes, 4 * trainable + frozen + half_activations


def _bytes_by_dtype(weights: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in unique_weights(weights):
        dtype = keras_compat.standardize_dtype(w.dtype)
        out[dtype] = out.get(dtype, 0) + math.prod(w.shape) * keras_compat.dtype_bytes(dtype)
    return dict(sorted(out.items()))


def analyse(
    model: Any,
    slug: str,
    *,
    batch_size: int = 1,
    inputs: Mapping[str, Sequence[int]] | None = None,
    input_shapes: Sequence[Sequence[int]] | None = None,
    on_trace: Callable[[Call], None] | None = None,
) -> Analysis:
    """Rows, totals and shapes of a built Keras model, from one traced call at these input shapes.

    Raises:
        ModelError: declared inputs do not fit the model, or the model cannot be called on them.
    """
    kind = keras_compat.model_kind(model)
    model_inputs = _model_inputs(model, kind)
    shapes = traced_input_shapes(model_inputs, batch_size, inputs, input_shapes)
    declared = bool(inputs or input_shapes)
    warnings: list[str] = []
    root: Call | None = None
    if model_inputs:
        try:
            root = trace_model(model, shapes, [i.dtype for i in model_inputs])
        except Exception as exc:
            if declared:
                raise ModelError(
                    f"the model cannot be called on the declared input shapes "
                    f"{', '.join(format_shape(s) for s in shapes)}: {type(exc).__name__}: {exc}"
                ) from None
            warnings.append(
                f"The model could not be traced ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                "shapes come from Keras's graph, FLOPs are unknown and activation memory counts only "
                "each layer's outputs (a lower bound)."
            )
    if root is not None and on_trace is not None:
        on_trace(root)

    total = model.count_params()
    open_batch = all(i.shape[:1] in ((None,), ()) for i in model_inputs)
    walker = _Rows(slug, total, batch_size, open_batch)
    owner_calls = [root] if root is not None else None
    if kind == "subclassed":
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
    else:
        walker.walk(owner_calls, top_level(model), 0, None, (), False, model)
    rows = walker.rows

    top = [r for r in rows if r.depth == 0]
    if root is not None:
        counted = walker.call_flops(root)
        known = sum(r.flops or 0 for r in top) if kind != "subclassed" else (counted or 0)
        flops: int | None = counted
    else:
        flops, known = None, 0
    lower_bound = flops is None
    if walker.unknown:
        warnings.append("FLOPs are a lower bound: " + "; ".join(walker.unknown) + ".")
    open_dims = [walker.shape_text(s) for s in shapes if any(d is None for d in s[1:])]
    if open_dims:
        lower_bound = True
        warnings.append(
            f"The input shape {', '.join(open_dims)} has unknown dimensions besides the batch: FLOPs and "
            "memory are computed as if each were 1, so they are far too low. Declare them with [model.inputs] "
            "or input_shapes (or build the model with a fixed input shape)."
        )
    if root is None and kind != "subclassed":
        lower_bound = True

    value = flops if flops is not None else known
    # What the traced forward pass materialised; an untraced model has only its layers' outputs.
    if root is not None:
        act, half = walker.call_memory(root)
    else:
        act, half = walker.graph_activation_bytes, walker.graph_half_activation_bytes
    if walker.memory_unknown:
        warnings.append("Activation memory is a lower bound: " + "; ".join(walker.memory_unknown) + ".")
    memory_lower_bound = bool(open_dims) or root is None or bool(walker.memory_unknown)
    input_bytes = sum(
        _numel(s) * keras_compat.dtype_bytes(i.dtype) for s, i in zip(shapes, model_inputs, strict=True)
    )
    param_bytes = weight_bytes(model.weights)
    training, training_mixed = _training_bytes(model, act, half)
    tokens = _tokens(model_inputs, shapes)
    kv = [r.kv_cache_bytes_per_token for r in rows if r.kv_cache_bytes_per_token]
    outputs = (
        root.outputs
        if root is not None
        else [tuple(t.shape) for t in _flat(getattr(model, "outputs", None) or [])]
    )
    totals = Totals(
        params=total,
        trainable_params=weight_count(model.trainable_weights),
        non_trainable_params=weight_count(model.non_trainable_weights),
        param_bytes=param_bytes,
        flops=value if (root is not None or kind != "subclassed") else None,
        flops_lower_bound=lower_bound,
        memory_lower_bound=memory_lower_bound,
        macs=None if (root is None and kind == "subclassed") else value // 2,
        activation_bytes=act,
        input_bytes=input_bytes,
        inference_bytes=param_bytes + input_bytes + act,
        layers=len(model.layers),
        depth=_longest_path(rows) if kind != "subclassed" else 0,
        batch_size=batch_size,
        training_bytes=training,
        training_bytes_mixed=training_mixed,
        flops_per_token=(value / tokens) if tokens and not lower_bound else None,
        kv_cache_bytes_per_token=sum(kv) if kv else None,
        param_bytes_by_dtype=_bytes_by_dtype(model.weights),
    )
    return Analysis(
        rows=rows,
        totals=totals,
        input_shapes=[walker.shape_text(s) for s in shapes],
        output_shapes=[walker.shape_text(s) for s in outputs],
        warnings=warnings,
        kind=kind,
        paths=walker.paths,
        repeated_blocks=repeated_blocks(walker) if root is not None else [],
    )


# -- repeated blocks -----------------------------------------------------------------

MIN_REPEATS = 2


def _signature(row: LayerRow) -> tuple[Any, ...]:
    return (row.class_name, row.params, row.output_shape, row.input_shapes, row.flops, row.has_children)


def repeated_blocks(walker: _Rows) -> list[RepeatedBlock]:
    """Runs of identical composite layers side by side (a transformer's N decoder layers).

    Identical means the same class, parameters, shapes and FLOPs; only composite layers
    (with sub-layers) count, as a run of plain layers draws well already. The first
    block's inside is read from its traced call: its sub-layers and ops, and which fed which.
    """
    by_parent: dict[str, list[LayerRow]] = {}
    for row in walker.rows:
        by_parent.setdefault(row.path.rpartition("/")[0], []).append(row)
    found: list[RepeatedBlock] = []
    for parent, siblings in by_parent.items():
        start = 0
        while start < len(siblings):
            first = siblings[start]
            end = start + 1
            while end < len(siblings) and _signature(siblings[end]) == _signature(first):
                end += 1
            calls = walker.row_calls.get(first.index)
            if end - start >= MIN_REPEATS and first.has_children and first.called and calls:
                nodes, edges = _block_graph(walker, calls[0], first)
                if not any(node.kind in ("layer", "op") for node in nodes):
                    # Nothing traced inside (a Bidirectional's forward and backward GRU run their
                    # cells in a backend loop): the expanded block would be an empty frame.
                    start = end
                    continue
                found.append(
                    RepeatedBlock(
                        parent=parent or None,
                        names=[r.name for r in siblings[start:end]],
                        class_name=first.class_name,
                        params_each=first.params,
                        flops_each=first.flops,
                        anchor=first.anchor,
                        nodes=nodes,
                        edges=edges,
                    )
                )
            start = end
    return found


def _block_graph(walker: _Rows, call: Call, row: LayerRow) -> tuple[list[BlockNode], list[tuple[int, int]]]:
    """The steps of one block call and the data flow between them.

    Sub-layer calls are steps; so are ops that compute (FLOPs above zero) or merge
    branches (a residual add). Ops that only move data (casts, reshapes) are looked
    through: their inputs feed whatever their outputs feed.
    """
    anchors = {r.name: r.anchor for r in walker.rows if r.parent == row.name and r.depth == row.depth + 1}
    nodes: list[BlockNode] = [
        BlockNode(
            f"input {i + 1}" if len(call.in_tensors) > 1 else "input",
            "input",
            "",
            walker.shape_text(t.shape),
            0,
        )
        for i, t in enumerate(call.in_tensors)
    ]
    made_by: dict[int, list[int]] = {id(t): [i] for i, t in enumerate(call.in_tensors)}
    edges: dict[tuple[int, int], None] = {}
    for child in call.children:
        sources = sorted({s for t in child.in_tensors for s in made_by.get(id(t), [])})
        flops = walker.call_flops(child)
        name = type(child.obj).__name__
        if (
            child.kind == "op"
            and not flops
            and _snake(name) not in ("add", "multiply", "subtract", "concatenate")
        ):
            for t in child.out_tensors:  # look through it
                made_by[id(t)] = sources
            continue
        index = len(nodes)
        label = str(child.obj.name) if child.kind == "layer" else _snake(name)
        shape = walker.structure_text(child.output_structure)
        anchor = anchors.get(label) if child.kind == "layer" else None
        nodes.append(
            BlockNode(label, child.kind, name if child.kind == "layer" else "", shape, flops, anchor)
        )
        for s in sources:
            edges[(s, index)] = None
        for t in child.out_tensors:
            made_by[id(t)] = [index]
    out = len(nodes)
    nodes.append(BlockNode("output", "output", "", walker.structure_text(call.output_structure), 0))
    for t in call.out_tensors:
        for s in made_by.get(id(t), []):
            edges[(s, out)] = None
    return nodes, list(edges)


def _tokens(inputs: list[_Input], shapes: list[Shape]) -> int | None:
    """Batch x sequence length of a sequence model (an integer input of shape (batch, length))."""
    candidates = [
        (i.name, s) for i, s in zip(inputs, shapes, strict=True) if "int" in i.dtype and len(s) == 2 and s[1]
    ]
    if not candidates:
        return None
    named = [s for name, s in candidates if "token" in name]
    shape = (named or [s for _, s in candidates])[0]
    return int((shape[0] or 1) * (shape[1] or 1))
