"""Turn a built Keras model into layer rows and totals (plain data).

This is the only stage besides ``build`` that touches Keras objects. Figures
follow Keras's own rules so they can be checked against ``model.summary()``:
params per layer are ``layer.count_params()``, totals count each weight once,
output shapes are written as the summary writes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .data import LayerRow, Totals
from .flops import layer_flops

# Layers that are really inputs: their output is the model's input, not an activation.
_INPUT_CLASSES = {"InputLayer"}


@dataclass
class Analysis:
    rows: list[LayerRow]
    totals: Totals
    input_shapes: list[str]
    output_shapes: list[str]
    warnings: list[str]
    kind: str
    paths: dict[tuple[str, ...], str] = field(default_factory=dict)  # layer path -> row anchor


def format_shape(shape: Any) -> str:
    """A shape as Keras's summary writes it: ``(None, 28, 28, 20)``."""
    return f"({', '.join(str(d) for d in shape)})"


def dtype_bytes(dtype: Any) -> int:
    from keras.src.backend import standardize_dtype
    from keras.src.utils.dtype_utils import dtype_size

    return max(1, dtype_size(standardize_dtype(dtype)) // 8)


def tensor_bytes(tensor: Any) -> int:
    """Bytes of one tensor at batch size 1 (a None dimension counts as 1)."""
    return math.prod(d or 1 for d in tensor.shape) * dtype_bytes(tensor.dtype)


def unique_weights(weights: list[Any]) -> list[Any]:
    # Keras dedups by identity too (summary_utils.weight_memory_size): a shared
    # layer's weights appear once however often the layer is called.
    return list({id(w): w for w in weights}.values())


def weight_count(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) for w in unique_weights(weights))


def weight_bytes(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) * dtype_bytes(w.dtype) for w in unique_weights(weights))


def model_kind(model: Any) -> str:
    from keras.src.models.functional import Functional
    from keras.src.models.sequential import Sequential

    if isinstance(model, Sequential):
        return "sequential"
    if isinstance(model, Functional):
        return "functional"
    return "subclassed"


def _graph(model: Any) -> Any:
    """The Functional graph behind a model: Sequential keeps one in ``_functional``."""
    if model_kind(model) == "sequential":
        return getattr(model, "_functional", None)
    return model if model_kind(model) == "functional" else None


def call_nodes(model: Any, layer: Any) -> list[Any]:
    """The calls of ``layer`` that belong to ``model``'s graph (a layer may be reused elsewhere)."""
    from keras.src.ops.function import make_node_key

    graph = _graph(model)
    nodes = list(getattr(layer, "_inbound_nodes", []))
    if graph is None or not hasattr(graph, "_nodes"):
        return nodes[-1:]
    return [node for i, node in enumerate(nodes) if make_node_key(layer, i) in graph._nodes]


def children(layer: Any) -> list[Any]:
    """Sub-layers listed under a layer: a nested model's layers, or the layers a layer tracks."""
    if (hasattr(layer, "layers") and model_kind(layer) != "subclassed") or hasattr(layer, "_functional"):
        return list(layer.layers)
    try:
        return list(layer._flatten_layers(include_self=False, recursive=False))
    except AttributeError:
        return []


def top_level(model: Any) -> list[Any]:
    """The rows of a model: its layers, plus the plain operations (``x + 3.0``) a Functional
    model calls inline. Keras's summary lists only layers, but those operations cost FLOPs
    and plot_model draws them, so we list them too."""
    if model_kind(model) == "functional":
        return list(model.operations)
    return list(model.layers)


def _flat(structure: Any) -> list[Any]:
    from keras import tree

    return [t for t in tree.flatten(structure) if hasattr(t, "shape")]


def output_shape_text(layer: Any, nodes: list[Any]) -> str:
    """Keras's ``format_layer_shape``: the last call's outputs; several outputs as a list."""
    from keras import tree

    if nodes:
        outputs = tree.map_structure(lambda t: format_shape(t.shape), nodes[-1].output_tensors)
    elif getattr(layer, "_inbound_nodes", None):
        outputs = tree.map_structure(lambda t: format_shape(t.shape), layer._inbound_nodes[-1].output_tensors)
    else:
        return "?"
    flat = tree.flatten(outputs)
    if len(flat) == 1:
        return str(flat[0])
    return str(outputs).replace("'", "")


def _size_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return "x".join(str(v) for v in value)


def activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    name = getattr(act, "name", None) or getattr(act, "__name__", None) or str(act)
    return None if name == "linear" and type(layer).__name__ != "Activation" else name


class _Walker:
    def __init__(self, slug: str, total_params: int) -> None:
        self.slug = slug
        self.total_params = total_params
        self.rows: list[LayerRow] = []
        self.paths: dict[tuple[str, ...], str] = {}
        self.unknown: set[str] = set()

    def walk(
        self,
        owner: Any,
        layers: list[Any],
        depth: int,
        parent: str | None,
        path: tuple[str, ...],
        in_parent: bool,
    ) -> tuple[int | None, int]:
        """Add rows for ``layers`` (owned by ``owner``); return their FLOPs and activation bytes."""
        flops_sum: int | None = 0
        act_sum = 0
        for layer in layers:
            flops, act = self.add(owner, layer, depth, parent, path, in_parent)
            flops_sum = None if flops is None or flops_sum is None else flops_sum + flops
            act_sum += act
        return flops_sum, act_sum

    def add(
        self, owner: Any, layer: Any, depth: int, parent: str | None, path: tuple[str, ...], in_parent: bool
    ) -> tuple[int | None, int]:
        cls = type(layer).__name__
        nodes = [] if in_parent else call_nodes(owner, layer)
        inputs = [t for node in nodes[-1:] for t in _flat(node.input_tensors)]
        sub = children(layer)
        is_model = hasattr(layer, "layers") and model_kind(layer) != "subclassed"
        anchor = f"{self.slug}-r{len(self.rows)}"
        self.paths[(*path, layer.name)] = anchor
        row_index = len(self.rows)
        self.rows.append(None)  # type: ignore[arg-type]  # placeholder: children follow their parent

        own_act = sum(tensor_bytes(t) for node in nodes for t in _flat(node.output_tensors))
        counted = not in_parent and cls not in _INPUT_CLASSES
        if is_model and nodes:
            inner_flops, inner_act = self.walk(
                layer, top_level(layer), depth + 1, layer.name, (*path, layer.name), False
            )
            flops = None if inner_flops is None else inner_flops * len(nodes)
            act_total = inner_act * len(nodes)
        else:
            # An input costs nothing; a sub-layer's cost is its parent's (the caller ignores it).
            flops = 0 if cls in _INPUT_CLASSES and not in_parent else None
            if counted:
                flops = 0
                for node in nodes:
                    f = layer_flops(
                        layer,
                        [tuple(t.shape) for t in _flat(node.input_tensors)],
                        [tuple(t.shape) for t in _flat(node.output_tensors)],
                    )
                    if f is None:
                        self.unknown.add(cls)
                        flops = None
                        break
                    flops += f
                if not nodes:
                    flops = None
                    self.unknown.add(cls)
            act_total = own_act if counted else 0
            # Sub-layers of a plain layer (an attention block's projections, a
            # wrapper's inner layer) are listed, but their cost is the parent's.
            self.walk(layer, sub, depth + 1, layer.name, (*path, layer.name), True)

        trainable = unique_weights(getattr(layer, "trainable_weights", []))
        params = (
            layer.count_params() if getattr(layer, "built", False) and hasattr(layer, "count_params") else 0
        )
        trainable_params = weight_count(trainable)
        outputs = [t for node in nodes[-1:] for t in _flat(node.output_tensors)]
        self.rows[row_index] = LayerRow(
            index=row_index,
            name=layer.name,
            class_name=cls,
            depth=depth,
            parent=parent,
            input_shapes=[format_shape(t.shape) for t in inputs],
            output_shape=output_shape_text(layer, nodes) if not in_parent else "?",
            params=params,
            trainable_params=trainable_params,
            non_trainable_params=params - trainable_params,
            trainable=bool(getattr(layer, "trainable", False)),
            dtype=str(outputs[0].dtype) if outputs else str(getattr(layer, "dtype", "") or ""),
            kernel=_size_text(getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)),
            strides=_size_text(getattr(layer, "strides", None)),
            activation=activation_name(layer),
            flops=flops,
            activation_bytes=own_act if nodes else None,
            connected_to=[
                t._keras_history.operation.name
                for node in nodes
                for t in _flat(node.input_tensors)
                if t._keras_history.operation is not None
            ],
            param_percent=100.0 * params / self.total_params if self.total_params else 0.0,
            has_children=bool(sub),
            anchor=anchor,
            counted_in_parent=in_parent,
        )
        return flops, act_total


def _longest_path(rows: list[LayerRow]) -> int:
    """Layers on the longest input-to-output path of the top-level graph (inputs excluded)."""
    top = [r for r in rows if r.depth == 0]
    length: dict[str, int] = {}
    for row in top:  # model.layers is in topological order
        here = 0 if row.class_name in _INPUT_CLASSES else 1
        length[row.name] = here + max((length.get(src, 0) for src in row.connected_to), default=0)
    return max(length.values(), default=0)


def analyse(model: Any, slug: str) -> Analysis:
    """Rows, totals and shapes of a built Keras model."""
    kind = model_kind(model)
    total = model.count_params()
    walker = _Walker(slug, total)
    if kind == "subclassed":
        flops, act = walker.walk(model, children(model), 0, None, (), True)
        flops = None
        warnings = [
            "Subclassed model: Keras records no connectivity between its layers, so the diagram "
            "is a single box and the table lists the sub-layers Keras tracks, without shapes or FLOPs."
        ]
    else:
        flops, act = walker.walk(model, top_level(model), 0, None, (), False)
        warnings = []
    if walker.unknown:
        warnings.append(
            "FLOPs are a lower bound: archreport cannot count these layer types: "
            + ", ".join(sorted(walker.unknown))
            + "."
        )
    rows = walker.rows
    known_flops = sum(r.flops or 0 for r in rows if r.depth == 0)
    inputs = _flat(getattr(model, "inputs", None) or [])
    # keras.applications models built without input_shape (MobileNetV3, EfficientNetV2, ...)
    # take any image size: their spatial dimensions are None, and every count that depends on
    # them is computed at size 1, far below the truth.
    open_inputs = [format_shape(t.shape) for t in inputs if any(d is None for d in tuple(t.shape)[1:])]
    if open_inputs:
        warnings.append(
            f"The input shape {', '.join(open_inputs)} has unknown dimensions besides the batch: FLOPs and "
            "memory are computed as if each were 1, so they are far too low. Give the model a fixed input "
            "shape (for example kwargs = { input_shape = [224, 224, 3] })."
        )
    outputs = _flat(getattr(model, "outputs", None) or [])
    input_bytes = sum(tensor_bytes(t) for t in inputs)
    param_bytes = weight_bytes(model.weights)
    trainable = weight_count(model.trainable_weights)
    totals = Totals(
        params=total,
        trainable_params=trainable,
        non_trainable_params=weight_count(model.non_trainable_weights),
        param_bytes=param_bytes,
        flops=flops if flops is not None else (known_flops if kind != "subclassed" else None),
        flops_lower_bound=flops is None or bool(open_inputs),
        macs=None
        if flops is None and kind == "subclassed"
        else (flops if flops is not None else known_flops) // 2,
        activation_bytes=act,
        input_bytes=input_bytes,
        inference_bytes=param_bytes + input_bytes + act,
        layers=len(model.layers),
        depth=_longest_path(rows) if kind != "subclassed" else 0,
    )
    return Analysis(
        rows=rows,
        totals=totals,
        input_shapes=[format_shape(t.shape) for t in inputs],
        output_shapes=[format_shape(t.shape) for t in outputs],
        warnings=warnings,
        kind=kind,
        paths=walker.paths,
    )
