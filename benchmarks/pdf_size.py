"""report.pdf assembled from per-model sections against a single-pass render of the same report.

Issue 13 allows the assembled PDF at most 1.2x the size of a single-pass render.
The single pass here lays out the front matter and every section body in one
WeasyPrint document (so each font is embedded once by WeasyPrint itself) and
adds every diagram's tile pages to it in one go; it has no running headers or
page numbers, so it is a little smaller than a real single-pass report and the
ratio errs high.

    PYTHONPATH=. python benchmarks/pdf_size.py REPORT_DIR   # a folder archreport wrote (A4)
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from archreport.data import ModelReport, Report
from archreport.diagram import pdfsave
from archreport.render import charts, templating
from archreport.render.pdf import assembly, section
from archreport.render.pdf.weasy import layout


def load(folder: Path) -> Report:
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    models = [
        ModelReport.from_dict({"cached": False, "details": "", "timings": {}, **m}) for m in data["models"]
    ]
    return Report(data["title"], data["generated"], data["versions"], models, changes=data["changes"])


def single_pass(report: Report, folder: Path, env: Any) -> bytes:
    """The report laid out as one WeasyPrint document, with every diagram tile page added to it."""
    front = env.get_template("print.html.j2").render(
        report=report,
        models=report.models,
        comparison_charts=charts.comparison([m for m in report.models if m.ok]),
        page_size="A4",
        skips=defaultdict(int),
    )
    front = front[: front.index('<div class="stamp">')] + "</body></html>"
    drawings = []
    for m in report.models:
        if not m.ok:
            continue
        html = env.get_template("print_section.html.j2").render(
            diagram_note=section.failure_note(m), charts=charts.top_layers(m),
            table=section.print_table(m), page_size="A4",
        )  # fmt: skip
        body = html[html.index("<body>") + 6 : html.index("</body>")]
        at = front.index("</section>", front.index(f'id="model-{m.slug}"')) + len("</section>")
        front = front[:at] + body + front[at:]
        drawings += section._drawings(m, folder, "A4")
    pdf = pdfsave.open_pdf(layout(front, folder).write_pdf())
    with contextlib.ExitStack() as sources:
        # One call for every model's tiles: their caption fonts are embedded once, as in one pass.
        section.add_tile_pages(pdf, drawings, folder, sources)
        return pdfsave.save_pdf(pdf, final=True)


def main(folder: Path) -> None:
    report, env = load(folder), templating.jinja_environment()
    start = time.perf_counter()
    single = single_pass(report, folder, env)
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    sections = {
        m.slug: section.render_section_pdf(m, folder, page_size="A4", env=env) for m in report.models if m.ok
    }
    middle = time.perf_counter()
    assembled = assembly.assemble_pdf(report, sections, env, report_dir=folder)
    end = time.perf_counter()
    print(f"single pass: {len(single) / 1e3:.0f} kB in {single_s:.2f} s")
    print(
        f"assembled:   {len(assembled) / 1e3:.0f} kB (sections {middle - start:.2f} s, assembly {end - middle:.2f} s)"
    )
    print(f"ratio:       {len(assembled) / len(single):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
