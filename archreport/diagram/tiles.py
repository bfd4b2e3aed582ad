"""Cutting a diagram into page tiles: pure geometry, no PDF.

A diagram larger than a page is shown at a scale that keeps its text at
6 pt or larger, cut between nodes where it can be, as a grid of tiles. A
tile of that grid that holds no node is not a page (issue 10): the
continuation marks of its neighbours skip it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archreport.diagram.svg import svg_geometry

MIN_TEXT_PT = 6.0
PAGE_SIZES = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}
# A tile page's margins and the caption line above its tile (render/pdf/section.py draws both).
DIAGRAM_MARGIN_X = 28.0
DIAGRAM_MARGIN_Y = 42.0
CAPTION_PT = 22.0  # one 14 pt caption line and a 6 pt gap, with 2 pt of slack

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Tile:
    id: str
    col: int
    row: int
    cols: int  # the grid's size, counting tiles that were dropped
    rows: int
    x0: float  # region of the drawing, in pt from its top-left corner
    y0: float
    x1: float
    y1: float
    scale: float
    number: int = 1  # 1-based among the tiles that are pages
    count: int = 1  # how many tiles are pages
    up: int | None = None  # number of the nearest page above, right of and below this one
    right: int | None = None
    down: int | None = None

    @property
    def width_pt(self) -> float:
        return (self.x1 - self.x0) * self.scale

    @property
    def height_pt(self) -> float:
        return (self.y1 - self.y0) * self.scale


def tile_box(page_size: str) -> tuple[float, float]:
    w, h = PAGE_SIZES[page_size]
    return w - 2 * DIAGRAM_MARGIN_X, h - 2 * DIAGRAM_MARGIN_Y - CAPTION_PT


def _pieces(length: float, step: float, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cover [0, length] with pieces no longer than ``step`` so that every span lies whole in one.

    A piece ends just before the first node it would slice through when that keeps it at least
    half a page long (ranks of a top-to-bottom diagram leave such gaps). Where no such gap exists
    (side by side branches of a wide diagram), the next piece starts early enough to hold the sliced
    nodes whole, so the pieces overlap a little and every label is complete on some page.
    """
    pieces: list[tuple[float, float]] = []
    start = 0.0
    while length - start > step:
        end = start + step
        cut = end
        while True:
            inside = [lo for lo, hi in spans if lo < cut < hi]
            if not inside:
                break
            cut = min(inside) - 2
        if cut >= start + step / 2:
            pieces.append((start, cut))
            start = cut
            continue
        pieces.append((start, end))
        sliced = [lo for lo, hi in spans if lo < end < hi and lo > start + step / 4]
        start = min(sliced) - 2 if sliced else end
    pieces.append((start, length))
    return pieces


def _holds_a_node(x0: float, y0: float, x1: float, y1: float, boxes: Sequence[Box]) -> bool:
    return any(bx0 < x1 and x0 < bx1 and by0 < y1 and y0 < by1 for bx0, by0, bx1, by1 in boxes)


def plan_tiles(
    prefix: str, svg: str, box: tuple[float, float], *, fit: bool = False, scale: float | None = None
) -> list[Tile]:
    """Split a drawing into page tiles at a scale that keeps its text at least 6 pt.

    Tiles that would hold no node (only edges, or the drawing's margin) are left out,
    and the continuation marks of the others point at the nearest tile that is a page.
    With ``fit``, shrink the drawing onto one page instead (the overview of a large model);
    with ``scale``, draw it at that scale (a LaTeX figure's parts, render/tex/figure.py).
    """
    geometry = svg_geometry(svg)
    width, height, boxes = geometry.width, geometry.height, geometry.boxes
    box_w, box_h = box
    if fit:
        scale = min(1.0, box_w / width, box_h / height)
        return [Tile(f"{prefix}-tile-0-0", 0, 0, 1, 1, 0.0, 0.0, width, height, scale)]
    if scale is None:
        scale = max(min(1.0, MIN_TEXT_PT / geometry.min_font), min(1.0, box_w / width))
    xs = _pieces(width, box_w / scale, [(b[0], b[2]) for b in boxes])
    ys = _pieces(height, box_h / scale, [(b[1], b[3]) for b in boxes])
    kept = [
        (r, c)
        for r, (y0, y1) in enumerate(ys)
        for c, (x0, x1) in enumerate(xs)
        if _holds_a_node(x0, y0, x1, y1, boxes)
    ]
    number = {cell: n for n, cell in enumerate(kept, start=1)}

    def nearest(r: int, c: int, dr: int, dc: int) -> int | None:
        r, c = r + dr, c + dc
        while 0 <= r < len(ys) and 0 <= c < len(xs):
            if (r, c) in number:
                return number[(r, c)]
            r, c = r + dr, c + dc
        return None

    tiles = []
    for r, c in kept:
        (x0, x1), (y0, y1) = xs[c], ys[r]
        marks = {"up": nearest(r, c, -1, 0), "right": nearest(r, c, 0, 1), "down": nearest(r, c, 1, 0)}
        tile = Tile(
            id=f"{prefix}-tile-{r}-{c}", col=c, row=r, cols=len(xs), rows=len(ys), x0=x0, y0=y0, x1=x1, y1=y1,
            scale=scale, number=number[(r, c)], count=len(kept), **marks,
        )  # fmt: skip
        tiles.append(tile)
    return tiles
