"""report.html from per-model fragments (issue 13), each stored packed (issue 27), under a CSP that runs
only the page's own script (issue 25)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from archreport import generate
from archreport.data import Report
from archreport.errors import RenderError
from archreport.render.html_report import assemble_html, pack, render_section_html
from archreport.render.templating import jinja_environment
from tests.helpers import (
    PACKED,
    copy_example_builders,
    read_report_html,
    unpack,
    unpacked_html,
    write_manifest,
)

MANIFEST = """
[report]
title = "HTML check"

[[model]]
name = "LeNet"
builder = "lenet:LeNet.build"
args = [28, 28, 1, 10]
description = "LeNet for MNIST"

[[model]]
name = "Broken"
builder = "broken:build"

[[model]]
name = "Residual block"
builder = "blocks:residual_block"
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    folder = tmp_path_factory.mktemp("html")
    copy_example_builders(folder)
    (folder / "broken.py").write_text("def build():\n    raise ValueError('broken on purpose')\n")
    write_manifest(folder, MANIFEST)
    report = generate(folder / "manifest.toml", folder / "out", use_cache=False, formats=["html"])
    return report, folder / "out"


def test_fragment_depends_only_on_the_model(built: tuple[Report, Path], tmp_path: Path) -> None:
    report, out = built
    env = jinja_environment()
    lenet = next(m for m in report.models if m.ok)
    fragment = render_section_html(lenet, out, env)
    assert '<figure class="diagram" id="lenet-diagram">' in fragment and "<svg" in fragment
    assert 'id="lenet-r0"' in fragment and "Total (11 layers)" in fragment
    renamed = replace(lenet, name="Renamed", description="another text", warnings=["w"], expectations=[])
    assert render_section_html(renamed, out, env) == fragment
    moved = shutil.copytree(out, tmp_path / "elsewhere")
    assert render_section_html(lenet, moved, env) == fragment
    for absent in ("LeNet for MNIST", "HTML check", "<h2"):
        assert absent not in fragment, absent


def test_report_is_assembled_from_packed_fragments(built: tuple[Report, Path]) -> None:
    report, out = built
    env = jinja_environment()
    fragments = {m.slug: render_section_html(m, out, env) for m in report.models if m.ok}
    packed = {slug: pack(fragment) for slug, fragment in fragments.items()}
    css = "#lenet-r3 { outline: 2px solid red; }"
    html = assemble_html(report, packed, env, extra_css=css)
    # What is written to report.html is the same assembly, without extra CSS.
    assert assemble_html(report, packed, env) == (out / "report.html").read_text(encoding="utf-8")
    shown = unpacked_html(html)
    assert fragments["lenet"] in shown and "LeNet for MNIST" in html
    assert "This model failed:</b> ValueError: broken on purpose" in html
    style = html[html.index("<style>") : html.index("</style>")]
    assert css in style  # the hook for marking rows and nodes, inside the report's own <style>
    with pytest.raises(RenderError, match="no HTML section was rendered for LeNet, Residual block"):
        assemble_html(report, {}, env)
    with pytest.raises(RenderError, match="extra CSS for the HTML report must not contain '</'"):
        assemble_html(report, packed, env, extra_css="</style><script>alert(1)</script>")
    broken = next(m for m in report.models if not m.ok)
    with pytest.raises(RenderError, match="'Broken' failed; a failed model has no HTML section"):
        render_section_html(broken, out, env)


def test_every_section_is_packed_in_its_place(built: tuple[Report, Path]) -> None:
    report, out = built
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
    assert [slug for slug, _ in packs] == ["lenet", "residual-block"]
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


def test_the_csp_runs_the_pages_script_and_nothing_else(built: tuple[Report, Path]) -> None:
    _, out = built
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


def test_the_search_index_holds_every_layer(built: tuple[Report, Path]) -> None:
    _, out = built
    page = (out / "report.html").read_text(encoding="utf-8")
    (index,) = [text for kind, text in PACKED.findall(page) if kind == "search-index"]
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    expected = [
        {
            "slug": m["slug"],
            "name": m["name"],
            "rows": [
                [r["anchor"], r["name"], r["class_name"], ", ".join(r["input_shapes"]), r["output_shape"]]
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


def test_without_javascript_the_page_says_where_the_pdf_is(built: tuple[Report, Path]) -> None:
    report, out = built
    env = jinja_environment()
    packed = {m.slug: pack(render_section_html(m, out, env)) for m in report.models if m.ok}
    with_pdf = assemble_html(report, packed, env, pdf="report.pdf")
    notes = re.findall(r"<noscript>(.*?)</noscript>", with_pdf, flags=re.S)
    assert len(notes) == 3  # the page's, and each ok model's
    assert all('<a href="report.pdf">report.pdf</a>, beside this page, holds' in n for n in notes)
    assert "the report to print" in notes[0]
    # An HTML-only report has no PDF beside it: the note says how to get one.
    without = re.findall(r"<noscript>(.*?)</noscript>", (out / "report.html").read_text(encoding="utf-8"))
    assert without and all("report.pdf (the command's --format pdf" in n for n in without)
    assert 'href="report.pdf"' not in (out / "report.html").read_text(encoding="utf-8")
