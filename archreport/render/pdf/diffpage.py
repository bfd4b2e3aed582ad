"""The PDF's visual diff: each changed model's two sides drawn into their slots on its page.

WeasyPrint lays out the page (print.html.j2: heading, legend, captions, two empty
slots with ids), so its text is real text and the contents count the page. The
drawings themselves are Graphviz's vector PDFs of both sides (render/review.py),
placed here as forms at one scale for both, so the two read alike; WeasyPrint would
draw the same SVGs more slowly and no better.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pikepdf

from archreport.render.pdf import objects
from archreport.render.review import SIDES, Drawing

_PT_PER_PX = 0.75  # WeasyPrint's anchors are in CSS px
_INSET = 4.0  # pt between a slot's border and its drawing


def slot(slug: str, side: str) -> str:
    """The id of a side's slot (print.html.j2)."""
    return f"diff-slot-{slug}-{side}"


Slot = tuple[int, float, float, float, float]  # page index; left, top, right, bottom in pt from the top-left


def slots(document: Any) -> dict[str, Slot]:
    """Every slot's page index and box, by id, from WeasyPrint's layout (its anchors' boxes, in CSS px)."""
    found: dict[str, Slot] = {}
    for index, page in enumerate(document.pages):
        for name, box in page.anchors.items():
            if name.startswith("diff-slot-") and len(box) == 4:
                x0, y0, x1, y1 = (v * _PT_PER_PX for v in box)
                found.setdefault(name, (index, x0, y0, x1, y1))
    return found


def draw(
    pdf: pikepdf.Pdf,
    drawings: list[Drawing],
    where: dict[str, Slot],
    report_dir: Path,
    sources: contextlib.ExitStack[Any],
) -> None:
    """Draw both sides of each drawing into its slots, at the largest scale (at most 1) at which both fit.

    The Graphviz PDFs are opened on ``sources``, which must stay open until ``pdf`` is saved.
    """
    overlay = objects.Overlay(pdf)
    for d in drawings:
        if not all("pdf" in d.files.get(side, {}) and slot(d.slug, side) in where for side in SIDES):
            continue
        boxes = {side: where[slot(d.slug, side)] for side in SIDES}
        width = min(b[3] - b[1] for b in boxes.values()) - 2 * _INSET
        height = min(b[4] - b[2] for b in boxes.values()) - 2 * _INSET
        scale = min(
            [1.0]
            + [width / max(d.sizes[side][0], 1.0) for side in SIDES]
            + [height / max(d.sizes[side][1], 1.0) for side in SIDES]
        )
        for n, side in enumerate(SIDES):
            source = sources.enter_context(pikepdf.open(report_dir / d.files[side]["pdf"]))
            form, pdf_w, pdf_h = objects.drawing_form(pdf, source)
            index, x0, y0, _, _ = boxes[side]
            page = pdf.pages[index]
            page_h = float(page.mediabox[3]) - float(page.mediabox[1])
            left, top = x0 + _INSET, page_h - y0 - _INSET
            w, h = d.sizes[side]
            # Graphviz's PDF is the drawing with a margin around it (section.py's _placed says more).
            mx, my = (pdf_w - w) / 2, (pdf_h - h) / 2
            tx = left + (width - scale * w) / 2 - scale * mx
            ty = top - scale * (pdf_h - my)
            name = f"/ArDiff{n}"
            ops = (
                f"q {left:.3f} {top - height:.3f} {width:.3f} {height:.3f} re W n "
                f"{scale:.6f} 0 0 {scale:.6f} {tx:.3f} {ty:.3f} cm {name} Do Q"
            )
            overlay.draw(page, ops, {"/XObject": {name: form}})
