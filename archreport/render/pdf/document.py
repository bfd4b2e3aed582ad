"""The PDF report: one section per model (section.py), assembled into report.pdf (assembly.py).

A section holds what depends only on the analysed model and its diagram
files, so it can be rendered in a worker process and cached (issue 13); the
parent adds everything that can change while the model does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from archreport.data import Report
from archreport.render.pdf import objects, section
from archreport.render.pdf.assembly import assemble_pdf
from archreport.render.pdf.section import render_section_pdf

if TYPE_CHECKING:
    import jinja2

__all__ = ["assemble_pdf", "pdf_report", "prepare", "render_section_pdf"]


def prepare() -> None:
    """Set up assembling report.pdf ahead of time: the parent does it while the workers build.

    WeasyPrint's imports and fonts and the page numbers' font otherwise cost the parent about
    0.3 s of CPU after the last model, when nothing else runs (issue 26).
    """
    from archreport.render.templating import jinja_environment

    section.prepare(jinja_environment(), captions=False)
    objects.number_program()


def pdf_report(report: Report, report_dir: Path, env: jinja2.Environment) -> bytes:
    """report.pdf: every ok model's section, rendered here one after another, then assembled."""
    sections = {
        m.slug: render_section_pdf(m, report_dir, page_size=report.page_size, env=env)
        for m in report.models
        if m.ok
    }
    return assemble_pdf(report, sections, env, report_dir=report_dir)
