"""Inline SVG bar charts: no JavaScript, vector in the HTML and the PDF."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from archreport import units
from archreport.data import LayerRow, ModelReport, SweepPoint

_BAR_H = 16
_GAP = 6
_LABEL_W = 250
_WIDTH = 660
_VALUE_W = 130
# Presentation attributes, not only CSS: WeasyPrint does not style inline SVG text from the page's CSS.
_FONT = 'font-family="DejaVu Sans, sans-serif" font-size="11"'
_TITLE_FONT = 'font-family="DejaVu Sans, sans-serif" font-size="13" font-weight="bold"'


Chart = Callable[[str, Sequence[tuple[str, float | None, str]], str], str]


def bars(items: Sequence[tuple[str, float | None, str]]) -> list[tuple[str, str, float, str]]:
    """Each item's label shown in full, its label shortened, its bar's width in px and its value text."""
    plot_w = _WIDTH - _LABEL_W - _VALUE_W
    top = max((v for _, v, _ in items if v), default=0) or 1
    bars = []
    for name, value, text in items:
        label = units.visible(name)  # a model or layer name
        bars.append((label, _short(label), 0 if not value else max(1.0, plot_w * value / top), text))
    return bars


def bar_chart(title: str, items: Sequence[tuple[str, float | None, str]], colour: str) -> str:
    """A horizontal bar chart in SVG (the HTML report); ``items`` are (label, value, value text). None draws no bar."""
    height = 24 + len(items) * (_BAR_H + _GAP)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        f'width="{_WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" class="chart-title" {_TITLE_FONT}>{escape(title)}</text>',
    ]
    for i, (label, short, w, text) in enumerate(bars(items)):
        y = 24 + i * (_BAR_H + _GAP)
        parts.append(
            f"<g><title>{escape(label)}: {escape(text)}</title>"
            f'<text x="{_LABEL_W - 6}" y="{y + 12}" text-anchor="end" class="chart-label" {_FONT}>{escape(short)}</text>'
            f'<rect x="{_LABEL_W}" y="{y}" width="{w:.1f}" height="{_BAR_H}" fill="{colour}"/>'
            f'<text x="{_LABEL_W + w + 4:.1f}" y="{y + 12}" class="chart-value" {_FONT}>{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


# The PDF's charts are 130 mm wide (print.css): the SVG's px, in mm.
MM_PER_PX = 130 / _WIDTH


def print_bars(title: str, items: Sequence[tuple[str, float | None, str]], colour: str) -> str:
    """The same chart as :func:`bar_chart`, in HTML for the PDF, at the same place to the tenth of a mm.

    WeasyPrint lays an SVG's text out one letter at a time (a layout and a draw per character):
    a section's two charts took 30 ms, most of what WeasyPrint did for it once the layer table
    was set without it (issue 26). As HTML, each label is one line of text, and a PDF reader
    finds it as words rather than as letters.
    """
    parts = [
        f'<div class="bars" role="img" aria-label="{escape(title)}"><p class="chart-title">{escape(title)}</p>'
    ]
    for _, short, w, text in bars(items):
        parts.append(
            f'<div class="bar-row"><span class="bar-label">{escape(short)}</span>'
            f'<span class="bar" style="width: {w * MM_PER_PX:.2f}mm; background: {colour}"></span>'
            f'<span class="bar-value">{escape(text)}</span></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def _short(label: str, width: int = 34) -> str:
    """``label`` in at most ``width`` characters, the full text being the bar's tooltip.

    A sub-layer's label "block › name" keeps the end of each part, where what tells bars apart
    is: "…r_layer_0 › …edforward_gate_dense", not six bars all reading
    "transformer_layer_0 › feedforward…". Any other label keeps its start.
    """
    if len(label) <= width:
        return label
    top, sep, leaf = label.partition(" › ")
    if not sep:
        return label[: width - 1] + "…"
    top_width = min(len(top), 10)
    leaf_width = width - len(sep) - top_width

    def tail(text: str, n: int) -> str:
        return text if len(text) <= n else "…" + text[len(text) - n + 1 :]

    return f"{tail(top, top_width)}{sep}{tail(leaf, leaf_width)}"


def comparison(models: list[ModelReport], chart: Chart = bar_chart) -> dict[str, str]:
    """Charts comparing the models by params and by FLOPs, drawn by ``chart`` (:func:`print_bars` for the PDF)."""
    if not models:
        return {}
    params = [(m.name, float(m.totals.params), units.si(m.totals.params)) for m in models if m.totals]
    flops = [
        (
            m.name,
            float(m.totals.flops) if m.totals.flops is not None else None,
            units.flops(m.totals.flops, m.totals.flops_lower_bound),
        )
        for m in models
        if m.totals
    ]
    return {
        "params": chart("Parameters", params, "#3b6ea8"),
        "flops": chart("FLOPs (batch 1)", flops, "#c2702a"),
    }


Items = list[tuple[str, float | None, str]]


def top_layer_items(model: ModelReport, n: int = 8) -> dict[str, tuple[str, Items, str]]:
    """Where a model's parameters and FLOPs are, with nothing counted twice: each chart's title, items and colour.

    Candidates are the leaf rows (at any depth: an attention block's projections
    count, the block itself does not) and, for FLOPs, the ops a composite layer
    runs in its own call (an attention layer's QK^T and weights x V products).
    A chart with no items is left out.
    """
    leaves = [r for r in model.layers if not r.has_children and r.called]
    names = Counter(r.name for r in model.layers)

    def label(row: LayerRow) -> str:
        # Sub-layers repeat names (every block has a "query"): name the top-level block they sit in.
        top = row.path.split("/")[0]
        return f"{top} › {row.name}" if names[row.name] > 1 and top != row.name else row.name

    by_params = sorted((r for r in leaves if r.params), key=lambda r: (-r.params, r.index))[:n]
    flops: list[tuple[str, int, int]] = [(label(r), r.flops, r.index) for r in leaves if r.flops]
    for r in model.layers:
        own = sum(op.flops or 0 for op in r.ops)
        if r.has_children and own:
            flops.append((f"{label(r)} (own ops)", own, r.index))
    by_flops = sorted(flops, key=lambda item: (-item[1], item[2]))[:n]
    items: dict[str, tuple[str, Items, str]] = {}
    if by_params:
        items["params"] = ("Top layers by parameters", [(label(r), float(r.params), f"{units.si(r.params)} ({r.param_percent:.1f} %)") for r in by_params], "#3b6ea8")  # fmt: skip
    if by_flops:
        items["flops"] = ("Top layers by FLOPs", [(name, float(value), units.flops(value)) for name, value, _ in by_flops], "#c2702a")  # fmt: skip
    return items


def top_layers(model: ModelReport, n: int = 8, chart: Chart = bar_chart) -> dict[str, Any]:
    """:func:`top_layer_items` drawn by ``chart``: "params" and "flops", "" for a chart with no items."""
    items = top_layer_items(model, n)
    return {key: chart(*items[key]) if key in items else "" for key in ("params", "flops")}


_CURVE_H = 236
_PLOT = (96, 28, 370, 170)  # left, top, width, height of the plot area; the legend is on its right


def curve_chart(title: str, xs: Sequence[float], lines: Sequence[tuple[str, Sequence[float | None], str]],
                x_label: str, show: Any) -> str:  # fmt: skip
    """A line chart of one or more series over the same x values, each series scaled to the largest
    value of all; ``show`` formats a value for the axis and the tooltips."""
    left, top, width, height = _PLOT
    peak = max((v for _, values, _ in lines for v in values if v), default=0) or 1
    span = (max(xs) - min(xs)) or 1

    def at(x: float, y: float) -> tuple[float, float]:
        return left + width * (x - min(xs)) / span, top + height * (1 - y / peak)

    parts = [
        f'<svg class="chart curve" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_CURVE_H}" '
        f'width="{_WIDTH}" height="{_CURVE_H}" role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="14" class="chart-title" {_TITLE_FONT}>{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#8a93a6"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#8a93a6"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" {_FONT}>{escape(show(peak))}</text>',
        f'<text x="{left - 6}" y="{top + height}" text-anchor="end" {_FONT}>0</text>',
        f'<text x="{left + width / 2}" y="{_CURVE_H - 4}" text-anchor="middle" {_FONT}>{escape(x_label)}</text>',
    ]
    for x in xs:
        px, _ = at(x, 0)
        parts.append(f'<text x="{px:.1f}" y="{top + height + 14}" text-anchor="middle" {_FONT}>{x:g}</text>')
    for i, (name, values, colour) in enumerate(lines):
        points = [(at(x, v), x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        path = " ".join(f"{px:.1f},{py:.1f}" for (px, py), _, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (px, py), x, v in points:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"><title>{escape(name)} at {x:g}: '
                f"{escape(show(v))}</title></circle>"
            )
        ly = top + 4 + 16 * i
        parts.append(f'<rect x="{left + width + 14}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{left + width + 28}" y="{ly + 1}" {_FONT}>{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sweep(points: Sequence[SweepPoint]) -> dict[str, str]:
    """Cost curves of a ``[model.sweep]``: FLOPs, and memory, over the varied dimension."""
    if len(points) < 2:
        return {}
    lengths = {p.sequence_length for p in points}
    by_length = len(lengths) > 1
    base = points[0].batch_size if by_length else points[0].sequence_length
    # One curve per chart: the points of the first batch size (by length) or the first length.
    line = [p for p in points if (p.batch_size if by_length else p.sequence_length) == base]
    xs = [float(p.sequence_length or 0) if by_length else float(p.batch_size) for p in line]
    x_label = f"sequence length (batch {base})" if by_length else f"batch size (length {base})"
    Series = tuple[str, Sequence[float | None], str]
    flops: list[Series] = [("executed", [p.flops for p in line], "#c2702a")]
    if any(p.active_flops is not None for p in line):
        flops.append(("active (top-k)", [p.active_flops for p in line], "#7a4aa8"))
    memory: list[Series] = [
        ("inference peak, float32", [p.inference_peak_bytes for p in line], "#3b6ea8"),
        ("inference peak, bfloat16", [p.inference_peak_bytes_bfloat16 for p in line], "#6fa0d8"),
        ("training, Adam", [p.training_bytes for p in line], "#a83b3b"),
    ]
    return {
        "flops": curve_chart("FLOPs", xs, flops, x_label, lambda v: units.flops(int(v))),
        "memory": curve_chart("Memory", xs, memory, x_label, lambda v: units.nbytes(int(v))),
    }
