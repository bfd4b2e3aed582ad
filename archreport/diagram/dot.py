"""Keras model -> deterministic, escaped, print-sized DOT source.

This is a re-implementation of ``keras.utils.model_to_dot`` that keeps Keras's
graph (same nodes, edges, clusters and label texts) but fixes what makes
Keras's output unusable in a report:

* node ids are ``n0, n1, ...`` in traversal order instead of ``id(layer)``,
  so the DOT and SVG are byte-identical from run to run;
* every piece of user text is escaped for Graphviz HTML-like labels (and for
  Graphviz's own backslash escapes such as ``\\N``), so no layer name can
  inject markup, break the DOT syntax or make Graphviz load a file;
* labels use small fonts and little padding so the drawing fits on paper.

Laying the source out is :mod:`archreport.diagram.layout`'s job. The module imports
without TensorFlow; Keras is imported inside :func:`model_to_dot` only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from urllib.parse import quote

from archreport.manifest.schema import RANKDIRS, SPLINES_MODES, DiagramOptions
from archreport.model import keras_compat

__all__ = ["RANKDIRS", "SPLINES_MODES", "DiagramOptions", "html_text", "model_to_dot"]

# text metrics, and therefore the layout, do not depend on a Helvetica
# substitute chosen by fontconfig.
FONT = "DejaVu Sans"
HEADER_POINT_SIZE = 10
CELL_POINT_SIZE = 9
CELL_PADDING = 2
HEADER_BG = "#263238"  # dark slate: reads like Keras's black header row
HEADER_FG = "white"
CELL_BG = "white"
BORDER_COLOR = "#607d8b"
TRAINABLE_BG = "forestgreen"  # Keras's colours for the trainable cells
NON_TRAINABLE_BG = "firebrick"

_ID_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]*")


# --------------------------------------------------------------------------
# Escaping
# --------------------------------------------------------------------------


def _visible(text: str) -> str:
    """Replace characters that cannot appear in XML by visible escapes.

    Graphviz copies label text into SVG verbatim, so a control character or a
    lone surrogate in a layer name would make the SVG invalid XML.  Newlines
    are kept; the callers decide how to show them.
    """
    out = []
    for ch in text.replace("\r\n", "\n").replace("\r", "\n"):
        code = ord(ch)
        category = unicodedata.category(ch)
        if ch == "\n":
            out.append(ch)
        elif category in ("Cc", "Cs") or code in (0xFFFE, 0xFFFF):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def html_text(text: object) -> str:
    """Escape user text for a Graphviz HTML-like label.

    Graphviz applies its escString substitutions (``\\N`` -> node name,
    ``\\G`` -> graph name, ...) even inside HTML labels, *after* decoding
    entities, so backslashes are doubled rather than written as ``&#92;``.
    A newline becomes ``<br/>``.
    """
    s = _visible(str(text)).replace("\\", "\\\\")
    s = (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )
    return s.replace("\n", "<br/>")


def _dot_string(text: str) -> str:
    """Quote a DOT string that contains no user text (ids, fixed values)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tooltip(text: str) -> str:
    """Quote user text for the ``tooltip`` attribute.

    Graphviz runs escString expansion on tooltips twice, so one literal
    backslash needs four in the source.  It writes ``&...;`` sequences to SVG
    without re-escaping them, hence the entity escaping here.
    """
    s = _visible(text).replace("\n", " ")
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("\\", "\\\\\\\\").replace('"', '\\"')
    return '"' + s + '"'


def _url_fragment(anchor: str) -> str:
    """``#anchor`` with everything outside a conservative set percent-encoded.

    No backslash, quote, ``&`` or ``<`` can reach Graphviz this way; browsers
    percent-decode the fragment before matching it against element ids.
    """
    return '"#' + quote(anchor, safe="-._~:!$()*+,;=@/") + '"'


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """One table cell: (text, bold) runs plus colours."""

    runs: tuple[tuple[str, bool], ...]
    bgcolor: str = CELL_BG
    color: str | None = None
    point_size: int = CELL_POINT_SIZE

    def text(self) -> str:
        return "".join(text for text, _ in self.runs)


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


def layer_cells(layer: Any, options: DiagramOptions, shapes: ShapeTexts | None = None) -> list[list[_Cell]]:
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
    rows = [[_Cell(header, HEADER_BG, HEADER_FG, HEADER_POINT_SIZE)]]
    if options.show_layer_activations and hasattr(layer, "activation") and layer.activation is not None:
        rows.append([_Cell((("Activation: ", False), (activation_name(layer), True)))])
    cols: list[_Cell] = []
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
            cols.append(_Cell((("Input shape: ", False), (input_text, True))))
        cols.append(_Cell((("Output shape: ", False), (output_text, True))))
    if options.show_dtype:
        dtype = _io_structure(layer, "output", "dtype")
        dtype = None if dtype is _FAILED else dtype
        cols.append(_Cell((("Output dtype: ", False), (f"{dtype or '?'}", True))))
    if options.show_trainable and hasattr(layer, "trainable") and layer.weights:
        if layer.trainable:
            cols.append(_Cell((("Trainable", True),), TRAINABLE_BG, "white"))
        else:
            cols.append(_Cell((("Non-trainable", True),), NON_TRAINABLE_BG, "white"))
    if cols:
        rows.append(cols)
    return rows


def _cell_html(cell: _Cell, colspan: int) -> str:
    runs = "".join(
        f"<b>{html_text(text)}</b>" if bold else html_text(text) for text, bold in cell.runs if text
    )
    color = f' color="{cell.color}"' if cell.color else ""
    span = f' colspan="{colspan}"' if colspan > 1 else ""
    return (
        f'<td bgcolor="{cell.bgcolor}"{span}><font point-size="{cell.point_size}"{color}>{runs}</font></td>'
    )


def label_html(rows: list[list[_Cell]]) -> str:
    """The HTML-like label (including the outer ``<>``) for rows of cells."""
    width = max(len(row) for row in rows)
    parts = [
        f'<<table border="0" cellborder="1" cellspacing="0" '
        f'cellpadding="{CELL_PADDING}" color="{BORDER_COLOR}">'
    ]
    for row in rows:
        # A single cell spans the whole table, as keras's header does.
        colspan = width if len(row) == 1 else 1
        parts.append("<tr>" + "".join(_cell_html(c, colspan) for c in row) + "</tr>")
    parts.append("</table>>")
    return "".join(parts)


# --------------------------------------------------------------------------
# Graph traversal (mirrors keras.src.utils.model_visualization.model_to_dot)
# --------------------------------------------------------------------------


@dataclass
class _Scope:
    """The root graph or one cluster: statements in insertion order."""

    cluster_id: str | None = None
    label: str | None = None
    items: list[str | _Scope] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


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
        self.n_edges = 0

    def node_id(self, layer: Any) -> str:
        return self.node_ids[id(layer)]

    def add_node(self, scope: _Scope, layer: Any, path: tuple[str, ...]) -> None:
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
        attrs = [
            f"id={_dot_string(self.prefix + nid)}",
            f"label={label_html(layer_cells(layer, self.options, self.shapes_for(path)))}",
        ]
        anchor = self.anchor_for(path)
        if anchor is not None:
            attrs.append(f"URL={_url_fragment(anchor)}")
            attrs.append(f"tooltip={_tooltip(str(layer.name))}")
        return f"{nid} [{' '.join(attrs)}];"

    def add_edge(self, scope: _Scope, src: Any, dst: Any) -> None:
        # keras's add_edge: one edge per (src, dst) within the same graph.
        edge = (self.node_id(src), self.node_id(dst))
        if edge not in scope.edges:
            scope.edges.append(edge)

    @staticmethod
    def is_model(layer: Any) -> bool:
        return keras_compat.is_graph_model(layer)

    def build(self, model: Any, scope: _Scope, path: tuple[str, ...]) -> None:
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
                cluster = _Scope(f"cluster_{self.n_clusters}", str(layer.name))
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

    def connect(self, model: Any, scope: _Scope, layers: Sequence[Any]) -> None:
        functional = keras_compat.model_kind(model) == "functional"
        for layer in layers:
            for inbound_index, inbound_node in enumerate(keras_compat.inbound_nodes(layer)):
                if functional and not keras_compat.node_in_graph(model, layer, inbound_index):
                    continue  # the layer was called in another model
                for input_index, tensor in enumerate(inbound_node.input_tensors):
                    made_by = keras_compat.producer(tensor)
                    if made_by is None:
                        continue  # an Input tensor
                    operation, node_index, tensor_index = made_by
                    source = keras_compat.inbound_nodes(operation)[node_index].operation
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

    def emit(self, scope: _Scope, indent: str, lines: list[str]) -> None:
        for item in scope.items:
            if isinstance(item, _Scope):
                self.emit_cluster(item, indent, lines)
            else:
                lines.append(indent + item)
        for src, dst in scope.edges:
            eid = _dot_string(f"{self.prefix}e{self.n_edges}")
            self.n_edges += 1
            lines.append(f"{indent}{src} -> {dst} [id={eid} penwidth=2];")

    def emit_cluster(self, cluster: _Scope, indent: str, lines: list[str]) -> None:
        inner = indent + "\t"
        label = html_text(cluster.label or "")
        lines.append(f"{indent}subgraph {cluster.cluster_id} {{")
        lines.append(f"{inner}id={_dot_string(self.prefix + str(cluster.cluster_id))};")
        lines.append(f'{inner}label=<<font point-size="{HEADER_POINT_SIZE}">{label}</font>>;')
        lines.append(f"{inner}labeljust=l;")
        lines.append(f"{inner}style=dashed;")
        lines.append(f'{inner}color="{BORDER_COLOR}";')
        self.emit(cluster, inner, lines)
        lines.append(f"{indent}}}")


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
    if not _ID_PREFIX_RE.fullmatch(id_prefix):
        raise ValueError(f"id_prefix must match [A-Za-z0-9_.:-]*, got {id_prefix!r}")
    if not model.built:
        raise ValueError(
            "This model has not yet been built. Build the model first by "
            "calling `build()` or by calling the model on a batch of data."
        )
    builder = _Builder(options, id_prefix, anchor_for, shapes_for)
    root = _Scope()
    builder.build(model, root, ())
    lines = [
        "digraph G {",
        f"\tid={_dot_string(id_prefix + 'graph')};",
        '\tcharset="UTF-8";',
        f'\trankdir="{options.rankdir}";',
        "\tconcentrate=true;",
        # render() swaps this exact line when it falls back to another mode.
        f'\tsplines="{options.splines}";',
        f'\tfontname="{FONT}";',
        "\tnodesep=0.2;",
        "\tranksep=0.3;",
        f'\tnode [shape=plain fontname="{FONT}" fontsize={CELL_POINT_SIZE}];',
        '\tedge [arrowsize=0.6 color="#455a64"];',
    ]
    builder.emit(root, "\t", lines)
    lines.append("}")
    return "\n".join(lines) + "\n"
