"""report.html: one fragment per model (diagrams, charts, layer table), assembled with the report-level parts.

A fragment depends only on the analysed model and its files, so it can be
rendered in a worker and cached (issue 13). The parent adds the rest: title,
contents, summary, changes, and each model's header. It can also add CSS
(``extra_css``), for example rules that mark failed per-layer expectations by
row anchor and diagram node id.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from archreport.data import DiagramInfo, ModelReport, Report
from archreport.errors import RenderError
from archreport.render import charts
from archreport.render.exports import SCHEMA_VERSION

if TYPE_CHECKING:
    import jinja2


def read_svg(report_dir: Path, diagram: DiagramInfo | None) -> str | None:
    """A diagram's SVG, ready to inline in HTML (no XML prolog), or None."""
    from archreport.diagram.svg import svg_for_inline

    if diagram is None or "svg" not in diagram.files:
        return None
    try:
        return str(svg_for_inline((report_dir / diagram.files["svg"]).read_text(encoding="utf-8")))
    except OSError:
        return None


def render_section_html(model: ModelReport, report_dir: Path, env: jinja2.Environment) -> str:
    """One ok model's body: its diagrams as inline SVG, top-layer charts and layer table.

    Raises:
        RenderError: the model failed (a failed model has no section).
    """
    if not model.ok:
        raise RenderError(f"model {model.name!r} failed; a failed model has no HTML section.")
    return str(
        env.get_template("report_section.html.j2").render(
            m=model,
            svg=read_svg(report_dir, model.diagram),
            overview_svg=read_svg(report_dir, model.overview),
            charts=charts.top_layers(model),
            curves=charts.sweep(model.sweep),
        )
    )


def assemble_html(
    report: Report,
    fragments: dict[str, str],
    env: jinja2.Environment,
    *,
    extra_css: str = "",
    diffs: dict[str, dict[str, str]] | None = None,
) -> str:
    """The whole self-contained report.html from the report-level parts and each ok model's fragment.

    Args:
        report: the report; its models in order, failed ones included.
        fragments: each ok model's fragment (render_section_html), by slug.
        env: the Jinja environment (templating.jinja_environment).
        extra_css: CSS added after the report's own, inside its <style> element.
        diffs: the visual diff's inline SVGs by model name, ``{name: {"baseline": svg, "current": svg}}``
            (render/review.py); its stylesheet is added with them.

    Raises:
        RenderError: a fragment is missing, or ``extra_css`` would close the <style> element.
    """
    missing = [m.name for m in report.models if m.ok and m.slug not in fragments]
    if missing:
        raise RenderError(f"no HTML section was rendered for {', '.join(missing)}.")
    if "</" in extra_css:
        raise RenderError("extra CSS for the HTML report must not contain '</'.")
    ok = [m for m in report.models if m.ok and m.totals]
    if diffs:
        from archreport.render.templating import template_text

        extra_css = f"{extra_css}\n{template_text('review.css')}"
    return str(
        env.get_template("report.html.j2").render(
            report=report,
            models=report.models,
            schema_version=SCHEMA_VERSION,
            comparison_charts=charts.comparison(ok),
            fragments=fragments,
            extra_css=extra_css,
            diffs=diffs or {},
        )
    )
