"""Cropping a Graphviz PDF to a window (issue 29): a tile's text is what the tile shows, drawn as before.

Real ``dot -Tpdf`` output, read back by pdfium (which extracts clipped text, unlike poppler)
and drawn by poppler to compare pixels.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from archreport.diagram.pdfcrop import Drawing, _rectangle, _Show, _TextObject, bounds, meets

# Six nodes in two columns and three ranks, far enough apart that a window can hold one column.
DOT = """digraph G {
  rankdir=TB; nodesep=2.0; ranksep=1.0;
  node [shape=box, fontname="DejaVu Sans", fontsize=10];
  left_top -> left_mid -> left_low;
  right_top -> right_mid -> right_low;
  left_top [label="left_top (Dense)"]; right_top [label="right_top (Conv2D)"];
}
"""
NAMES = ["left_top", "left_mid", "left_low", "right_top", "right_mid", "right_low"]


@pytest.fixture(scope="module")
def drawing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crop") / "diagram.pdf"
    subprocess.run(["dot", "-Tpdf", "-o", str(path)], input=DOT, text=True, check=True, timeout=60)
    return path


def page_text(pdf: pikepdf.Pdf) -> str:
    document = pypdfium2.PdfDocument(io.BytesIO(_saved(pdf)))
    try:
        textpage = document[0].get_textpage()
        return str(textpage.get_text_range())
    finally:
        document.close()


def _saved(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def with_content(path: Path, streams: list[bytes]) -> pikepdf.Pdf:
    """The drawing's page drawing ``streams`` instead of its content, each as a form of its own."""
    pdf = pikepdf.open(path)
    page = pdf.pages[0]
    box = [float(v) for v in page.mediabox]
    names = {}
    for k, data in enumerate(streams):
        form = pikepdf.Stream(pdf, data)
        form.Type, form.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
        form.BBox, form.Resources = box, page.Resources
        names[f"/F{k}"] = pdf.make_indirect(form)
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(names))
    page.Contents = pdf.make_stream(" ".join(f"{name} Do" for name in names).encode())
    return pdf


def pixels(pdf: pikepdf.Pdf, folder: Path) -> Image.Image:
    """The page drawn by poppler at 72 dpi (one pixel a point)."""
    (folder / "page.pdf").write_bytes(_saved(pdf))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "72", "-singlefile", str(folder / "page.pdf"), str(folder / "page")],
        check=True, timeout=60,
    )  # fmt: skip
    return Image.open(folder / "page.png").convert("RGB")


def halves(path: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    with pikepdf.open(path) as pdf:
        x0, y0, x1, y1 = (float(v) for v in pdf.pages[0].mediabox)
    middle = (x0 + x1) / 2
    return (x0, y0, middle, y1), (middle, y0, x1, y1)


def test_a_window_holds_the_text_drawn_in_it_and_no_other(drawing: Path) -> None:
    left, right = halves(drawing)
    with pikepdf.open(drawing) as pdf:
        whole = page_text(pdf)
        crop = Drawing(pdf.pages[0])
    assert all(name in whole for name in NAMES)
    for window, side in ((left, "left_"), (right, "right_")):
        text = page_text(with_content(drawing, [crop.crop(window)]))  # type: ignore[arg-type]
        assert sorted(n for n in NAMES if n in text) == sorted(n for n in NAMES if n.startswith(side))
        assert ("Dense" in text) == (side == "left_") and ("Conv2D" in text) == (side == "right_")


def test_graphics_and_text_groups_draw_what_the_drawing_draws(drawing: Path, tmp_path: Path) -> None:
    """Paths in one form and the text in groups, drawn together, are the drawing pixel for pixel."""
    left, right = halves(drawing)
    with pikepdf.open(drawing) as pdf:
        original = pixels(pdf, tmp_path)
        crop = Drawing(pdf.pages[0])
    groups = crop.text_groups([left, right])  # type: ignore[list-item]
    assert sorted(met for met, _ in groups) == [(0,), (1,)]
    assert NAMES[0] not in page_text(with_content(drawing, [crop.graphics()]))
    rebuilt = pixels(with_content(drawing, [crop.graphics(), *(data for _, data in groups)]), tmp_path)
    assert ImageChops.difference(original, rebuilt).getbbox() is None
    for window in (left, right):  # a window's crop draws what the whole draws inside it
        cropped = pixels(with_content(drawing, [crop.crop(window)]), tmp_path)  # type: ignore[arg-type]
        box = tuple(
            round(v) for v in (window[0], original.height - window[3], window[2], original.height - window[1])
        )
        inner = (box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2)
        assert ImageChops.difference(original.crop(inner), cropped.crop(inner)).getbbox() is None


def test_text_on_two_windows_is_stored_once_and_shown_on_both(drawing: Path) -> None:
    left, right = halves(drawing)
    wide = (left[0], left[1], right[2] - 10, left[3])  # overlaps the right column
    with pikepdf.open(drawing) as pdf:
        crop = Drawing(pdf.pages[0])
    groups = crop.text_groups([left, wide])  # type: ignore[list-item]
    assert {met for met, _ in groups} == {(0, 1), (1,)}
    shared = next(data for met, data in groups if met == (0, 1))
    text = page_text(with_content(drawing, [shared]))
    assert all(name in text for name in NAMES[:3]) and not any(name in text for name in NAMES[3:])


def test_boxes_meet_only_when_they_overlap() -> None:
    assert meets((0, 0, 10, 10), (5, 5, 15, 15))
    assert not meets((0, 0, 10, 10), (10, 0, 20, 10))  # sharing an edge is not overlapping


_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 9.999756, -9.999756]),
    st.floats(min_value=-500, max_value=500, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=2000)
@given(matrix=st.tuples(*[_FLOATS] * 6), width=_FLOATS, low=_FLOATS, high=_FLOATS)
def test_a_shows_box_is_the_box_around_its_four_corners(
    matrix: tuple[float, float, float, float, float, float], width: float, low: float, high: float
) -> None:
    # The shortcut picks the corner that reaches each side; these are the very numbers bounds() finds.
    corners = [(0.0, low), (width, low), (0.0, high), (width, high)]
    assert _rectangle(matrix, width, low, high) == bounds(matrix, corners)


class _Forgetful(Drawing):
    """A drawing that measures every show afresh, as it did before shows were remembered."""

    def _advance(self, state: Any, operands: bytes) -> float:
        self._measured.clear()
        return super()._advance(state, operands)


def test_repeated_shows_are_read_as_when_first_seen(tmp_path: Path) -> None:
    # Graphviz labels repeat (every node says "Output shape:"): each repeat is measured from memory.
    path = tmp_path / "repeats.pdf"
    nodes = "\n".join(f'n{i} [label="Output shape: (None, 7, 7, 50)"]; n{i} -> n{i + 1};' for i in range(8))
    source = f'digraph G {{ node [shape=box, fontname="DejaVu Sans"]; {nodes} }}'
    subprocess.run(["dot", "-Tpdf", "-o", str(path)], input=source, text=True, check=True, timeout=60)
    with pikepdf.open(path) as pdf:
        remembered, fresh = Drawing(pdf.pages[0]), _Forgetful(pdf.pages[0])
    shows = [part for unit in remembered.units if isinstance(unit, _TextObject) for part in unit.parts]
    assert len([s for s in shows if isinstance(s, _Show)]) > len(remembered._measured)  # some were repeats
    assert remembered.units == fresh.units
