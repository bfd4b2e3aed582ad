"""A model's graph as plain data -> deterministic, escaped, print-sized DOT source.

archreport.model.graph walks a Keras model as ``keras.utils.model_to_dot`` does
(same nodes, edges, clusters and label texts) and hands the result here as plain
data (:class:`Scope`, :class:`Cell`); this module writes the DOT. It fixes what
makes Keras's output unusable in a report:

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
from dataclasses import dataclass, field
from urllib.parse import quote

from archreport.manifest.schema import RANKDIRS, SPLINES_MODES, DiagramOptions
from archreport.units import visible

__all__ = [
    "RANKDIRS",
    "SPLINES_MODES",
    "Cell",
    "DiagramOptions",
    "Scope",
    "graph_source",
    "html_text",
    "label_html",
    "node_statement",
]

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
    """``units.visible``, with line breaks made newlines.

    Graphviz copies label text into SVG verbatim, so a control character or a
    lone surrogate in a layer name would make the SVG invalid XML, and a
    bidirectional control would make it read as another name. Newlines are
    kept; the callers decide how to show them.
    """
    return visible(text.replace("\r\n", "\n").replace("\r", "\n"))


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
    if s.startswith("]"):
        # Graphviz 2.43's HTML-label parser refuses a text that starts with "]" (a layer named
        # "]" was a syntax error); as a character reference it reads the same. Only there: a
        # "]" elsewhere (a shape list's) is parsed well, and the DOT stays as it was.
        s = "&#93;" + s[1:]
    if s and not s.strip("\t"):
        # Nor a text of tabs alone (a layer named "\t" was a syntax error), even as character
        # references: each is shown as its escape, as a hidden character is.
        s = "\\\\x09" * len(s)
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
class Cell:
    """One table cell: (text, bold) runs plus colours."""

    runs: tuple[tuple[str, bool], ...]
    bgcolor: str = CELL_BG
    color: str | None = None
    point_size: int = CELL_POINT_SIZE

    def text(self) -> str:
        return "".join(text for text, _ in self.runs)


def _cell_html(cell: Cell, colspan: int) -> str:
    runs = "".join(
        f"<b>{html_text(text)}</b>" if bold else html_text(text) for text, bold in cell.runs if text
    )
    color = f' color="{cell.color}"' if cell.color else ""
    span = f' colspan="{colspan}"' if colspan > 1 else ""
    return (
        f'<td bgcolor="{cell.bgcolor}"{span}><font point-size="{cell.point_size}"{color}>{runs}</font></td>'
    )


def label_html(rows: list[list[Cell]]) -> str:
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
# The graph as plain data, and its DOT source
# --------------------------------------------------------------------------


@dataclass
class Scope:
    """The root graph or one cluster: node statements and clusters in insertion order, and edges."""

    cluster_id: str | None = None
    label: str | None = None
    items: list[str | Scope] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


def node_statement(nid: str, id_prefix: str, rows: list[list[Cell]], anchor: str | None, tooltip: str) -> str:
    """One node's DOT statement: its id, its label, and a link to ``anchor`` with ``tooltip``."""
    attrs = [f"id={_dot_string(id_prefix + nid)}", f"label={label_html(rows)}"]
    if anchor is not None:
        attrs.append(f"URL={_url_fragment(anchor)}")
        attrs.append(f"tooltip={_tooltip(tooltip)}")
    return f"{nid} [{' '.join(attrs)}];"


def check_id_prefix(id_prefix: str) -> None:
    """Raise ValueError unless ``id_prefix`` is safe inside a DOT id and an HTML id."""
    if not _ID_PREFIX_RE.fullmatch(id_prefix):
        raise ValueError(f"id_prefix must match [A-Za-z0-9_.:-]*, got {id_prefix!r}")


class _Emitter:
    def __init__(self, id_prefix: str) -> None:
        self.prefix = id_prefix
        self.n_edges = 0

    def emit(self, scope: Scope, indent: str, lines: list[str]) -> None:
        for item in scope.items:
            if isinstance(item, Scope):
                self.emit_cluster(item, indent, lines)
            else:
                lines.append(indent + item)
        for src, dst in scope.edges:
            eid = _dot_string(f"{self.prefix}e{self.n_edges}")
            self.n_edges += 1
            lines.append(f"{indent}{src} -> {dst} [id={eid} penwidth=2];")

    def emit_cluster(self, cluster: Scope, indent: str, lines: list[str]) -> None:
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


def graph_source(root: Scope, options: DiagramOptions, *, id_prefix: str) -> str:
    """The DOT source of a graph: the graph's attributes, then ``root``'s statements, in order.

    The Graphviz ``id`` of the graph, each edge and cluster is ``id_prefix`` +
    ``graph``/``e0``/``cluster_0`` (node statements carry their own).
    """
    check_id_prefix(id_prefix)
    lines = [
        "digraph G {",
        f"\tid={_dot_string(id_prefix + 'graph')};",
        '\tcharset="UTF-8";',
        f'\trankdir="{options.rankdir}";',
        "\tconcentrate=true;",
        # layout.py swaps this exact line when it falls back to another mode.
        f'\tsplines="{options.splines}";',
        f'\tfontname="{FONT}";',
        "\tnodesep=0.2;",
        "\tranksep=0.3;",
        f'\tnode [shape=plain fontname="{FONT}" fontsize={CELL_POINT_SIZE}];',
        '\tedge [arrowsize=0.6 color="#455a64"];',
    ]
    _Emitter(id_prefix).emit(root, "\t", lines)
    lines.append("}")
    return "\n".join(lines) + "\n"
