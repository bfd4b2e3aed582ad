"""The rows of a printed layer table: top level or nested, each run of identical blocks as one row.

The LaTeX tables (render/tex/) and the compact PDF (render/pdf/section.py) print a model's
layers for a reader, not for a program: a 32-block transformer is one row marked ×32,
not 32 rows, as in its overview (diagram/overview.py). layers.csv keeps every row.
"""

from __future__ import annotations

from dataclasses import dataclass

from archreport.data import LayerRow, ModelReport, RepeatedBlock


@dataclass(frozen=True)
class PrintedRow:
    """One printed row: a layer, or a run of ``count`` identical blocks (``name`` … ``last``)."""

    name: str
    class_name: str
    output_shape: str
    params: int
    flops: int | None
    depth: int
    called: bool = True
    parent: bool = False  # it has rows below it (a nested model, a block)
    count: int = 1
    last: str = ""  # the run's last block, when count > 1


def _path(parent: str | None, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def printed_rows(model: ModelReport, *, nested: bool = False) -> list[PrintedRow]:
    """The model's layer rows to print: depth 0 only unless ``nested``, runs of identical blocks folded.

    A folded run's params and FLOPs are the run's whole (what its rows add up to), so the rows
    still add up to the model's totals; nested, the first block's sub-layers follow its row
    (every block is the same), the others' are left out.
    """
    runs: dict[str, RepeatedBlock] = {_path(b.parent, b.names[0]): b for b in model.repeated_blocks}
    by_path = {r.path: r for r in model.layers}
    skipped: list[str] = []  # paths whose rows (and the rows below them) are folded away
    out: list[PrintedRow] = []
    for row in model.layers:
        if not nested and row.depth > 0:
            continue
        if any(row.path == p or row.path.startswith(p + "/") for p in skipped):
            continue
        run = runs.get(row.path)
        if run is None:
            out.append(_printed(row))
            continue
        blocks = [by_path[p] for p in (_path(run.parent, n) for n in run.names) if p in by_path]
        skipped += [b.path for b in blocks[1:]]
        flops = [b.flops for b in blocks]
        out.append(
            PrintedRow(
                name=row.name,
                class_name=row.class_name,
                output_shape=blocks[-1].output_shape if blocks[-1].called else "-",
                params=sum(b.params for b in blocks),
                flops=None if any(f is None for f in flops) else sum(f or 0 for f in flops),
                depth=row.depth,
                called=row.called,
                parent=nested and row.has_children,
                count=len(blocks),
                last=blocks[-1].name,
            )
        )
    return out


def _printed(row: LayerRow) -> PrintedRow:
    return PrintedRow(
        name=row.name,
        class_name=row.class_name,
        output_shape=row.output_shape if row.called else "-",
        params=row.params,
        flops=row.flops if row.called else None,
        depth=row.depth,
        called=row.called,
        parent=row.has_children,
    )
