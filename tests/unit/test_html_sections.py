"""report.html from per-model fragments (issue 13): a fragment depends only on its model.

Started from the report.json fixtures (tests/unit/fixtures/), their diagrams drawn by real dot.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from archreport.data import ModelReport, Report
from archreport.errors import RenderError
from archreport.render.html_report import assemble_html, render_section_html
from archreport.render.templating import jinja_environment
from archreport.render.write import write_all
from tests.helpers import HtmlIds, check_golden
from tests.unit import reports

GOLDEN = Path(__file__).parent.parent / "golden"
GRAPHVIZ_SVG = re.compile(r'<svg\b(?![^>]*class="chart")[^>]*>.*?</svg>', re.DOTALL)  # the charts are ours


def report_of(*models: ModelReport, title: str = "HTML check") -> Report:
    data = reports.report_data("lenet")
    return Report(title=title, generated=data["generated"], versions=data["versions"], models=list(models))


def copy_model(report_dir: Path, slug: str, folder: Path) -> Path:
    """A report folder in ``folder`` holding only that model's diagrams."""
    shutil.copytree(report_dir / "models" / slug, folder / "models" / slug)
    return folder


def test_fragment_depends_only_on_the_model(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    env = jinja_environment()
    lenet = replace(models["lenet"], description="LeNet for MNIST")
    fragment = render_section_html(lenet, report_dir, env)
    assert '<figure class="diagram" id="lenet-diagram">' in fragment and "<svg" in fragment
    assert 'id="lenet-r0"' in fragment and "Total (11 layers)" in fragment
    renamed = replace(lenet, name="Renamed", description="another text", warnings=["w"], expectations=[])
    assert render_section_html(renamed, report_dir, env) == fragment
    moved = copy_model(report_dir, "lenet", tmp_path / "elsewhere")
    assert render_section_html(lenet, moved, env) == fragment
    for absent in ("LeNet for MNIST", "HTML check", "<h2"):
        assert absent not in fragment, absent


def test_report_is_assembled_from_fragments(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    env = jinja_environment()
    # The manifest declared no expectation (the fixture's failed one is the next test's).
    lenet = replace(models["lenet"], description="LeNet for MNIST", expectations=[])
    report = report_of(lenet, models["broken"])
    fragments = {m.slug: render_section_html(m, report_dir, env) for m in report.models if m.ok}
    css = "#lenet-r3 { outline: 2px solid red; }"
    html = assemble_html(report, fragments, env, extra_css=css)
    # What is written to report.html is the same assembly, without extra CSS.
    out = copy_model(report_dir, "lenet", tmp_path / "out")
    write_all(report, out, ("html",), timings=False)
    assert assemble_html(report, fragments, env) == (out / "report.html").read_text(encoding="utf-8")
    assert fragments["lenet"] in html and "LeNet for MNIST" in html
    assert "This model failed:</b> ValueError: broken on purpose" in html
    style = html[html.index("<style>") : html.index("</style>")]
    assert css in style  # the hook for marking rows and nodes, inside the report's own <style>
    with pytest.raises(RenderError, match="no HTML section was rendered for LeNet"):
        assemble_html(report, {}, env)
    with pytest.raises(RenderError, match="extra CSS for the HTML report must not contain '</'"):
        assemble_html(report, fragments, env, extra_css="</style><script>alert(1)</script>")
    with pytest.raises(RenderError, match="'Broken' failed; a failed model has no HTML section"):
        render_section_html(models["broken"], report_dir, env)


def test_a_failed_layer_expectation_marks_its_row_and_node(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    """The fixture's LeNet expects max_pooling2d_1 at the tutorial's (None, 14, 14, 50): it is (None, 7, 7, 50)."""
    lenet = models["lenet"]
    [failed] = [e for e in lenet.expectations if not e.ok]
    row = next(r for r in lenet.layers if r.name == "max_pooling2d_1")
    assert (failed.layer, failed.anchor, row.output_shape) == (
        "max_pooling2d_1",
        row.anchor,
        "(None, 7, 7, 50)",
    )
    out = copy_model(report_dir, "lenet", tmp_path / "out")
    write_all(report_of(lenet), out, ("html",), timings=False)
    html = (out / "report.html").read_text(encoding="utf-8")
    style = html[html.index("<style>") : html.index("</style>")]
    assert f"table.layers tr#{row.anchor} td" in style and f'svg a[*|href="#{row.anchor}"]' in style
    marked = [r.anchor for r in lenet.layers if f"#{r.anchor} " in style or f'"#{r.anchor}"' in style]
    assert marked == [row.anchor]  # the held expectations mark nothing


def check_fragment(fragment: str, model: ModelReport) -> None:
    """What a fragment must hold, whatever its markup: each id once, every row by its anchor and
    name, links only to its own ids, and the model's total."""
    assert model.totals is not None
    found = HtmlIds(fragment)
    assert len(found.ids) == len(set(found.ids)), "an id is used twice"
    ids = set(found.ids)
    for row in model.layers:
        assert row.anchor in ids, row.path
        assert row.name in found.texts, row.path
    assert found.links <= ids, found.links - ids
    assert f"{model.totals.params:,}" in fragment


def test_lenet_fragment_golden(models: dict[str, ModelReport], report_dir: Path, update_golden: bool) -> None:
    lenet = models["lenet"]
    fragment = render_section_html(lenet, report_dir, jinja_environment())
    # The inline SVG is Graphviz's drawing, not ours (tests/test_diagram.py checks the DOT it is drawn from).
    ours = GRAPHVIZ_SVG.sub("<svg><!-- Graphviz's drawing --></svg>", fragment)
    check_golden(GOLDEN / "lenet_section.html", ours, update_golden)
    # Beside the golden file, what makes it right.
    check_fragment(fragment, lenet)
    assert HtmlIds(fragment).links >= {
        r.anchor for r in lenet.layers
    }  # every row has its node in the diagram


@pytest.mark.parametrize("slug", ["transformer", "stacked-blocks", "tricky"])
def test_every_fixture_fragment_is_whole(models: dict[str, ModelReport], report_dir: Path, slug: str) -> None:
    check_fragment(render_section_html(models[slug], report_dir, jinja_environment()), models[slug])
