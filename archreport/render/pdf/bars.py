"""A section's top-layer bar charts, drawn into a PDF page by archreport itself.

The charts are two titles, sixteen bars and thirty-two short lines of text at places
print.css fixes to the hundredth of a millimetre (charts.print_bars), so nothing needs
a layout engine: WeasyPrint spent about 40 ms a section on them, most of what a
section body cost once the layer table was set without it (issue 26). The page is
what WeasyPrint made of the same HTML, within a kerning pair (DejaVu's kerning is
not applied here), and the layer table (table.py) follows where WeasyPrint's flow
would have put it. Charts with a character the subsets lack go back to WeasyPrint.
"""

from __future__ import annotations

from collections.abc import Mapping

import pikepdf

from archreport.diagram.tiles import PAGE_SIZES
from archreport.render import charts
from archreport.render.pdf import table
from archreport.render.pdf import text as pdftext

MM = 72 / 25.4
# print.css: the page's top and left margins; .charts .bars and the rules after it.
TOP_PT, LEFT_PT = table.TOP_PT, table.SIDE_PT
CHART_MARGIN_PT = 3 * MM  # .charts .bars { margin: 3mm 0 }: 3 mm above, between and below
TITLE_PT, TITLE_LINE_PT, TITLE_BOX_PT = 7.26, 3.74 * MM, 4.73 * MM
TEXT_PT, TEXT_LINE_PT = 6.14, 3.23 * MM
ROW_PT, BAR_PT = 4.33 * MM, 3.15 * MM
LABEL_W_PT, LABEL_GAP_PT, VALUE_GAP_PT = 48.06 * MM, 1.18 * MM, 0.79 * MM
FONTS = {"/ArSans": "regular", "/ArHead": "bold"}  # /ArHead is table.py's heading face too

Spec = tuple[str, charts.Items, str]  # title, items, colour (charts.top_layer_items)


def fits(specs: Mapping[str, Spec]) -> bool:
    """Whether the embedded subsets hold every character the charts show."""
    titles = "".join(title for title, _, _ in specs.values())
    shown = "".join(
        short + value for _, items, _ in specs.values() for _, short, _, value in charts.bars(items)
    )
    return pdftext.covers("bold", titles) and pdftext.covers("regular", shown)


def _rgb(colour: str) -> str:
    """A CSS ``#rrggbb`` as PDF operands."""
    return " ".join(f"{int(colour[i : i + 2], 16) / 255:.6f}".rstrip("0").rstrip(".") for i in (1, 3, 5))


def add_chart_page(
    pdf: pikepdf.Pdf, specs: Mapping[str, Spec], page_size: str, fonts: dict[str, pdftext.TextFont]
) -> float:
    """Draw the charts (in "params", "flops" order) on a new page of ``pdf``; where they end, in pt from the top.

    ``fonts`` keeps the fonts it embeds, for the table to reuse (table.text_fonts).

    The returned depth is where WeasyPrint's flow would go on after the charts' bottom
    margin: :func:`table.add_table_pages` begins the layer table there.

    Raises:
        ValueError: a character of the charts is not in the subsets (:func:`fits` says which fit).
    """
    if not fits(specs):
        raise ValueError("the charts hold characters the embedded fonts lack")
    width, height = PAGE_SIZES[page_size]
    used = table.text_fonts(pdf, FONTS, fonts)
    sans, head = used["/ArSans"], used["/ArHead"]
    ops: list[str] = []
    top = TOP_PT + CHART_MARGIN_PT
    for key in ("params", "flops"):
        if key not in specs:
            continue
        title, items, colour = specs[key]
        base = height - top - head.baseline(TITLE_LINE_PT, TITLE_PT)
        ops.append(
            f"BT {table.TEXT_RGB} rg /ArHead {TITLE_PT:g} Tf 1 0 0 1 {LEFT_PT:.3f} {base:.3f} Tm {head.encode(title)} Tj ET"
        )
        row = top + TITLE_BOX_PT
        for _, short, w, value in charts.bars(items):
            base = height - row - sans.baseline(TEXT_LINE_PT, TEXT_PT)
            right = LEFT_PT + LABEL_W_PT
            bar_x = right + LABEL_GAP_PT
            bar_w = round(w * charts.MM_PER_PX, 2) * MM  # the width print_bars writes, in mm to 0.01
            # The label is right-aligned in its box and clipped to it (overflow: hidden).
            ops.append(
                f"q {LEFT_PT:.3f} {height - row - TEXT_LINE_PT:.3f} {LABEL_W_PT:.3f} {TEXT_LINE_PT:.3f} re W n "
                f"BT {table.TEXT_RGB} rg /ArSans {TEXT_PT:g} Tf 1 0 0 1 {right - sans.width(short, TEXT_PT):.3f} "
                f"{base:.3f} Tm {sans.encode(short)} Tj ET Q"
            )
            if bar_w > 0:
                ops.append(
                    f"{_rgb(colour)} rg {bar_x:.3f} {height - row - BAR_PT:.3f} {bar_w:.3f} {BAR_PT:.3f} re f"
                )
            ops.append(
                f"BT {table.TEXT_RGB} rg /ArSans {TEXT_PT:g} Tf 1 0 0 1 {bar_x + bar_w + VALUE_GAP_PT:.3f} "
                f"{base:.3f} Tm {sans.encode(value)} Tj ET"
            )
            row += ROW_PT
        top = row + CHART_MARGIN_PT  # margins between the charts collapse: 3 mm, not 6
    table.new_page(pdf, "\n".join(ops).encode("ascii"), used, width, height)
    return top
