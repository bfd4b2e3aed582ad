"""The layer table archreport sets itself (render/pdf/table.py), against WeasyPrint's setting of the same lines.

WeasyPrint laid the table out before (issue 26); it still does for a table the embedded
subsets cannot set. Both settings are read back with pdfplumber (pdfminer) and compared
word by word and position by position, and every PDF passes the strict readers.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archreport.data import ModelReport
from archreport.render import charts
from archreport.render.pdf import section, table
from archreport.render.pdf.weasy import layout
from archreport.render.templating import jinja_environment
from tests.helpers import check_pdf, pdf_outline, pdf_pages_text


def _weasyprint_body(model: ModelReport, report_dir: Path) -> bytes:
    """The section body as WeasyPrint laid it out before: the same template, the table in a <pre>."""
    html = jinja_environment().get_template("print_section.html.j2").render(
        diagram_note=None, charts=charts.top_layers(model, chart=charts.print_bars), m=model, curves=charts.sweep(model.sweep),
        table=section.print_table(model), compact_pages=None, page_size="A4",
    )  # fmt: skip
    return bytes(layout(html, report_dir).write_pdf())


def _table_words(data: bytes) -> list[dict[str, Any]]:
    """The words from the "Layers" heading on, with their page, in reading order."""
    import pdfplumber

    words: list[dict[str, Any]] = []
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for number, page in enumerate(pdf.pages):
            words += [{**w, "page": number} for w in page.extract_words(keep_blank_chars=False)]
    start = next(i for i, w in enumerate(words) if w["text"] == "Layers")
    return words[start:]


def _long(model: ModelReport, count: int) -> ModelReport:
    """``model`` with ``count`` layers: its own, repeated under new names (a nested one now and then)."""
    rows = [
        replace(r, index=i, name=f"block_{i}_{r.name}", path=f"block_{i}_{r.name}", depth=i % 3 and 1)
        for i, r in enumerate(model.layers[i % len(model.layers)] for i in range(count))
    ]
    return replace(model, layers=rows)


def test_the_table_is_the_words_weasyprint_set_in_the_same_places(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    lenet = models["lenet"]
    ours = section.section_body(lenet, report_dir, page_size="A4", env=jinja_environment())
    theirs = _weasyprint_body(lenet, report_dir)
    (tmp_path / "ours.pdf").write_bytes(ours)
    assert check_pdf(tmp_path / "ours.pdf") == len(pdf_pages_text(theirs))  # on the charts' page, as before
    mine, other = _table_words(ours), _table_words(theirs)
    assert [w["text"] for w in mine] == [w["text"] for w in other]
    assert "◀" in [w["text"] for w in mine]  # the peak's mark, in the subset
    for a, b in zip(mine, other, strict=True):
        assert a["page"] == b["page"] and a["x0"] == pytest.approx(b["x0"], abs=0.5), (a, b)

    # The same line pitch; the table may sit up to a few points lower (the heading's margin).
    def tops(words: list[dict[str, Any]]) -> list[float]:
        return sorted({round(w["top"], 2) for w in words})

    def steps(t: list[float]) -> list[float]:  # from the heading to the first line, then line to line
        return [b - a for a, b in itertools.pairwise(t)]

    assert steps(tops(mine)) == pytest.approx(steps(tops(other)), abs=0.6)
    assert 0 <= tops(mine)[0] - tops(other)[0] < 12
    # Bold where WeasyPrint set <b>: the header and the total.
    import pdfplumber

    with pdfplumber.open(io.BytesIO(ours)) as pdf:
        fonts = {c["text"]: c["fontname"] for c in pdf.pages[-1].chars if c["text"] in "T#"}
    assert "Bold" in fonts["T"] and "Bold" in fonts["#"]


def test_a_long_table_fills_its_pages_within_the_margins(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    long = _long(models["lenet"], 400)
    body = section.section_body(long, report_dir, page_size="A4", env=jinja_environment())
    (tmp_path / "body.pdf").write_bytes(body)
    pages = check_pdf(tmp_path / "body.pdf")
    import pdfplumber

    with pdfplumber.open(io.BytesIO(body)) as pdf:
        for page in pdf.pages:
            for c in page.chars:
                assert c["x0"] >= table.SIDE_PT - 0.5 and c["x1"] <= page.width - table.SIDE_PT + 0.5, c
                assert (
                    c["top"] >= table.TOP_PT - 0.5 and c["bottom"] <= page.height - table.BOTTOM_PT + 0.5
                ), c
        full = [len({round(c["top"]) for c in p.chars}) for p in pdf.pages[1:-1]]
    # A4's 734 pt between the margins hold 83 lines of 8.84 pt; the first page starts under the charts.
    assert full and set(full) == {int((841.89 - table.TOP_PT - table.BOTTOM_PT) // table.LINE_PT)}
    text = "\n".join(pdf_pages_text(body))
    for row in long.layers:
        assert text.count(f" {row.name} ") + text.count(f" {row.name}\n") == 1, row.name
    assert [(title, page) for title, page, _ in pdf_outline(tmp_path / "body.pdf")] == [("Layers", 0)]
    assert pages == len(pdf_pages_text(_weasyprint_body(long, report_dir)))


def test_a_total_counted_in_part_is_set_directly(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    # A lower bound's "≥" is in the subsets: such a table is not sent back to WeasyPrint.
    lenet = models["lenet"]
    assert lenet.totals is not None
    partial = replace(lenet, totals=replace(lenet.totals, flops_lower_bound=True))
    lines = section.print_table(partial)
    assert any("≥" in line for line, _ in lines) and table.fits(lines)
    body = section.section_body(partial, report_dir, page_size="A4", env=jinja_environment())
    (tmp_path / "partial.pdf").write_bytes(body)
    check_pdf(tmp_path / "partial.pdf")
    assert "≥" in "\n".join(pdf_pages_text(body))


def test_a_table_the_subsets_cannot_set_is_laid_out_by_weasyprint(
    models: dict[str, ModelReport], report_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lenet = models["lenet"]
    assert table.fits(section.print_table(lenet))
    named = replace(lenet, layers=[replace(lenet.layers[0], name="卷积_naïve"), *lenet.layers[1:]])
    assert not table.fits(section.print_table(named))
    with pytest.raises(ValueError, match="characters the embedded fonts lack"):
        table.add_table_pages(__import__("pikepdf").new(), section.print_table(named), "A4")
    set_here = []
    monkeypatch.setattr(table, "add_table_pages", lambda *a, **k: set_here.append(a))
    body = section.section_body(named, report_dir, page_size="A4", env=jinja_environment())
    assert not set_here
    assert "卷积_naïve" in "\n".join(pdf_pages_text(body))


def test_hidden_characters_are_shown_escaped_in_the_table(
    models: dict[str, ModelReport], report_dir: Path
) -> None:
    lenet = models["lenet"]
    named = replace(lenet, layers=[replace(lenet.layers[0], name="evil\u202egnp.exe"), *lenet.layers[1:]])
    assert table.fits(section.print_table(named))  # once escaped, it is ASCII
    text = "\n".join(
        pdf_pages_text(section.section_body(named, report_dir, page_size="A4", env=jinja_environment()))
    )
    assert "evil\\u202egnp.exe" in text and "\u202e" not in text


def test_text_is_encoded_as_its_glyph_ids_and_a_missing_character_as_a_question_mark() -> None:
    import pikepdf

    from archreport.render.pdf import text

    font = text.TextFont(pikepdf.new(), "mono")
    glyphs = text._program("mono").glyphs
    assert font.encode("Ab") == f"<{glyphs['A']:04X}{glyphs['b']:04X}>"
    assert "€" not in glyphs and font.encode("A€") == font.encode("A?")
