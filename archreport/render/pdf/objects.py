"""PDF objects with pikepdf: forms drawn onto pages, a small font for page numbers, saving.

Every stream is an indirect object (issue 10: pypdf put direct streams into
page /Contents arrays, which qpdf, pdfminer, MuPDF and pdfium reject), and a
page's own content is wrapped in q/Q before anything is drawn over it:
WeasyPrint leaves its flipped, px-scaled matrix in force at the end of a page.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from dataclasses import dataclass

import pikepdf

from archreport.render.pdf.text import open_font, subset_font

# "Page N of M" on every page, and "Generated 2026-11-27T08:47:20Z" on the title page (assembly.py).
NUMBER_CHARS = " Page of 0123456789 Generated -:TZ"


class Overlay:
    """Draws content over pages of one PDF, reusing one q and one Q stream for every page."""

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self.pdf = pdf
        self._q = pdf.make_indirect(pikepdf.Stream(pdf, b"q\n"))
        self._big_q = pdf.make_indirect(pikepdf.Stream(pdf, b"\nQ\n"))

    def draw(self, page: pikepdf.Page, ops: str, resources: dict[str, dict[str, pikepdf.Object]]) -> None:
        """Append ``ops`` to ``page``'s content, after its own content in q/Q.

        ``resources`` maps a resource type ("/XObject", "/Font") to the names the
        operators use and their (indirect) objects.
        """
        res = pikepdf.Page(page).resources
        for kind, entries in resources.items():
            if kind not in res:
                res[kind] = pikepdf.Dictionary()
            holder = res[kind]
            for name, obj in entries.items():
                holder[name] = obj
        contents = page.obj.get("/Contents")
        if contents is None:
            parts = []
        elif isinstance(contents, pikepdf.Array):
            parts = list(contents)
        else:
            parts = [contents]
        stream = self.pdf.make_indirect(pikepdf.Stream(self.pdf, ops.encode("ascii")))
        page.obj.Contents = pikepdf.Array([self._q, *parts, self._big_q, stream])


def page_form(pdf: pikepdf.Pdf, page: pikepdf.Page) -> pikepdf.Object:
    """A form XObject (indirect, in ``pdf``) that draws ``page`` as it is."""
    form = pikepdf.Page(page).as_form_xobject()
    # qpdf gives the form a shallow copy of the page's resources, whose direct sub-dictionaries
    # are still the page's: copy them, so what is later added to the pages stays out of the form.
    resources = pikepdf.Dictionary()
    for kind, entries in form.Resources.items():
        shared = isinstance(entries, pikepdf.Dictionary) and not entries.is_indirect
        resources[kind] = pikepdf.Dictionary(dict(entries.items())) if shared else entries
    form.Resources = resources
    return pdf.make_indirect(form)


def drawing_form(pdf: pikepdf.Pdf, source: pikepdf.Pdf) -> tuple[pikepdf.Object, float, float]:
    """The first page of ``source`` as a form XObject in ``pdf``, with its width and height.

    qpdf copies the page's streams when ``pdf`` is saved: keep ``source`` open until then.
    """
    page = source.pages[0]
    box = [float(v) for v in page.mediabox]
    form = pdf.copy_foreign(pikepdf.Page(page).as_form_xobject())
    return pdf.make_indirect(form), box[2] - box[0], box[3] - box[1]


def cropped_forms(
    pdf: pikepdf.Pdf, form: pikepdf.Object, contents: list[bytes], *, group: bool = True
) -> list[pikepdf.Object]:
    """Forms like ``form`` (indirect, in ``pdf``) that draw ``contents`` instead, sharing its resources.

    A diagram's tiles have hundreds of these (section.py), so what they share is one object,
    not a copy in every form's dictionary, and they are compressed as well as zlib can.
    Without ``group``, the forms leave out ``form``'s transparency group (below).
    """
    for key in ("/Resources", "/Group", "/BBox"):
        if key in form and not form[key].is_indirect:
            form[key] = pdf.make_indirect(form[key])
    # Left out of each of the hundreds of stream dictionaries, which object streams cannot hold:
    # /Type, optional for an XObject (its /Subtype says what it is); and, for text, the isolated
    # transparency group Cairo puts around a drawing: opaque text in the Normal blend mode paints
    # the same onto the page (poppler draws the zoo's tile pages the same to 1/255), where strokes
    # would be antialiased differently, so paths keep it. Together 1 % of the zoo's PDF (issue 29).
    left_out = {"/Length", "/Filter", "/DecodeParms", "/Type"} | (set() if group else {"/Group"})
    out: list[pikepdf.Object] = []
    for data in contents:
        stream = pikepdf.Stream(pdf, zlib.compress(data, 9))
        stream.Filter = pikepdf.Name.FlateDecode
        for key, value in form.items():
            if key not in left_out:
                stream[key] = value
        out.append(pdf.make_indirect(stream))
    return out


@dataclass(frozen=True)
class _NumberProgram:
    """The page numbers' font program and what drawing with it needs."""

    data: bytes
    widths: dict[str, float]  # character -> advance in 1/1000 em
    first: int
    last: int
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int


@functools.cache
def number_program() -> _NumberProgram:
    """The subset of DejaVu Sans for :data:`NUMBER_CHARS`, made once per process.

    Its characters are fixed, so it is the same bytes in every report; the parent makes it while
    the workers build (pipeline.py), not after the last model (issue 26).
    """
    # fontTools is imported inside: a warm re-run stamps a cached PDF that already holds this
    # font, and never builds it (issue 13).
    font = open_font("regular")
    data = subset_font(font, NUMBER_CHARS)
    upm: int = font["head"].unitsPerEm
    cmap = font.getBestCmap()
    first, last = min(map(ord, NUMBER_CHARS)), max(map(ord, NUMBER_CHARS))
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]

    def scaled(v: float) -> int:
        return round(v * 1000 / upm)

    return _NumberProgram(
        data=data,
        widths={chr(c): font["hmtx"][cmap[c]][0] * 1000 / upm for c in range(first, last + 1) if c in cmap},
        first=first,
        last=last,
        bbox=(scaled(head.xMin), scaled(head.yMin), scaled(head.xMax), scaled(head.yMax)),
        ascent=scaled(hhea.ascent),
        descent=scaled(hhea.descent),
        cap_height=scaled(getattr(os2, "sCapHeight", hhea.ascent)),
    )


class NumberFont:
    """A subset of DejaVu Sans for "Page N of M" and the time stamp, embedded once (WinAnsi)."""

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        program = number_program()
        self.widths = program.widths
        first, last = program.first, program.last
        # A subset's name is a tag of six capitals and "+"; derive it from the glyphs, not at random.
        tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(NUMBER_CHARS.encode()).digest()[:6])
        descriptor = pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor,
            FontName=pikepdf.Name(f"/{tag}+DejaVuSans"),
            Flags=32,  # nonsymbolic: the WinAnsi codes are looked up through the font's Unicode cmap
            FontBBox=list(program.bbox),
            ItalicAngle=0,
            Ascent=program.ascent,
            Descent=program.descent,
            CapHeight=program.cap_height,
            StemV=80,
            FontFile2=pdf.make_indirect(pikepdf.Stream(pdf, program.data)),
        )
        self.font = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font,
                Subtype=pikepdf.Name.TrueType,
                BaseFont=pikepdf.Name(f"/{tag}+DejaVuSans"),
                FirstChar=first,
                LastChar=last,
                Widths=[round(self.widths.get(chr(c), 0)) for c in range(first, last + 1)],
                Encoding=pikepdf.Name.WinAnsiEncoding,
                FontDescriptor=pdf.make_indirect(descriptor),
            )
        )

    def width(self, text: str, size: float) -> float:
        """The advance width of ``text`` at ``size`` pt."""
        return float(sum(self.widths[ch] for ch in text) * size / 1000)
