"""A Keras model's graph for its diagram, read as ``keras.utils.model_to_dot`` reads it.

The same nodes, edges, clusters and label texts as Keras's own (tests/test_diagram.py
compares them), walked here, where Keras may be read, and handed to
:mod:`archreport.diagram.dot` as plain data, which writes the DOT. Node ids are
``n0, n1, ...`` in traversal order instead of ``id(layer)``, so the source is the same
on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from archreport.diagram.dot import (
    HEADER_BG,
    HEADER_FG,
    HEADER_POINT_SIZE,
    NON_TRAINABLE_BG,
    TRAINABLE_BG,
    Cell,
    DiagramOptions,
    Scope,
    check_id_prefix,
    graph_source,
    node_statement,
)
from archreport.model import keras_compat

__all__ = ["activation_name", "layer_cells", "model_to_dot"]


def activation_name(layer: Any) -> str:
    """The name of ``layer.activation`` as Keras's diagram labels write it (its precedence)."""
    if hasattr(layer.activation, "name"):
        return str(layer.activation.name)
    if hasattr(layer.activation, "__name__"):
        return str(layer.activation.__name__)
    return str(layer.activation)


def _format_shape(shape: Any) -> str:
    # Verbatim copy of format_shape in keras's make_layer_label.
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        shape_str = ", ".join(f"{k}: {v}" for k, v in shape.items())
    else:
        shape_str = f"{shape}"
    return shape_str.replace("}", "").replace("{", "")


_FAILED = object()


def _io_structure(layer: Any, attr: str, leaf: str) -> Any:
    """``tree.map_structure(lambda x: x.<leaf>, layer.<attr>)`` or _FAILED.

    Keras catches ValueError/AttributeError (a layer with several inbound
    nodes, a subclassed model without symbolic inputs); the extra types only
    keep a report from dying on an odd layer, they show "?" like Keras does.
    """
    from keras import tree

    try:
        return tree.map_structure(lambda x: getattr(x, leaf), getattr(layer, attr))
    except (ValueError, AttributeError, TypeError, KeyError, IndexError):
        return _FAILED


# A layer's input and output shape texts as the report traced them, replacing Keras's own.
ShapeTexts = tuple[str | None, str | None]


def layer_cells(layer: Any, options: DiagramOptions, shapes: ShapeTexts | None = None) -> list[list[Cell]]:
    """Rows of cells with exactly the texts and order of keras's labels.

    ``shapes`` replaces the shape texts Keras would read from the layer's graph node: a model
    traced at declared input shapes shows those, not the open ``None`` its graph holds.
    """
    class_name = layer.__class__.__name__
    header: tuple[tuple[str, bool], ...]
    if options.show_layer_names:
        header = ((str(layer.name), True), (f" ({class_name})", False))
    else:
        header = ((class_name, True),)
    rows = [[Cell(header, HEADER_BG, HEADER_FG, HEADER_POINT_SIZE)]]
    if options.show_layer_activations and hasattr(layer, "activation") and layer.activation is not None:
        rows.append([Cell((("Activation: ", False), (activation_name(layer), True)))])
    cols: list[Cell] = []
    if options.show_shapes:
        # keras reads both inside one try block: when the input fails the
        # output is not read either.
        input_shape = _io_structure(layer, "input", "shape")
        output_shape = None if input_shape is _FAILED else _io_structure(layer, "output", "shape")
        input_shape = None if input_shape is _FAILED else input_shape
        output_shape = None if output_shape is _FAILED else output_shape
        input_text, output_text = _format_shape(input_shape), _format_shape(output_shape)
        if shapes is not None:
            input_text, output_text = shapes[0] or input_text, shapes[1] or output_text
        if class_name != "InputLayer":
            cols.append(Cell((("Input shape: ", False), (input_text, True))))
        cols.append(Cell((("Output shape: ", False), (output_text, True))))
    if options.show_dtype:
        dtype = _io_structure(layer, "output", "dtype")
        dtype = None if dtype is _FAILED else dtype
        cols.append(Cell((("Output dtype: ", False), (f"{dtype or '?'}", True))))
    if options.show_trainable and hasattr(layer, "trainable") and layer.weights:
        if layer.trainable:
            cols.append(Cell((("Trainable", True),), TRAINABLE_BG, "white"))
        else:
            cols.append(Cell((("Non-trainable", True),), NON_TRAINABLE_BG, "white"))
    if cols:
        rows.append(cols)
    return rows


class _Builder:
    def __init__(
        self,
        options: DiagramOptions,
        id_prefix: str,
        anchor_for: Callable[[tuple[str, ...]], str | None],
        shapes_for: Callable[[tuple[str, ...]], ShapeTexts | None],
    ) -> None:
        self.options = options
        self.prefix = id_prefix
        self.anchor_for = anchor_for
        self.shapes_for = shapes_for
        # id(layer) -> node id; `layers` keeps the objects alive so no id()
        # can be reused by another object while we build.
        self.node_ids: dict[int, str] = {}
        self.node_stmts: dict[str, str] = {}
        self.layers: list[Any] = []
        self.n_clusters = 0

    def node_id(self, layer: Any) -> str:
        return self.node_ids[id(layer)]

    def add_node(self, scope: Scope, layer: Any, path: tuple[str, ...]) -> None:
        key = id(layer)
        if key not in self.node_ids:
            # The first path a layer is met under names its anchor.
            nid = f"n{len(self.node_ids)}"
            self.node_ids[key] = nid
            self.layers.append(layer)
            self.node_stmts[nid] = self.node_stmt(nid, layer, path)
        # keras adds a node statement at every occurrence; so do we.
        scope.items.append(self.node_stmts[self.node_ids[key]])

    def node_stmt(self, nid: str, layer: Any, path: tuple[str, ...]) -> str:
        cells = layer_cells(layer, self.options, self.shapes_for(path))
        return node_statement(nid, self.prefix, cells, self.anchor_for(path), str(layer.name))

    def add_edge(self, scope: Scope, src: Any, dst: Any) -> None:
        # keras's add_edge: one edge per (src, dst) within the same graph.
        edge = (self.node_id(src), self.node_id(dst))
        if edge not in scope.edges:
            scope.edges.append(edge)

    @staticmethod
    def is_model(layer: Any) -> bool:
        return keras_compat.is_graph_model(layer)

    def build(self, model: Any, scope: Scope, path: tuple[str, ...]) -> None:
        expand = self.options.expand_nested
        kind = keras_compat.model_kind(model)
        if kind == "sequential":
            layers = model.layers
        elif kind == "subclassed":
            # Subclassed models are a single node (path () at the top level).
            self.add_node(scope, model, path)
            return
        else:
            layers = keras_compat.graph_operations(model)

        for layer in layers:
            sub_path = (*path, str(layer.name))
            if expand and self.is_model(layer):
                cluster = Scope(f"cluster_{self.n_clusters}", str(layer.name))
                self.n_clusters += 1
                self.build(layer, cluster, sub_path)
                scope.items.append(cluster)
            else:
                self.add_node(scope, layer, sub_path)

        if kind == "sequential":
            if not expand:
                for src, dst in pairwise(layers):
                    self.add_edge(scope, src, dst)
                return
            # The InputLayer is not drawn for Sequential models; the edge into
            # the first layer comes from the enclosing model.
            layers = model.layers[1:]
        self.connect(model, scope, layers)

    def connect(self, model: Any, scope: Scope, layers: Sequence[Any]) -> None:
        functional = keras_compat.model_kind(model) == "functional"
        for layer in layers:
            for inbound_index, inbound_node in enumerate(keras_compat.inbound_nodes(layer)):
                if functional and not keras_compat.node_in_graph(model, layer, inbound_index):
                    continue  # the layer was called in another model
                for input_index, tensor in enumerate(keras_compat.node_inputs(inbound_node)):
                    made_by = keras_compat.producer(tensor)
                    if made_by is None:
                        continue  # an Input tensor
                    operation, node_index, tensor_index = made_by
                    source = keras_compat.node_operation(keras_compat.inbound_nodes(operation)[node_index])
                    if not self.options.expand_nested:
                        self.add_edge(scope, source, layer)
                        continue
                    source = self.resolve_source(source, tensor_index)
                    destination = self.resolve_destination(layer, input_index)
                    self.add_edge(scope, source, destination)

    def resolve_source(self, source: Any, output_index: int) -> Any:
        # A nested model has no output box: follow its outputs down to the
        # real layer producing the tensor.
        while self.is_model(source):
            made_by = keras_compat.producer(source.outputs[output_index])
            if made_by is None:
                break
            source, _, output_index = made_by
        return source

    def resolve_destination(self, destination: Any, input_index: int) -> Any:
        # Functional: its InputLayer; Sequential: its first drawn layer.
        while self.is_model(destination):
            if keras_compat.model_kind(destination) == "functional":
                made_by = keras_compat.producer(destination.inputs[input_index])
                if made_by is None:
                    break
                destination = made_by[0]
            else:
                destination = destination.layers[0]
        return destination


def model_to_dot(
    model: Any,
    options: DiagramOptions,
    *,
    id_prefix: str,
    anchor_for: Callable[[tuple[str, ...]], str | None] = lambda path: None,
    shapes_for: Callable[[tuple[str, ...]], ShapeTexts | None] = lambda path: None,
) -> str:
    """Deterministic DOT source for `model`.

    Same nodes, edges, clusters and label texts as ``keras.utils.model_to_dot``
    with the same display options.  Node ids are ``n0, n1, ...`` in traversal
    order, clusters ``cluster_0, ...``; the Graphviz ``id`` of the graph, each
    node, edge and cluster is ``id_prefix`` + ``graph``/``n0``/``e0``/
    ``cluster_0``.  ``anchor_for(path)`` (path = layer names from the top model
    down; ``()`` for the single node of a subclassed model) may return an HTML
    id: the node then links to ``#<id>`` and gets the layer name as tooltip.
    ``shapes_for(path)`` may return the (input, output) shape texts to show instead of
    Keras's.
    """
    if not model.built:
        raise ValueError(
            "This model has not yet been built. Build the model first by "
            "calling `build()` or by calling the model on a batch of data."
        )
    check_id_prefix(id_prefix)
    builder = _Builder(options, id_prefix, anchor_for, shapes_for)
    root = Scope()
    builder.build(model, root, ())
    return graph_source(root, options, id_prefix=id_prefix)
