"""The unit tier's fixtures: report.json files of real models (tests/unit/fixtures/, written by make.py).

Each fixture folder holds one report's ``report.json`` and the DOT sources of its model's
diagrams. :func:`model` gives the model as plain data; :func:`lay_out` also draws its diagrams
with real ``dot`` into a report folder, where the HTML and PDF sections read them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from archreport.checks import expect
from archreport.data import DiagramInfo, ModelReport, Report
from archreport.diagram.dot import DiagramOptions
from archreport.diagram.layout import layout
from archreport.manifest.schema import Expect
from archreport.render.write import write_all

FIXTURES = Path(__file__).parent / "fixtures"
# LeNet (the tutorial's), a 32-layer Llama, three residual blocks nested in a layer (with a
# sub-layer never called), a model whose names need escaping, and a model whose builder failed.
SLUGS = ("lenet", "transformer", "stacked-blocks", "tricky", "broken")


def report_data(slug: str) -> dict[str, Any]:
    """The fixture's report.json as the pipeline wrote it."""
    data: dict[str, Any] = json.loads((FIXTURES / slug / "report.json").read_text(encoding="utf-8"))
    return data


def model(slug: str) -> ModelReport:
    """The fixture's model as plain data (its diagram files are not laid out)."""
    return ModelReport.from_dict(report_data(slug)["models"][0])


def lay_out(report_dir: Path) -> dict[str, ModelReport]:
    """Every fixture's model, its diagrams drawn by real ``dot`` into ``report_dir`` (a report folder).

    The sizes in each model's diagram record are the ones this Graphviz measured, as the
    pipeline would have recorded them here.
    """
    out = {}
    for slug in SLUGS:
        m = model(slug)
        out[slug] = replace(
            m, diagram=_draw(slug, m.diagram, report_dir), overview=_draw(slug, m.overview, report_dir)
        )
    return out


def _draw(slug: str, info: DiagramInfo | None, report_dir: Path) -> DiagramInfo | None:
    if info is None or "svg" not in info.files or info.mode is None:
        return info
    where = Path(info.files["svg"]).parent  # models/<slug> or models/<slug>/overview
    source = (FIXTURES / slug / where / "diagram.dot").read_text(encoding="utf-8")
    drawn = layout(
        source, report_dir / where, formats=tuple(info.files), options=DiagramOptions(splines=info.mode)
    )
    assert drawn.mode == info.mode, drawn.attempts
    return replace(info, width_pt=drawn.width_pt, height_pt=drawn.height_pt)


def pdf_report(models: dict[str, ModelReport], out: Path) -> Report:
    """The report of LeNet (declaring 1 parameter), a failed model and blocks nested in a layer,
    written to ``out`` in PDF; ``out`` holds the models' diagrams (:func:`lay_out`)."""
    lenet = replace(models["lenet"], description="LeNet for MNIST")
    lenet = replace(lenet, expectations=expect.check(lenet, Expect(params=1)))
    data = report_data("lenet")
    report = Report(
        title="PDF check", generated=data["generated"], versions=data["versions"],
        models=[lenet, models["broken"], models["stacked-blocks"]],
    )  # fmt: skip
    write_all(report, out, ("pdf",), timings=False)
    return report
