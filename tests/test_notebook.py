"""``archreport.describe`` in a real notebook: run by nbclient on an ipykernel kernel, exported by nbconvert,
then opened in headless Chromium (Debian's), with and without JavaScript.

The notebook holds two outputs of the same model, the hardest case for ids and
scripts: each must zoom on its own and link inside itself only. The kernel runs
Keras on its default backend, as a user's notebook does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLES

# Starts Jupyter kernels and Chromium: the slow tier.
pytestmark = pytest.mark.slow

LENET_NAMES = [
    "conv2d", "activation", "max_pooling2d", "conv2d_1", "activation_1", "max_pooling2d_1", "flatten",
    "dense", "activation_2", "dense_1", "activation_3",
]  # fmt: skip
CELLS = [
    f"import sys\nsys.path.insert(0, {str(EXAMPLES)!r})\nfrom lenet import LeNet\nimport archreport\n"
    "model = LeNet.build(28, 28, 1, 10)",
    "archreport.describe(model)",
    "d = archreport.describe(model)  # a second output of the same model\nd",
]
# nbconvert's page loads require.js and MathJax from a CDN; they are nbconvert's, not the outputs',
# and the tests run offline, so they are empty scripts here.
EMPTY_SCRIPT = "data:text/javascript,"
STEP = 1.25  # viewer.js's zoom step


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("notebook")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute(env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # TensorFlow's start-up log off
    return nb


@pytest.fixture(scope="module")
def exported(executed: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(require_js_url=EMPTY_SCRIPT, mathjax_url=EMPTY_SCRIPT).from_notebook_node(executed)
    path = tmp_path_factory.mktemp("exported") / "lenet.html"
    path.write_text(body, encoding="utf-8")
    return path


def html_output(cell: Any) -> tuple[str, str]:
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return result.data["text/html"], result.data["text/plain"]


def test_describe_in_a_real_notebook(executed: Any) -> None:
    errors = [o for cell in executed.cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    html, text = html_output(executed.cells[1])
    assert re.search(r"<svg [^>]*viewBox=", html), "the diagram's SVG is inline"
    for name in LENET_NAMES:
        assert f">{name}<" in html, name  # a diagram label and a table cell
        assert f"\n{name} (" in text, name
    assert "1,256,080" in html
    assert "Total params: 1,256,080 (4.79 MiB)" in text
    # Everything is inline: no file, stylesheet or script is loaded from elsewhere.
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=", html)
    second, _ = html_output(executed.cells[2])
    uid = re.match(r'<div class="archreport-nb" id="(\w+)"', html)
    other = re.match(r'<div class="archreport-nb" id="(\w+)"', second)
    assert uid and other and uid[1] != other[1]


LLAMA_CELLS = [
    # A Llama-3-8B-shaped backbone (8 B parameters) fits a notebook only shape-only: Keras's JAX backend
    # with weights that hold no values, as archreport's workers build it.
    f"import sys\nsys.path.insert(0, {str(EXAMPLES.parent)!r})\nfrom archreport.model import keras_compat\n"
    "keras_compat.enable_shape_only()\nfrom tests.models import llama_8b\nimport archreport\n"
    "model = keras_compat.build_shape_only(llama_8b)",
    'archreport.describe(model, inputs={"token_ids": (2048,), "padding_mask": (2048,)})',
]


def test_an_8b_model_gives_an_output_of_bounded_size(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    from archreport.render.notebook import INLINE_LIMIT

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in LLAMA_CELLS]
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env={**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert [o for cell in nb.cells for o in cell.outputs if o.output_type == "error"] == []
    html, text = html_output(nb.cells[1])
    # Within the bound every output keeps (under Jupyter's data rate limit of 1 MB/s over 3 s), and whole:
    # the diagram, and the table of its 32 decoder layers with their sub-layers.
    assert len(html.encode()) <= INLINE_LIMIT
    assert "8,030,261,248" in html and "Total params: 8,030,261,248" in text
    assert 'class="layers"' in html and 'class="pack"' not in html
    assert all(f">transformer_layer_{i}<" in html for i in range(32))


# -- in Chromium --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> Iterator[tuple[Any, Any]]:
    """The browser, and the report's browser tests' module (its Chromium, arguments and Watch)."""
    from tests import test_browser as tb  # skips these tests where playwright is missing

    if not tb.CHROMIUM.exists():
        pytest.skip(f"{tb.CHROMIUM} is not installed")
    with tb.sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(tb.CHROMIUM), args=tb.CHROMIUM_ARGS)
        try:
            yield browser, tb
        finally:
            browser.close()


def open_page(chromium: tuple[Any, Any], path: Path, **context_args: Any) -> tuple[Any, Any, Any]:
    browser, tb = chromium
    context = browser.new_context(viewport=tb.VIEWPORT, **context_args)
    page = context.new_page()
    watch = tb.Watch(path.as_uri())
    watch.attach(page)
    page.goto(watch.url, wait_until="load")
    return context, page, watch


def scale(page: Any, output: int) -> float:
    return float(
        page.eval_on_selector_all(".archreport-nb figure.diagram", "fs => fs.map(f => f.dataset.scale)")[
            output
        ]
    )


def svg_width(page: Any, output: int) -> float:
    return float(
        page.eval_on_selector_all(
            ".archreport-nb figure.diagram svg", "ss => ss.map(s => s.getBoundingClientRect().width)"
        )[output]
    )


@pytest.mark.browser
def test_two_outputs_zoom_and_link_independently(chromium: Any, exported: Path, artifacts: Path) -> None:
    context, page, watch = open_page(chromium, exported)
    try:
        outputs = page.locator(".archreport-nb")
        assert outputs.count() == 2
        ids = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
        assert len(ids) == len(set(ids)), "an id is used twice in the page"
        figures = page.locator(".archreport-nb figure.diagram")
        assert figures.count() == 2
        for i in range(2):
            assert figures.nth(i).locator(".zoom-controls").is_visible()  # the viewer ran for each
        first, second, width = scale(page, 0), scale(page, 1), svg_width(page, 0)

        figures.nth(0).locator("button[data-zoom=in]").click()
        assert scale(page, 0) == pytest.approx(first * STEP, rel=1e-3)
        assert svg_width(page, 0) == pytest.approx(width * STEP, rel=2e-3)
        assert scale(page, 1) == pytest.approx(second, rel=1e-3), "zooming one output zoomed the other"
        assert figures.nth(0).locator(".zoom-level").text_content() == f"{round(first * STEP * 100)} %"

        figures.nth(1).locator("button[data-zoom=out]").click()
        figures.nth(1).locator("button[data-zoom=out]").click()
        assert scale(page, 1) == pytest.approx(second / STEP**2, rel=1e-3)
        assert scale(page, 0) == pytest.approx(first * STEP, rel=1e-3)

        # A node of the second diagram leads to the second output's row, and leaves the page's URL alone.
        url = page.url
        node = figures.nth(1).locator("svg a").nth(7)
        anchor = (node.get_attribute("xlink:href") or node.get_attribute("href") or "")[1:]
        node.click()
        row = outputs.nth(1).locator(f"tr[id='{anchor}']")
        assert "flash" in (row.get_attribute("class") or "")
        assert outputs.nth(0).locator("tr.flash").count() == 0
        assert page.url == url
        page.wait_for_timeout(100)
        page.screenshot(path=str(artifacts / "notebook-two-outputs.png"), full_page=True)
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.browser
def test_without_javascript_the_diagram_and_table_still_show(
    chromium: Any, exported: Path, artifacts: Path
) -> None:
    """JupyterLab strips scripts from untrusted notebooks, and GitHub runs none."""
    context, page, watch = open_page(chromium, exported, java_script_enabled=False)
    try:
        outputs = page.locator(".archreport-nb")
        assert outputs.count() == 2
        for i in range(2):
            output = outputs.nth(i)
            assert not output.locator(".zoom-controls").is_visible()  # buttons only where they work
            svg = output.locator("figure.diagram svg")
            box = svg.bounding_box()
            assert svg.is_visible() and box is not None and box["width"] > 200 and box["height"] > 200
            assert svg.locator("g.node").count() == len(LENET_NAMES)
            names = output.locator("table.layers td.name a").all_text_contents()
            assert names == LENET_NAMES
            assert output.locator("table.layers").is_visible()
            assert output.get_by_text("1,256,080").first.is_visible()
        page.screenshot(path=str(artifacts / "notebook-without-javascript.png"), full_page=True)
        watch.assert_clean()
    finally:
        context.close()
