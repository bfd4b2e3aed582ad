"""One analysed model in a notebook: its HTML output (Jupyter, VS Code, Colab) and a plain-text summary.

The HTML is the report's own model section (html_report.render_section_html:
diagram, charts, layer table) under a header of totals, in one element that
carries everything it needs, because a notebook output gets no other file:

* **Ids unique per output.** Two outputs in one notebook (two models, or the
  same one shown twice) share a page in JupyterLab and VS Code. Every id, the
  diagram's included, is renamed from the model's slug to a fresh ``uid`` each
  time the output is made, and every link points inside the output.
* **Styles scoped to the output.** JupyterLab puts outputs into its own page,
  so the report's stylesheet is rewritten with every selector under the
  output's id: it must not restyle the notebook, and an id outweighs the
  notebook's own rules for tables and lists (JupyterLab right-aligns cells
  with ``:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td``).
* **A script scoped to the output.** The report's script (viewer.js, sections.js)
  runs with ``this`` bound to the output's element (the one its ``<script>``
  sits in) and touches nothing outside it. Its text is the same in every
  output, so a page that sets a Content-Security-Policy can allow it by one
  hash (:func:`script_source`).
* **A static fallback.** JupyterLab strips scripts from untrusted notebooks,
  and GitHub runs none: without the script the diagram shows at its natural
  size in a scrollable box (the zoom buttons stay hidden) and the table is
  plain HTML.
* **A bounded size.** Jupyter drops outputs that exceed its data rate
  (``iopub_data_rate_limit``, 1 MB/s over 3 s), so no output passes
  :data:`INLINE_LIMIT` bytes. A model whose output would (NASNet-sized; a
  Llama-3-8B-shaped backbone's is 0.94 MB) shows its totals and its block
  overview, says how to get the full report, and carries its full diagram
  and table packed as report.html does (html_report.pack), for the script to
  unpack where it runs. Past the limit even packed, the overview alone; past
  it still, the totals alone.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from archreport import units
from archreport.data import DiagramInfo, LayerRow, ModelReport, RepeatedBlock

SCOPE = "archreport-nb"  # the class of a notebook output's element (its styles are scoped by its id)
# Bytes of HTML an output may hold (DenseNet121 fits, NASNetMobile does not). Jupyter drops an output
# of about 3 MB; the notebook file keeps every output too.
INLINE_LIMIT = 1_500_000


def new_uid() -> str:
    """A fresh id prefix for one output: a letter first, so it is a valid CSS identifier."""
    return "ar" + secrets.token_hex(5)


# -- renaming ids ---------------------------------------------------------------------
def _renamed(anchor: str | None, slug: str, uid: str) -> str | None:
    if anchor is None or not anchor.startswith(slug + "-"):
        return anchor
    return uid + anchor[len(slug) :]


def _svg_ids(slug: str) -> re.Pattern[str]:
    """Graphviz writes ``-`` in ids as ``&#45;``; node links are ``#<row anchor>`` as written."""
    escaped = "(?:-|&#45;)".join(re.escape(part) for part in slug.split("-"))
    return re.compile(rf'(\bid="(?:a_)?|\bhref="#){escaped}(?=-|&#45;)')


def rename(model: ModelReport, files: dict[str, bytes], uid: str) -> tuple[ModelReport, dict[str, bytes]]:
    """``model`` and its files with every id and anchor moved from its slug to ``uid``."""
    slug = model.slug

    def row(r: LayerRow) -> LayerRow:
        return replace(r, anchor=_renamed(r.anchor, slug, uid) or "")

    def block(b: RepeatedBlock) -> RepeatedBlock:
        nodes = [replace(n, anchor=_renamed(n.anchor, slug, uid)) for n in b.nodes]
        return replace(b, anchor=_renamed(b.anchor, slug, uid) or "", nodes=nodes)

    def diagram(d: DiagramInfo | None) -> DiagramInfo | None:
        if d is None:
            return None
        moved = {fmt: path.replace(f"models/{slug}/", f"models/{uid}/", 1) for fmt, path in d.files.items()}
        return replace(d, files=moved)

    ids = _svg_ids(slug)
    renamed_files = {
        name: ids.sub(rf"\g<1>{uid}", data.decode("utf-8")).encode("utf-8") if name.endswith(".svg") else data
        for name, data in files.items()
    }
    renamed = replace(
        model,
        slug=uid,
        layers=[row(r) for r in model.layers],
        repeated_blocks=[block(b) for b in model.repeated_blocks],
        expectations=[replace(e, anchor=_renamed(e.anchor, slug, uid)) for e in model.expectations],
        diagram=diagram(model.diagram),
        overview=diagram(model.overview),
    )
    return renamed, renamed_files


def write_files(report_dir: Path, slug: str, files: dict[str, bytes]) -> None:
    """Lay a model's files out as in a report folder: ``models/<slug>/...``."""
    for name, data in files.items():
        path = report_dir / "models" / slug / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def without_file_links(model: ModelReport) -> ModelReport:
    """``model`` for a page with no report folder beside it: its diagram lists only the SVG (inlined).

    With :data:`NO_FILE_LINKS_CSS`, the section then shows no link to a file that is not there.
    """
    if model.diagram is None:
        return model
    files = {fmt: path for fmt, path in model.diagram.files.items() if fmt == "svg"}
    return replace(model, diagram=replace(model.diagram, files=files))


# The links to a report folder's files (diagram files, layers.csv) in a page that has no folder.
NO_FILE_LINKS_CSS = "figure.diagram figcaption a, p.exports { display: none; }"


# -- scoping the stylesheet -----------------------------------------------------------
def _split_selectors(prelude: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(prelude):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(prelude[start:i])
            start = i + 1
    parts.append(prelude[start:])
    return [p.strip() for p in parts if p.strip()]


def _scope_selector(selector: str, scope: str) -> str:
    """``:root``, ``html`` and ``body`` become the output's element; everything else goes below it."""
    for top in (":root", "html", "body"):
        if selector == top or selector.startswith(top + " "):
            return scope + selector[len(top) :]
    return f"{scope} {selector}"


def _block_end(css: str, brace: int) -> int:
    depth = 0
    for i in range(brace, len(css)):
        depth += {"{": 1, "}": -1}.get(css[i], 0)
        if depth == 0:
            return i
    raise ValueError("unbalanced braces in the stylesheet")


def scoped_css(css: str, scope: str) -> str:
    """Every rule of ``css`` limited to elements inside ``scope`` (a selector), for a page shared with others.

    ``@media`` and ``@supports`` blocks are scoped inside; other at-rules (``@keyframes``,
    ``@font-face``) pass through as they are.

    Raises:
        ValueError: the stylesheet's braces do not balance.
    """
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    out = []
    pos = 0
    while (brace := css.find("{", pos)) >= 0:
        prelude = css[pos:brace].strip()
        end = _block_end(css, brace)
        body = css[brace + 1 : end]
        if prelude.startswith(("@media", "@supports")):
            out.append(f"{prelude} {{\n{scoped_css(body, scope)}\n}}")
        elif prelude.startswith("@"):
            out.append(css[pos : end + 1].strip())
        else:
            selectors = ", ".join(_scope_selector(s, scope) for s in _split_selectors(prelude))
            out.append(f"{selectors} {{{body}}}")
        pos = end + 1
    if css[pos:].strip():
        raise ValueError(f"the stylesheet ends in an unfinished rule: {css[pos:].strip()[:60]!r}")
    return "\n".join(out)


# -- the HTML output ---------------------------------------------------------------------
def script() -> str:
    """The script of every output: the report's, run on the element its ``<script>`` sits in."""
    from archreport.render.html_report import viewer_script

    return (
        '(function () {\n"use strict";\n'
        + viewer_script(("viewer.js", "sections.js"))  # an output has no visual diff
        + '\n}).call(document.currentScript && document.currentScript.closest(".archreport-nb"));'
    )


def script_source() -> str:
    """What a page's Content-Security-Policy names in ``script-src`` to run the outputs' script."""
    from archreport.render.html_report import script_source as source

    return source(script())


def render_html(model: ModelReport, files: dict[str, bytes], *, limit: int = INLINE_LIMIT) -> str:
    """The notebook output of an analysed model, with ids of its own; a compact one past ``limit`` bytes.

    Raises:
        RenderError: the model failed (a failed model has no section).
    """
    import base64

    from archreport.render import html_report
    from archreport.render.templating import jinja_environment, template_text

    env = jinja_environment()
    uid = new_uid()
    renamed, renamed_files = rename(without_file_links(model), files, uid)
    css = scoped_css(
        "\n".join([template_text("style.css"), template_text("notebook.css"), NO_FILE_LINKS_CSS]), f"#{uid}"
    )
    with tempfile.TemporaryDirectory(prefix="archreport-nb-") as folder:
        report_dir = Path(folder)
        write_files(report_dir, uid, renamed_files)
        page = env.get_template("notebook.html.j2")
        args: dict[str, Any] = {
            "m": renamed,
            "uid": uid,
            "scope": SCOPE,
            "css": css,
            "filename": f"{model.slug}.html",
            "script": script(),
        }
        section = html_report.render_section_html(renamed, report_dir, env)
        html = str(page.render(section=section, packed=None, overview_svg=None, **args))
        full_size = len(html.encode("utf-8"))
        if full_size <= limit:
            return html
        overview = html_report.read_svg(report_dir, renamed.overview)
        packed = base64.b64encode(html_report.pack(section)).decode("ascii")
        for pack, svg in ((packed, overview), (None, overview), (None, None)):
            html = str(page.render(section=None, packed=pack, overview_svg=svg, full_size=full_size, **args))
            if len(html.encode("utf-8")) <= limit:
                break
        return html


# -- plain text -----------------------------------------------------------------------
def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_text(model: ModelReport) -> str:
    """A plain-text table in the spirit of ``model.summary()``: layers, output shapes, params, FLOPs."""
    t = model.totals
    head = (
        f'archreport: "{units.visible(model.name)}" ({model.kind}, built with {model.backend or "unknown"})'
    )
    if t is None:
        return units.visible(f"{head}\nfailed: {model.error}\n")
    rows = [
        (
            "  " * r.depth + units.visible(f"{r.name} ({r.class_name})"),
            r.output_shape if r.called else "(not called)",
            units.count(r.params),
            units.count(r.flops) if r.called else "",
        )
        for r in model.layers
    ]
    titles = ("Layer (type)", "Output shape", "Params", "FLOPs")
    widths = [min(max([len(titles[i])] + [len(row[i]) for row in rows]), 48) for i in range(4)]

    def line(cells: tuple[str, str, str, str]) -> str:
        name, shape, params, flops = (_fit(c, w) for c, w in zip(cells, widths, strict=True))
        return (
            f"{name:<{widths[0]}}  {shape:<{widths[1]}}  {params:>{widths[2]}}  {flops:>{widths[3]}}".rstrip()
        )

    rule = "─" * (sum(widths) + 6)
    flops = units.flops(t.flops, t.flops_lower_bound)
    exact = f" ({t.flops:,})" if t.flops is not None else ""
    lines = [
        head,
        rule,
        line(titles),
        rule,
        *(line(r) for r in rows),
        rule,
        f"Total params: {t.params:,} ({units.nbytes(t.param_bytes)})",
        f"Trainable params: {t.trainable_params:,}",
        f"Non-trainable params: {t.non_trainable_params:,}",
        f"FLOPs: {flops}{exact} at batch size {t.batch_size}, {units.share(t.flops_coverage)} counted exactly",
        *(
            [
                f"Active (top-k experts): {units.flops(t.active_flops, t.flops_lower_bound)}, {t.active_params:,} params"
            ]
            if t.active_flops is not None and t.active_params is not None
            else []
        ),
        *(
            [
                "Inference peak (weights + inputs + live activations): "
                + ", ".join(f"{name} {units.nbytes(v)}" for name, v in t.inference_by_precision.items())
                + f"; peak at {t.peak_layer}"
            ]
            if t.inference_by_precision
            else []
        ),
        f"Activations, all kept (training): {units.nbytes(t.activation_bytes, t.memory_lower_bound)}",
        f"Input: {', '.join(model.input_shapes) or '—'}  Output: {', '.join(model.output_shapes) or '—'}",
        *(f"Warning: {units.visible(w)}" for w in model.warnings),
    ]
    return "\n".join(lines) + "\n"


__all__ = [
    "INLINE_LIMIT", "SCOPE", "rename", "render_html", "scoped_css", "script", "script_source", "summary_text",
    "write_files",
]  # fmt: skip
