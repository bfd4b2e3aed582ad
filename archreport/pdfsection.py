"""One model's PDF section: its diagram tiles, top-layer charts and layer table.

WeasyPrint draws large SVGs slowly and cannot split an image across pages
(FACTS.md). So the section's template reserves empty, exactly sized tile boxes
for each diagram, one per page, and after WeasyPrint has laid out the section
the vector PDF that Graphviz wrote in the same layout pass is placed into
those boxes as a Form XObject, clipped to each tile. Text stays vector and
nothing is rasterised.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf

from . import charts, pdfobjects, units
from .data import DiagramInfo, ModelReport
from .errors import RenderError
from .tiles import CAPTION_PT, DIAGRAM_MARGIN_X, DIAGRAM_MARGIN_Y, Tile, plan_tiles, tile_box
from .weasy import layout

PT_PER_PX = 0.75  # CSS px are 1/96 in, PDF points 1/72 in


# WeasyPrint lays out table cells slowly (about 7 ms a row, benchmarks/README.md);
# monospace lines lay out twenty times faster and read like model.summary().
PRINT_COLUMNS = (("#", 4, ">"), ("Layer", 35, "<"), ("Class", 22, "<"), ("Output shape", 24, "<"),
                 ("Params", 12, ">"), ("FLOPs", 12, ">"), ("Train", 5, "<"))  # fmt: skip


def _chunks(text: str, width: int) -> list[str]:
    """Cut text into pieces of at most ``width`` characters (long names wrap, never truncate)."""
    text = " ".join(text.split())  # a newline in a name must not break the table
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def print_table(model: ModelReport) -> list[tuple[str, bool]]:
    """The layer table as fixed-width lines for the PDF, each with whether it is bold."""

    def line(cells: list[str], bold: bool) -> list[tuple[str, bool]]:
        pieces = [_chunks(c, w) for c, (_, w, _) in zip(cells, PRINT_COLUMNS, strict=True)]
        out = []
        for i in range(max(len(p) for p in pieces)):
            parts = [
                f"{(p[i] if i < len(p) else ''):{align}{w}}"
                for p, (_, w, align) in zip(pieces, PRINT_COLUMNS, strict=True)
            ]
            out.append((" ".join(parts).rstrip(), bold))
        return out

    rule = ("-" * (sum(w for _, w, _ in PRINT_COLUMNS) + len(PRINT_COLUMNS) - 1), False)
    rows = line([name for name, _, _ in PRINT_COLUMNS], True)
    rows.append(rule)
    for r in model.layers:
        # A tracked sub-layer the traced pass never called has no shape and no FLOPs.
        flops = units.flops(r.flops) if r.called else "not called"
        shape = r.output_shape if r.called else "-"
        cells = [str(r.index), "  " * r.depth + r.name, r.class_name, shape, units.count(r.params)]
        rows += line([*cells, flops, "yes" if r.trainable else "no"], r.has_children)
    if model.totals:
        t = model.totals
        rows.append(rule)
        flops = units.flops(t.flops, t.flops_lower_bound)
        rows += line(["", f"Total ({t.layers} layers)", "", "", units.count(t.params), flops, ""], True)
    return rows


@dataclass(frozen=True)
class Drawing:
    """A diagram (or its overview) and the tiles it is cut into."""

    kind: str  # "overview" | "diagram"
    info: DiagramInfo
    tiles: list[Tile]


# Where WeasyPrint put a tile: page index, x and y of its top-left corner in pt from the page's top-left.
Placement = tuple[int, float, float, Tile, Drawing]


def _drawings(model: ModelReport, report_dir: Path, page_size: str) -> list[Drawing]:
    box = tile_box(page_size)
    out = []
    for kind, info in (("overview", model.overview), ("diagram", model.diagram)):
        if info is None or "pdf" not in info.files or "svg" not in info.files:
            continue
        try:
            svg = (report_dir / info.files["svg"]).read_text(encoding="utf-8")
        except OSError:
            continue
        # Tile ids name the kind, not the model: a section must not depend on the model's name.
        tiles = plan_tiles(kind, svg, box, fit=kind == "overview")
        if tiles:
            out.append(Drawing(kind, info, tiles))
    return out


def render_section_pdf(model: ModelReport, report_dir: Path, *, page_size: str, env: Any) -> bytes:
    """A standalone PDF of one analysed model's body: diagram tiles, top-layer charts, layer table.

    It holds nothing that can change while the model does not: no report title, page
    numbers, model name, description, source, expectations or warnings (assemble_pdf adds
    them). So it is a pure function of the model's analysis, its diagram files under
    ``report_dir``, ``page_size`` and the templates.

    Raises:
        RenderError: a diagram file is missing or WeasyPrint lost a tile.
    """
    if not model.ok:
        raise RenderError(f"model {model.name!r} failed; a failed model has no PDF section.")
    drawings = _drawings(model, report_dir, page_size)
    labels = {"overview": "Overview of blocks", "diagram": "Diagram"}
    note = model.diagram.note if model.diagram and model.diagram.note and not model.diagram.mode else None
    html = env.get_template("print_section.html.j2").render(
        drawings=[(d.kind, labels[d.kind], d.tiles) for d in drawings],
        diagram_note=note if not any(d.kind == "diagram" for d in drawings) else None,
        charts=charts.top_layers(model),
        table=print_table(model),
        page_size=page_size,
        margin_x=DIAGRAM_MARGIN_X,
        margin_y=DIAGRAM_MARGIN_Y,
        caption_pt=CAPTION_PT,
    )
    document = layout(html, report_dir)
    placements = _find_tiles(document, drawings)
    pdf = pdfobjects.open_pdf(document.write_pdf())
    with contextlib.ExitStack() as sources:
        stamp_drawings(pdf, placements, report_dir, sources)
        return pdfobjects.save_pdf(pdf, final=False)


def stamp_drawings(
    pdf: pikepdf.Pdf, placements: list[Placement], report_dir: Path, sources: contextlib.ExitStack[Any]
) -> None:
    """Draw each drawing's Graphviz PDF into its tiles: one form per drawing, clipped to each tile.

    The Graphviz PDFs are opened on ``sources``, which must stay open until ``pdf`` is saved.
    """
    overlay = pdfobjects.Overlay(pdf)
    forms = {}
    for number, path in enumerate(dict.fromkeys(p[4].info.files["pdf"] for p in placements)):
        forms[path] = (
            f"/ArDiagram{number}",
            *pdfobjects.drawing_form(pdf, sources.enter_context(pikepdf.open(report_dir / path))),
        )
    by_page: dict[int, list[str]] = {}
    resources: dict[int, dict[str, Any]] = {}
    for index, x, y, tile, d in placements:
        name, form, pdf_w, pdf_h = forms[d.info.files["pdf"]]
        page_h = float(pdf.pages[index].mediabox[3])
        # Graphviz's PDF is the SVG's drawing, unscaled, with a margin around it (36 pt on every
        # side in Graphviz 2.43). Reading the size difference as a scale (as 095fc42 did) shrank the
        # drawing by 13 % on DenseNet121, and its last tiles came out blank (issue 10).
        mx, my = (pdf_w - d.info.width_pt) / 2, (pdf_h - d.info.height_pt) / 2
        s = tile.scale
        # The tile's top-left corner on the page (PDF y grows upwards) shows the drawing's (x0, y0).
        left, top = x, page_h - y
        tx = left - s * (tile.x0 + mx)
        ty = top - s * (pdf_h - my - tile.y0)
        by_page.setdefault(index, []).append(
            f"q {left:.3f} {top - tile.height_pt:.3f} {tile.width_pt:.3f} {tile.height_pt:.3f} re W n "
            f"{s:.6f} 0 0 {s:.6f} {tx:.3f} {ty:.3f} cm {name} Do Q"
        )
        resources.setdefault(index, {})[name] = form
    for index, ops in by_page.items():
        overlay.draw(pdf.pages[index], "\n".join(ops), {"/XObject": resources[index]})


def _find_tiles(document: Any, drawings: list[Drawing]) -> list[Placement]:
    wanted = {t.id: (t, d) for d in drawings for t in d.tiles}
    found = []
    for index, page in enumerate(document.pages):
        for name, (x, y, *_rest) in page.anchors.items():
            if name in wanted:
                tile, drawing = wanted.pop(name)
                found.append((index, x * PT_PER_PX, y * PT_PER_PX, tile, drawing))
    if wanted:
        raise RenderError(f"the PDF layout lost diagram tiles: {', '.join(sorted(wanted))}.")
    return found
