"""Font subsets of separately rendered documents become one font per family (fonts.merge_subsets)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pikepdf
from fontTools.ttLib import TTFont

from archreport.render.pdf import assembly, fonts
from archreport.render.pdf import text as pdftext
from archreport.render.pdf.weasy import layout


def _document(text: str, folder: Path) -> pikepdf.Pdf:
    html = f'<html><body style="font-family: DejaVu Sans"><p>{text}</p></body></html>'
    return pikepdf.open(io.BytesIO(layout(html, folder).write_pdf()))


def _sans_fonts(pdf: pikepdf.Pdf) -> dict[tuple[int, int], pikepdf.Object]:
    return {
        font.objgen: font
        for page in pdf.pages
        for font in page.obj.Resources.Font.values()
        if str(font.BaseFont).endswith("+DejaVu-Sans")
    }


def test_subsets_with_renumbered_extra_glyphs_merge(tmp_path: Path) -> None:
    """WeasyPrint's subset of text with parentheses carries extra glyphs (the MATH table's
    variants of "(") renumbered into ids another subset uses for "y": they are not compared."""
    first = _document("Shapes (None, 28, 28, 20) and 0.5 %", tmp_path)
    second = _document("Dense layers by type: yz", tmp_path)
    first.pages.extend(second.pages)
    assert len(_sans_fonts(first)) == 2

    fonts.merge_subsets(first, assembly._font_holders(first, []))

    (merged,) = _sans_fonts(first).values()
    program = TTFont(io.BytesIO(merged.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes()))
    full = TTFont(pdftext.font_file("regular"))
    for char in "y(z":
        name = full.getBestCmap()[ord(char)]
        gid = full.getGlyphID(name)
        mine, theirs = program["glyf"][program.getGlyphOrder()[gid]], full["glyf"][name]
        assert (mine.xMin, mine.yMin, mine.xMax, mine.yMax) == (
            theirs.xMin,
            theirs.yMin,
            theirs.xMax,
            theirs.yMax,
        )
    first.save(tmp_path / "merged.pdf")
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "merged.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Shapes (None, 28, 28, 20) and 0.5 %" in text and "Dense layers by type: yz" in text


def test_subsets_of_different_fonts_under_one_name_are_left_alone(tmp_path: Path) -> None:
    """Two programs that disagree on a drawn glyph are not one font: nothing is merged."""
    first = _document("yyy", tmp_path)
    second = _document("yyy", tmp_path)
    (font,) = _sans_fonts(second).values()
    program = TTFont(io.BytesIO(font.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes()))
    glyph = program["glyf"]["y"]
    glyph.coordinates[0] = (glyph.coordinates[0][0] + 40, glyph.coordinates[0][1])
    out = io.BytesIO()
    program.save(out)
    font.DescendantFonts[0].FontDescriptor.FontFile2.write(out.getvalue())
    first.pages.extend(second.pages)

    fonts.merge_subsets(first, assembly._font_holders(first, []))

    assert len(_sans_fonts(first)) == 2


def test_identical_subsets_become_one_without_a_merge(tmp_path: Path) -> None:
    """The same subset embedded by several documents (archreport's own fonts are the same bytes in
    every section) is that font, as it was; with a different subset beside them, one merge."""
    first = _document("yyy", tmp_path)
    for text in ("yyy", "yyy"):
        first.pages.extend(_document(text, tmp_path).pages)
    (program,) = {
        f.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes() for f in _sans_fonts(first).values()
    }
    assert len(_sans_fonts(first)) == 3

    fonts.merge_subsets(first, assembly._font_holders(first, []))

    (kept,) = _sans_fonts(first).values()
    assert kept.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes() == program  # not rebuilt

    first.pages.extend(_document("Dense", tmp_path).pages)
    fonts.merge_subsets(first, assembly._font_holders(first, []))
    assert len(_sans_fonts(first)) == 1  # the three copies and the other subset: one merge
    first.save(tmp_path / "merged.pdf")
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "merged.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert text.split() == ["yyy", "yyy", "yyy", "Dense"]
