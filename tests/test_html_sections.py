"""report.html from per-model fragments (issue 13): a fragment depends only on its model."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from archreport import generate
from archreport.data import Report
from archreport.errors import RenderError
from archreport.render.html_report import assemble_html, render_section_html
from archreport.render.templating import jinja_environment
from tests.helpers import copy_example_builders, write_manifest

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


def test_report_is_assembled_from_fragments(built: tuple[Report, Path]) -> None:
    report, out = built
    env = jinja_environment()
    fragments = {m.slug: render_section_html(m, out, env) for m in report.models if m.ok}
    css = "#lenet-r3 { outline: 2px solid red; }"
    html = assemble_html(report, fragments, env, extra_css=css)
    # What is written to report.html is the same assembly, without extra CSS.
    assert assemble_html(report, fragments, env) == (out / "report.html").read_text(encoding="utf-8")
    assert fragments["lenet"] in html and "LeNet for MNIST" in html
    assert "This model failed:</b> ValueError: broken on purpose" in html
    style = html[html.index("<style>") : html.index("</style>")]
    assert css in style  # the hook for marking rows and nodes, inside the report's own <style>
    with pytest.raises(RenderError, match="no HTML section was rendered for LeNet"):
        assemble_html(report, {}, env)
    with pytest.raises(RenderError, match="extra CSS for the HTML report must not contain '</'"):
        assemble_html(report, fragments, env, extra_css="</style><script>alert(1)</script>")
    broken = next(m for m in report.models if not m.ok)
    with pytest.raises(RenderError, match="'Broken' failed; a failed model has no HTML section"):
        render_section_html(broken, out, env)
