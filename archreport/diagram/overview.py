"""A one-page overview of large or repetitive models, built from plain data (no Keras).

Runs of top-level layers that share a block name (``block_3_*``,
``conv2_block1_*``, or a NASNet cell's ``*_12`` suffix) and nested models become
single boxes that show their totals, so a model of hundreds of layers fits one page.
A run of identical blocks (a transformer's N layers) becomes one box marked ×N,
and the first block is drawn expanded beside it: its sub-layers and ops in the
order they ran, with the data flow between them (analyse.repeated_blocks).

:func:`plan` decides the boxes and their links as plain data (a :class:`Plan`), and
:func:`emit` writes the DOT source from it, so the grouping is tested without DOT.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from archreport import units
from archreport.data import LayerRow, RepeatedBlock
from archreport.diagram.dot import html_text

MIN_LAYERS = 100  # below this the full diagram is the overview
MARK_BG = "#3b6ea8"  # the report's accent colour (style.css --accent): "this box stands for N blocks"
_LEADING = re.compile(r"^([A-Za-z]+_?\d+)(?:_|$)")
_TRAILING = re.compile(r"_(\d+)$")


@dataclass
class Block:
    key: str
    rows: list[LayerRow] = field(default_factory=list)
    repeat: RepeatedBlock | None = None  # a run of identical blocks, folded into this box

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def flops(self) -> int | None:
        values = [r.flops for r in self.rows]
        return None if any(v is None for v in values) else sum(v or 0 for v in values)


@dataclass(frozen=True)
class Box:
    """One box of the overview, as it reads: a title, an optional "×N" mark and a detail line."""

    title: str
    mark: str  # "xN" on a run of identical blocks folded into this box, else ""
    detail: str
    anchor: str  # the row a click on the box opens (its first layer's)


@dataclass(frozen=True)
class Plan:
    """What the overview draws, decided before any DOT is written (:func:`plan`)."""

    boxes: list[Box]  # the data flow's boxes in order, then the boxes of runs hung below their owner
    edges: list[tuple[int, int]]  # data flow between boxes, by index
    hung: dict[int, int]  # a run's box (not in the flow) -> the flow's box that holds it
    runs: list[RepeatedBlock]  # every run of identical blocks: its first block is drawn expanded
    expands: dict[int, int]  # a run's index in ``runs`` -> the box its expanded block hangs below


class Named(Protocol):
    """What grouping reads of a layer row: a LayerRow, or the block diff's row read from a report.json."""

    @property
    def name(self) -> str: ...
    @property
    def class_name(self) -> str: ...
    @property
    def has_children(self) -> bool: ...


R = TypeVar("R", bound=Named)


_WORD = re.compile(r"(.)([A-Z][a-z]+)")
_HUMP = re.compile(r"([a-z])([A-Z])")


def _snake(name: str) -> str:
    # Keras's own rule for auto-names (keras.src.utils.naming.to_snake_case).
    return _HUMP.sub(r"\1_\2", _WORD.sub(r"\1_\2", name)).lower()


def auto_named(row: Named) -> bool:
    """``activation_22``, ``add_1``: a name Keras made up, which says nothing about the block."""
    # Without a regular expression built per row: the visual diff asks this of every row of
    # both sides of every model (checks/blocks.py).
    snake, name = _snake(row.class_name), row.name
    return name == snake or (name.startswith(snake + "_") and name[len(snake) + 1 :].isdigit())


def name_key(name: str) -> str | None:
    """The block a name starts with: ``block_3`` of ``block_3_expand``, ``conv2`` of ``conv2_block1_1_conv``."""
    match = _LEADING.match(name)
    return match.group(1) if match else None


def block_key(row: Named, trailing: bool) -> str | None:
    if auto_named(row):
        return None  # joins the block around it
    key = name_key(row.name)
    if key:
        return key
    match = _TRAILING.search(row.name) if trailing else None
    return f"cell {match.group(1)}" if match else row.name


def blocks(rows: list[LayerRow]) -> list[Block]:
    return [Block(key, members) for key, members in group_rows([r for r in rows if r.depth == 0])]


def group_rows(top: Sequence[R]) -> list[tuple[str, list[R]]]:
    """Top-level rows in runs that share a block name, each with its key, in order.

    Auto-named layers join the block around them; a nested model (a row with children) and
    an input start a block of their own. The visual diff groups both sides of a change the
    same way (checks/blocks.py).
    """
    # Trailing numbers name cells only when most layers carry one (NASNet); in a
    # model of auto-named layers (dense_1, activation_1) they mean nothing.
    named = [r for r in top if not auto_named(r)]
    trailing = sum(bool(_TRAILING.search(r.name)) for r in named) > 0.6 * max(1, len(named))
    out: list[tuple[str, list[R]]] = []
    for row in top:
        key = block_key(row, trailing)
        if (
            out
            and (key is None or out[-1][0] == key)
            and not row.has_children
            and row.class_name != "InputLayer"
        ):
            out[-1][1].append(row)
        else:
            out.append((key or row.name, [row]))
    return out


def _fold(groups: list[Block], repeated: list[RepeatedBlock]) -> tuple[list[Block], dict[int, int]]:
    """Merge each top-level run of identical blocks into one box.

    Returns the groups and, for each run folded, its index in ``repeated`` -> its group's index.
    """
    runs = {b.names[0]: n for n, b in enumerate(repeated) if b.parent is None}
    out: list[Block] = []
    folded: dict[int, int] = {}
    skip: set[str] = set()
    for group in groups:
        first = group.rows[0].name
        if first in skip:
            continue
        n = runs.get(first)
        if n is not None and len(group.rows) == 1:
            run = repeated[n]
            members = [g for g in groups if g.rows[0].name in run.names and len(g.rows) == 1]
            skip.update(run.names)
            folded[n] = len(out)
            out.append(Block(f"{run.names[0]} … {run.names[-1]}", [g.rows[0] for g in members], run))
        else:
            out.append(group)
    return out, folded


def _nested_fold(run: RepeatedBlock, rows: list[LayerRow]) -> Block | None:
    """A run inside a layer (ViT's blocks inside ``vit_encoder``) as one box of its own.

    Its owner stays one box in the flow; this box hangs below it, as the owner's
    sub-layers have no connections of their own to draw the flow with.
    """
    prefix = f"{run.parent}/" if run.parent else ""
    paths = {f"{prefix}{name}" for name in run.names}
    members = [r for r in rows if r.path in paths] or [r for r in rows if r.anchor == run.anchor]
    if not members:
        return None  # rows without the run's blocks: nothing to link the box to
    # No "inside <parent>" in its title: the dashed link from the owner's box and the expanded
    # block's label say it, and the widest box sets the scale the overview is printed at.
    return Block(f"{run.names[0]} … {run.names[-1]}", members, run)


def _label(title: str, detail: str, bg: str = "#263238", mark: str = "") -> str:
    """A box's label: a dark title cell, an optional ``mark`` cell (a run's "×N"), a detail cell.

    The mark has a cell of its own, so the title's text, which browsers draw about 1 % wider
    than Graphviz measures it, can never run over it.
    """
    # Larger type than the full diagram: the overview is shrunk to fit one page.
    marked = (
        f'<td bgcolor="{MARK_BG}"><font color="white" point-size="14"><b>{html_text(mark)}</b></font></td>'
        if mark
        else ""
    )
    return (
        '<<table border="0" cellborder="1" cellspacing="0" cellpadding="2">'
        f'<tr><td bgcolor="{bg}"><font color="white" point-size="14"><b>{html_text(title)}</b></font></td>'
        f'{marked}<td bgcolor="white"><font point-size="12">{html_text(detail)}</font></td></tr>'
        "</table>>"
    )


def _block_cluster(n: int, run: RepeatedBlock, id_prefix: str) -> list[str]:
    inside = f"inside {run.parent}: " if run.parent else ""
    title = f"{inside}{run.names[0]} ({run.class_name}), one of {run.count}"
    lines = [
        f"  subgraph cluster_r{n} {{",
        # The font the boxes use; a cluster label would otherwise fall back to Graphviz's Times (a serif).
        f'    id="{id_prefix}r{n}"; style=dashed; color="#607d8b"; labeljust=l; fontname="DejaVu Sans";',
        f'    label=<<font point-size="13">{html_text(title)}</font>>;',
    ]
    for i, node in enumerate(run.nodes):
        nid = f"r{n}n{i}"
        if node.kind in ("input", "output"):
            label = f"{node.name} {node.output_shape}"
            lines.append(
                f'    {nid} [id="{id_prefix}{nid}", shape=ellipse, fontsize=11, label="{_dot_text(label)}"];'
            )
            continue
        title_text = f"{node.name} ({node.class_name})" if node.class_name else node.name
        bg = "#263238" if node.kind == "layer" else "#546e7a"
        label = _label(title_text, f"{units.flops(node.flops)} · out {node.output_shape}", bg)
        url = f', URL="#{node.anchor}"' if node.anchor else ""
        lines.append(f'    {nid} [id="{id_prefix}{nid}"{url}, label={label}];')
    lines += [f'    r{n}n{a} -> r{n}n{b} [id="{id_prefix}r{n}e{k}"];' for k, (a, b) in enumerate(run.edges)]
    lines.append("  }")
    return lines


def _dot_text(text: str) -> str:
    return html_text(text).replace("\\", "\\\\")


def _groups(rows: list[LayerRow], repeated: list[RepeatedBlock]) -> list[Block] | None:
    """The top-level rows grouped into blocks, or None when the model gets no overview.

    A small model gets one only for its repeated blocks; a large one is grouped by block name,
    unless that leaves most layers alone (then only repeated blocks earn it an overview).
    """
    top = [r for r in rows if r.depth == 0]
    if len(top) >= MIN_LAYERS:
        groups = blocks(rows)
        if len(groups) <= 0.5 * len(top):
            return groups
    if not repeated:
        return None
    return [Block(r.name, [r]) for r in top]


def _box_of(block: Block) -> Box:
    first, last = block.rows[0], block.rows[-1]
    if block.repeat is not None:
        run = block.repeat
        detail = f"{units.si(run.params_each)} params · {units.flops(run.flops_each)} each · out {last.output_shape}"
        return Box(f"{block.key} ({run.class_name})", f"×{run.count}", detail, first.anchor)
    title = block.key if len(block.rows) > 1 else f"{first.name} ({first.class_name})"
    count = f"{len(block.rows)} layers · " if len(block.rows) > 1 else ""
    detail = f"{count}{units.si(block.params)} params · {units.flops(block.flops)} · out {last.output_shape}"
    return Box(title, "", detail, first.anchor)


def plan(rows: list[LayerRow], repeated: list[RepeatedBlock] | None = None) -> Plan | None:
    """The overview's boxes and links, or None when the model is small, has no repeated blocks, or does not group."""
    repeated = list(repeated or [])
    groups = _groups(rows, repeated)
    if groups is None:
        return None
    groups, expands = _fold(groups, repeated)
    where = {r.name: i for i, b in enumerate(groups) for r in b.rows}
    edges: dict[tuple[int, int], None] = {}  # in the order the rows name them, each once
    for row in [r for b in groups for r in b.rows]:
        for src in row.connected_to:
            a, b = where.get(src), where[row.name]
            if a is not None and a != b:
                edges[(a, b)] = None
    # Runs that did not fold into the flow (nested in a layer, or inside a named group):
    # a box each, after the flow's boxes, hung below the top-level box that holds them.
    hung: dict[int, int] = {}
    for n, run in enumerate(repeated):
        box = None if n in expands else _nested_fold(run, rows)
        if box is not None:
            owner = where.get((run.parent or run.names[0]).split("/")[0])
            expands[n] = len(groups)
            if owner is not None:
                hung[len(groups)] = owner
            groups.append(box)
    return Plan([_box_of(b) for b in groups], list(edges), hung, repeated, expands)


def emit(overview: Plan, *, id_prefix: str, rankdir: str = "TB") -> str:
    """The DOT source that draws ``overview``; every id starts with ``id_prefix``."""
    lines = [
        "digraph overview {",
        f'  graph [rankdir={rankdir}, id="{id_prefix}graph", nodesep=0.15, ranksep=0.18, charset="UTF-8"];',
        # Its own statement, in the exact form graphviz.with_splines replaces: inside
        # graph [...] the fallbacks could not change it and every retry reran "spline".
        '\tsplines="spline";',
        '  node [shape=plaintext, fontname="DejaVu Sans", margin=0];',
        '  edge [penwidth=1.5, color="#455a64"];',
    ]
    for i, box in enumerate(overview.boxes):
        label = _label(box.title, box.detail, mark=box.mark)
        lines.append(f'  o{i} [id="{id_prefix}o{i}", URL="#{box.anchor}", label={label}];')
    lines += [f'  o{a} -> o{b} [id="{id_prefix}oe{n}"];' for n, (a, b) in enumerate(overview.edges)]
    # "Holds", not data flow: dashed and without an arrowhead, like the expanded block's link.
    lines += [
        f'  o{owner} -> o{box} [id="{id_prefix}ox{box}", style=dashed, arrowhead=none];'
        for box, owner in overview.hung.items()
    ]
    for n, run in enumerate(overview.runs):
        lines += _block_cluster(n, run, id_prefix)
        if n in overview.expands:
            # Below the "xN" box it expands, so the page stays tall, not wide (a constraint edge).
            lines.append(
                f'  o{overview.expands[n]} -> r{n}n0 [id="{id_prefix}rx{n}", style=dashed, arrowhead=none];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def overview_dot(
    rows: list[LayerRow], *, id_prefix: str, rankdir: str = "TB", repeated: list[RepeatedBlock] | None = None
) -> str | None:
    """DOT source of the overview, or None when the model is small, has no repeated blocks, or does not group."""
    decided = plan(rows, repeated)
    return None if decided is None else emit(decided, id_prefix=id_prefix, rankdir=rankdir)
