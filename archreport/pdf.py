"""The PDF report: WeasyPrint lays out the print template, then the diagrams are stamped in.

WeasyPrint draws large SVGs slowly and cannot split an image across pages
(FACTS.md). So the print template reserves empty, exactly sized tile boxes
for each diagram, one per page, and after WeasyPrint has laid out the
document the vector PDF that Graphviz wrote in the same layout pass is placed
into those boxes as a Form XObject, clipped to each tile. Text stays vector,
nothing is rasterised, and page numbers, the table of contents and bookmarks
are WeasyPrint's, so they are right.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

from .data import DiagramInfo, Report
from .errors import RenderError
from .svg import svg_geometry

PT_PER_PX = 0.75  # CSS px are 1/96 in, PDF points 1/72 in
MIN_TEXT_PT = 6.0
PAGE_SIZES = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}
# Keep in step with print.css: @page diagram margins and the caption above each tile.
DIAGRAM_MARGIN_X = 28.0
DIAGRAM_MARGIN_Y = 42.0
CAPTION_PT = 22.0  # .tile-caption: one 14 pt line and a 6 pt gap, with slack


@dataclass(frozen=True)
class Tile:
    id: str
    col: int
    row: int
    cols: int
    rows: int
    x0: float  # region of the drawing, in pt from its top-left corner
    y0: float
    x1: float
    y1: float
    scale: float

    @property
    def width_pt(self) -> float:
        return (self.x1 - self.x0) * self.scale

    @property
    def height_pt(self) -> float:
        return (self.y1 - self.y0) * self.scale

    @property
    def number(self) -> int:
        return self.row * self.cols + self.col + 1


def tile_box(page_size: str) -> tuple[float, float]:
    w, h = PAGE_SIZES[page_size]
    return w - 2 * DIAGRAM_MARGIN_X, h - 2 * DIAGRAM_MARGIN_Y - CAPTION_PT


def _pieces(length: float, step: float, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cover [0, length] with pieces no longer than ``step`` so that every span lies whole in one.

    A piece ends just before the first node it would slice through when that keeps it at least
    half a page long (ranks of a top-to-bottom diagram leave such gaps). Where no such gap exists
    (side by side branches of a wide diagram), the next piece starts early enough to hold the sliced
    nodes whole, so the pieces overlap a little and every label is complete on some page.
    """
    pieces: list[tuple[float, float]] = []
    start = 0.0
    while length - start > step:
        end = start + step
        cut = end
        while True:
            inside = [lo for lo, hi in spans if lo < cut < hi]
            if not inside:
                break
            cut = min(inside) - 2
        if cut >= start + step / 2:
            pieces.append((start, cut))
            start = cut
            continue
        pieces.append((start, end))
        sliced = [lo for lo, hi in spans if lo < end < hi and lo > start + step / 4]
        start = min(sliced) - 2 if sliced else end
    pieces.append((start, length))
    return pieces


def plan_tiles(slug: str, svg: str, box: tuple[float, float], *, fit: bool = False) -> list[Tile]:
    """Split a drawing into page tiles at a scale that keeps its text at least 6 pt.

    With ``fit``, shrink it onto one page instead (the overview of a large model).
    """
    geometry = svg_geometry(svg)
    width, height, min_font, boxes = geometry.width, geometry.height, geometry.min_font, geometry.boxes
    box_w, box_h = box
    if fit:
        scale = min(1.0, box_w / width, box_h / height)
        return [Tile(f"{slug}-tile-0-0", 0, 0, 1, 1, 0.0, 0.0, width, height, scale)]
    min_scale = min(1.0, MIN_TEXT_PT / min_font)
    scale = max(min_scale, min(1.0, box_w / width))
    xs = _pieces(width, box_w / scale, [(b[0], b[2]) for b in boxes])
    ys = _pieces(height, box_h / scale, [(b[1], b[3]) for b in boxes])
    cols, rows = len(xs), len(ys)
    return [
        Tile(f"{slug}-tile-{r}-{c}", c, r, cols, rows, x0, y0, x1, y1, scale)
        for r, (y0, y1) in enumerate(ys)
        for c, (x0, x1) in enumerate(xs)
    ]


def _fetcher(report_dir: Path) -> Any:
    """A URL fetcher that serves only the report's own files and refuses everything else."""
    import weasyprint

    root = report_dir.resolve()

    def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        parsed = urlparse(url)
        if parsed.scheme == "data":
            return weasyprint.default_url_fetcher(url, *args, **kwargs)
        if parsed.scheme != "file":
            raise RenderError(
                f"the PDF renderer refused to fetch {url!r}: only the report's own files are allowed."
            )
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(root):
            raise RenderError(
                f"the PDF renderer refused to read {path}: it is outside the report folder {root}."
            )
        if not path.is_file():
            raise RenderError(f"the PDF report needs {path}, which is missing.")
        return {"string": path.read_bytes(), "mime_type": None, "redirected_url": url}

    return fetch


def pdf_report(report: Report, report_dir: Path, env: Any, context: dict[str, Any]) -> bytes:
    """Render the print template with WeasyPrint and stamp the diagrams into their tiles."""
    import weasyprint

    box = tile_box(report.page_size)
    drawings: dict[str, DiagramInfo] = {}  # tile-id prefix -> the drawing its tiles show
    tiles: dict[str, list[Tile]] = {}
    for m in report.models:
        for kind, info, svg in (
            ("overview", m.overview, context["overview_svgs"].get(m.slug)),
            ("diagram", m.diagram, context["svgs"].get(m.slug)),
        ):
            if m.ok and svg and info and "pdf" in info.files:
                key = f"{m.slug}-{kind}"
                drawings[key] = info
                tiles[key] = plan_tiles(key, svg, box, fit=kind == "overview")
    html = env.get_template("print.html.j2").render(
        context,
        tiles=tiles,
        page_size=report.page_size,
        margin_x=DIAGRAM_MARGIN_X,
        margin_y=DIAGRAM_MARGIN_Y,
        caption_pt=CAPTION_PT,
    )
    document = weasyprint.HTML(
        string=html, base_url=report_dir.resolve().as_uri() + "/", url_fetcher=_fetcher(report_dir)
    ).render()
    placements = _find_tiles(document, tiles)
    pdf = document.write_pdf()
    if not placements:
        return bytes(pdf)
    return _stamp(pdf, placements, drawings, report_dir)


def _find_tiles(document: Any, tiles: dict[str, list[Tile]]) -> list[tuple[int, float, float, Tile, str]]:
    wanted = {t.id: (slug, t) for slug, ts in tiles.items() for t in ts}
    found = []
    for index, page in enumerate(document.pages):
        for name, (x, y, *_rest) in page.anchors.items():
            if name in wanted:
                slug, tile = wanted.pop(name)
                found.append((index, x * PT_PER_PX, y * PT_PER_PX, tile, slug))
    if wanted:
        raise RenderError(f"the PDF layout lost diagram tiles: {', '.join(sorted(wanted))}.")
    return found


def _stream(writer: Any, data: bytes) -> Any:
    from pypdf.generic import StreamObject

    stream = StreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def _stamp(
    pdf: bytes,
    placements: list[tuple[int, float, float, Tile, str]],
    drawings: dict[str, DiagramInfo],
    report_dir: Path,
) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    forms: dict[str, tuple[Any, float, float, str]] = {}
    for number, slug in enumerate(sorted({p[4] for p in placements})):
        page = PdfReader(report_dir / drawings[slug].files["pdf"]).pages[0]
        form = StreamObject()
        form.set_data(page.get_contents().get_data())  # type: ignore[union-attr]
        box = page.mediabox
        form.update({
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([FloatObject(v) for v in (box.left, box.bottom, box.right, box.top)]),
            NameObject("/Resources"): cast(Any, page["/Resources"].get_object()).clone(writer),
        })  # fmt: skip
        forms[slug] = (writer._add_object(form), float(box.width), float(box.height), f"/ArDiagram{number}")

    for index, x, y, tile, slug in placements:
        ref, pdf_w, pdf_h, name = forms[slug]
        page = writer.pages[index]
        page_h = float(page.mediabox.height)
        svg_w = drawings[slug].width_pt
        unit = pdf_w / svg_w if svg_w else 1.0  # cairo may round the page size; map SVG pt to PDF units
        s = tile.scale / unit
        # Tile origin on the page (PDF y grows upwards) and the drawing's offset within it.
        left, top = x, page_h - y
        tx = left - tile.x0 * unit * s
        ty = top - (pdf_h - tile.y0 * unit) * s
        ops = (
            f"q {left:.3f} {top - tile.height_pt:.3f} {tile.width_pt:.3f} {tile.height_pt:.3f} re W n "
            f"{s:.6f} 0 0 {s:.6f} {tx:.3f} {ty:.3f} cm {name} Do Q"
        )
        resources = cast(Any, page["/Resources"].get_object())
        if "/XObject" not in resources:
            resources[NameObject("/XObject")] = DictionaryObject()
        resources["/XObject"].get_object()[NameObject(name)] = ref
        contents = page["/Contents"]
        stream = contents.get_object()
        parts = list(stream) if isinstance(stream, ArrayObject) else [contents]
        # WeasyPrint leaves its own flipped, px-scaled matrix in force at the end of the
        # page; wrap its content in q/Q so the stamp starts from the page's default space.
        page[NameObject("/Contents")] = ArrayObject(
            [_stream(writer, b"q"), *parts, _stream(writer, b"Q"), _stream(writer, ops.encode("ascii"))]
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
