"""The top-layer charts archreport draws itself (render/pdf/bars.py), against WeasyPrint's layout of the same HTML.

WeasyPrint laid the charts out before (issue 26); it still does for charts the embedded
subsets cannot set, and for a section with cost curves or a diagram note. Both are read
back with pdfplumber (pdfminer): every bar, and every word with its baseline and place.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archreport.data import ModelReport
from archreport.render import charts
from archreport.render.pdf import bars, section
from archreport.render.templating import jinja_environment
from tests.helpers import check_pdf, pdf_pages_text


def _bodies(model: ModelReport, report_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    """The section body drawn here, and laid out by WeasyPrint (the charts not fitting, as it were)."""
    env = jinja_environment()
    ours = section.section_body(model, report_dir, page_size="A4", env=env)
    with monkeypatch.context() as patch:
        patch.setattr(bars, "fits", lambda specs: False)
        theirs = section.section_body(model, report_dir, page_size="A4", env=env)
    return ours, theirs


def _first_page(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first page's filled rectangles and its words above the layer table."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        page = pdf.pages[0]
        words = page.extract_words()
        end = next(w["top"] for w in words if w["text"] == "Layers")
        return list(page.rects), [w for w in words if w["top"] < end]


def test_the_charts_are_the_bars_and_words_weasyprint_set_in_the_same_places(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lenet = models["lenet"]
    specs = charts.top_layer_items(lenet)
    assert set(specs) == {"params", "flops"} and bars.fits(specs)
    ours, theirs = _bodies(lenet, report_dir, monkeypatch)
    (tmp_path / "ours.pdf").write_bytes(ours)
    assert check_pdf(tmp_path / "ours.pdf") == len(pdf_pages_text(theirs))
    assert pdf_pages_text(ours) == pdf_pages_text(theirs)  # the same text, page by page, the table's too
    (our_rects, our_words), (their_rects, their_words) = _first_page(ours), _first_page(theirs)
    bar_count = sum(len(items) for _, items, _ in specs.values())
    assert len(our_rects) == len(their_rects) == bar_count
    for a, b in zip(our_rects, their_rects, strict=True):
        for key in ("x0", "x1", "top", "bottom"):
            assert a[key] == pytest.approx(b[key], abs=0.02), (key, a, b)
        assert a["non_stroking_color"] == pytest.approx(b["non_stroking_color"], abs=1 / 255)
    assert [w["text"] for w in our_words] == [w["text"] for w in their_words]
    for a, b in zip(our_words, their_words, strict=True):
        assert a["bottom"] == pytest.approx(b["bottom"], abs=0.05), (a, b)  # the same baselines
        # Left-aligned words start where WeasyPrint's do, right-aligned labels end there, within
        # DejaVu's kerning, which is not applied here (a title's "To" pair: about 1 pt).
        assert min(abs(a["x0"] - b["x0"]), abs(a["x1"] - b["x1"])) < 1.6, (a, b)
    labels = {label for _, items, _ in specs.values() for _, label, _, _ in charts.bars(items)}
    ends = [(a["x1"], b["x1"]) for a, b in zip(our_words, their_words, strict=True) if a["text"] in labels]
    assert ends and all(
        x == pytest.approx(y, abs=0.05) for x, y in ends
    )  # right-aligned: the same right edge


def test_charts_the_subsets_cannot_set_are_laid_out_by_weasyprint(
    models: dict[str, ModelReport], report_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lenet = models["lenet"]
    named = replace(
        lenet, layers=[replace(r, name=f"卷积_{r.name}") if r.params else r for r in lenet.layers]
    )
    specs = charts.top_layer_items(named)
    assert not bars.fits(specs)
    with pytest.raises(ValueError, match="characters the embedded fonts lack"):
        bars.add_chart_page(__import__("pikepdf").new(), specs, "A4", {})
    drawn = []
    monkeypatch.setattr(bars, "add_chart_page", lambda *a, **k: drawn.append(a))
    body = section.section_body(named, report_dir, page_size="A4", env=jinja_environment())
    assert not drawn
    assert "卷积_" in pdf_pages_text(body)[0]
