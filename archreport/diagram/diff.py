"""DOT of one side of a visual diff: a model's blocks, coloured by what changed (from plain data).

checks/blocks.py decides what each node is (a layer, a named block, or a run of
identical blocks drawn once with ×N) and how it changed; this writes it. Both
sides of a change are drawn by this one function from report.json's rows, so the
baseline's picture needs nothing but its report.json, and the two pictures differ
only where the model did.

A node's change is said three ways: its colour, a sign before its title (+ added,
− removed, ~ changed, × repeats changed) for readers who cannot tell the colours
apart or print in grey, and its id: nodes that are the same block on both sides
share their id's tail (``m3``), which the report's viewer uses to find a node's
counterpart on the other side.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from archreport import units
from archreport.diagram.dot import FONT, check_id_prefix, html_text

# status -> (title background, detail background, border, sign)
STYLES = {
    "same": ("#263238", "white", "#607d8b", ""),
    "added": ("#137333", "#e6f4ea", "#137333", "+ "),
    "removed": ("#b42318", "#fce8e6", "#b42318", "− "),
    "changed": ("#9a5b00", "#fef3d6", "#9a5b00", "~ "),
    "repeat": ("#9a5b00", "#fef3d6", "#9a5b00", "× "),
}
LEGEND = (("added", "added"), ("removed", "removed"), ("changed", "changed"), ("repeat", "repeats changed"))


def node_id(id_prefix: str, node: dict[str, Any], index: int) -> str:
    """``<prefix>m3`` for a node matched with one on the other side (the same tail there), else ``<prefix>u7``."""
    match = node.get("match")
    return f"{id_prefix}m{match}" if isinstance(match, int) else f"{id_prefix}u{index}"


def _title(node: dict[str, Any]) -> str:
    first, last = str(node.get("key", "")), str(node.get("last", ""))
    name = f"{first} … {last}" if node.get("count", 1) > 1 and last != first else first
    kind = node.get("class_name")
    return f"{name} ({kind})" if kind and node.get("count", 1) == 1 else name


def _mark(node: dict[str, Any], current: bool) -> str:
    count, before = node.get("count", 1), node.get("before")
    if node.get("status") == "repeat" and current and isinstance(before, int):
        return f"×{before} → ×{count}"
    return f"×{count}" if count > 1 else ""


def _detail(node: dict[str, Any]) -> str:
    layers = node.get("layers", 1)
    each = " each" if node.get("count", 1) > 1 else ""
    inside = f"{layers} layers · " if layers > 1 else ""
    return f"{inside}{units.si(node.get('params', 0))} params{each} · out {node.get('output_shape', '')}"


def _label(node: dict[str, Any], current: bool) -> str:
    title_bg, detail_bg, _, sign = STYLES.get(str(node.get("status")), STYLES["same"])
    mark = _mark(node, current)
    marked = (
        f'<td bgcolor="{title_bg}"><font color="white" point-size="12"><b>{html_text(mark)}</b></font></td>'
        if mark
        else ""
    )
    span = ' colspan="2"' if mark else ""
    return (
        '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
        f'<tr><td bgcolor="{title_bg}" align="left"><font color="white" point-size="11"><b>{html_text(sign + _title(node))}</b></font></td>{marked}</tr>'
        f'<tr><td bgcolor="{detail_bg}" align="left"{span}><font point-size="9">{html_text(_detail(node))}</font></td></tr>'
        "</table>>"
    )


def side_dot(side: dict[str, Any], *, id_prefix: str, current: bool, link: bool = False) -> str:
    """The DOT of one side (``{"nodes": [...], "edges": [[a, b], ...]}``).

    Args:
        side: one side of compare.py's ``graph``.
        id_prefix: the start of every id in the SVG (unique in the report).
        current: this is the current side (a repeat's mark reads "×5 → ×22" there).
        link: link each node to its first layer's row (``anchor``), for the current side.
    """
    check_id_prefix(id_prefix)
    lines = [
        "digraph diff {",
        f'\tgraph [id="{id_prefix}graph", rankdir=TB, nodesep=0.2, ranksep=0.25, charset="UTF-8"];',
        # Its own statement, which layout.with_splines replaces when it falls back.
        '\tsplines="spline";',
        f'\tnode [shape=plaintext, fontname="{FONT}", margin=0];',
        '\tedge [penwidth=1.2, arrowsize=0.6, color="#455a64"];',
    ]
    for i, node in enumerate(side.get("nodes") or []):
        nid = node_id(id_prefix, node, i)
        anchor = node.get("anchor")
        url = f', URL="#{quote(str(anchor), safe="-._~")}"' if link and anchor else ""
        lines.append(f'\tn{i} [id="{nid}"{url}, label={_label(node, current)}];')
    for k, (a, b) in enumerate(side.get("edges") or []):
        lines.append(f'\tn{a} -> n{b} [id="{id_prefix}e{k}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def counts(side: dict[str, Any]) -> dict[str, int]:
    """How many nodes of a side have each status other than "same"."""
    out: dict[str, int] = {}
    for node in side.get("nodes") or []:
        status = str(node.get("status"))
        if status != "same":
            out[status] = out.get(status, 0) + 1
    return out
