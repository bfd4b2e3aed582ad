"""<slug>-figure.pdf: a model's diagram as a vector PDF at a paper's column width.

The drawing is the model's block overview when it has one, else its full diagram, as
Graphviz drew it (its fonts are embedded TrueType subsets: no Type 3 font, which ICML's
checker rejects). It is scaled to the column width, never so far that its smallest text
drops below ``min_text_pt``: a drawing that would needs a quarter turn (the page is the
column's width, the drawing runs along its height) or, failing that, is split into parts,
one page each, cut between nodes where it can be (diagram/tiles.py) and each holding only
its own part's text (diagram/pdfcrop.py). A paper includes each page:
``\\includegraphics[page=2]{resnet50-figure.pdf}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pikepdf

from archreport.data import DiagramInfo, ModelReport
from archreport.diagram import pdfcrop, pdfsave
from archreport.diagram.svg import svg_geometry
from archreport.diagram.tiles import Tile, plan_tiles
from archreport.manifest.schema import TexTable, length_pt


@dataclass(frozen=True)
class Part:
    """One page of a figure: a region of the drawing (pt from its top-left), its scale, turned or not."""

    x0: float
    y0: float
    x1: float
    y1: float
    scale: float
    turned: bool = False
    columns: int = 1  # parts side by side in the split this part is of

    @property
    def size(self) -> tuple[float, float]:
        """The page's width and height, pt."""
        w, h = (self.x1 - self.x0) * self.scale, (self.y1 - self.y0) * self.scale
        return (h, w) if self.turned else (w, h)


def drawing(model: ModelReport) -> tuple[str, DiagramInfo] | None:
    """Which drawing a model's figure shows: its overview, else its full diagram (None: neither was drawn)."""
    for kind, info in (("overview", model.overview), ("diagram", model.diagram)):
        if info is not None and info.mode is not None and {"pdf", "svg"} <= set(info.files):
            return kind, info
    return None


def plan(svg: str, options: TexTable) -> list[Part]:
    """The figure's pages: one page when the drawing fits (turned if it must), else its parts."""
    g = svg_geometry(svg)
    width, height, least = length_pt(options.width), length_pt(options.max_height), options.min_text_pt
    need = least / g.min_font  # the smallest scale that keeps the smallest text at least `least`
    grow = max(1.0, need)  # never larger than drawn, unless the text needs it
    upright = min(width / g.width, height / g.height, grow)
    if upright >= need:
        return [Part(0.0, 0.0, g.width, g.height, upright)]
    turned = min(height / g.width, width / g.height, grow)
    if turned >= need:
        return [Part(0.0, 0.0, g.width, g.height, turned, turned=True)]
    # Split at the smallest scale the text allows, into the fewest parts; cutting across a row
    # of nodes (parts side by side) halves their labels, so a split into bands only is preferred.
    splits = [
        _parts(svg, (width, height), need, turned=False),
        _parts(svg, (height, width), need, turned=True),
    ]
    return min(splits, key=lambda parts: (max(p.columns for p in parts) > 1, len(parts)))


def _parts(svg: str, box: tuple[float, float], scale: float, *, turned: bool) -> list[Part]:
    tiles: list[Tile] = plan_tiles("figure", svg, box, scale=scale)
    return [Part(t.x0, t.y0, t.x1, t.y1, t.scale, turned, t.cols) for t in tiles]


def figure_pdf(model: ModelReport, report_dir: Path, options: TexTable) -> bytes | None:
    """The model's figure PDF (None when it has no drawing)."""
    chosen = drawing(model)
    if chosen is None:
        return None
    _, info = chosen
    parts = plan((report_dir / info.files["svg"]).read_text(encoding="utf-8"), options)
    with pikepdf.open(report_dir / info.files["pdf"]) as source, pikepdf.new() as pdf:
        page = source.pages[0]
        pdf_w, pdf_h = (
            float(page.mediabox[2]) - float(page.mediabox[0]),
            float(page.mediabox[3]) - float(page.mediabox[1]),
        )
        margins = (pdf_w - info.width_pt) / 2, (pdf_h - info.height_pt) / 2
        whole = pdf.copy_foreign(pikepdf.Page(page).as_form_xobject())
        crop = pdfcrop.Drawing(page) if len(parts) > 1 else None
        for part in parts:
            form = whole
            if crop is not None:  # each part holds only its own marks and text
                window = _window(part, margins, pdf_h)
                form = pikepdf.Stream(pdf, crop.crop(window))
                for key, value in whole.items():
                    if key not in ("/Length", "/Filter", "/DecodeParms"):
                        form[key] = value
            pdf.pages.append(_page(pdf, pdf.make_indirect(form), part, margins, pdf_h))
        pdf.docinfo["/Title"] = f"{model.name}: {'block overview' if chosen[0] == 'overview' else 'diagram'}"
        pdf.docinfo["/Creator"] = "archreport"
        return pdfsave.save_pdf(pdf, final=True)


def _window(part: Part, margins: tuple[float, float], pdf_h: float) -> pdfcrop.Box:
    """The part's region in the Graphviz page's coordinates (Graphviz draws with a margin around the SVG's drawing)."""
    mx, my = margins
    return part.x0 + mx, pdf_h - my - part.y1, part.x1 + mx, pdf_h - my - part.y0


def _page(
    pdf: pikepdf.Pdf, form: pikepdf.Object, part: Part, margins: tuple[float, float], pdf_h: float
) -> pikepdf.Page:
    """A page the size of ``part``, drawing its region of ``form`` (turned a quarter counter-clockwise if so)."""
    s = part.scale
    left, _, _, top = _window(part, margins, pdf_h)
    if part.turned:  # the drawing's top along the page's left edge, its left along the bottom
        matrix = (0.0, s, -s, 0.0, s * top, -s * left)
    else:
        page_h = part.size[1]
        matrix = (s, 0.0, 0.0, s, -s * left, page_h - s * top)
    w, h = part.size
    ops = "q 0 0 {:.4f} {:.4f} re W n {} cm /Drawing Do Q".format(
        w, h, " ".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in matrix)
    )
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, round(w, 4), round(h, 4)],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Drawing=form)),
        Contents=pdf.make_indirect(pikepdf.Stream(pdf, ops.encode("ascii"))),
    )
    return pikepdf.Page(pdf.make_indirect(page))
