"""WeasyPrint, fenced in: it lays out our HTML and may read only the report's own files."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from archreport.environment import import_weasyprint
from archreport.errors import RenderError
from archreport.render.templating import template_text


def fetcher(report_dir: Path) -> Any:
    """A URL fetcher that serves only the report's own files and refuses everything else."""
    weasyprint = import_weasyprint()

    root = report_dir.resolve()

    def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        parsed = urlparse(url)
        if parsed.scheme == "data":
            return weasyprint.default_url_fetcher(url, *args, **kwargs)
        if parsed.scheme != "file":
            raise RenderError(
                f"the PDF renderer refused to fetch {url!r}: only the report's own files are allowed."
            )
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(root):
            raise RenderError(
                f"the PDF renderer refused to read {path}: it is outside the report folder {root}."
            )
        if not path.is_file():
            raise RenderError(f"the PDF report needs {path}, which is missing.")
        return {"string": path.read_bytes(), "mime_type": None, "redirected_url": url}

    return fetch


@functools.cache
def _fonts() -> Any:
    """This process's one WeasyPrint font configuration, shared by every layout.

    Pango keeps the fonts it has loaded, and what it measured of them, in the font map of a
    configuration: a fresh one per layout loaded DejaVu Sans again for every model's section
    (issue 26). Sharing it changes no byte of the PDFs: the fonts are the same files.
    """
    import_weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@functools.cache
def _print_css() -> Any:
    """print.css, parsed once per process and given to every layout.

    Inlined in each page's HTML, it was parsed again for every model's section, about 15 ms
    each (issue 26). Given to ``render()``, it is a user stylesheet: above WeasyPrint's own
    and below the page's ``<style>``, which holds only what changes per document (the page
    size, the model headers' page counters) and never the properties print.css sets.
    """
    weasyprint = import_weasyprint()
    return weasyprint.CSS(string=template_text("print.css"), font_config=_fonts())


def layout(html: str, report_dir: Path) -> Any:
    """Lay out ``html`` with WeasyPrint and print.css; it may read only files under ``report_dir``."""
    weasyprint = import_weasyprint()

    return weasyprint.HTML(
        string=html, base_url=report_dir.resolve().as_uri() + "/", url_fetcher=fetcher(report_dir)
    ).render(font_config=_fonts(), stylesheets=[_print_css()])
