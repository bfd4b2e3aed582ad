"""A one-box-per-block overview of large models, built from the layer rows (no Keras).

Runs of top-level layers that share a block name (``block_3_*``,
``conv2_block1_*``, or a NASNet cell's ``*_12`` suffix) and nested models become
single boxes that show their totals, so a model of hundreds of layers fits one page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import units
from .data import LayerRow
from .dot import html_text

MIN_LAYERS = 100  # below this the full diagram is the overview
_LEADING = re.compile(r"^([A-Za-z]+_?\d+)(?:_|$)")
_TRAILING = re.compile(r"_(\d+)$")


@dataclass
class Block:
    key: str
    rows: list[LayerRow] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def flops(self) -> int | None:
        values = [r.flops for r in self.rows]
        return None if any(v is None for v in values) else sum(v or 0 for v in values)


def _snake(name: str) -> str:
    # Keras's own rule for auto-names (keras.src.utils.naming.to_snake_case).
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_named(row: LayerRow) -> bool:
    """``activation_22``, ``add_1``: a name Keras made up, which says nothing about the block."""
    return re.fullmatch(rf"{re.escape(_snake(row.class_name))}(_\d+)?", row.name) is not None


def block_key(row: LayerRow, trailing: bool) -> str | None:
    if auto_named(row):
        return None  # joins the block around it
    match = _LEADING.match(row.name)
    if match:
        return match.group(1)
    match = _TRAILING.search(row.name) if trailing else None
    return f"cell {match.group(1)}" if match else row.name


def blocks(rows: list[LayerRow]) -> list[Block]:
    top = [r for r in rows if r.depth == 0]
    # Trailing numbers name cells only when most layers carry one (NASNet); in a
    # model of auto-named layers (dense_1, activation_1) they mean nothing.
    named = [r for r in top if not auto_named(r)]
    trailing = sum(bool(_TRAILING.search(r.name)) for r in named) > 0.6 * max(1, len(named))
    out: list[Block] = []
    for row in top:
        key = block_key(row, trailing)
        if (
            out
            and (key is None or out[-1].key == key)
            and not row.has_children
            and row.class_name != "InputLayer"
        ):
            out[-1].rows.append(row)
        else:
            out.append(Block(key or row.name, [row]))
    return out


def overview_dot(rows: list[LayerRow], *, id_prefix: str, rankdir: str = "TB") -> str | None:
    """DOT source of the overview, or None when the model is small or does not group."""
    top = [r for r in rows if r.depth == 0]
    if len(top) < MIN_LAYERS:
        return None
    groups = blocks(rows)
    if len(groups) > 0.5 * len(top):
        return None
    where = {r.name: i for i, b in enumerate(groups) for r in b.rows}
    lines = [
        "digraph overview {",
        f'  graph [rankdir={rankdir}, id="{id_prefix}graph", nodesep=0.15, ranksep=0.18, charset="UTF-8"];',
        # Its own statement, in the exact form graphviz.with_splines replaces: inside
        # graph [...] the fallbacks could not change it and every retry reran "spline".
        '\tsplines="spline";',
        '  node [shape=plaintext, fontname="DejaVu Sans", margin=0];',
        '  edge [penwidth=1.5, color="#455a64"];',
    ]
    for i, block in enumerate(groups):
        first, last = block.rows[0], block.rows[-1]
        title = block.key if len(block.rows) > 1 else f"{first.name} ({first.class_name})"
        count = f"{len(block.rows)} layers · " if len(block.rows) > 1 else ""
        # Larger type than the full diagram: the overview is shrunk to fit one page.
        label = (
            '<<table border="0" cellborder="1" cellspacing="0" cellpadding="2">'
            f'<tr><td bgcolor="#263238"><font color="white" point-size="14"><b>{html_text(title)}</b></font></td>'
            f'<td bgcolor="white"><font point-size="12">{html_text(count)}{html_text(units.si(block.params))} params · '
            f"{html_text(units.flops(block.flops))} · out {html_text(last.output_shape)}</font></td></tr>"
            "</table>>"
        )
        lines.append(f'  o{i} [id="{id_prefix}o{i}", URL="#{first.anchor}", label={label}];')
    edges: dict[tuple[int, int], None] = {}
    for row in [r for b in groups for r in b.rows]:
        for src in row.connected_to:
            a, b = where.get(src), where[row.name]
            if a is not None and a != b:
                edges[(a, b)] = None
    lines += [f'  o{a} -> o{b} [id="{id_prefix}oe{n}"];' for n, (a, b) in enumerate(edges)]
    lines.append("}")
    return "\n".join(lines) + "\n"
