"""The full profile's layer table, typeset into PDF pages by archreport itself.

The table is fixed-width lines of one monospace face (section.print_table), so where
each glyph goes is known without a layout engine. WeasyPrint spent about 0.6 ms a line
on it: 1.8 s of the 10-model zoo's 2.5 s of section bodies (benchmarks/README.md).
The pages look as print.css sets them (its margins, ``pre.layers``' face, size and line
height, an ``h3`` heading) and carry the same text. A table with a character the
embedded subsets lack goes back to WeasyPrint, which falls back to other fonts.
"""

from __future__ import annotations

from collections.abc import Mapping

import pikepdf

from archreport import units
from archreport.diagram.tiles import PAGE_SIZES
from archreport.render.pdf import text as pdftext

# print.css: @page margins (20 mm, 16 mm, 18 mm); pre.layers at 6.8 pt, line-height 1.3; h3 at
# 11 pt in a 1.35 line with 12 pt above it and 4 pt below; the body's colour.
TOP_PT, SIDE_PT, BOTTOM_PT = 56.69, 45.35, 51.02
SIZE_PT, LINE_PT = 6.8, 6.8 * 1.3
HEADING_PT, HEADING_LINE_PT, HEADING_GAP_PT, HEADING_MARGIN_PT = 11.0, 11.0 * 1.35, 4.0, 12.0
TEXT_RGB = "0.114 0.137 0.188"
FONTS = {"/ArMono": "mono", "/ArMonoB": "mono-bold", "/ArHead": "bold"}


def shown(table: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The table's lines as the templates show text (hidden and direction-changing characters escaped)."""
    return [
        (line if line.isascii() and line.isprintable() else units.visible(line), bold) for line, bold in table
    ]


def fits(table: list[tuple[str, bool]]) -> bool:
    """Whether the embedded subsets hold every character of ``table`` (as :func:`shown`)."""
    text = "".join(line for line, _ in shown(table))
    return pdftext.covers("mono", text) and pdftext.covers("mono-bold", text)


def text_fonts(
    pdf: pikepdf.Pdf, faces: Mapping[str, str], made: dict[str, pdftext.TextFont]
) -> dict[str, pdftext.TextFont]:
    """The fonts ``faces`` names (resource name -> face), each embedded in ``pdf`` once: ``made`` keeps them."""
    for name, face in faces.items():
        if name not in made:
            made[name] = pdftext.TextFont(pdf, face)
    return {name: made[name] for name in faces}


def add_table_pages(
    pdf: pikepdf.Pdf,
    table: list[tuple[str, bool]],
    page_size: str,
    *,
    below: float | None = None,
    fonts: dict[str, pdftext.TextFont] | None = None,
) -> None:
    """Set the table under an h3 "Layers" (and its bookmark) after the pages of ``pdf``.

    ``below``: how far from the top of the last page its content ends, in pt; the table
    begins there when the heading and a few lines fit, as it would in WeasyPrint's flow.
    ``fonts``: fonts already embedded for the pages before (:func:`text_fonts`), reused.

    Raises:
        ValueError: a character of the table is not in the subsets (:func:`fits` says which tables fit).
    """
    lines = shown(table)
    if not fits(lines):
        raise ValueError("the layer table holds characters the embedded fonts lack")
    width, height = PAGE_SIZES[page_size]
    fonts = text_fonts(pdf, FONTS, {} if fonts is None else fonts)
    mono, heading = fonts["/ArMono"], fonts["/ArHead"]
    y = height - TOP_PT
    page: pikepdf.Page | None = None
    if below is not None and pdf.pages:
        y = height - max(TOP_PT, below) - HEADING_MARGIN_PT
        if y - HEADING_LINE_PT - HEADING_GAP_PT - 4 * LINE_PT >= BOTTOM_PT:
            page = pdf.pages[-1]
        else:
            y = height - TOP_PT
    first = True
    while first or lines:
        ops = [f"BT {TEXT_RGB} rg"]
        if first:
            base = y - heading.baseline(HEADING_LINE_PT, HEADING_PT)
            ops.append(
                f"/ArHead {HEADING_PT:g} Tf 1 0 0 1 {SIDE_PT:.3f} {base:.3f} Tm {heading.encode('Layers')} Tj"
            )
            heading_top = y
            y -= HEADING_LINE_PT + HEADING_GAP_PT
        count = max(1, int((y - BOTTOM_PT) // LINE_PT))
        for line, bold in lines[:count]:
            base = y - mono.baseline(LINE_PT, SIZE_PT)
            name = "/ArMonoB" if bold else "/ArMono"
            if line:
                ops.append(
                    f"{name} {SIZE_PT:g} Tf 1 0 0 1 {SIDE_PT:.3f} {base:.3f} Tm {fonts[name].encode(line)} Tj"
                )
            y -= LINE_PT
        lines = lines[count:]
        ops.append("ET")
        page = _page(pdf, page, "\n".join(ops).encode("ascii"), fonts, width, height)
        if first:
            with pdf.open_outline() as outline:
                target = pikepdf.Array([page.obj, pikepdf.Name.XYZ, SIDE_PT, heading_top, 0])
                outline.root.append(pikepdf.OutlineItem("Layers", target))
        first, page, y = False, None, height - TOP_PT


def new_page(
    pdf: pikepdf.Pdf, content: bytes, fonts: dict[str, pdftext.TextFont], width: float, height: float
) -> pikepdf.Page:
    """A new last page of ``pdf`` drawing ``content`` with ``fonts``."""
    return _page(pdf, None, content, fonts, width, height)


def _page(
    pdf: pikepdf.Pdf,
    page: pikepdf.Page | None,
    content: bytes,
    fonts: dict[str, pdftext.TextFont],
    width: float,
    height: float,
) -> pikepdf.Page:
    """``content`` drawn on ``page`` (after what it shows, in its own graphics state) or on a new last page."""
    if page is None:
        resources = pikepdf.Dictionary(Font=pikepdf.Dictionary({n: f.font for n, f in fonts.items()}))
        stream = pdf.make_indirect(pikepdf.Stream(pdf, content))
        new = pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=[0, 0, width, height], Resources=resources, Contents=stream
        )
        pdf.pages.append(pikepdf.Page(pdf.make_indirect(new)))
        return pdf.pages[-1]
    # WeasyPrint's content leaves its own transformation in place: wrapped in q ... Q, ours starts clean.
    page.contents_add(pikepdf.Stream(pdf, b"q"), prepend=True)
    page.contents_add(pikepdf.Stream(pdf, b"Q\n" + content), prepend=False)
    if "/Resources" not in page.obj:
        page.obj.Resources = pikepdf.Dictionary()
    if "/Font" not in page.obj.Resources:
        page.obj.Resources.Font = pikepdf.Dictionary()
    for name, font in fonts.items():
        page.obj.Resources.Font[name] = font.font
    return page
