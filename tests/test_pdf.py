"""The PDF at length: Letter pages throughout, thirty sections, a damaged cached document (the slow tier).

From the unit tier's report.json fixtures, like the fast PDF tests (tests/unit/test_pdf_report.py):
real Graphviz, real WeasyPrint, and strict readers (qpdf, pdfminer, pdfium) to check what they write.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from archreport.data import Report
from archreport.render.pdf import assembly as pdfassembly
from archreport.render.pdf.document import assemble_pdf, render_section_pdf
from archreport.render.templating import jinja_environment
from tests.helpers import check_pdf, count_layouts, pdf_outline, pdf_pages_text
from tests.unit import reports


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """The unit tier's PDF report (tests/unit/reports.pdf_report), from its report.json fixtures."""
    out = tmp_path_factory.mktemp("pdf")
    return reports.pdf_report(reports.lay_out(out), out), out


@pytest.mark.slow
def test_letter_pages_throughout(built: tuple[Report, Path], tmp_path: Path) -> None:
    report, out = built
    env = jinja_environment()
    letter = replace(report, page_size="Letter")
    sections = {
        m.slug: render_section_pdf(m, out, page_size="Letter", env=env) for m in report.models if m.ok
    }
    (tmp_path / "letter.pdf").write_bytes(assemble_pdf(letter, sections, env, report_dir=out))
    check_pdf(tmp_path / "letter.pdf")
    import pikepdf

    with pikepdf.open(tmp_path / "letter.pdf") as pdf:
        assert {tuple(float(v) for v in page.mediabox) for page in pdf.pages} == {(0, 0, 612, 792)}


@pytest.mark.slow
def test_assembly_lays_out_only_the_report_level_pages(
    built: tuple[Report, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Thirty sections are copied, not laid out again: WeasyPrint sees only the front matter and headers."""
    report, out = built
    env = jinja_environment()
    lenet = next(m for m in report.models if m.name == "LeNet")
    section = render_section_pdf(lenet, out, page_size="A4", env=env)
    copies = [replace(lenet, name=f"LeNet {i}", slug=f"lenet-{i}") for i in range(30)]
    big = replace(report, models=copies)
    laid_out = count_layouts(monkeypatch, pdfassembly)
    data = assemble_pdf(big, {m.slug: section for m in copies}, env, report_dir=out)
    (tmp_path / "big.pdf").write_bytes(data)
    pages = check_pdf(tmp_path / "big.pdf")
    section_pages = len(pdf_pages_text(section))
    # One layout of the front matter, the headers and the 31 running-header pieces, no more.
    assert len(laid_out) == 1, laid_out
    assert pages == laid_out[-1] - 31 + 30 * section_pages
    numbers = [page + 1 for title, page, _ in pdf_outline(tmp_path / "big.pdf")]
    assert re.search(rf"LeNet 29 *\.+ *{numbers[-1]}\n", pdf_pages_text(data)[1] + pdf_pages_text(data)[2])


# -- the cached document (issue 13) -------------------------------------
@pytest.fixture(scope="module")
def sections(built: tuple[Report, Path]) -> dict[str, bytes]:
    report, out = built
    env = jinja_environment()
    return {m.slug: render_section_pdf(m, out, page_size="A4", env=env) for m in report.models if m.ok}


@pytest.mark.slow
def test_a_damaged_cached_document_is_laid_out_again(
    built: tuple[Report, Path], sections: dict[str, bytes], tmp_path: Path
) -> None:
    from archreport.store.cache import DOCUMENTS, Cache

    report, out = built
    env = jinja_environment()
    cache = Cache(tmp_path / "cache")
    expected = assemble_pdf(report, sections, env, report_dir=out, cache=cache)
    (stored,) = (tmp_path / "cache" / DOCUMENTS).glob("*.pdf")
    stored.write_bytes(b"%PDF-1.7\nnot a PDF")
    assert assemble_pdf(report, sections, env, report_dir=out, cache=cache) == expected
    assert stored.read_bytes().startswith(b"%PDF") and len(stored.read_bytes()) > 1000  # replaced
