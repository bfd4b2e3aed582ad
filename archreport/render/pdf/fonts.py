"""One embedded font per family in the assembled PDF, not one per model section.

Each section is its own WeasyPrint document, so each embeds its own subset of
DejaVu Sans, DejaVu Sans Mono and their bold faces; a report of forty models
would carry each font forty times (issue 13 allows the assembled PDF 1.2x the
size of a single-pass render). WeasyPrint subsets with the original glyph ids
kept (CIDToGIDMap /Identity), so every subset of one font numbers its glyphs
the same way: their union is one font that draws every page's text unchanged.

The merge is checked, not assumed: when two subsets hold different outlines
under one glyph id (not subsets of one font after all), that family is left as
it was.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

import pikepdf
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables._g_l_y_f import Glyph

_TAG = re.compile(r"^[A-Z]{6}\+")
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_HEX = re.compile(rb"<([0-9a-fA-F]*)>")
# Per-glyph tables that a merge would leave stale; renderers do without them.
_DROP = ("hdmx", "LTSH", "VDMX")
_MAXP_FIELDS = (
    "maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours", "maxZones",
    "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs", "maxStackElements",
    "maxSizeOfInstructions", "maxComponentElements", "maxComponentDepth",
)  # fmt: skip


def _mergeable(font: pikepdf.Object) -> bool:
    """A Type0 font with Identity-H encoding over one TrueType CIDFont with identity CID-to-glyph map."""
    try:
        if not (
            font.is_indirect
            and font.get("/Subtype") == pikepdf.Name.Type0
            and font.get("/Encoding") == pikepdf.Name("/Identity-H")
            and len(font.DescendantFonts) == 1
        ):
            return False
        cid = font.DescendantFonts[0]
        return bool(
            cid.get("/Subtype") == pikepdf.Name.CIDFontType2
            and cid.get("/CIDToGIDMap") == pikepdf.Name.Identity
            and "/FontFile2" in cid.FontDescriptor
            and "/ToUnicode" in font
        )
    except (AttributeError, KeyError, TypeError):
        return False


def merge_subsets(pdf: pikepdf.Pdf, holders: Iterable[pikepdf.Dictionary]) -> None:
    """Point every /Font entry of ``holders`` (resource /Font dictionaries) at one merged font per family."""
    holders = list(holders)
    families: dict[str, dict[tuple[int, int], pikepdf.Object]] = {}
    for holder in holders:
        for font in holder.values():
            if _mergeable(font):
                family = _TAG.sub("", str(font.BaseFont))
                families.setdefault(family, {})[font.objgen] = font
    replacement: dict[tuple[int, int], pikepdf.Object] = {}
    for fonts in families.values():
        # The same font embedded by several sections (archreport's own, for the captions and the
        # layer table, is the same bytes in every section) is one font already: only the distinct
        # ones are merged. Parsing ten copies of each took a fifth of assembling the zoo (issue 26).
        distinct: dict[tuple[bytes, bytes, bytes], pikepdf.Object] = {}
        for objgen, font in fonts.items():
            replacement[objgen] = distinct.setdefault(_identity(font), font)
        if len(distinct) > 1:
            merged = _merge(pdf, list(distinct.values()))
            if merged is None:
                for objgen in fonts:  # not subsets of one font: each keeps its own
                    del replacement[objgen]
            else:
                replacement.update(dict.fromkeys(fonts, merged))
    for holder in holders:
        for name in list(holder.keys()):
            font = holder[name]
            if font.is_indirect and font.objgen in replacement:
                holder[name] = replacement[font.objgen]


def _identity(font: pikepdf.Object) -> tuple[bytes, bytes, bytes]:
    """What makes two embedded subsets the same font: program, Unicode map and widths."""
    cid = font.DescendantFonts[0]
    widths = cid.get("/W", pikepdf.Array()).unparse() + b" " + str(cid.get("/DW", 1000)).encode()
    return cid.FontDescriptor.FontFile2.read_bytes(), font.ToUnicode.read_bytes(), widths


def _glyph_bytes(glyf: Any, name: str) -> bytes:
    glyph = glyf.glyphs[name]
    if hasattr(glyph, "data"):
        return bytes(glyph.data)
    if glyph.numberOfContours == 0:
        return b""
    return bytes(glyph.compile(glyf, recalcBBoxes=False))


def _merge(pdf: pikepdf.Pdf, fonts: list[pikepdf.Object]) -> pikepdf.Object | None:
    """One font holding every glyph of ``fonts``, or None when they do not share glyph ids."""
    programs = [f.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes() for f in fonts]
    ttfs = [TTFont(io.BytesIO(p), recalcBBoxes=False, recalcTimestamp=False) for p in programs]
    first = max(range(len(ttfs)), key=lambda i: (ttfs[i]["maxp"].numGlyphs, -i))
    base = ttfs[first]
    order = base.getGlyphOrder()
    glyf, metrics = base["glyf"], base["hmtx"].metrics
    # Only the glyphs a font's text draws are compared and kept (its ToUnicode codes and their
    # components): WeasyPrint's subsets renumber the extra glyphs HarfBuzz keeps for a font's
    # MATH table into ids past the last one used, where another subset may have a real glyph.
    filled = _drawn(base, fonts[first])
    for i, other in enumerate(ttfs):
        if i == first:
            continue
        other_order, loca, raw = other.getGlyphOrder(), other["loca"], other.reader["glyf"]
        other_metrics = other["hmtx"].metrics
        for gid in sorted(_drawn(other, fonts[i])):
            if gid >= len(order) or gid + 1 >= len(loca):
                return None
            data = bytes(raw[loca[gid] : loca[gid + 1]])
            name = order[gid]
            if gid not in filled:
                glyf.glyphs[name] = Glyph(data)
                metrics[name] = other_metrics[other_order[gid]]
                filled.add(gid)
                continue
            mine = _glyph_bytes(glyf, name)
            if mine != data and mine.rstrip(b"\0") != data.rstrip(b"\0"):
                return None  # different outlines under one id: not subsets of one font
        for field in _MAXP_FIELDS:
            if hasattr(base["maxp"], field) and hasattr(other["maxp"], field):
                setattr(base["maxp"], field, max(getattr(base["maxp"], field), getattr(other["maxp"], field)))
        head, other_head = base["head"], other["head"]
        head.xMin, head.yMin = min(head.xMin, other_head.xMin), min(head.yMin, other_head.yMin)
        head.xMax, head.yMax = max(head.xMax, other_head.xMax), max(head.yMax, other_head.yMax)
    for tag in _DROP:
        if tag in base:
            del base[tag]
    out = io.BytesIO()
    base.save(out)
    program = out.getvalue()

    widths: dict[int, pikepdf.Object] = {}
    unicode: dict[bytes, bytes] = {}
    for font in fonts:
        widths.update(_widths(font.DescendantFonts[0].get("/W", pikepdf.Array())))
        unicode.update(_to_unicode(font.ToUnicode.read_bytes()))
    template = fonts[first]
    cid = template.DescendantFonts[0]
    descriptor = pikepdf.Dictionary(dict(cid.FontDescriptor.items()))
    descriptor.FontFile2 = pdf.make_indirect(pikepdf.Stream(pdf, program, Length1=len(program)))
    new_cid = pikepdf.Dictionary(dict(cid.items()))
    new_cid.FontDescriptor = pdf.make_indirect(descriptor)
    new_cid.W = _w_array(widths)
    new_font = pikepdf.Dictionary(dict(template.items()))
    new_font.DescendantFonts = pikepdf.Array([pdf.make_indirect(new_cid)])
    new_font.ToUnicode = pdf.make_indirect(pikepdf.Stream(pdf, to_unicode_cmap(unicode)))
    return pdf.make_indirect(new_font)


def _drawn(font: TTFont, pdf_font: pikepdf.Object) -> set[int]:
    """The glyph ids that text in ``pdf_font`` draws: its ToUnicode codes (CIDs, which are glyph
    ids here), .notdef and every component of a composite among them."""
    order = font.getGlyphOrder()
    todo = {0} | {int(code, 16) for code in _to_unicode(pdf_font.ToUnicode.read_bytes())}
    todo = {gid for gid in todo if gid < len(order)}
    loca, raw = font["loca"], font.reader["glyf"]
    drawn: set[int] = set()
    while todo:
        gid = todo.pop()
        drawn.add(gid)
        data = bytes(raw[loca[gid] : loca[gid + 1]])
        if data[:2] == b"\xff\xff":  # numberOfContours -1: a composite
            # A copy, parsed on the side: expanding the table's own glyph would change the
            # bytes the merge compares. The glyf table is decompiled only here: with every
            # glyph id kept, a subset's table has thousands of entries, and decompiling it for
            # each section's fonts was half of the merge (issue 26).
            glyph = Glyph(data)
            glyph.expand(font["glyf"])
            todo |= {font.getGlyphID(c.glyphName) for c in glyph.components} - drawn
    return drawn


def _widths(array: pikepdf.Object) -> dict[int, pikepdf.Object]:
    """A CIDFont's /W array as glyph id -> width (both of its forms: c [w ...] and c_first c_last w)."""
    items, out, i = list(array), {}, 0
    while i < len(items):
        start = int(items[i])
        if isinstance(items[i + 1], pikepdf.Array):
            for k, w in enumerate(items[i + 1]):
                out[start + k] = w
            i += 2
        else:
            for gid in range(start, int(items[i + 1]) + 1):
                out[gid] = items[i + 2]
            i += 3
    return out


def _w_array(widths: dict[int, pikepdf.Object]) -> pikepdf.Array:
    """Glyph id -> width as a /W array, one ``c [w ...]`` entry per run of consecutive ids."""
    out: list[Any] = []
    run: list[Any] = []
    start = previous = None
    for gid in sorted(widths):
        if previous is None or gid != previous + 1:
            if run:
                out += [start, pikepdf.Array(run)]
            start, run = gid, []
        run.append(widths[gid])
        previous = gid
    if run:
        out += [start, pikepdf.Array(run)]
    return pikepdf.Array(out)


def _to_unicode(cmap: bytes) -> dict[bytes, bytes]:
    """A ToUnicode CMap's mappings as source code (hex) -> Unicode text (hex)."""
    out: dict[bytes, bytes] = {}
    for block in _BFCHAR.findall(cmap):
        codes = _HEX.findall(block)
        out.update(zip(codes[0::2], codes[1::2], strict=False))
    for block in _BFRANGE.findall(cmap):
        for line in block.splitlines():
            codes = _HEX.findall(line)
            if len(codes) < 3:
                continue
            lo, hi = int(codes[0], 16), int(codes[1], 16)
            width = len(codes[0])
            if b"[" in line:  # <lo> <hi> [<dst> <dst> ...]
                for k, dst in enumerate(codes[2:]):
                    out[b"%0*x" % (width, lo + k)] = dst
            else:  # <lo> <hi> <dst>: consecutive code points from dst
                dst = int(codes[2], 16)
                for k in range(hi - lo + 1):
                    out[b"%0*x" % (width, lo + k)] = b"%04x" % (dst + k)
    return out


def to_unicode_cmap(mapping: dict[bytes, bytes]) -> bytes:
    """A ToUnicode CMap stream's bytes from source code (hex) -> Unicode text (hex)."""
    lines = [
        b"/CIDInit /ProcSet findresource begin",
        b"12 dict begin",
        b"begincmap",
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        b"/CMapName /Adobe-Identity-UCS def",
        b"/CMapType 2 def",
        b"1 begincodespacerange",
        b"<0000> <ffff>",
        b"endcodespacerange",
    ]
    codes = sorted(mapping, key=lambda c: int(c, 16))
    for i in range(0, len(codes), 100):  # at most 100 entries per block, as the CMap format requires
        chunk = codes[i : i + 100]
        lines.append(b"%d beginbfchar" % len(chunk))
        lines += [b"<%s> <%s>" % (c, mapping[c]) for c in chunk]
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return b"\n".join(lines) + b"\n"
