"""A model's layer table: its layers as Keras lists them, walked beside the calls the trace recorded.

Figures follow Keras's own rules so they can be checked against ``model.summary()``:
params per layer are ``layer.count_params()``, totals count each weight once, output
shapes are written as the summary writes them. A Keras layer with an exact rule
(flops.py) is counted by that rule; any other layer, a user's or keras-hub's, is
counted op by op from what its ``call`` ran, plus (abstract traces) the primitives
its own code ran outside any op (primitives.py). A layer's row includes its
sub-layers. Activation memory is every tensor the traced pass made
(``Rows.call_memory``); a row shows its own outputs only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from archreport.data import LayerRow, OpRow
from archreport.model import flops as counting
from archreport.model import keras_compat, memory
from archreport.model.graph import activation_name
from archreport.model.primitives import CallCost
from archreport.model.trace import CONCRETE_ERRORS, Call, Shape, ShapeLeaf

# Layers that are really inputs: their output is the model's input, not an activation.
_INPUT_CLASSES = {"InputLayer"}
# Attribute names of an attention layer's key and value projections (Keras's MultiHeadAttention,
# keras-hub's attention layers): their outputs are what a KV cache keeps per token.
_KV_ATTRIBUTE = re.compile(r"_?(key|value|k|v)(_dense|_proj|_projection|_projector)?")
# What makes keys and values a cache: a softmax over them. A layer with key and value projections
# and no softmax (RWKV's time and channel mixing, linear attention) carries a fixed-size state instead.
_ATTENDS = frozenset({("op", "Softmax"), ("layer", "Softmax"), ("op", "DotProductAttention")})


def format_shape(shape: Any) -> str:
    """A shape as Keras's summary writes it: ``(None, 28, 28, 20)``."""
    return f"({', '.join(str(d) for d in shape)})"


def numel(shape: Sequence[int | None]) -> int:
    return math.prod(d or 1 for d in shape)


def _bytes(tensors: Sequence[tuple[Sequence[int | None], str]], *, half: bool = False) -> int:
    """Bytes of (shape, dtype) tensors; ``half``: a float wider than 16 bits held in 16 (mixed precision)."""
    total = 0
    for shape, dtype in tensors:
        size = keras_compat.dtype_bytes(dtype)
        total += numel(shape) * (2 if half and dtype.startswith("float") and size > 2 else size)
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


def flat(structure: Any) -> list[Any]:
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


def snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# -- rows ---------------------------------------------------------------------------


class Rows:
    """Walks the model's layers (as Keras lists them) beside the traced calls (as they ran)."""

    def __init__(
        self,
        slug: str,
        total_params: int,
        batch: int,
        open_batch: bool,
        costs: dict[int, CallCost] | None = None,
    ) -> None:
        self.slug = slug
        self.costs = costs or {}  # abstract traces: the primitives under each call, by call index
        self.bound = False  # some counted FLOPs leave out primitives no rule covers
        self.uncounted = 0  # output elements of what no rule counted: the FLOPs coverage's gap
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
            lambda leaf: (
                self.shape_text(leaf.shape)
                if isinstance(leaf, ShapeLeaf)
                else ("None" if leaf is None else "?")
            ),
            structure,
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
        own = self.costs.get(call.index)  # the primitives it ran outside any recorded call
        if call.kind == "op":
            value = counting.op_flops(call.obj, call.operands, call.outputs)
            if value is None and own is not None:
                value = self._primitives(call, own)  # an op without a rule: counted by what it ran
            elif value is None:
                self._note(call, f"no FLOPs rule for keras.ops.{snake(cls)}")
                self.uncounted += sum(numel(o) for o in call.outputs)
        else:
            value = counting.layer_flops(call.obj, call.inputs, call.outputs)
            # No rule, or a rule that cannot count this call (an activation it does not know):
            # count what the call ran, op by op.
            if value is None and call.error is not None:
                how = "" if self.costs else " symbolically"
                # A value the call needed: when it is an input's, the manifest can give it.
                hint = " (if it reads an input's value, give it in [model.input_values])"
                hint = hint if call.error.startswith(CONCRETE_ERRORS) else ""
                self._note(call, f"{cls}: its call cannot be traced{how} ({call.error}){hint}")
                self.uncounted += sum(numel(o) for o in call.outputs)
            elif value is None:
                value = self._primitives(call, own) if own is not None else 0
                for child in call.children:
                    part = self.call_flops(child)
                    if part is None:
                        value = None
                        self._notes.setdefault(key, self._notes.get(id(child), ""))
                    elif value is not None:
                        value += part
        self._flops[key] = value
        return value

    def _primitives(self, call: Call, own: CallCost) -> int:
        """FLOPs of the primitives a call ran outside any recorded op (primitives.py); a primitive
        no rule covers makes the model's total a lower bound."""
        if own.unknown:
            names = ", ".join(own.unknown)
            self._note(call, f"{type(call.obj).__name__}: no FLOPs rule for the JAX primitive(s) {names}")
            self.bound = True
            self.uncounted += own.uncounted
        return own.flops

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
        if memory.is_view(call):
            value = (0, 0)
        elif leaf:
            outs = list(zip(call.outputs, call.output_dtypes, strict=False))
            if found == ("op", "DotProductAttention"):
                outs += memory.attention_scores(call)
            value = (_bytes(outs), _bytes(outs, half=True))
            if call.error is not None and counting.layer_rule(call.obj) is None:
                self.memory_unknown.setdefault(
                    f"{type(call.obj).__name__} counts only its outputs, as its call cannot be traced"
                )
        else:
            parts = [self.call_memory(child) for child in call.children]
            value = (sum(p[0] for p in parts), sum(p[1] for p in parts))
            own = self.costs.get(call.index)  # what its own jnp code made (abstract traces)
            if own is not None:
                value = (value[0] + own.output_bytes, value[1] + own.half_bytes)
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
            for i, t in enumerate(flat(owner.inputs)):
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
            input_shapes = [format_shape(t.shape) for t in flat(keras_compat.node_inputs(graph_nodes[-1]))]
            output_shape = _node_output_text(graph_nodes)
            outs = [
                ((self.batch, *t.shape[1:]) if t.shape[:1] == (None,) else tuple(t.shape), str(t.dtype))
                for n in graph_nodes
                for t in flat(keras_compat.node_outputs(n))
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
            ops=[self.op_row(c) for call in calls or [] for c in call.children if c.kind == "op"]
            + self.primitive_rows(calls or []),
            flops_note=note,
            kv_cache_bytes_per_token=self.kv_cache(layer, calls),
        )

    def primitive_rows(self, calls: list[Call]) -> list[OpRow]:
        """What a layer's own JAX code computed outside any keras.ops op, one row per primitive kind."""
        found: dict[str, int] = {}
        for call in calls:
            if call.kind == "layer" and counting.layer_rule(call.obj) is None and call.index in self.costs:
                for name, flops in self.costs[call.index].by_primitive.items():
                    found[name] = found.get(name, 0) + flops
        return [
            OpRow(name=f"jax.lax.{name}", input_shapes=[], output_shape="", flops=f)
            for name, f in found.items()
        ]

    def op_row(self, call: Call) -> OpRow:
        return OpRow(
            name=snake(type(call.obj).__name__),
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
        if not _attends(call):
            return None
        total = 0
        found = 0
        for child in call.children:
            if id(child.obj) in projections and child.outputs and len(child.outputs[0]) >= 3:
                found += 1
                per_token = math.prod(d or 1 for d in child.outputs[0][2:])
                total += per_token * keras_compat.dtype_bytes(getattr(layer, "compute_dtype", "float32"))
                projections.discard(id(child.obj))
        return total if found >= 2 else None


def _attends(call: Call) -> bool:
    """Whether a softmax attention ran anywhere in ``call``."""
    return any(keras_compat.keras_class(c.obj) in _ATTENDS or _attends(c) for c in call.children)


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
        for t in flat(keras_compat.node_inputs(node)):
            made_by = keras_compat.producer(t)
            if made_by is not None:
                names.append(str(made_by[0].name))
    return names


def longest_path(rows: list[LayerRow]) -> int:
    """Layers on the longest input-to-output path of the top-level graph (inputs excluded)."""
    top = [r for r in rows if r.depth == 0]
    length: dict[str, int] = {}
    for row in top:  # model.layers is in topological order
        here = 0 if row.class_name in _INPUT_CLASSES else 1
        length[row.name] = here + max((length.get(src, 0) for src in row.connected_to), default=0)
    return max(length.values(), default=0)
