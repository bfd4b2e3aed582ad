"""Runs of identical blocks side by side (a transformer's N decoder layers), and the inside of the first.

The overview draws such a run as one box marked xN, with the first block expanded:
its sub-layers and ops in the order they ran, and which fed which, read from the
traced call (Keras records no connectivity inside a layer).
"""

from __future__ import annotations

from typing import Any

from archreport.data import BlockNode, LayerRow, RepeatedBlock
from archreport.model.rows import Rows, snake
from archreport.model.trace import Call

# -- repeated blocks -----------------------------------------------------------------

MIN_REPEATS = 2


def _signature(row: LayerRow) -> tuple[Any, ...]:
    return (row.class_name, row.params, row.output_shape, row.input_shapes, row.flops, row.has_children)


def repeated_blocks(walker: Rows) -> list[RepeatedBlock]:
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


def _block_graph(walker: Rows, call: Call, row: LayerRow) -> tuple[list[BlockNode], list[tuple[int, int]]]:
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
            and snake(name) not in ("add", "multiply", "subtract", "concatenate")
        ):
            for t in child.out_tensors:  # look through it
                made_by[id(t)] = sources
            continue
        index = len(nodes)
        label = str(child.obj.name) if child.kind == "layer" else snake(name)
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
