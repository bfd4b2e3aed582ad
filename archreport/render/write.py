"""Write the report's files: report.json, report.md, per-model layers.csv / layers.md, report.html, report.pdf, tex/.

Each model's HTML fragment and PDF section depends only on that model
(html_report.py, pdf/section.py); the report-level documents are assembled from them
(html_report.assemble_html, pdf/assembly.assemble_pdf). Here they run one after
another in the parent. Templates receive only the plain data model (data.py),
never Keras objects.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from archreport import stopping
from archreport.data import SECTION_FILES, SECTIONS, ModelReport, Report
from archreport.errors import RenderError
from archreport.render import review
from archreport.render.exports import indented_json, layers_csv, layers_md, report_dict, report_json
from archreport.render.markdown import report_md
from archreport.render.templating import jinja_environment
from archreport.store.outputs import atomic_write

if TYPE_CHECKING:
    import jinja2

    from archreport.manifest.schema import TexTable
    from archreport.store.cache import Cache

__all__ = ["atomic_write", "report_dict", "report_json", "write_all"]


def failed_layer_css(report: Report) -> str:
    """CSS marking each layer whose declared expectation failed, in its table row and its diagram node."""
    anchors = sorted({e.anchor for m in report.models for e in m.expectations if e.anchor and not e.ok})
    rules = []
    for anchor in anchors:
        if not re.fullmatch(
            r"[A-Za-z0-9_-]+", anchor
        ):  # anchors are slug-r<index>; anything else is not ours
            continue
        rules.append(f"table.layers tr#{anchor} td {{ background: #fde7e9; }}")
        rules.append(
            f'svg a[*|href="#{anchor}"] polygon, svg a[*|href="#{anchor}"] path '
            "{ stroke: #b42318; stroke-width: 3px; }"
        )
    return "\n".join(rules)


def _section(model: ModelReport, out: Path, fmt: str, report: Report, env: jinja2.Environment) -> bytes:
    """A model's packed HTML fragment or PDF section: the one its worker rendered (or the cache kept), else
    rendered here."""
    path = out / "models" / model.slug / SECTIONS / SECTION_FILES[fmt]
    if path.is_file():
        return path.read_bytes()
    if fmt == "html":
        from archreport.render import html_report

        return html_report.pack(html_report.render_section_html(model, out, env))
    from archreport.render.pdf import document

    return document.render_section_pdf(
        model, out, page_size=report.page_size, env=env, profile=report.pdf_profile
    )


def _write_tex(report: Report, out: Path, options: TexTable | None) -> None:
    """tex/: the LaTeX kit (render/tex/)."""
    from archreport.manifest.schema import TexTable
    from archreport.render.tex import write_tex

    try:
        write_tex(report, out, options or TexTable())
    except (RenderError, OSError):
        raise
    except Exception as exc:  # pikepdf on a damaged diagram file, say
        raise RenderError(f"the LaTeX kit (tex/) could not be written: {type(exc).__name__}: {exc}") from exc


def write_all(
    report: Report,
    out: Path,
    formats: tuple[str, ...],
    *,
    timings: bool = True,
    progress: Callable[..., None] | None = None,
    cache: Cache | None = None,
    tex: TexTable | None = None,
) -> None:
    """Write every output of the report into ``out`` (a staging folder).

    ``cache`` keeps the assembled PDF between runs (a re-run that changed nothing only stamps
    its time); None lays it out every time. ``tex``: the LaTeX kit's options, when formats
    has "tex" (default: [report.tex]'s defaults).

    Raises:
        RenderError: a template or WeasyPrint failed; nothing in ``out`` is final yet.
        OSError: a file in ``out`` could not be read or written (disk full, permissions); run this
            inside ``outputs.writing``, which turns it into an OutputError.
    """
    for model in report.models:
        model_dir = out / "models" / model.slug
        model_dir.mkdir(parents=True, exist_ok=True)
        if model.ok:
            atomic_write(model_dir / "layers.csv", layers_csv(model))
            atomic_write(model_dir / "layers.md", layers_md(model))
    env = jinja_environment()  # the process's one environment: templates compiled ahead are reused
    drawings = review.draw(report, out, formats)  # the visual diff: both sides of each changed model
    for fmt in ("html", "pdf"):
        if fmt not in formats:
            continue
        stopping.checkpoint()
        if progress:
            progress("", None, fmt)
        start = time.perf_counter()
        try:
            parts = {m.slug: _section(m, out, fmt, report, env) for m in report.models if m.ok}
            if fmt == "html":
                from archreport.render import html_report

                pdf = "report.pdf" if "pdf" in formats else None
                data: bytes | str = html_report.assemble_html(
                    report,
                    parts,
                    env,
                    extra_css=failed_layer_css(report),
                    pdf=pdf,
                    diffs=review.svgs(drawings, out),
                )
            else:
                from archreport.render.pdf import document

                data = document.assemble_pdf(report, parts, env, report_dir=out, cache=cache, diffs=drawings)
        except (RenderError, OSError):
            # An OSError here is the file system's (a section or diagram in the staging folder
            # that cannot be read, a full disk), not the report's: the caller's outputs.writing
            # makes it an OutputError (exit 3) and keeps the previous report.
            raise
        except Exception as exc:
            raise RenderError(
                f"the {fmt.upper()} report could not be rendered: {type(exc).__name__}: {exc}"
            ) from exc
        atomic_write(out / f"report.{fmt}", data)
        report.timings[f"render_{fmt}"] = time.perf_counter() - start
    if "tex" in formats:
        stopping.checkpoint()
        if progress:
            progress("", None, "tex")
        start = time.perf_counter()
        _write_tex(report, out, tex)
        report.timings["render_tex"] = time.perf_counter() - start
    for model in report.models:  # sections are parts of the report, not files of it
        shutil.rmtree(out / "models" / model.slug / SECTIONS, ignore_errors=True)
    written = report_dict(report, timings=timings)
    atomic_write(out / "report.json", indented_json(written) + "\n")
    atomic_write(out / "report.md", report_md(written))
