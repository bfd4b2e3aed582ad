"""report.pdf assembled in the parent from the report-level pages and one section per model.

WeasyPrint lays out only what the parent owns: the title page, the contents,
the summary, the changes and one header per model (issue 13: laying out the
sections' thousands of pages again would cost about 5 ms a page). The contents
need the final page numbers, which depend on the sections' lengths; they are
known, so each model header's first page advances the page counter past the
section pages that will come before it, and one layout gets every number right.

pikepdf then puts each section's pages after its model's header (copying a
page keeps the outline's references valid), files the sections' own bookmarks
under their model's, and stamps every page but the title page with the running
header (report title and model name, form XObjects cut from the same layout, so
their glyphs are embedded once) and "Page N of M" (a small embedded font).

That document changes only when what it shows changes, so the cache keeps it
(cache.document_key). The run's time stamp is the one thing that changes on
every run: it is drawn last, on the title page, with the page numbers' font, on
a cache hit as on a miss, so the bytes are the same whichever it was. A hit
lays nothing out and never imports WeasyPrint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pikepdf

from archreport.data import Report
from archreport.diagram import pdfsave
from archreport.errors import RenderError
from archreport.render import charts
from archreport.render.pdf import diffpage, objects
from archreport.render.pdf.weasy import layout
from archreport.render.review import SIDES, Drawing

if TYPE_CHECKING:
    import jinja2

    from archreport.store.cache import Cache

FOOTER_BASELINE_PT = 22.0  # above the bottom margin of every page kind (18 mm, 42 pt)
FOOTER_PT = 8.0
FOOTER_RGB = "0.357 0.392 0.459"  # #5b6475, the running header's colour (print.css)
NUMBER_FONT = "/ArNum"  # the page numbers' font, in every page's resources, the title page's too


def front_matter_html(
    report: Report, lengths: Mapping[str, int], env: jinja2.Environment, diffs: Sequence[Drawing] = ()
) -> str:
    """The report-level pages' HTML: front matter, one header per model, the running headers' pieces.

    ``lengths`` are the sections' page counts, by slug. Each model header's first page advances
    the page counter past the section pages that will precede it in the assembled PDF
    (print.html.j2), so ``target-counter()`` in the contents counts them. ``diffs`` get a
    page each in the changes chapter, with empty slots that :mod:`diffpage` fills.
    """
    skips, before = {}, 0
    for m in report.models:
        skips[m.slug] = before
        before = lengths.get(m.slug, 0)
    ok = [m for m in report.models if m.ok and m.totals]
    return str(
        env.get_template("print.html.j2").render(
            report=report,
            models=report.models,
            comparison_charts=charts.comparison(ok, chart=charts.print_bars),
            page_size=report.page_size,
            skips=skips,
            diffs=[d for d in diffs if all("pdf" in d.files.get(side, {}) for side in SIDES)],
            compact=report.pdf_profile == "compact",
        )
    )


def _front_matter(
    report: Report, html: str, report_dir: Path
) -> tuple[Any, dict[str, int], dict[str, tuple[int, float]]]:
    """Lay out the front matter and the model headers.

    Returns the document, each heading's page index, and where each compact model header
    ends: its page index and how far down that page, in pt (the ``slot-`` anchors).
    """
    document = layout(html, report_dir)
    anchors = ["summary", *(["changes"] if report.changes is not None else [])]
    anchors += [f"model-{m.slug}" for m in report.models]
    found: dict[str, int] = {}
    slots: dict[str, tuple[int, float]] = {}
    for index, page in enumerate(document.pages):
        for name, position in page.anchors.items():
            found.setdefault(name, index)
            if name.startswith("slot-"):
                slots[name[5:]] = (index, position[-1] * 0.75)  # CSS px from the top, in pt
    lost = [name for name in anchors if name not in found]
    if lost:
        raise RenderError(f"the PDF layout lost the headings {', '.join(lost)}.")
    return document, {name: found[name] for name in anchors}, slots


def assemble_pdf(
    report: Report,
    sections: dict[str, bytes],
    env: jinja2.Environment,
    *,
    report_dir: Path,
    cache: Cache | None = None,
    diffs: Sequence[Drawing] = (),
) -> bytes:
    """The whole report.pdf from the report-level pages and each ok model's section.

    Args:
        report: the report; its models in order, failed ones included.
        sections: each ok model's PDF section (render_section_pdf), by slug.
        env: the Jinja environment (templating.jinja_environment).
        report_dir: the report folder; WeasyPrint may read nothing outside it.
        cache: where the assembled document is kept between runs, or None.
        diffs: the visual diff's drawings (render/review.py): a page each in the changes chapter.

    Raises:
        RenderError: a section is missing or WeasyPrint failed.
    """
    missing = [m.name for m in report.models if m.ok and m.slug not in sections]
    if missing:
        raise RenderError(f"no PDF section was rendered for {', '.join(missing)}.")
    ordered = {m.slug: sections[m.slug] for m in report.models if m.ok}
    key = None
    if cache is not None:
        from archreport.store.cache import document_key

        # The sections' bytes decide their page counts, so the key's HTML leaves them at 0.
        html = front_matter_html(report, {}, env, diffs)
        drawn = {
            f"{d.slug}/changes/{side}": (report_dir / d.files[side]["pdf"]).read_bytes()
            for d in diffs
            for side in SIDES
            if "pdf" in d.files.get(side, {})
        }
        key = document_key(html, {**ordered, **drawn, **_drawn(report, report_dir)}, report.page_size)
        unstamped = cache.get_document(key)
        if unstamped is not None:
            try:
                return stamp_time(unstamped, report.generated)
            except pikepdf.PdfError:
                pass  # a damaged entry is a miss; it is replaced below
    parts = {slug: pdfsave.open_pdf(data) for slug, data in ordered.items()}
    try:
        unstamped = _assemble(report, parts, env, report_dir, diffs)
    finally:
        for part in parts.values():
            part.close()
    if cache is not None and key is not None:
        cache.put_document(key, unstamped)
    return stamp_time(unstamped, report.generated)


def _drawn(report: Report, report_dir: Path) -> dict[str, bytes]:
    """The drawings a compact PDF's headers show, by model: the cached document depends on them too."""
    if report.pdf_profile != "compact":
        return {}
    out = {}
    for m in report.models:
        for info in (m.overview, m.diagram):
            if m.ok and info is not None and "pdf" in info.files:
                out[f"{m.slug}/drawing"] = (report_dir / info.files["pdf"]).read_bytes()
                break
    return out


def stamp_time(unstamped: bytes, generated: str) -> bytes:
    """The final report.pdf: "Generated <time>" centred at the foot of the title page.

    In the page numbers' font, size, colour and baseline, so it reads as the title page's
    footer; the font is already in the title page's resources (``_stamp_furniture``).
    """
    with pdfsave.open_pdf(unstamped) as pdf:
        page = pdf.pages[0]
        font = page.resources.Font[NUMBER_FONT]
        text = f"Generated {generated}"
        width = float(page.mediabox[2]) - float(page.mediabox[0])
        x = (width - _text_width(font, text, FOOTER_PT)) / 2
        ops = f"q BT {NUMBER_FONT} {FOOTER_PT:g} Tf {FOOTER_RGB} rg 1 0 0 1 {x:.2f} {FOOTER_BASELINE_PT:g} Tm ({text}) Tj ET Q"
        objects.Overlay(pdf).draw(page, ops, {"/Font": {NUMBER_FONT: font}})
        return pdfsave.save_pdf(pdf, final=True)


def _text_width(font: pikepdf.Object, text: str, size: float) -> float:
    """The advance width of ``text`` at ``size`` pt in a simple font, from its /Widths.

    Raises:
        RenderError: the font has no glyph for a character of ``text``.
    """
    first = int(font.FirstChar)
    widths = [float(w) for w in font.Widths]
    total = 0.0
    for ch in text:
        index = ord(ch) - first
        if not 0 <= index < len(widths) or widths[index] == 0:
            raise RenderError(f"the PDF's page-number font has no glyph for {ch!r} (in {text!r}).")
        total += widths[index]
    return total * size / 1000


def _assemble(
    report: Report,
    parts: dict[str, pikepdf.Pdf],
    env: jinja2.Environment,
    report_dir: Path,
    diffs: Sequence[Drawing] = (),
) -> bytes:
    """The assembled document before its time stamp (:func:`stamp_time`)."""
    # The diff drawings and a compact header's drawing stay open until the PDF is saved (qpdf copies them then).
    with contextlib.ExitStack() as sources:
        return _assembled(report, parts, env, report_dir, diffs, sources)


def _assembled(
    report: Report,
    parts: dict[str, pikepdf.Pdf],
    env: jinja2.Environment,
    report_dir: Path,
    diffs: Sequence[Drawing],
    sources: contextlib.ExitStack[Any],
) -> bytes:
    from archreport.render.pdf import fonts

    lengths = {slug: len(part.pages) for slug, part in parts.items()}
    html = front_matter_html(report, lengths, env, diffs)
    document, starts, slots = _front_matter(report, html, report_dir)
    pdf = pdfsave.open_pdf(document.write_pdf())
    diffpage.draw(pdf, list(diffs), diffpage.slots(document), report_dir, sources)
    models = report.models
    stamps = 1 + len(models)  # the title's piece, then one per model name
    front = len(pdf.pages) - stamps
    title_form = objects.page_form(pdf, pdf.pages[front])
    name_forms = [objects.page_form(pdf, pdf.pages[front + 1 + j]) for j in range(len(models))]
    for _ in range(stamps):
        del pdf.pages[-1]

    # Each model's header runs to the next model's header (the last one to the end of the front matter).
    header_pages = [starts[f"model-{m.slug}"] for m in models] + [front]
    headers = [pdf.pages[i].obj for i in header_pages[:-1]]
    extra = _compact_drawings(pdf, report, slots, report_dir, sources) if slots else {}
    owner: list[int | None] = [None] * header_pages[0]
    inserted: dict[str, list[pikepdf.Page]] = {}
    at = header_pages[0]
    for j, m in enumerate(models):
        at += header_pages[j + 1] - header_pages[j]
        owner += [j] * (header_pages[j + 1] - header_pages[j])
        for page in extra.get(m.slug, []):  # a compact header's drawing, when the header left no room
            pdf.pages.insert(at, page)
            at += 1
            owner.append(j)
        if m.slug in parts:
            new = []
            for page in parts[m.slug].pages:
                pdf.pages.insert(at, page)
                new.append(pdf.pages[at])
                at += 1
            inserted[m.slug] = new
            owner += [j] * len(new)

    _file_bookmarks(pdf, report, parts, inserted, headers)
    fonts.merge_subsets(pdf, _font_holders(pdf, [title_form, *name_forms]))
    _stamp_furniture(pdf, owner, title_form, name_forms)
    return pdfsave.save_pdf(pdf, final=True)


# A compact header's drawing goes below the header when at least this share of a drawing
# page's height is left there; else on a page of its own after the header.
MIN_ROOM = 0.45
SLOT_GAP_PT = 6.0


def _compact_drawings(
    pdf: pikepdf.Pdf,
    report: Report,
    slots: dict[str, tuple[int, float]],
    report_dir: Path,
    sources: contextlib.ExitStack[Any],
) -> dict[str, list[pikepdf.Page]]:
    """Draw each compact model header's overview (else its diagram) on one page: below the header, or new.

    Returns the new pages, by slug, to go after each model's header.
    """
    from archreport.diagram.tiles import CAPTION_PT, DIAGRAM_MARGIN_Y
    from archreport.render.pdf.section import caption_fonts, draw_fitted

    extra: dict[str, list[pikepdf.Page]] = {}
    fonts = caption_fonts(pdf)
    for j, m in enumerate(report.models):
        if m.slug not in slots:
            continue
        name = f"/ArDrawing{j}"
        index, bottom = slots[m.slug]
        page = pdf.pages[index]
        height = float(page.mediabox[3]) - float(page.mediabox[1])
        room = height - bottom - SLOT_GAP_PT - DIAGRAM_MARGIN_Y - CAPTION_PT
        if room >= MIN_ROOM * (height - 2 * DIAGRAM_MARGIN_Y - CAPTION_PT):
            draw_fitted(pdf, page, m, report_dir, bottom + SLOT_GAP_PT, sources, name=name, fonts=fonts)
            continue
        blank = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=page.mediabox,
            Resources=pikepdf.Dictionary(),
            Contents=pdf.make_indirect(pikepdf.Stream(pdf, b"")),
        )
        new = pikepdf.Page(pdf.make_indirect(blank))
        if draw_fitted(pdf, new, m, report_dir, DIAGRAM_MARGIN_Y, sources, name=name, fonts=fonts):
            extra[m.slug] = [new]
    return extra


def _font_holders(pdf: pikepdf.Pdf, forms: list[pikepdf.Object]) -> list[pikepdf.Dictionary]:
    """The /Font resource dictionaries of every page and of ``forms``, each once."""
    holders: dict[Any, Any] = {}
    for owner in [*(page.obj for page in pdf.pages), *forms]:
        resources = owner.get("/Resources")
        if not isinstance(resources, pikepdf.Dictionary):
            continue
        fonts = resources.get("/Font")
        if isinstance(fonts, pikepdf.Dictionary):
            key = resources.objgen if resources.is_indirect else id(fonts)
            holders.setdefault(key, fonts)
    return list(holders.values())


def _file_bookmarks(
    pdf: pikepdf.Pdf,
    report: Report,
    parts: dict[str, pikepdf.Pdf],
    inserted: dict[str, list[pikepdf.Page]],
    headers: list[pikepdf.Dictionary],
) -> None:
    """Put each section's own bookmarks (diagram, layers) under its model's bookmark."""
    with pdf.open_outline() as outline:
        by_page = {}
        for item in outline.root:
            dest = item.destination
            if isinstance(dest, pikepdf.Array) and len(dest) > 0:
                by_page[dest[0].objgen] = item
        for m, header in zip(report.models, headers, strict=True):
            parent = by_page.get(header.objgen)
            if parent is None or m.slug not in parts:
                continue
            index = {page.obj.objgen: k for k, page in enumerate(parts[m.slug].pages)}
            with parts[m.slug].open_outline() as own:
                for item in own.root:
                    dest = item.destination
                    if not isinstance(dest, pikepdf.Array) or len(dest) == 0 or dest[0].objgen not in index:
                        continue
                    page = inserted[m.slug][index[dest[0].objgen]]
                    target = pikepdf.Array([page.obj, *list(dest)[1:]])
                    parent.children.append(pikepdf.OutlineItem(item.title, target))


def _stamp_furniture(
    pdf: pikepdf.Pdf, owner: list[int | None], title_form: pikepdf.Object, name_forms: list[pikepdf.Object]
) -> None:
    """The running header and "Page N of M" on every page but the title page.

    The title page gets the font in its resources, for its time stamp (:func:`stamp_time`).
    """
    overlay = objects.Overlay(pdf)
    font = objects.NumberFont(pdf)
    title = pikepdf.Page(pdf.pages[0]).resources
    if "/Font" not in title:
        title.Font = pikepdf.Dictionary()
    title.Font[NUMBER_FONT] = font.font
    total = len(pdf.pages)
    for i, page in enumerate(pdf.pages):
        if i == 0:
            continue
        text = f"Page {i + 1} of {total}"
        width = float(page.mediabox[2]) - float(page.mediabox[0])
        x = (width - font.width(text, FOOTER_PT)) / 2
        ops = [
            f"q BT {NUMBER_FONT} {FOOTER_PT:g} Tf {FOOTER_RGB} rg 1 0 0 1 {x:.2f} {FOOTER_BASELINE_PT:g} Tm ({text}) Tj ET Q",
            "q /ArTitle Do Q",
        ]
        xobjects = {"/ArTitle": title_form}
        j = owner[i]
        if j is not None:
            ops.append(f"q /ArName{j} Do Q")
            xobjects[f"/ArName{j}"] = name_forms[j]
        overlay.draw(page, "\n".join(ops), {"/Font": {NUMBER_FONT: font.font}, "/XObject": xobjects})
