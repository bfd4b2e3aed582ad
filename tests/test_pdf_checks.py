"""The PDF checks the tests rely on (tests/helpers.check_pdf and the check of every PDF a test
leaves behind, tests/conftest.py) catch what they claim to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import check_pdf, check_pdfium_reads_all, check_pdfs_left_in, pdfs_left_in

TEXT = b"BT /F1 24 Tf 72 700 Td (Hello pdfium) Tj ET"


def one_page_pdf(contents: bytes, *, direct_stream: bool) -> bytes:
    """A one-page PDF showing "Hello pdfium", written by hand so its objects can be wrong on purpose.

    With ``direct_stream`` the page's /Contents array holds the stream itself, not a reference:
    what pypdf's stamping wrote before issue 10 (a stream must be an indirect object).
    """
    stream = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(contents) + 1, contents)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> "
        + (b"/Contents [" + stream + b"] >>" if direct_stream else b"/Contents 4 0 R >>"),
    ]
    if not direct_stream:
        objects.append(stream)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_valid_pdf_passes_once_and_is_not_read_again_until_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "valid.pdf"
    path.write_bytes(one_page_pdf(TEXT, direct_stream=False))
    assert pdfs_left_in(tmp_path) == [path]
    assert check_pdf(path) == 1
    assert pdfs_left_in(tmp_path) == []  # the check after the test will not read it again
    path.write_bytes(one_page_pdf(TEXT + b" ", direct_stream=False))
    assert pdfs_left_in(tmp_path) == [path]


@pytest.mark.writes_invalid_pdf
def test_pdfium_must_read_what_poppler_reads(tmp_path: Path) -> None:
    # What pypdf's stamping wrote before issue 10: poppler shows the text, pdfium shows an
    # empty page, and pdfium's render raises nothing, which is all the old check looked for.
    path = tmp_path / "direct.pdf"
    path.write_bytes(one_page_pdf(TEXT, direct_stream=True))
    with pytest.raises(
        AssertionError,
        match=r"page 1: pdfium reads no 'Hdefilmopu' of what poppler reads \(11 characters missing\)",
    ):
        check_pdfium_reads_all(path)
    with pytest.raises(AssertionError, match=r"(?s)^qpdf --check .*direct\.pdf:\n.*WARNING: "):
        check_pdf(path)


@pytest.mark.writes_invalid_pdf
def test_a_page_with_text_that_pdfium_draws_blank_fails(tmp_path: Path) -> None:
    # Text render mode 3 draws nothing (invisible text, as over a scanned image): both engines
    # read the text, and pdfium's bitmap is white.
    path = tmp_path / "invisible.pdf"
    path.write_bytes(one_page_pdf(TEXT.replace(b"BT ", b"BT 3 Tr "), direct_stream=False))
    with pytest.raises(AssertionError, match=r"page 1: pdfium draws nothing on a page with text"):
        check_pdf(path)


@pytest.mark.writes_invalid_pdf
def test_every_pdf_left_in_a_folder_is_checked_but_hidden_folders(tmp_path: Path) -> None:
    (tmp_path / "report" / ".staging").mkdir(parents=True)
    (tmp_path / "report" / ".staging" / "partial.pdf").write_bytes(b"%PDF-1.4\n")  # work in progress
    good = tmp_path / "report" / "good.pdf"
    good.write_bytes(one_page_pdf(TEXT, direct_stream=False))
    broken = tmp_path / "report" / "models" / "broken.pdf"
    broken.parent.mkdir()
    broken.write_bytes(one_page_pdf(TEXT, direct_stream=True))
    assert pdfs_left_in(tmp_path) == [good, broken]
    with pytest.raises(AssertionError, match=r"^qpdf --check .*broken\.pdf"):
        check_pdfs_left_in(tmp_path)
    # Reported once: the check after this test and the one after this module skip it.
    assert pdfs_left_in(tmp_path) == []
