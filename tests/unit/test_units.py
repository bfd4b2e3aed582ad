"""Human units, charts and the block overview: pure data, no Keras."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

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
