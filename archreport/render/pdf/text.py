"""Text that archreport writes into PDF pages itself, without a WeasyPrint layout.

A diagram tile's page holds one caption line and the tile; WeasyPrint spends
about 10 ms laying out and drawing such a page, most of a big model's section
(NASNetLarge: 180 tile pages of 204). So tile pages are made with pikepdf and
their captions drawn with an embedded subset of DejaVu Sans.

The subset is a Type0 font (Identity-H, glyph ids kept, with a ToUnicode map),
the form pdffonts.merge_subsets unions at assembly: every section's caption font
becomes one font in the report. Its characters are fixed (printable ASCII and a
few symbols), so every section embeds the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pikepdf

from archreport.errors import RenderError

if TYPE_CHECKING:
    from fontTools.ttLib import TTFont

# Debian's fonts-dejavu-core; other systems are asked through fontconfig.
_DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
FACES = {
    "regular": ("DejaVuSans.ttf", "Book"),
    "bold": ("DejaVuSans-Bold.ttf", "Bold"),
    # The layer table's (render/pdf/table.py): DejaVu Sans Mono, as print.css sets pre.layers.
    "mono": ("DejaVuSansMono.ttf", "Book"),
    "mono-bold": ("DejaVuSansMono-Bold.ttf", "Bold"),
}
# Dropped before they are read: nothing here needs layout tables, and fontTools warns on FFTM.
_UNUSED_TABLES = ["GSUB", "GPOS", "GDEF", "FFTM", "kern"]
# Printable ASCII, the captions' marks, and what the layer table writes: "◀ peak", the repeat sign, and "≥"
# before a total counted in part (without it, such a model's table went back to WeasyPrint).
CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "·↑→↓…◀×≥›"


def font_file(face: str = "regular") -> Path:
    """The DejaVu file of ``face`` (a key of :data:`FACES`).

    Raises:
        RenderError: the font is not installed.
    """
    name, style = FACES[face]
    if (_DEJAVU_DIR / name).is_file():
        return _DEJAVU_DIR / name
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "--format=%{file}", f"{_family(face)}:style={style}"],
            capture_output=True, text=True, check=False, timeout=30,
        ).stdout.strip()  # fmt: skip
        if found.endswith(name) and Path(found).is_file():
            return Path(found)
    raise RenderError(
        f"the PDF report needs the {_family(face)} font ({name}), which was not found (looked in "
        f"{_DEJAVU_DIR} and asked fc-match). Install it: sudo apt-get install fonts-dejavu-core"
    )


def _family(face: str) -> str:
    return "DejaVu Sans Mono" if face.startswith("mono") else "DejaVu Sans"


@dataclass(frozen=True)
class _Program:
    """A subset font program and what drawing with it needs."""

    data: bytes
    glyphs: dict[str, int]  # character -> glyph id (ids of the full font, kept by the subset)
    widths: dict[int, int]  # glyph id -> advance in 1/1000 em
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int
    name: str


def open_font(face: str) -> TTFont:
    """DejaVu Sans ``face`` as a fontTools ``TTFont``, to subset with :func:`subset_font`."""
    # fontTools is imported here: a warm run that only stamps page numbers never needs it.
    from fontTools.ttLib import TTFont

    # recalcTimestamp=False: the subset keeps the font's own date, so output stays reproducible.
    return TTFont(font_file(face), recalcTimestamp=False)


def subset_options(*, retain_gids: bool = False) -> Any:
    """fontTools' subsetting options for archreport's embedded fonts (:func:`subset_font`)."""
    from fontTools import subset

    options = subset.Options()
    options.retain_gids = retain_gids
    options.hinting = False
    options.layout_features = []
    options.notdef_outline = True
    options.name_IDs = [1, 2]
    options.drop_tables += _UNUSED_TABLES
    return options


def subset_font(font: TTFont, text: str, *, retain_gids: bool = False) -> bytes:
    """``font`` cut down, in place, to the glyphs of ``text``; the subset's font file.

    With ``retain_gids``, glyphs keep their ids in the full font (content streams that address
    glyphs by id need that).
    """
    from fontTools import subset

    # Deleted unread: fontTools 4.69's subset() decompiles GSUB, GPOS and GDEF before it drops
    # them, 0.1 to 0.2 s a face in every process that draws text (issue 26); same bytes out.
    for tag in _UNUSED_TABLES:
        if tag in font:
            del font[tag]
    subsetter = subset.Subsetter(subset_options(retain_gids=retain_gids))
    subsetter.populate(text=text)
    subsetter.subset(font)
    data = io.BytesIO()
    font.save(data)
    return data.getvalue()


@functools.cache
def _program(face: str) -> _Program:
    font = open_font(face)
    cmap = font.getBestCmap()
    glyphs = {ch: font.getGlyphID(cmap[ord(ch)]) for ch in CHARS if ord(ch) in cmap}
    upm: int = font["head"].unitsPerEm

    def scaled(v: float) -> int:
        return round(v * 1000 / upm)

    order = font.getGlyphOrder()
    widths = {gid: scaled(font["hmtx"][order[gid]][0]) for gid in glyphs.values()}
    data = subset_font(font, "".join(glyphs), retain_gids=True)
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
    return _Program(
        data=data,
        glyphs=glyphs,
        widths=widths,
        bbox=(scaled(head.xMin), scaled(head.yMin), scaled(head.xMax), scaled(head.yMax)),
        ascent=scaled(hhea.ascent),
        descent=scaled(hhea.descent),
        cap_height=scaled(getattr(os2, "sCapHeight", hhea.ascent)),
        name=FACES[face][0].removesuffix(".ttf"),
    )


def covers(face: str, text: str) -> bool:
    """Whether the subset of ``face`` that :class:`TextFont` embeds holds every character of ``text``."""
    glyphs = _program(face).glyphs
    return all(ch in glyphs for ch in set(text))


@functools.cache
def _hex_codes(face: str) -> dict[str, str]:
    """Each character of the subset of ``face``: its glyph id in four hex digits."""
    return {ch: f"{gid:04X}" for ch, gid in _program(face).glyphs.items()}


class TextFont:
    """One DejaVu face (a key of :data:`FACES`) embedded in ``pdf`` for archreport's own text."""

    def __init__(self, pdf: pikepdf.Pdf, face: str = "regular") -> None:
        from archreport.render.pdf.fonts import to_unicode_cmap

        program = self._p = _program(face)
        self._face = face
        # A subset's name is six capitals and "+"; derived from its glyphs, never random.
        tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(CHARS.encode() + face.encode()).digest()[:6])
        # Its own family name: assembly merges it with the other sections' captions, not with
        # WeasyPrint's subsets of the same face, whose glyph programs keep their hinting.
        name = pikepdf.Name(f"/{tag}+{program.name}-Archreport")
        descriptor = pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor,
            FontName=name,
            Flags=32,  # nonsymbolic
            FontBBox=list(program.bbox),
            ItalicAngle=0,
            Ascent=program.ascent,
            Descent=program.descent,
            CapHeight=program.cap_height,
            StemV=80,
            FontFile2=pdf.make_indirect(pikepdf.Stream(pdf, program.data, Length1=len(program.data))),
        )
        widths: list[object] = []
        for gid in sorted(program.widths):
            widths += [gid, pikepdf.Array([program.widths[gid]])]
        cid = pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.CIDFontType2,
            BaseFont=name,
            CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=pdf.make_indirect(descriptor),
            DW=0,
            W=pikepdf.Array(widths),
            CIDToGIDMap=pikepdf.Name.Identity,
        )
        unicode = {b"%04x" % gid: b"%04x" % ord(ch) for ch, gid in program.glyphs.items()}
        self.font = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font,
                Subtype=pikepdf.Name.Type0,
                BaseFont=name,
                Encoding=pikepdf.Name("/Identity-H"),
                DescendantFonts=pikepdf.Array([pdf.make_indirect(cid)]),
                ToUnicode=pdf.make_indirect(pikepdf.Stream(pdf, to_unicode_cmap(unicode))),
            )
        )

    def _glyph(self, ch: str) -> int:
        return self._p.glyphs.get(ch, self._p.glyphs["?"])

    def encode(self, text: str) -> str:
        """``text`` as a PDF hex string of glyph ids, for Tj (a character the subset lacks as "?")."""
        # A table's hundreds of thousands of characters: looked up, not formatted one by one.
        codes = _hex_codes(self._face)
        try:
            return "<" + "".join(map(codes.__getitem__, text)) + ">"
        except KeyError:
            return "<" + "".join(codes.get(ch, codes["?"]) for ch in text) + ">"

    def width(self, text: str, size: float) -> float:
        """The advance width of ``text`` at ``size`` pt."""
        return sum(self._p.widths[self._glyph(ch)] for ch in text) * size / 1000

    def baseline(self, line_height: float, size: float) -> float:
        """How far below the top of a CSS line box of ``line_height`` the baseline of ``size`` pt text lies."""
        ascent, descent = self._p.ascent * size / 1000, -self._p.descent * size / 1000
        return (line_height - ascent - descent) / 2 + ascent
