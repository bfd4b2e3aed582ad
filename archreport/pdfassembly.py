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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pikepdf

from . import charts, pdffonts, pdfobjects
from .data import Report
from .errors import RenderError
from .weasy import layout

FOOTER_BASELINE_PT = 22.0  # above the bottom margin of every page kind (18 mm, 42 pt)
FOOTER_PT = 8.0
FOOTER_RGB = "0.357 0.392 0.459"  # #5b6475, the running header's colour (print.css)


def _front_matter(
    report: Report, lengths: dict[str, int], env: Any, report_dir: Path
) -> tuple[Any, dict[str, int]]:
    """Lay out the front matter and the model headers; return the document and each heading's page index.

    The contents' page numbers come out right in this one pass: each model header is a named
    page whose first page advances the page counter past the section pages that will precede
    it in the assembled PDF (print.html.j2), so ``target-counter()`` counts them.
    """
    skips, before = {}, 0
    for m in report.models:
        skips[m.slug] = before
        before = lengths.get(m.slug, 0)
    ok = [m for m in report.models if m.ok and m.totals]
    html = env.get_template("print.html.j2").render(
        report=report,
        models=report.models,
        comparison_charts=charts.comparison(ok),
        page_size=report.page_size,
        skips=skips,
    )
    document = layout(html, report_dir)
    anchors = ["summary", *(["changes"] if report.changes is not None else [])]
    anchors += [f"model-{m.slug}" for m in report.models]
    found: dict[str, int] = {}
    for index, page in enumerate(document.pages):
        for name in page.anchors:
            found.setdefault(name, index)
    lost = [name for name in anchors if name not in found]
    if lost:
        raise RenderError(f"the PDF layout lost the headings {', '.join(lost)}.")
    return document, {name: found[name] for name in anchors}


def assemble_pdf(report: Report, sections: dict[str, bytes], env: Any, *, report_dir: Path) -> bytes:
    """The whole report.pdf from the report-level pages and each ok model's section.

    Args:
        report: the report; its models in order, failed ones included.
        sections: each ok model's PDF section (render_section_pdf), by slug.
        env: the Jinja environment (templating.jinja_environment).
        report_dir: the report folder; WeasyPrint may read nothing outside it.

    Raises:
        RenderError: a section is missing or WeasyPrint failed.
    """
    missing = [m.name for m in report.models if m.ok and m.slug not in sections]
    if missing:
        raise RenderError(f"no PDF section was rendered for {', '.join(missing)}.")
    parts = {m.slug: pdfobjects.open_pdf(sections[m.slug]) for m in report.models if m.ok}
    try:
        return _assemble(report, parts, env, report_dir)
    finally:
        for part in parts.values():
            part.close()


def _assemble(report: Report, parts: dict[str, pikepdf.Pdf], env: Any, report_dir: Path) -> bytes:
    lengths = {slug: len(part.pages) for slug, part in parts.items()}
    document, starts = _front_matter(report, lengths, env, report_dir)
    pdf = pdfobjects.open_pdf(document.write_pdf())
    models = report.models
    stamps = 1 + len(models)  # the title's piece, then one per model name
    front = len(pdf.pages) - stamps
    title_form = pdfobjects.page_form(pdf, pdf.pages[front])
    name_forms = [pdfobjects.page_form(pdf, pdf.pages[front + 1 + j]) for j in range(len(models))]
    for _ in range(stamps):
        del pdf.pages[-1]

    # Each model's header runs to the next model's header (the last one to the end of the front matter).
    header_pages = [starts[f"model-{m.slug}"] for m in models] + [front]
    headers = [pdf.pages[i].obj for i in header_pages[:-1]]
    owner: list[int | None] = [None] * header_pages[0]
    inserted: dict[str, list[pikepdf.Page]] = {}
    at = header_pages[0]
    for j, m in enumerate(models):
        at += header_pages[j + 1] - header_pages[j]
        owner += [j] * (header_pages[j + 1] - header_pages[j])
        if m.slug in parts:
            new = []
            for page in parts[m.slug].pages:
                pdf.pages.insert(at, page)
                new.append(pdf.pages[at])
                at += 1
            inserted[m.slug] = new
            owner += [j] * len(new)

    _file_bookmarks(pdf, report, parts, inserted, headers)
    pdffonts.merge_subsets(pdf, _font_holders(pdf, [title_form, *name_forms]))
    _stamp_furniture(pdf, owner, title_form, name_forms)
    return pdfobjects.save_pdf(pdf, final=True)


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
    """The running header and "Page N of M" on every page but the title page."""
    overlay = pdfobjects.Overlay(pdf)
    font = pdfobjects.NumberFont(pdf)
    total = len(pdf.pages)
    for i, page in enumerate(pdf.pages):
        if i == 0:
            continue
        text = f"Page {i + 1} of {total}"
        width = float(page.mediabox[2]) - float(page.mediabox[0])
        x = (width - font.width(text, FOOTER_PT)) / 2
        ops = [
            f"q BT /ArNum {FOOTER_PT:g} Tf {FOOTER_RGB} rg 1 0 0 1 {x:.2f} {FOOTER_BASELINE_PT:g} Tm ({text}) Tj ET Q",
            "q /ArTitle Do Q",
        ]
        xobjects = {"/ArTitle": title_form}
        j = owner[i]
        if j is not None:
            ops.append(f"q /ArName{j} Do Q")
            xobjects[f"/ArName{j}"] = name_forms[j]
        overlay.draw(page, "\n".join(ops), {"/Font": {"/ArNum": font.font}, "/XObject": xobjects})
