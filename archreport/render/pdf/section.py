"""One model's PDF section: its diagram tiles, top-layer charts and layer table.

WeasyPrint draws large SVGs slowly and cannot split an image across pages.
So a diagram is cut into page-sized tiles (tiles.py), and each tile is a page
made here with pikepdf: a caption line (pdftext), and the vector PDF that
Graphviz wrote in the same layout pass, as a Form XObject clipped to the
tile. Text stays vector and nothing is rasterised. Each tile's form holds only
the part of the drawing that meets the tile (diagram/pdfcrop.py), so a viewer's
search lands on the pages where a name is drawn (issue 29). WeasyPrint lays out
only the charts, which follow the tiles (laying out the tile pages too cost about
10 ms a page; NASNetLarge has 180), and the layer table is set after them by
table.py, also without a layout.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pikepdf

from archreport import units
from archreport.data import DiagramInfo, ModelReport
from archreport.diagram import pdfcrop, pdfsave
from archreport.diagram.tiles import (
    CAPTION_PT,
    DIAGRAM_MARGIN_X,
    DIAGRAM_MARGIN_Y,
    PAGE_SIZES,
    Tile,
    plan_tiles,
    tile_box,
)
from archreport.errors import RenderError
from archreport.render import charts
from archreport.render.layer_rows import printed_rows
from archreport.render.pdf import bars, objects, table
from archreport.render.pdf import text as pdftext
from archreport.render.pdf.weasy import layout

if TYPE_CHECKING:
    import jinja2

# WeasyPrint lays out table cells slowly (about 7 ms a row, benchmarks/README.md), monospace
# lines twenty times faster, and table.py sets them itself faster still; they read like model.summary().
PRINT_COLUMNS = (("#", 4, ">"), ("Layer", 35, "<"), ("Class", 22, "<"), ("Output shape", 24, "<"),
                 ("Params", 12, ">"), ("FLOPs", 12, ">"), ("Train", 5, "<"))  # fmt: skip


def _chunks(text: str, width: int) -> list[str]:
    """Cut text into pieces of at most ``width`` characters (long names wrap, never truncate).

    A cut goes where a reader expects one, in the second half of the piece: after a space,
    "_", "-", "/" or ".", or between a lower-case letter and a capital ("LlamaTransformer" /
    "Decoder", not "LlamaTransformerDecode" / "r"); a name with none of those is cut at the width.
    """
    words = text.lstrip(" ")
    indent = " " * min(len(text) - len(words), width // 2)  # a nested row's depth, on every line
    text = " ".join(words.split())  # a newline in a name must not break the table
    width -= len(indent)
    pieces = []
    while len(text) > width:
        breaks = [
            i
            for i in range(width // 2, width + 1)
            if text[i - 1] in " _-/." or (text[i].isupper() and text[i - 1].islower())
        ]
        cut = breaks[-1] if breaks else width
        pieces.append(text[:cut].rstrip(" "))
        text = text[cut:]
    return [indent + piece for piece in ([*pieces, text] if text or not pieces else pieces)]


Columns = tuple[tuple[str, int, str], ...]


def _line(columns: Columns, cells: list[str], bold: bool) -> list[tuple[str, bool]]:
    """One row as fixed-width lines (a long cell wraps onto more), each with whether it is bold."""
    pieces = [_chunks(c, w) for c, (_, w, _) in zip(cells, columns, strict=True)]
    out = []
    for i in range(max(len(p) for p in pieces)):
        parts = [
            f"{(p[i] if i < len(p) else ''):{align}{w}}"
            for p, (_, w, align) in zip(pieces, columns, strict=True)
        ]
        out.append((" ".join(parts).rstrip(), bold))
    return out


def _rule(columns: Columns) -> tuple[str, bool]:
    return "-" * (sum(w for _, w, _ in columns) + len(columns) - 1), False


def print_table(model: ModelReport) -> list[tuple[str, bool]]:
    """The layer table as fixed-width lines for the PDF, each with whether it is bold."""
    rule = _rule(PRINT_COLUMNS)
    rows = _line(PRINT_COLUMNS, [name for name, _, _ in PRINT_COLUMNS], True)
    rows.append(rule)
    peak = model.totals.peak_layer if model.totals else None
    for r in model.layers:
        # A tracked sub-layer the traced pass never called has no shape and no FLOPs.
        flops = units.flops(r.flops) if r.called else "not called"
        shape = r.output_shape if r.called else "-"
        # The layer running when the inference peak occurs (docs/numbers.md, memory).
        name = "  " * r.depth + r.name + (" ◀ peak" if r.path == peak else "")
        cells = [str(r.index), name, r.class_name, shape, units.count(r.params)]
        rows += _line(PRINT_COLUMNS, [*cells, flops, "yes" if r.trainable else "no"], r.has_children)
    if model.totals:
        t = model.totals
        rows.append(rule)
        flops = units.flops(t.flops, t.flops_lower_bound)
        rows += _line(
            PRINT_COLUMNS, ["", f"Total ({t.layers} layers)", "", "", units.count(t.params), flops, ""], True
        )
    return rows


# The compact profile's table (issue 29): top-level rows only, in two columns a page, so the
# 10-model zoo's 2,542 top-level layers take about 16 pages, not 31. Each column repeats
# the header. The lines have a fixed height, so the columns are filled here, not by WeasyPrint.
COMPACT_COLUMNS = (("Layer", 24, "<"), ("Output shape", 20, "<"), ("Params", 11, ">"), ("FLOPs", 7, ">"))
COMPACT_LINE_PT = 7.75  # print.css: pre.layers.compact's line-height
COMPACT_TOP_PT = 30.0  # the "Layers" heading above the first page's columns
PAGE_MARGINS_PT = (56.69, 51.02)  # print.css's @page: 20 mm at the top, 18 mm at the bottom


def compact_pages(model: ModelReport, page_size: str) -> list[list[list[tuple[str, bool]]]]:
    """The compact table: pages of two columns of (line, bold) lines, each column under the header."""
    lines: list[tuple[str, bool]] = []
    for r in printed_rows(model):
        name = r.name if r.count == 1 else f"{r.name} … {r.last} ×{r.count}"
        flops = units.si(r.flops) if r.flops is not None else ("n/a" if r.called else "-")
        lines += _line(COMPACT_COLUMNS, [name, r.output_shape, units.count(r.params), flops], r.parent)
    if model.totals:
        t = model.totals
        flops = units.si(t.flops) if t.flops is not None else "n/a"
        total = _line(COMPACT_COLUMNS, [f"Total ({t.layers} layers)", "", units.count(t.params), flops], True)
        lines += [_rule(COMPACT_COLUMNS), *total]
    head = [*_line(COMPACT_COLUMNS, [name for name, _, _ in COMPACT_COLUMNS], True), _rule(COMPACT_COLUMNS)]
    height = PAGE_SIZES[page_size][1] - sum(PAGE_MARGINS_PT)
    pages: list[list[list[tuple[str, bool]]]] = []
    while lines:
        room = int((height - (0 if pages else COMPACT_TOP_PT)) // COMPACT_LINE_PT) - len(head) - 1
        columns = []
        for _ in range(2):
            if lines:
                columns.append([*head, *lines[:room]])
                lines = lines[room:]
        pages.append(columns)
    return pages


@dataclass(frozen=True)
class Drawing:
    """A diagram (or its overview) and the tiles it is cut into."""

    kind: str  # "overview" | "diagram"
    info: DiagramInfo
    tiles: list[Tile]


def _drawings(
    model: ModelReport,
    report_dir: Path,
    page_size: str = "A4",
    *,
    box: tuple[float, float] | None = None,
    fit_all: bool = False,
) -> list[Drawing]:
    """The model's drawings that have files, each cut into tiles of ``box`` (default: a page's); ``fit_all``: one tile each."""
    box = box or tile_box(page_size)
    out = []
    for kind, info in (("overview", model.overview), ("diagram", model.diagram)):
        if info is None or "pdf" not in info.files or "svg" not in info.files:
            continue
        try:
            svg = (report_dir / info.files["svg"]).read_text(encoding="utf-8")
        except OSError:
            continue
        # Tile ids name the kind, not the model: a section must not depend on the model's name.
        tiles = plan_tiles(kind, svg, box, fit=fit_all or kind == "overview")
        if tiles:
            out.append(Drawing(kind, info, tiles))
    return out


def render_section_pdf(
    model: ModelReport,
    report_dir: Path,
    *,
    page_size: str,
    env: jinja2.Environment,
    body: bytes | None = None,
    profile: str = "full",
) -> bytes:
    """A standalone PDF of one analysed model's body: diagram tiles, top-layer charts, layer table.

    It holds nothing that can change while the model does not: no report title, page
    numbers, model name, description, source, expectations or warnings (assemble_pdf adds
    them). So it is a pure function of the model's analysis, its diagram files under
    ``report_dir``, ``page_size`` and the templates.

    Args:
        body: :func:`section_body` of this model, when it was laid out already.
        profile: "full", or "compact": the top-level layer table only (assembly.py draws the
            model's overview on its header page).

    Raises:
        RenderError: a diagram file is missing or unreadable.
    """
    if not model.ok:
        raise RenderError(f"model {model.name!r} failed; a failed model has no PDF section.")
    drawings = _drawings(model, report_dir, page_size) if profile == "full" else []
    if body is None:
        body = section_body(model, report_dir, page_size=page_size, env=env, profile=profile)
    pdf = pdfsave.open_pdf(body)
    with contextlib.ExitStack() as sources:
        add_tile_pages(pdf, drawings, report_dir, sources)
        return pdfsave.save_pdf(pdf, final=False)


def section_body(
    model: ModelReport, report_dir: Path, *, page_size: str, env: jinja2.Environment, profile: str = "full"
) -> bytes:
    """The section's pages after its tiles: the top-layer charts, then the layer table.

    Both are drawn by archreport itself (bars.py, table.py) when the embedded subsets hold
    their characters and nothing else is on those pages; cost curves, a diagram's failure
    note, or a character the subsets lack, and WeasyPrint lays out what it must. Of the
    diagram they hold only its :func:`failure_note`, so a worker lays them out while
    Graphviz is still drawing (model/job.py, analyse_and_draw). The compact profile's are
    its top-level table alone, in two columns a page.
    """
    compact = profile == "compact"
    lines = None if compact else print_table(model)
    direct = lines is not None and table.fits(lines)
    specs = None if compact else charts.top_layer_items(model)
    if direct and specs and not model.sweep and failure_note(model) is None and bars.fits(specs):
        # Nothing here needs WeasyPrint: the charts and the table are set directly (bars.py, table.py).
        assert lines is not None
        pdf = pikepdf.new()
        fonts: dict[str, pdftext.TextFont] = {}
        below = bars.add_chart_page(pdf, specs, page_size, fonts)
        table.add_table_pages(pdf, lines, page_size, below=below, fonts=fonts)
        return pdfsave.save_pdf(pdf, final=False)
    html = env.get_template("print_section.html.j2").render(
        diagram_note=failure_note(model),
        charts=None if compact else charts.top_layers(model, chart=charts.print_bars),
        m=model,
        curves=charts.sweep(model.sweep),
        table=None if direct else lines,
        compact_pages=compact_pages(model, page_size) if compact else None,
        page_size=page_size,
    )
    document = layout(html, report_dir)
    body = bytes(document.write_pdf())
    if not direct:
        return body
    assert lines is not None
    pdf = pdfsave.open_pdf(body)
    # CSS px from the top of the last page: the table begins there if it has room.
    at = document.pages[-1].anchors.get("ar-table")
    table.add_table_pages(pdf, lines, page_size, below=at[1] * 0.75 if at is not None else None)
    return pdfsave.save_pdf(pdf, final=False)


def prepare(env: jinja2.Environment, *, captions: bool = True, weasyprint: bool = True) -> None:
    """Set up what rendering a section needs, before any model asks for it (a worker, as it starts).

    Imports pikepdf and fontTools and subsets the faces archreport draws with itself (bars.py,
    table.py); ``captions``: builds the tile captions' font programs too; ``weasyprint``: also
    imports WeasyPrint, compiles the section's template, loads every face a section draws with
    into this process's WeasyPrint fonts and subsets a font once (HarfBuzz's bindings are
    declared on first use). The first model in each worker paid about 1 s more for its
    sections (issue 26). A worker leaves WeasyPrint out: most sections never need it now,
    and it was half a second of the template's start, before any model could build.
    """
    empty = ModelReport(name="-", slug="-", source={}, description=None, status="ok")
    if weasyprint:
        # WeasyPrint with both faces of a table (a table the subsets cannot set is laid out there) ...
        html = env.get_template("print_section.html.j2").render(
            diagram_note=None, charts=None, m=empty, curves=None, table=[("-", True), ("-", False)],
            compact_pages=None, page_size="A4",
        )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="archreport-prepare-") as folder:
            data = bytes(layout(html, Path(folder)).write_pdf())
        pdf = pdfsave.open_pdf(data)
    else:
        pdf = pikepdf.new()
    with pdf:
        made: dict[str, pdftext.TextFont] = {}
        table.add_table_pages(
            pdf, print_table(empty), "A4", fonts=made
        )  # ... and the subsets table.py embeds
        table.text_fonts(pdf, bars.FONTS, made)  # the charts'
        if captions:
            caption_fonts(pdf)


def failure_note(model: ModelReport) -> str | None:
    """Why the model has no diagram, when Graphviz could not draw it."""
    diagram = model.diagram
    return diagram.note if diagram is not None and diagram.note and not diagram.mode else None


def add_tile_pages(
    pdf: pikepdf.Pdf, drawings: list[Drawing], report_dir: Path, sources: contextlib.ExitStack[Any]
) -> None:
    """Put one page per tile of ``drawings`` before the section's other pages, with a bookmark per drawing.

    Each page is its caption, the tile's outline and the drawing's Graphviz PDF as a form,
    clipped to the tile. The Graphviz PDFs are opened on ``sources``, which must stay open
    until ``pdf`` is saved.
    """
    if not drawings:
        return
    box = [float(v) for v in pdf.pages[0].mediabox]  # WeasyPrint's page size, for every page alike
    width, height = box[2] - box[0], box[3] - box[1]
    fonts = caption_fonts(pdf)
    font_resources = pikepdf.Dictionary({name: f.font for name, f in fonts.items()})
    marks = []
    at = 0
    for number, d in enumerate(drawings):
        source = sources.enter_context(pikepdf.open(report_dir / d.info.files["pdf"]))
        form, pdf_w, pdf_h = objects.drawing_form(pdf, source)
        tile_forms = _tile_forms(pdf, form, source, d, pdf_w, pdf_h)
        for tile, forms in zip(d.tiles, tile_forms, strict=True):
            names = {f"/ArDiagram{number}_{k}": f for k, f in enumerate(forms)}
            resources = pikepdf.Dictionary(Font=font_resources, XObject=pikepdf.Dictionary(names))
            ops = [
                _outline(tile, height),
                _placed(tile, d, list(names), pdf_w, pdf_h, height),
                _caption(tile, d.kind, fonts, width, height),
            ]
            content = pdf.make_indirect(pikepdf.Stream(pdf, "\n".join(ops).encode("ascii")))
            page = pikepdf.Dictionary(
                Type=pikepdf.Name.Page, MediaBox=box, Resources=resources, Contents=content
            )
            pdf.pages.insert(at, pikepdf.Page(pdf.make_indirect(page)))
            at += 1
        marks.append((LABELS[d.kind], at - len(d.tiles)))
    with pdf.open_outline() as outline:
        items = [
            pikepdf.OutlineItem(
                label,
                pikepdf.Array(
                    [pdf.pages[index].obj, pikepdf.Name.XYZ, DIAGRAM_MARGIN_X, height - DIAGRAM_MARGIN_Y, 0]
                ),
            )
            for label, index in marks
        ]
        outline.root[0:0] = items


def caption_fonts(pdf: pikepdf.Pdf) -> dict[str, pdftext.TextFont]:
    """The captions' regular and bold fonts, by their resource names."""
    return {"/ArCap": pdftext.TextFont(pdf, "regular"), "/ArCapB": pdftext.TextFont(pdf, "bold")}


def draw_fitted(
    pdf: pikepdf.Pdf,
    page: pikepdf.Page,
    model: ModelReport,
    report_dir: Path,
    top: float,
    sources: contextlib.ExitStack[Any],
    *,
    name: str,
    fonts: dict[str, pdftext.TextFont],
) -> bool:
    """Draw the model's overview (else its diagram) on ``page``, captioned, fitted below ``top`` pt from its top.

    The compact PDF's header page (assembly.py). ``name`` is the drawing's resource name,
    one per model: WeasyPrint's pages share their resources. False when the model has no drawing.
    """
    box = [float(v) for v in page.mediabox]
    width, height = box[2] - box[0], box[3] - box[1]
    space = (width - 2 * DIAGRAM_MARGIN_X, height - top - DIAGRAM_MARGIN_Y - CAPTION_PT)
    found = _drawings(model, report_dir, box=space, fit_all=True)
    if not found:
        return False
    d, tile = found[0], found[0].tiles[0]
    source = sources.enter_context(pikepdf.open(report_dir / d.info.files["pdf"]))
    form, pdf_w, pdf_h = objects.drawing_form(pdf, source)
    ops = [
        _outline(tile, height, top),
        _placed(tile, d, [name], pdf_w, pdf_h, height, top),
        _caption(tile, d.kind, fonts, width, height, top, follows=False),
    ]
    resources: dict[str, dict[str, pikepdf.Object]] = {
        "/Font": {key: f.font for key, f in fonts.items()},
        "/XObject": {name: form},
    }
    objects.Overlay(pdf).draw(page, "\n".join(ops), resources)
    return True


def _tile_forms(
    pdf: pikepdf.Pdf, form: pikepdf.Object, source: pikepdf.Pdf, d: Drawing, pdf_w: float, pdf_h: float
) -> list[list[pikepdf.Object]]:
    """The forms each tile draws: the drawing's paths (one form for every tile), then its text.

    A tile's text is only the text that meets the tile, so text extraction finds a name on
    the pages that show it. Text on the edge between tiles is stored once, in a form every
    tile it meets draws (pdfcrop.Drawing.text_groups): one text form per tile held the text
    shared by neighbours once per tile, and grew NASNetMobile's section by half. A drawing
    on a single tile, whole, is its own form.
    """
    if len(d.tiles) == 1 and d.tiles[0].x0 <= 0 and d.tiles[0].y0 <= 0:
        return [[form]]
    drawing = pdfcrop.Drawing(source.pages[0])
    mx, my = _margins(d, pdf_w, pdf_h)
    windows = [(t.x0 + mx, pdf_h - my - t.y1, t.x1 + mx, pdf_h - my - t.y0) for t in d.tiles]
    groups = drawing.text_groups(windows)
    (graphics,) = objects.cropped_forms(pdf, form, [drawing.graphics()])
    texts = objects.cropped_forms(pdf, form, [data for _, data in groups], group=False)
    out: list[list[pikepdf.Object]] = [[graphics] for _ in d.tiles]
    for (met, _), text in zip(groups, texts, strict=True):
        for index in met:
            out[index].append(text)
    return out


def _margins(d: Drawing, pdf_w: float, pdf_h: float) -> tuple[float, float]:
    """The margin Graphviz's PDF page has around the drawing the SVG describes."""
    # Graphviz's PDF is the SVG's drawing, unscaled, with a margin around it (36 pt on every
    # side in Graphviz 2.43). Reading the size difference as a scale (as 095fc42 did) shrank the
    # drawing by 13 % on DenseNet121, and its last tiles came out blank (issue 10).
    return (pdf_w - d.info.width_pt) / 2, (pdf_h - d.info.height_pt) / 2


LABELS = {"overview": "Overview of blocks", "diagram": "Diagram"}
# The caption's grey (print.css's .meta text), the continuation marks' blue and the tile's outline.
CAPTION_RGB = "0.357 0.392 0.459"  # #5b6475
MARK_RGB = "0.231 0.431 0.659"  # #3b6ea8
OUTLINE_RGB = "0.847 0.867 0.902"  # #d8dde6
CAPTION_FONT_PT = 8.0
CAPTION_LINE_PT = 14.0
MARK_GAP_PT = 8.0
CAPTION_GAP_PT = 6.0  # between the caption line and the tile; CAPTION_PT leaves 2 pt more


def _top_left(height: float, top: float = DIAGRAM_MARGIN_Y) -> tuple[float, float]:
    """The tile's top-left corner in PDF coordinates: below ``top`` (the margin), the caption line and its gap."""
    return DIAGRAM_MARGIN_X, height - top - CAPTION_LINE_PT - CAPTION_GAP_PT


def _outline(tile: Tile, height: float, page_top: float = DIAGRAM_MARGIN_Y) -> str:
    left, top = _top_left(height, page_top)
    w, h = tile.width_pt, tile.height_pt
    return (
        f"q {OUTLINE_RGB} RG 0.3 w {left - 0.15:.3f} {top - h - 0.15:.3f} {w + 0.3:.3f} {h + 0.3:.3f} re S Q"
    )


def _placed(
    tile: Tile,
    d: Drawing,
    names: list[str],
    pdf_w: float,
    pdf_h: float,
    height: float,
    page_top: float = DIAGRAM_MARGIN_Y,
) -> str:
    """The drawing's forms, scaled and moved so the tile's region fills the tile, clipped to it."""
    mx, my = _margins(d, pdf_w, pdf_h)
    s = tile.scale
    left, top = _top_left(height, page_top)
    tx = left - s * (tile.x0 + mx)
    ty = top - s * (pdf_h - my - tile.y0)
    return (
        f"q {left:.3f} {top - tile.height_pt:.3f} {tile.width_pt:.3f} {tile.height_pt:.3f} re W n "
        f"{s:.6f} 0 0 {s:.6f} {tx:.3f} {ty:.3f} cm {' '.join(f'{name} Do' for name in names)} Q"
    )


def caption_runs(tile: Tile, kind: str, *, follows: bool = True) -> list[tuple[str, str, float]]:
    """The tile's caption as (font, text, gap before it) runs: bold label, position, then bold blue marks.

    ``follows``: an overview's full diagram follows it (not in the compact PDF).
    """
    text = ""
    if tile.count > 1:
        text += f" {tile.number}/{tile.count}"
        if tile.cols > 1:
            text += f" (row {tile.row + 1}/{tile.rows}, column {tile.col + 1}/{tile.cols})"
    text += f" · {tile.scale * 100:.0f} %"
    runs = [("label", LABELS[kind], 0.0), ("text", text, 0.0)]
    for arrow, target in (("↑", tile.up), ("→", tile.right), ("↓", tile.down)):
        if target:
            runs += [("text", " ", 0.0), ("mark", f"{arrow} {target}/{tile.count}", MARK_GAP_PT)]
    if kind == "overview" and follows:
        runs += [("text", " ", 0.0), ("mark", "the full diagram follows", MARK_GAP_PT)]
    return runs


def _caption(
    tile: Tile,
    kind: str,
    fonts: dict[str, pdftext.TextFont],
    width: float,
    height: float,
    top: float = DIAGRAM_MARGIN_Y,
    follows: bool = True,
) -> str:
    regular, bold = fonts["/ArCap"], fonts["/ArCapB"]
    baseline = height - top - regular.baseline(CAPTION_LINE_PT, CAPTION_FONT_PT)
    x = DIAGRAM_MARGIN_X
    # Clipped to its line, as print.css's overflow: hidden would.
    ops = [
        f"q {x:.3f} {height - top - CAPTION_LINE_PT:.3f} {width - 2 * x:.3f} {CAPTION_LINE_PT:.3f} re W n BT"
    ]
    for kind_of_run, text, gap in caption_runs(tile, kind, follows=follows):
        name, font = ("/ArCap", regular) if kind_of_run == "text" else ("/ArCapB", bold)
        rgb = MARK_RGB if kind_of_run == "mark" else CAPTION_RGB
        x += gap
        ops.append(
            f"/{name[1:]} {CAPTION_FONT_PT:g} Tf {rgb} rg 1 0 0 1 {x:.3f} {baseline:.3f} Tm {font.encode(text)} Tj"
        )
        x += font.width(text, CAPTION_FONT_PT)
    ops.append("ET Q")
    return "\n".join(ops)
