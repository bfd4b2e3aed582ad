"""Human units, charts and the block overview: pure data, no Keras."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from archreport import units
from archreport.data import LayerRow
from archreport.diagram.overview import auto_named, blocks, overview_dot
from archreport.render import charts


def test_units_by_hand() -> None:
    assert units.si(1_256_080) == "1.26 M"
    assert units.si(5_450) == "5.45 k"
    assert units.si(999) == "999"
    assert units.flops(13_095_520) == "13.1 MFLOPs"
    assert units.flops(47_800_000_000, lower_bound=True) == "≥ 47.8 GFLOPs"
    assert units.flops(None) == "n/a"  # unknown is never shown as 0
    assert units.nbytes(5_024_320) == "4.79 MiB"  # 5024320 / 2**20 = 4.7916
    assert units.nbytes(1023) == "1,023 B"
    assert units.count(1_256_080) == "1,256,080"
    assert units.expected({"value": 13.1e6, "rel_tol": 0.02}) == "13100000.0 ± 2 %"
    assert units.expected("(None, 10)") == "(None, 10)"


# Issue 10, item 7: a value just below a power of 1000 (or 1024) used to round up to
# "1e+03 k". Every boundary, from both sides: just below it, what rounds up to it, and at it.
SI_BOUNDARIES = [("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)]
SI_BELOW = {"k": "", "M": "k", "G": "M", "T": "G", "P": "T"}


@pytest.mark.parametrize(("prefix", "power"), SI_BOUNDARIES, ids=[p for p, _ in SI_BOUNDARIES])
def test_si_and_flops_at_each_boundary(prefix: str, power: float) -> None:
    below = SI_BELOW[prefix]
    # Just below: 0.9994 of the power stays in the unit below, at 3 significant digits.
    assert units.si(power * 0.9994) == f"999 {below}".rstrip()
    # 0.9995 of the power rounds to 1000 of the unit below: that is 1 of the next.
    for value in (power * 0.9995, power * 0.9997):
        assert units.si(value) == f"1 {prefix}", value
    # Whole numbers (FLOPs are): one less than the power. Below 1000 they are exact.
    last = "999 " if prefix == "k" else f"1 {prefix}"
    assert units.si(int(power) - 1) == last.rstrip()
    assert units.flops(int(power) - 1) == f"{last}FLOPs"
    assert units.flops(int(power * 0.9994)) == f"999 {below}FLOPs"
    # At the power, and beyond it.
    assert units.si(int(power)) == f"1 {prefix}"
    assert units.flops(int(power)) == f"1 {prefix}FLOPs"
    assert units.si(int(power * 1.5)) == f"1.5 {prefix}"


def test_si_named_cases_and_extremes() -> None:
    assert units.si(999_999) == "1 M"
    assert units.flops(999_700_000) == "1 GFLOPs"
    assert units.si(999.4) == "999" and units.si(999.5) == "1 k"  # the plain unit rounds too
    assert units.si(-999_999) == "-1 M"
    assert units.si(0) == "0"
    assert units.si(2.5e21) == "2,500 E"  # past the largest prefix: digits, never "2.5e+03"


IEC = [("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3), ("TiB", 1024**4), ("PiB", 1024**5)]
IEC_BELOW = {"KiB": "B", "MiB": "KiB", "GiB": "MiB", "TiB": "GiB", "PiB": "TiB"}


@pytest.mark.parametrize(("unit", "power"), IEC, ids=[u for u, _ in IEC])
def test_nbytes_at_each_boundary(unit: str, power: int) -> None:
    below = IEC_BELOW[unit]
    if below == "B":
        assert units.nbytes(power - 1) == "1,023 B"  # whole bytes below 1 KiB
        assert units.nbytes(999) == "999 B"
    else:
        step = power // 1024
        assert units.nbytes(999 * step) == f"999 {below}"
        # from 999.5 of the unit below the mantissa would print 4 digits: shown in the next unit
        assert units.nbytes(int(999.5 * step)) == f"0.976 {unit}"
        assert units.nbytes(power - 6) == f"1 {unit}"  # nbytes(1_048_570) == "1 MiB"
        assert units.nbytes(power - 1) == f"1 {unit}"
    assert units.nbytes(power) == f"1 {unit}"
    assert units.nbytes(power * 3 // 2) == f"1.5 {unit}"


def test_nbytes_named_cases_and_extremes() -> None:
    assert units.nbytes(1_048_570) == "1 MiB"
    assert units.nbytes(1_030_000) == "0.982 MiB"  # 1005.9 KiB: three digits in MiB
    assert units.nbytes(0) == "0 B"
    assert units.nbytes(3000 * 1024**5) == "3,000 PiB"


def row(i: int, name: str, cls: str = "Conv2D", src: list[str] | None = None) -> LayerRow:
    return LayerRow(
        index=i, name=name, class_name=cls, depth=0, parent=None, input_shapes=[], output_shape=f"(None, {i})",
        params=10, trainable_params=10, non_trainable_params=0, trainable=True, dtype="float32",
        flops=100, connected_to=src or [], anchor=f"m-r{i}",
    )  # fmt: skip


def test_overview_groups_blocks_and_keeps_edges() -> None:
    names = ["input_layer", "stem"] + [
        f"block_{b}_{part}" for b in range(1, 40) for part in ("expand", "bn", "relu")
    ]
    rows = [row(0, "input_layer", "InputLayer")]
    for i, name in enumerate(names[1:], 1):
        rows.append(row(i, name, src=[names[i - 1]]))
    rows.insert(5, row(len(rows), "add_1", "Add", src=["block_1_relu"]))  # auto-named: joins its block
    assert auto_named(rows[5]) and not auto_named(rows[1])
    groups = blocks(rows)
    assert [g.key for g in groups[:4]] == ["input_layer", "stem", "block_1", "block_2"]
    assert len(groups[2].rows) == 4 and groups[2].params == 40 and groups[2].flops == 400
    dot = overview_dot(rows, id_prefix="m-ov-")
    assert dot is not None
    assert dot.count("->") == len(groups) - 1
    assert 'URL="#m-r2"' in dot  # a box links to its block's first row


def test_small_models_get_no_overview() -> None:
    rows = [row(i, f"dense_{i}", "Dense") for i in range(20)]
    assert overview_dot(rows, id_prefix="x") is None


def test_bar_chart_is_valid_svg_with_escaped_labels() -> None:
    svg = charts.bar_chart("Params <&>", [("<b>evil</b>", 10.0, "10"), ("none", None, "n/a")], "#123456")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Params <&>" in texts and "<b>evil</b>" in texts
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths[0] > 0 and widths[1] == 0  # an unknown value draws no bar


def test_page_pieces_keep_every_node_whole() -> None:
    from archreport.diagram.tiles import _pieces

    # Ranks with gaps: clean cuts between nodes, no overlap.
    ranks = [(y, y + 30) for y in range(0, 1000, 50)]
    pieces = _pieces(1000, 220, ranks)
    assert all(b - a <= 220 for a, b in pieces)
    assert all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))
    # Side by side nodes with no gap anywhere: pieces overlap so each node lies whole in one.
    dense = [(x, x + 90) for x in range(0, 910, 40)]
    pieces = _pieces(1000, 300, dense)
    assert all(b - a <= 300 for a, b in pieces)
    assert pieces[0][0] == 0 and pieces[-1][1] == 1000
    for lo, hi in dense:
        assert any(a <= lo and hi <= b for a, b in pieces), (lo, hi, pieces)


def test_bar_labels_keep_what_tells_sub_layers_apart() -> None:
    labels = [
        f"transformer_layer_{i} › feedforward_{part}_dense" for i in (0, 1) for part in ("gate", "output")
    ]
    labels += ["transformer_layer_0 › feedforward_intermediate_dense", "token_embedding", "a" * 40]
    svg = charts.bar_chart("Top layers", [(label, 1.0, "1") for label in labels], "#123456")
    shown = [html.unescape(t) for t in re.findall(r'class="chart-label"[^>]*>([^<]*)<', svg)]
    assert shown == [
        "…r_layer_0 › …edforward_gate_dense",
        "…r_layer_0 › …forward_output_dense",
        "…r_layer_1 › …edforward_gate_dense",
        "…r_layer_1 › …forward_output_dense",
        "…r_layer_0 › …d_intermediate_dense",
        "token_embedding",
        "a" * 33 + "…",
    ]
    assert all(len(text) <= 34 for text in shown)
    for label in labels:  # the whole label is the bar's tooltip
        assert f"<title>{html.escape(label, quote=False)}: 1</title>" in svg


def test_print_bars_escape_labels_and_draw_no_bar_for_an_unknown_value() -> None:
    text = charts.print_bars(
        "Params <&>", [("<b>evil</b>", 10.0, "10 <x>"), ("none", None, "n/a")], "#123456"
    )
    assert "<b>" not in text and "&lt;b&gt;evil&lt;/b&gt;" in text and "10 &lt;x&gt;" in text
    widths = [float(w) for w in re.findall(r"width: ([0-9.]+)mm", text)]
    assert widths[0] > 0 and widths[1] == 0


def _chart_pdf(html_chart: str, tmp_path: Path) -> dict[str, Any]:
    """A chart laid out as the PDF's sections lay it out; its words and its bars, in pt from the page's top left."""
    import io

    import pdfplumber

    from archreport.render.pdf.weasy import layout

    css = (Path(charts.__file__).parent / "templates" / "print.css").read_text()
    page = (
        f'<html><head><style>{css}</style></head><body><div class="charts">{html_chart}</div></body></html>'
    )
    with pdfplumber.open(io.BytesIO(layout(page, tmp_path).write_pdf())) as pdf:
        first = pdf.pages[0]
        return {
            "words": first.extract_words(),
            "chars": [c for c in first.chars if c["text"].strip()],
            "bars": sorted((r["x0"], r["x1"], r["top"], r["bottom"]) for r in first.rects if r["width"] > 0),
        }


def test_print_bars_are_drawn_where_the_svg_chart_draws_them(tmp_path: Path) -> None:
    """The PDF's HTML chart against the SVG chart it replaces (WeasyPrint draws both): every bar
    within 0.1 pt, every label right-aligned to the same edge, every character on the same baseline
    within 0.6 pt and at the same place within a kerning pair, the bars' widths in the values' ratio."""
    items = [
        ("conv1", 9408.0, "9.41 k (0.0 %)"),
        ("block4 › very_long_layer_name_for_the_label_column", 2_359_296.0, "2.36 M (9.2 %)"),
        ("predictions", 2_049_000.0, "2.05 M (8.0 %)"),
        ("none", None, "n/a"),
    ]
    ours = _chart_pdf(charts.print_bars("Top layers by parameters", items, "#3b6ea8"), tmp_path)
    theirs = _chart_pdf(charts.bar_chart("Top layers by parameters", items, "#3b6ea8"), tmp_path)
    assert len(ours["bars"]) == len(theirs["bars"]) == 3
    for a, b in zip(ours["bars"], theirs["bars"], strict=True):
        assert a == pytest.approx(b, abs=0.1)
    widths = [x1 - x0 for x0, x1, _, _ in sorted(ours["bars"], key=lambda bar: bar[2])]
    assert widths[1] == pytest.approx(280 * 130 / 660 * 72 / 25.4, abs=0.05)  # the largest fills the plot
    assert widths[0] / widths[1] == pytest.approx(9408 / 2_359_296, rel=0.02) or widths[0] == pytest.approx(
        130 / 660 * 72 / 25.4, abs=0.01
    )  # at least a px wide
    assert widths[2] / widths[1] == pytest.approx(2_049_000 / 2_359_296, rel=1e-3)

    def in_order(chars: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(chars, key=lambda c: (round(c["bottom"]), c["x0"]))

    # Character by character: WeasyPrint draws an SVG's text a letter at a time, without the spaces.
    ours_chars, theirs_chars = in_order(ours["chars"]), in_order(theirs["chars"])
    assert "".join(c["text"] for c in ours_chars) == "".join(c["text"] for c in theirs_chars)
    for char, other in zip(ours_chars, theirs_chars, strict=True):
        assert char["bottom"] == pytest.approx(other["bottom"], abs=0.6), char["text"]
        # Up to a kerning pair apart: WeasyPrint sets an SVG's letters one by one, unkerned ("To": 1 pt).
        assert char["x0"] == pytest.approx(other["x0"], abs=1.25), char["text"]
    ends = [
        w["x1"]
        for w in ours["words"]
        if w["text"] in {"conv1", "predictions", "none", "…ame_for_the_label_column"}
    ]
    assert len(ends) == 4 and max(ends) - min(ends) < 0.5  # the labels are right-aligned
