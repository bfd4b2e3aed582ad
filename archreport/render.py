"""Render the report data: report.json, per-model layers.csv / layers.md, report.html, report.pdf.

Templates receive only the plain data model (data.py), never Keras objects.
"""

from __future__ import annotations

import html
import importlib.resources
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import charts, units
from .data import DiagramInfo, ModelReport, Report
from .errors import RenderError
from .outputs import atomic_write

SCHEMA_VERSION = 1
# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

LAYER_COLUMNS = [
    "index", "name", "class_name", "depth", "parent", "input_shapes", "output_shape", "kernel",
    "strides", "activation", "params", "trainable_params", "non_trainable_params", "param_percent",
    "trainable", "flops", "activation_bytes", "dtype", "connected_to",
]  # fmt: skip


def template_text(name: str) -> str:
    return importlib.resources.files("archreport.templates").joinpath(name).read_text(encoding="utf-8")


def jinja_environment() -> Any:
    """The one Jinja environment: autoescaping on for every template, filters registered here."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(template_text),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        si=units.si, flops=units.flops, nbytes=units.nbytes, count=units.count,
        expected=units.expected,
        percent=lambda v: f"{v:.1f} %", shapes=lambda v: ", ".join(v) if v else "—",
    )  # fmt: skip
    return env


# -- report.json --------------------------------------------------------------
def report_dict(report: Report, *, timings: bool = True) -> dict[str, Any]:
    models = []
    for m in report.models:
        data = m.to_dict()
        data.pop("cached")
        data.pop("details")
        if not timings:
            data.pop("timings")
        models.append(data)
    return {
        "schema_version": SCHEMA_VERSION,
        "archreport_version": report.versions.get("archreport", "unknown"),
        "generated": report.generated,
        "title": report.title,
        "versions": report.versions,
        "summary": {
            "models": len(report.models),
            "ok": sum(m.ok for m in report.models),
            "failed": len(report.failed),
            "expectation_failures": len(report.expectation_failures),
        },
        "models": models,
        "changes": report.changes,
        # Report-wide stages (the HTML and PDF are one pass over all models); left out
        # under SOURCE_DATE_EPOCH like the per-model timings, so reruns stay byte-identical.
        **({"timings": dict(report.timings)} if timings else {}),
    }


def report_json(report: Report, *, timings: bool = True) -> str:
    return (
        json.dumps(report_dict(report, timings=timings), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


# -- layers.csv and layers.md -------------------------------------------------
def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # shown as text, never run as a formula
    return value


def layers_frame(model: ModelReport) -> Any:
    import pandas as pd

    rows = [{col: _cell(getattr(r, col)) for col in LAYER_COLUMNS} for r in model.layers]
    frame = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    frame["flops"] = frame["flops"].astype("Int64")  # unknown stays empty, never 0
    frame["activation_bytes"] = frame["activation_bytes"].astype("Int64")
    frame["param_percent"] = frame["param_percent"].round(3)
    return frame


def layers_csv(model: ModelReport) -> str:
    return str(layers_frame(model).to_csv(index=False, lineterminator="\n"))


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(value: Any) -> str:
    text = html.escape(str(value), quote=False).replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def layers_md(model: ModelReport) -> str:
    head = ["#", "Layer", "Class", "Output shape", "Params", "FLOPs", "Trainable"]
    lines = [
        f"### {md_escape(model.name)}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if h in {"#", "Params", "FLOPs"} else "---" for h in head) + "|",
    ]
    for r in model.layers:
        indent = "&nbsp;&nbsp;" * r.depth
        flops = "(in parent)" if r.counted_in_parent else units.count(r.flops)
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r.index),
                    indent + md_escape(r.name),
                    md_escape(r.class_name),
                    md_escape(r.output_shape),
                    f"{r.params:,}",
                    flops,
                    "yes" if r.trainable else "no",
                ]
            )
            + " |"
        )
    if model.totals:
        t = model.totals
        lines += [
            "",
            f"Total params: {t.params:,} (trainable {t.trainable_params:,}, non-trainable "
            f"{t.non_trainable_params:,}); {units.nbytes(t.param_bytes)}. FLOPs: {units.flops(t.flops, t.flops_lower_bound)}.",
        ]
    return "\n".join(lines) + "\n"


# -- the PDF's layer table ----------------------------------------------------
# WeasyPrint lays out table cells slowly (about 7 ms a row, benchmarks/README.md);
# monospace lines lay out twenty times faster and read like model.summary().
PRINT_COLUMNS = (("#", 4, ">"), ("Layer", 35, "<"), ("Class", 22, "<"), ("Output shape", 24, "<"),
                 ("Params", 12, ">"), ("FLOPs", 12, ">"), ("Train", 5, "<"))  # fmt: skip


def _chunks(text: str, width: int) -> list[str]:
    """Cut text into pieces of at most ``width`` characters (long names wrap, never truncate)."""
    text = " ".join(text.split())  # a newline in a name must not break the table
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def print_table(model: ModelReport) -> list[tuple[str, bool]]:
    """The layer table as fixed-width lines for the PDF, each with whether it is bold."""

    def line(cells: list[str], bold: bool) -> list[tuple[str, bool]]:
        pieces = [_chunks(c, w) for c, (_, w, _) in zip(cells, PRINT_COLUMNS, strict=True)]
        out = []
        for i in range(max(len(p) for p in pieces)):
            parts = [
                f"{(p[i] if i < len(p) else ''):{align}{w}}"
                for p, (_, w, align) in zip(pieces, PRINT_COLUMNS, strict=True)
            ]
            out.append((" ".join(parts).rstrip(), bold))
        return out

    rows = line([name for name, _, _ in PRINT_COLUMNS], True)
    rows.append(("-" * (sum(w for _, w, _ in PRINT_COLUMNS) + len(PRINT_COLUMNS) - 1), False))
    for r in model.layers:
        flops = "in parent" if r.counted_in_parent else units.flops(r.flops)
        cells = [
            str(r.index),
            "  " * r.depth + r.name,
            r.class_name,
            r.output_shape,
            units.count(r.params),
            flops,
        ]
        rows += line([*cells, "yes" if r.trainable else "no"], r.has_children)
    if model.totals:
        t = model.totals
        rows.append(("-" * (sum(w for _, w, _ in PRINT_COLUMNS) + len(PRINT_COLUMNS) - 1), False))
        total = [
            "",
            f"Total ({t.layers} layers)",
            "",
            "",
            units.count(t.params),
            units.flops(t.flops, t.flops_lower_bound),
            "",
        ]
        rows += line(total, True)
    return rows


# -- HTML and PDF -------------------------------------------------------------
def read_svg(report_dir: Path, diagram: DiagramInfo | None) -> str | None:
    """A diagram's SVG, ready to inline in HTML (no XML prolog), or None."""
    from .svg import svg_for_inline

    if diagram is None or "svg" not in diagram.files:
        return None
    try:
        return str(svg_for_inline((report_dir / diagram.files["svg"]).read_text(encoding="utf-8")))
    except OSError:
        return None


def context(report: Report, report_dir: Path) -> dict[str, Any]:
    ok = [m for m in report.models if m.ok and m.totals]
    return {
        "report": report,
        "models": report.models,
        "schema_version": SCHEMA_VERSION,
        "svgs": {m.slug: read_svg(report_dir, m.diagram) for m in report.models},
        "overview_svgs": {m.slug: read_svg(report_dir, m.overview) for m in report.models},
        "comparison_charts": charts.comparison(ok),
        "model_charts": {m.slug: charts.top_layers(m) for m in ok},
        "print_tables": {m.slug: print_table(m) for m in ok},
        "asset": template_text,
    }


def write_all(
    report: Report,
    out: Path,
    formats: tuple[str, ...],
    *,
    timings: bool = True,
    progress: Callable[..., None] | None = None,
) -> None:
    """Write every output of the report into ``out`` (a staging folder).

    Raises:
        RenderError: a template or WeasyPrint failed; nothing in ``out`` is final yet.
    """
    for model in report.models:
        model_dir = out / "models" / model.slug
        model_dir.mkdir(parents=True, exist_ok=True)
        if model.ok:
            atomic_write(model_dir / "layers.csv", layers_csv(model))
            atomic_write(model_dir / "layers.md", layers_md(model))
    if formats:
        # One environment and one context for both documents: the SVGs, charts and
        # tables they share are read and built once.
        env, ctx = jinja_environment(), context(report, out)
    for fmt in ("html", "pdf"):
        if fmt not in formats:
            continue
        if progress:
            progress("", None, fmt)
        start = time.perf_counter()
        try:
            if fmt == "html":
                data: bytes | str = env.get_template("report.html.j2").render(ctx)
            else:
                from . import pdf

                data = pdf.pdf_report(report, out, env, ctx)
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(
                f"the {fmt.upper()} report could not be rendered: {type(exc).__name__}: {exc}"
            ) from exc
        atomic_write(out / f"report.{fmt}", data)
        report.timings[f"render_{fmt}"] = time.perf_counter() - start
    atomic_write(out / "report.json", report_json(report, timings=timings))
