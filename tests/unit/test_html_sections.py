"""report.html from per-model fragments (issue 13): a fragment depends only on its model. Each is stored
packed (issue 27), under a CSP that runs only the page's own script (issue 25).

Started from the report.json fixtures (tests/unit/fixtures/), their diagrams drawn by real dot.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from archreport.data import ModelReport, Report
from archreport.errors import RenderError
from archreport.render.exports import report_dict
from archreport.render.html_report import assemble_html, pack, render_section_html
from archreport.render.templating import jinja_environment
from archreport.render.write import write_all
from tests.helpers import PACKED, HtmlIds, check_golden, read_report_html, unpack, unpacked_html
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


def test_report_is_assembled_from_packed_fragments(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    env = jinja_environment()
    # The manifest declared no expectation (the fixture's failed one is the next test's).
    lenet = replace(models["lenet"], description="LeNet for MNIST", expectations=[])
    report = report_of(lenet, models["broken"])
    fragments = {m.slug: render_section_html(m, report_dir, env) for m in report.models if m.ok}
    packed = {slug: pack(fragment) for slug, fragment in fragments.items()}
    css = "#lenet-r3 { outline: 2px solid red; }"
    html = assemble_html(report, packed, env, extra_css=css)
    # What is written to report.html is the same assembly, without extra CSS.
    out = copy_model(report_dir, "lenet", tmp_path / "out")
    write_all(report, out, ("html",), timings=False)
    assert assemble_html(report, packed, env) == (out / "report.html").read_text(encoding="utf-8")
    assert fragments["lenet"] in unpacked_html(html) and "LeNet for MNIST" in html
    assert "This model failed:</b> ValueError: broken on purpose" in html
    style = html[html.index("<style>") : html.index("</style>")]
    assert css in style  # the hook for marking rows and nodes, inside the report's own <style>
    with pytest.raises(RenderError, match="no HTML section was rendered for LeNet"):
        assemble_html(report, {}, env)
    with pytest.raises(RenderError, match="extra CSS for the HTML report must not contain '</'"):
        assemble_html(report, packed, env, extra_css="</style><script>alert(1)</script>")
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
    html = read_report_html(out / "report.html")
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


# -- packed sections, the CSP, the search index (issue 27) ----------------------------------------
@pytest.fixture(scope="module")
def written(
    models: dict[str, ModelReport], report_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Report, Path]:
    """An HTML-only report of LeNet, a failed model and the transformer, as write_all writes it."""
    out = tmp_path_factory.mktemp("packed")
    for slug in ("lenet", "transformer"):
        copy_model(report_dir, slug, out)
    report = report_of(
        replace(models["lenet"], description="LeNet for MNIST"), models["broken"], models["transformer"]
    )
    write_all(report, out, ("html",), timings=False)
    return report, out


def test_every_section_is_packed_in_its_place(written: tuple[Report, Path]) -> None:
    report, out = written
    env = jinja_environment()
    page = (out / "report.html").read_text(encoding="utf-8")
    # Nothing of a section is in the page as markup: no diagram, no table row; the header and totals are.
    assert "<svg" not in page.split("<main>")[1].split('<section class="model"')[1]
    assert 'id="lenet-r0"' not in page and 'class="layers"' not in page
    assert "1,256,080" in page and "LeNet for MNIST" in page
    packs = re.findall(
        r'<div class="section-body packed" data-slug="([\w-]+)"[^>]*>\s*'
        r'<script type="application/octet-stream" class="pack">([A-Za-z0-9+/=]+)</script>',
        page,
    )
    # In model order, and none for the failed model.
    assert [slug for slug, _ in packs] == ["lenet", "transformer"]
    for slug, text in packs:
        model = next(m for m in report.models if m.slug == slug)
        assert unpack(text) == render_section_html(model, out, env)
        section = page[page.index(f'id="model-{slug}"') :]
        assert section.index(text) < section.index("</section>"), "a model's pack sits in its own section"
    # A pack is the same bytes for the same text (gzip's time stamp is zero): reports stay reproducible.
    assert pack("<p>x</p>") == pack("<p>x</p>")
    assert base64.b64decode(packs[0][1])[4:8] == b"\0\0\0\0"
    # A packed section holds a few times its size; unpacked, the page holds every fragment.
    assert all(len(text) < len(unpack(text)) / 2 for _, text in packs)
    shown = read_report_html(out / "report.html")
    assert all(render_section_html(m, out, env) in shown for m in report.models if m.ok)


def test_the_csp_runs_the_pages_script_and_nothing_else(written: tuple[Report, Path]) -> None:
    _, out = written
    page = (out / "report.html").read_text(encoding="utf-8")
    (csp,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    policy = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert policy["default-src"] == ["'none'"]
    assert policy["base-uri"] == policy["form-action"] == ["'none'"]
    (source,) = policy["script-src"]  # one hash: no 'unsafe-inline', no 'unsafe-eval', no 'strict-dynamic'
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    runnable = [body for attributes, body in scripts if "type=" not in attributes]
    assert len(runnable) == 1
    digest = base64.b64encode(hashlib.sha256(runnable[0].encode("utf-8")).digest()).decode("ascii")
    assert source == f"'sha256-{digest}'"
    assert {a for a, _ in scripts if "type=" in a} == {
        ' type="application/octet-stream" class="pack"',
        ' type="application/octet-stream" class="search-index"',
    }  # data no browser runs
    assert re.search(r"\son\w+=", page) is None, "no inline handler anywhere"


def test_the_search_index_holds_every_layer(written: tuple[Report, Path]) -> None:
    report, out = written
    page = (out / "report.html").read_text(encoding="utf-8")
    (index,) = [text for kind, text in PACKED.findall(page) if kind == "search-index"]
    data = report_dict(report)  # report.json's models, read independently of the index's code
    expected = [
        {
            "slug": m["slug"],
            "name": m["name"],
            "rows": [
                [
                    r["anchor"],
                    r["name"],
                    r["class_name"],
                    ", ".join(r["input_shapes"]),
                    r["output_shape"] if r["called"] else "",
                ]
                for r in m["layers"]
            ],
        }
        for m in data["models"]
        if m["status"] == "ok"
    ]
    assert json.loads(unpack(index)) == expected
    assert len(expected[0]["rows"]) == 11 and expected[0]["rows"][5][1:] == [
        "max_pooling2d_1", "MaxPooling2D", "(None, 14, 14, 50)", "(None, 7, 7, 50)",
    ]  # fmt: skip
    assert [len(m["rows"]) for m in expected] == [len(m.layers) for m in report.models if m.ok]


def test_without_javascript_the_page_says_where_the_pdf_is(written: tuple[Report, Path]) -> None:
    report, out = written
    env = jinja_environment()
    packed = {m.slug: pack(render_section_html(m, out, env)) for m in report.models if m.ok}
    with_pdf = assemble_html(report, packed, env, pdf="report.pdf")
    notes = re.findall(r"<noscript>(.*?)</noscript>", with_pdf, flags=re.S)
    assert len(notes) == 3  # the page's, and each ok model's
    assert all('<a href="report.pdf">report.pdf</a>, beside this page, holds' in n for n in notes)
    assert "the report to print" in notes[0]
    # An HTML-only report has no PDF beside it: the note says how to get one.
    page = (out / "report.html").read_text(encoding="utf-8")
    without = re.findall(r"<noscript>(.*?)</noscript>", page, flags=re.S)
    assert len(without) == 3 and all("report.pdf (the command's --format pdf" in n for n in without)
    assert 'href="report.pdf"' not in page
