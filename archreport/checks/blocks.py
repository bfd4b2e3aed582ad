"""A model's blocks and the block-level diff of two versions of it: what the visual diff draws.

Layer rows are matched by path (compare.py). A reviewer reads a change at the level
of blocks, though: adding a 13th identical block to a run of 12 is one change ("×12 →
×13"), not a hundred new layers. So each side's top-level rows are grouped into units
(each top-level layer with what it holds; in a model of 100 layers or more, runs that
share a block name, as the overview groups them), and each unit gets a structural
digest: its rows' classes, shapes, parameters, kernels and the wiring between them,
without their names. Consecutive units with the same digest fold into one ×N node.

Both sides are folded together: a unit is "same" only when the unit of the same key
on the other side has the same rows and digest, and only units that are the same (or
all added, or all removed, or all changed alike) fold. So a run keeps its shape on
both sides, and one changed block in it shows as one coloured node on each side.

Everything here reads report.json's rows (plain dicts), so a baseline needs nothing
but its report.json: the diagram of either side is laid out from these nodes and
edges (diagram/diff.py), never read from the baseline's files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from archreport.diagram.overview import MIN_LAYERS, group_rows, name_key

# What makes two rows structurally the same, besides their place in the wiring.
_FACTS = (
    "class_name", "input_shapes", "output_shape", "params", "trainable_params", "kernel", "strides",
    "activation", "dtype", "trainable",
)  # fmt: skip
SAME, ADDED, REMOVED, CHANGED, REPEAT = "same", "added", "removed", "changed", "repeat"


@dataclass(frozen=True)
class Row:
    """One report.json layer row, with its path (compare.layer_paths)."""

    name: str
    class_name: str
    depth: int
    has_children: bool
    path: str
    raw: dict[str, Any]


@dataclass
class Unit:
    """A top-level layer, or a named block of them, with every row inside."""

    key: str  # the block's name or the layer's path; units of the two sides match by it
    top: list[Row]
    rows: list[Row]
    digest: str
    status: str = SAME

    @property
    def composite(self) -> bool:
        return len(self.rows) > 1


@dataclass
class _Node:
    """A run of units with one digest, drawn as one node (×N when more than one)."""

    units: list[Unit]
    status: str = SAME
    match: int | None = None  # the index shared with its counterpart on the other side
    other: _Node | None = None
    sources: list[int] = field(default_factory=list)  # indexes of the nodes that feed it


def rows_of(layers: list[dict[str, Any]], paths: list[str]) -> list[Row]:
    """The rows of a report.json model with their paths."""
    out = []
    for raw, path in zip(layers, paths, strict=True):
        depth = raw.get("depth")
        out.append(
            Row(
                name=str(raw.get("name", "")),
                class_name=str(raw.get("class_name", "")),
                depth=depth
                if isinstance(depth, int) and depth >= 0
                else (0 if raw.get("parent") is None else 1),
                has_children=bool(raw.get("has_children")),
                path=path,
                raw=raw,
            )
        )
    return out


def digest(rows: list[Row]) -> str:
    """The structure of ``rows`` without their names: facts, relative depth and wiring."""
    base = min((r.depth for r in rows), default=0)
    inside = {r.name: i for i, r in enumerate(rows) if r.depth == base}
    outside: dict[str, int] = {}
    items = []
    for r in rows:
        wires: list[int | str] = []
        for source in map(str, r.raw.get("connected_to") or []):
            if source in inside:
                wires.append(inside[source])
            else:  # fed from outside the unit: by the order sources appear, not by name
                wires.append(f"x{outside.setdefault(source, len(outside))}")
        items.append([r.depth - base, wires, *(r.raw.get(f) for f in _FACTS)])
    text = json.dumps(items, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def units(rows: list[Row], grouped: bool) -> list[Unit]:
    """``rows`` as units: one per top-level row, or per named block when ``grouped``."""
    tops: list[tuple[Row, list[Row]]] = []
    for row in rows:
        if row.depth == 0 or not tops:
            tops.append((row, [row]))
        else:  # children follow their parent
            tops[-1][1].append(row)
    inner = {id(top): members for top, members in tops}
    if grouped:
        groups = [part for key, top in group_rows([t for t, _ in tops]) for part in _split(key, top)]
    else:
        groups = [(top.path, [top]) for top, _ in tops]
    out = []
    seen: dict[str, int] = {}
    for key, top in groups:
        seen[key] = seen.get(key, 0) + 1
        every = [r for t in top for r in inner[id(t)]]
        out.append(Unit(key if seen[key] == 1 else f"{key}#{seen[key]}", top, every, digest(every)))
    return out


def _split(key: str, top: list[Row]) -> list[tuple[str, list[Row]]]:
    """A named block split at the next level of its names, when it has one.

    keras.applications' ResNet and DenseNet name a stage ``conv4`` and its blocks
    ``conv4_block1``, ``conv4_block2``...: the overview draws the stage as one box, but
    the blocks are what repeat. A row whose name has no next level (an auto-named
    ``add_3``) stays in the block before it.
    """
    parts: list[tuple[str, list[Row]]] = []
    for row in top:
        rest = row.name[len(key) + 1 :] if row.name.startswith(key + "_") else ""
        inner = name_key(rest) if rest else None
        sub = f"{key}_{inner}" if inner else None
        if parts and (sub is None or parts[-1][0] == sub):
            parts[-1][1].append(row)
        else:
            parts.append((sub or key, [row]))
    return parts if len(parts) > 1 else [(key, top)]


def _settle(before: list[Unit], after: list[Unit], changed: set[str]) -> None:
    """Each unit's status, from the unit of the same key on the other side."""
    old = {u.key: u for u in before}
    new = {u.key: u for u in after}
    for u in after:
        a = old.get(u.key)
        if a is None:
            u.status = ADDED
        elif (
            a.digest != u.digest
            or [r.path for r in a.rows] != [r.path for r in u.rows]
            or any(r.path in changed for r in u.rows)
        ):
            u.status = a.status = CHANGED
    for u in before:
        if u.key not in new:
            u.status = REMOVED


def _fold(side: list[Unit], extra: str) -> list[_Node]:
    """Consecutive composite units of one digest as one node, when their statuses go together.

    ``extra`` is the status that may join a run of unchanged units on this side (added
    after, removed before): that is a run that gained or lost repeats.
    """
    nodes: list[_Node] = []
    for u in side:
        last = nodes[-1].units[-1] if nodes else None
        joins = (
            last is not None
            and u.composite
            and last.digest == u.digest
            and (u.status == last.status or {u.status, last.status} <= {SAME, extra})
        )
        if joins:
            nodes[-1].units.append(u)
        else:
            nodes.append(_Node([u]))
    return nodes


def _pair(before: list[_Node], after: list[_Node]) -> None:
    """Match each node with its counterpart: the node on the other side holding a unit of the same key."""
    where = {u.key: n for n in before for u in n.units if u.status not in (REMOVED,)}
    match = 0
    for node in after:
        for u in node.units:
            other = where.get(u.key) if u.status != ADDED else None
            if other is not None and other.other is None:
                node.other, other.other = other, node
                node.match = other.match = match
                match += 1
                break


def _status(node: _Node, gone: str) -> str:
    statuses = {u.status for u in node.units}
    if node.other is None:
        return gone if statuses == {gone} else CHANGED
    if CHANGED in statuses:
        return CHANGED
    if len(node.units) != len(node.other.units):
        return REPEAT
    return SAME


def _wire(nodes: list[_Node]) -> list[tuple[int, int]]:
    """The edges between nodes, from the top-level rows' ``connected_to``; each node's sources."""
    owner = {r.name: i for i, n in enumerate(nodes) for u in n.units for r in u.top}
    edges: dict[tuple[int, int], None] = {}
    for i, node in enumerate(nodes):
        for u in node.units:
            for r in u.top:
                for source in r.raw.get("connected_to") or []:
                    a = owner.get(str(source))
                    if a is not None and a != i:
                        edges[(a, i)] = None
    for a, b in edges:
        nodes[b].sources.append(a)
    return list(edges)


def _feeders(nodes: list[_Node], index: int) -> set[int]:
    """The matched nodes that feed a node, looking through added or removed ones in between.

    A block inserted before a layer (or removed from before it) changes that layer's input,
    but says nothing new about it: the insertion is the change.
    """
    found: set[int] = set()
    todo, seen = list(nodes[index].sources), set()
    while todo:
        source = todo.pop()
        if source in seen:
            continue
        seen.add(source)
        match = nodes[source].match
        if match is not None:
            found.add(match)
        else:
            todo.extend(nodes[source].sources)
    return found


def _node_data(node: _Node) -> dict[str, Any]:
    first, last = node.units[0], node.units[-1]
    return {
        "key": first.key,
        "last": last.key,
        "count": len(node.units),
        "status": node.status,
        "match": node.match,
        "class_name": first.top[0].class_name if len(first.top) == 1 else None,
        "layers": len(first.rows),
        "params": sum(int(r.raw.get("params") or 0) for r in first.top),
        "output_shape": str(last.top[-1].raw.get("output_shape", "")),
        "before": len(node.other.units) if node.other is not None else None,
        "anchor": first.top[0].raw.get("anchor") or None,
    }


def diff(
    before: list[Row], after: list[Row], changed: set[str]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """The block-level diff: both sides' graphs, the runs that gained or lost repeats, and rewired nodes.

    Args:
        before, after: the two versions' rows (:func:`rows_of`).
        changed: the paths of rows whose facts differ (compare.py).

    Returns:
        ``{"baseline": side, "current": side}``, each side ``{"nodes": [...], "edges": [[a, b], ...]}``;
        the repeats ``[{"first", "last_before", "last_after", "before", "after", "class_name",
        "layers_added", "layers_removed"}]``; and the keys of nodes whose inputs changed.
    """
    top = max(sum(r.depth == 0 for r in before), sum(r.depth == 0 for r in after))
    ua, ub = units(before, top >= MIN_LAYERS), units(after, top >= MIN_LAYERS)
    _settle(ua, ub, changed)
    na, nb = _fold(ua, REMOVED), _fold(ub, ADDED)
    _pair(na, nb)
    for node in na:
        node.status = _status(node, REMOVED)
    for node in nb:
        node.status = _status(node, ADDED)
    ea, eb = _wire(na), _wire(nb)
    rewired = []
    where = {id(node): i for i, node in enumerate(na)}
    for i, node in enumerate(nb):  # the same block fed by other blocks than before
        other = node.other
        if other is not None and node.status == SAME and _feeders(na, where[id(other)]) != _feeders(nb, i):
            node.status = other.status = CHANGED
            rewired.append(node.units[0].key)
    repeats = []
    for node in nb:
        if node.status == REPEAT and node.other is not None:
            old = node.other
            repeats.append(
                {
                    "first": node.units[0].key,
                    "last_before": old.units[-1].key,
                    "last_after": node.units[-1].key,
                    "before": len(old.units),
                    "after": len(node.units),
                    "class_name": node.units[0].top[0].class_name if len(node.units[0].top) == 1 else None,
                    "layers_added": [r.path for u in node.units if u.status == ADDED for r in u.rows],
                    "layers_removed": [r.path for u in old.units if u.status == REMOVED for r in u.rows],
                }
            )
    graph = {
        "baseline": {"nodes": [_node_data(n) for n in na], "edges": [list(e) for e in ea]},
        "current": {"nodes": [_node_data(n) for n in nb], "edges": [list(e) for e in eb]},
    }
    return graph, repeats, rewired


def nested_repeats(
    before: list[dict[str, Any]], after: list[dict[str, Any]], rows_a: list[Row], rows_b: list[Row]
) -> list[dict[str, Any]]:
    """Runs of identical blocks inside a layer (report.json's ``repeated_blocks``) whose count changed.

    Matched by the run's parent and first block, and only when that first block is still
    the same structure: a run whose blocks all changed is a change, not a repeat.
    """

    def runs(blocks: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
        out = {}
        for b in blocks:
            names = b.get("names") if isinstance(b, dict) else None
            if isinstance(b, dict) and b.get("parent") and isinstance(names, list) and names:
                out[(str(b["parent"]), str(names[0]))] = [str(n) for n in names]
        return out

    def inside(rows: list[Row], parent: str, name: str) -> list[Row]:
        head = f"{parent}/{name}"
        return [r for r in rows if r.path == head or r.path.startswith(head + "/")]

    old, new = runs(before), runs(after)
    out = []
    for key in [k for k in new if k in old]:
        parent, first = key
        a, b = old[key], new[key]
        if len(a) == len(b) or digest(inside(rows_a, parent, first)) != digest(inside(rows_b, parent, first)):
            continue
        out.append(
            {
                "first": f"{parent}/{first}",
                "last_before": f"{parent}/{a[-1]}",
                "last_after": f"{parent}/{b[-1]}",
                "before": len(a),
                "after": len(b),
                "class_name": None,
                "layers_added": [r.path for n in b if n not in a for r in inside(rows_b, parent, n)],
                "layers_removed": [r.path for n in a if n not in b for r in inside(rows_a, parent, n)],
            }
        )
    return out
