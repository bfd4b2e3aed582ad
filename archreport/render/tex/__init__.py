"""The LaTeX kit (issue 29): tex/ in the report folder, for papers and reviews.

- summary.tex: one booktabs table of every model (tables.py);
- <slug>-layers.tex: each model's layer table, a longtable (tables.py);
- numbers.tex: a macro per headline number, which ``check-numbers`` keeps true (numbers.py);
- <slug>-figure.pdf: each model's drawing at a column width (figure.py).

Text is escaped for LaTeX in escape.py, and everything is made from the report's plain data
and diagram files, in the parent, after the models are analysed.
"""

from __future__ import annotations

from pathlib import Path

from archreport.data import Report
from archreport.manifest.schema import TexTable
from archreport.render.tex.figure import figure_pdf
from archreport.render.tex.numbers import numbers_tex
from archreport.render.tex.tables import layers_tex, summary_tex
from archreport.store.outputs import atomic_write

FOLDER = "tex"


def write_tex(report: Report, out: Path, options: TexTable) -> None:
    """Write the kit into ``out``/tex/.

    Raises:
        OSError: a file could not be read or written.
    """
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "summary.tex", summary_tex(report))
    atomic_write(folder / "numbers.tex", numbers_tex(report.models, report.versions.get("archreport", "")))
    for model in report.models:
        if not model.ok:
            continue
        atomic_write(
            folder / f"{model.slug}-layers.tex", layers_tex(model, nested=options.layers == "nested")
        )
        figure = figure_pdf(model, out, options)
        if figure is not None:
            atomic_write(folder / f"{model.slug}-figure.pdf", figure)
