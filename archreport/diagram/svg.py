"""Reading Graphviz's SVG: its size, its nodes' boxes and its smallest font; a copy to inline in HTML."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["SvgGeometry", "svg_for_inline", "svg_geometry"]


@dataclass(frozen=True)
class SvgGeometry:
    width: float  # pt
    height: float  # pt
    min_font: float  # the smallest font size used, pt
    boxes: tuple[
        tuple[float, float, float, float], ...
    ]  # every node's (x0, y0, x1, y1), pt from the top-left


# The worker reads a diagram's geometry as Graphviz writes it (its size) and again as its PDF
# section cuts it into tiles: the same text, so the same answer, once (NASNetMobile's SVG is 1.5 MB).
@functools.lru_cache(maxsize=4)
def svg_geometry(svg: str) -> SvgGeometry:
    """The drawing's size, its smallest font size and every node's box, from Graphviz's SVG.

    Raises:
        ValueError: the root element has no ``width``/``height`` in pt (not Graphviz's SVG).
    """
    size = []
    for attr in ("width", "height"):
        match = re.search(rf'<svg[^>]*\b{attr}="([\d.]+)(?:pt)?"', svg)
        if match is None:
            raise ValueError(f"the SVG has no {attr} in pt")
        size.append(float(match.group(1)))
    move = re.search(r'class="graph"[^>]*translate\(([-\d.]+)[ ,]([-\d.]+)\)', svg)
    tx, ty = (float(move.group(1)), float(move.group(2))) if move else (0.0, 0.0)
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    boxes = []
    for block in re.findall(r'<g id="[^"]*" class="node">(.*?)</g>', svg, flags=re.S):
        xs: list[float] = []
        ys: list[float] = []
        for points in re.findall(r'points="([^"]+)"', block):
            for pair in points.split():
                x, _, y = pair.partition(",")
                xs.append(float(x) + tx)
                ys.append(float(y) + ty)
        if xs:
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return SvgGeometry(size[0], size[1], min(sizes, default=14.0), tuple(boxes))


_PROLOG_RE = re.compile(r"<\?xml.*?\?>|<!DOCTYPE[^>\[]*(\[.*?\])?\s*>|<!--.*?-->", re.DOTALL)


# Graphviz's <title> elements hold its own ids ("G", "n0", "n0->n1"): a browser shows them as the
# tooltip of the whole drawing and of every edge, where the layer's name (its link's title) belongs.
_TITLE_RE = re.compile(r"<title>[^<]*</title>\n?")


def svg_for_inline(svg_text: str) -> str:
    """The SVG for HTML: without XML declaration, DOCTYPE, comments and Graphviz's ``<title>`` ids.

    The ``<svg>`` element keeps its width, height and viewBox.  Graphviz
    comments carry node names (``<!-- n0 -->``) and its version; they are
    useless inside a report. ``text-anchor="start"`` is SVG's default, so
    it goes too. Together that is about 6 % of a large report's HTML, and a
    browser's time to read it grows with its size.
    """
    inline = _TITLE_RE.sub("", _PROLOG_RE.sub("", svg_text)).replace(' text-anchor="start"', "")
    return inline.strip() + "\n"
