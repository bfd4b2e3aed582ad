"""report.html: one fragment per model (diagrams, charts, layer table), packed, assembled with the report-level parts.

A fragment depends only on the analysed model and its files, so it is rendered in a worker and cached (issue 13),
packed there too (:func:`pack`: gzip). The parent adds the rest: title, contents, summary, changes, each model's
header and totals, and the search index. It can also add CSS (``extra_css``), for example rules that mark failed
per-layer expectations by row anchor and diagram node id.

Why packed (issue 27): all 40 ``keras.applications`` models inlined as SVG and table rows made a 50.6 MB page that
Chromium parsed for 18 s before it could be used. Each fragment now sits in the page gzip-compressed and base64
encoded, in a ``<script type="application/octet-stream">`` (which no browser runs), and the page's script unpacks it
with ``DecompressionStream`` when its section nears the viewport or a link, the contents or a search result opens
it. The same 40 models make a page of about 5 MB that is ready at once.

Why hashed (issue 25): the page's Content-Security-Policy allows its one script by its SHA-256, and no other: markup
a worker slipped into a fragment (``<script>``, ``on*=`` handlers, ``javascript:`` links) does not run.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from archreport.data import DiagramInfo, ModelReport, Report
from archreport.errors import RenderError
from archreport.render import charts
from archreport.render.exports import SCHEMA_VERSION
from archreport.render.templating import template_text

if TYPE_CHECKING:
    import jinja2

# Level 6 packs the all40 fragments into 3.6 MB for 0.5 s of the workers' CPU, about 1 % of their render stage;
# level 1 gives 5.4 MB in a third of the time, level 9 3.5 MB in twice the time.
_LEVEL = 6
# The page's scripts, in the order they run: the diagram viewer, the packed sections and search that drive it,
# and the visual diff of "Changes since baseline" (it finds nothing to do in a report without one). One script
# element holds them all, so the CSP names one hash.
SCRIPTS = ("viewer.js", "sections.js", "review.js")


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


def pack(text: str) -> bytes:
    """``text`` as the page stores it: gzip, with no time stamp (the same text packs to the same bytes)."""
    return gzip.compress(text.encode("utf-8"), compresslevel=_LEVEL, mtime=0)


def viewer_script(names: tuple[str, ...] = SCRIPTS) -> str:
    """The page's one script, as it goes between ``<script>`` and ``</script>`` (and into the CSP's hash)."""
    script = "\n".join(template_text(name) for name in names)
    if "</script" in script.lower():  # the HTML parser would end the element there
        raise RenderError("the report's script must not contain '</script'.")
    return script


def script_source(script: str) -> str:
    """The CSP source that allows ``script`` and nothing else: ``'sha256-…'`` of its UTF-8 text."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def search_index(models: list[ModelReport]) -> bytes:
    """Every layer of the ok models, packed, for the page's search: anchor, name, class and shapes per row.

    Built here, from the data, so a search never scans the page (whose sections are packed anyway).
    """
    data = [
        {
            "slug": m.slug,
            "name": m.name,
            "rows": [
                [
                    r.anchor,
                    r.name,
                    r.class_name,
                    ", ".join(r.input_shapes),
                    r.output_shape if r.called else "",
                ]
                for r in m.layers
            ],
        }
        for m in models
        if m.ok
    ]
    return pack(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unpacked_height(model: ModelReport) -> str:
    """About how tall the model's unpacked body is (CSS), so the page's length and scrollbar barely move."""
    height_px = [d.height_pt * 4 / 3 for d in (model.overview, model.diagram) if d is not None and d.files]
    diagrams = " + ".join(f"min(80vh, {h + 60:.0f}px)" for h in height_px) or "2em"
    rows = f"min(85vh, {40 + 28 * len(model.layers)}px)"
    return f"calc({diagrams} + {rows} + 12em)"


def assemble_html(
    report: Report,
    packed: dict[str, bytes],
    env: jinja2.Environment,
    *,
    extra_css: str = "",
    pdf: str | None = None,
    diffs: dict[str, dict[str, str]] | None = None,
) -> str:
    """The whole self-contained report.html from the report-level parts and each ok model's packed fragment.

    Args:
        report: the report; its models in order, failed ones included.
        packed: each ok model's fragment (render_section_html), packed (:func:`pack`), by slug.
        env: the Jinja environment (templating.jinja_environment).
        extra_css: CSS added after the report's own, inside its <style> element.
        pdf: the printable report's file name beside the page (``report.pdf``), or None when there is none.
        diffs: the visual diff's inline SVGs by model name, ``{name: {"baseline": svg, "current": svg}}``
            (render/review.py); its stylesheet is added with them.

    Raises:
        RenderError: a fragment is missing, or ``extra_css`` would close the <style> element.
    """
    missing = [m.name for m in report.models if m.ok and m.slug not in packed]
    if missing:
        raise RenderError(f"no HTML section was rendered for {', '.join(missing)}.")
    if "</" in extra_css:
        raise RenderError("extra CSS for the HTML report must not contain '</'.")
    ok = [m for m in report.models if m.ok and m.totals]
    if diffs:
        extra_css = f"{extra_css}\n{template_text('review.css')}"
    script = viewer_script()
    return str(
        env.get_template("report.html.j2").render(
            report=report,
            models=report.models,
            schema_version=SCHEMA_VERSION,
            comparison_charts=charts.comparison(ok),
            packs={slug: _base64(data) for slug, data in packed.items()},
            heights={m.slug: _unpacked_height(m) for m in report.models if m.ok},
            index=_base64(search_index(report.models)),
            script=script,
            script_source=script_source(script),
            pdf=pdf,
            extra_css=extra_css,
            diffs=diffs or {},
        )
    )
