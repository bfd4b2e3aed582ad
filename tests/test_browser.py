"""The HTML report as a user sees it: headless Chromium (Debian's, never a downloaded one).

One report is generated per module (LeNet, the residual block, the nested
classifier drawn with ``expand_nested`` and a model whose layer names are
hostile HTML) and opened from disk with ``file://``. Every test gets a fresh
browser context that records console errors, page errors, failed and
external requests and dialogs (an ``alert`` means injected markup ran).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LENET, copy_example_builders, lenet_table, write_manifest

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}
STEP = 1.25  # viewer.js's zoom step

# Keras rejects "/" in layer names, so the script tag cannot be closed.
HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)<script>",
    "<svg onload=alert(2)>",
    "a&amp;b",
    '"quoted" {x} |y|',
    "naïve 名前",
]
HOSTILE_BUILDER = f"""
import keras
from keras import layers

NAMES = {HOSTILE_NAMES!r}


def build():
    inputs = keras.Input(shape=(8,), name="hostile_in")
    x = inputs
    for name in NAMES:
        x = layers.Dense(4, name=name)(x)
    for i in range(40):  # a table taller than its scroll box
        x = layers.Dense(4, name=f"pad_{{i}}")(x)
    return keras.Model(inputs, x, name="hostile")
"""

MANIFEST = (
    """
[report]
title = "Browser check"
output_dir = "out"
"""
    + LENET
    + """
[[model]]
name = "Residual block"
builder = "blocks:residual_block"

[[model]]
name = "Nested classifier"
builder = "blocks:nested_classifier"

[model.diagram]
expand_nested = true

[[model]]
name = "Hostile <names>"
builder = "hostile:build"
"""
)

SLUGS = ["lenet", "residual-block", "nested-classifier", "hostile-names"]


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import archreport

    folder = tmp_path_factory.mktemp("browser")
    copy_example_builders(folder)
    (folder / "hostile.py").write_text(HOSTILE_BUILDER, encoding="utf-8")
    manifest = write_manifest(folder, MANIFEST)
    report = archreport.generate(manifest, folder / "out", formats=["html"], use_cache=False)
    assert [(m.slug, m.status, m.error) for m in report.models] == [(s, "ok", None) for s in SLUGS]
    path = folder / "out" / "report.html"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that a user would call broken (or an attacker would call success)."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on("request", lambda r: self.requests.append(r.url))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def assert_clean(self) -> None:
        assert self.dialogs == [], "a dialog fired: injected markup ran"
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.failed == []
        foreign = [u for u in self.requests if u.split("#")[0] != self.url and not u.startswith("data:")]
        assert foreign == [], "the report must not request anything but itself"


def open_report(browser: Any, report_html: Path, **context_args: Any) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport=VIEWPORT, **context_args)
    page = context.new_page()
    watch = Watch(report_html.as_uri())
    watch.attach(page)
    page.goto(watch.url, wait_until="load")
    return context, page, watch


@pytest.fixture
def opened(chromium: Any, report_html: Path) -> Iterator[tuple[Any, Watch]]:
    context, page, watch = open_report(chromium, report_html)
    try:
        yield page, watch
    finally:
        context.close()


# --------------------------------------------------------------------------
# Helpers run in the page
# --------------------------------------------------------------------------


def rect(page: Any, selector: str) -> dict[str, float]:
    return page.eval_on_selector(selector, "el => el.getBoundingClientRect().toJSON()")


def svg_rect(page: Any, slug: str) -> dict[str, float]:
    return rect(page, f"#{slug}-diagram .viewport svg")


def in_window(page: Any, r: dict[str, float]) -> bool:
    h = page.evaluate("innerHeight")
    return r["top"] >= -1 and r["top"] < h and r["height"] > 0


def click_zoom(page: Any, slug: str, what: str, times: int = 1) -> None:
    for _ in range(times):
        page.click(f"#{slug}-diagram button[data-zoom={what}]")


def natural_width(page: Any, slug: str) -> float:
    """The diagram's size as Graphviz wrote it, in CSS px (1pt = 4/3 px)."""
    view_box = page.get_attribute(f"#{slug}-diagram .viewport svg", "viewBox")
    assert view_box is not None
    return float(view_box.split()[2]) * 4 / 3


def node_rect_js(anchor: str) -> str:
    return f"""() => {{
        const a = [...document.querySelectorAll('figure.diagram svg a')]
            .find(a => (a.getAttribute('href') || a.getAttribute('xlink:href')) === '#{anchor}');
        const node = a.closest('g.node') || a;
        return {{node: node.getBoundingClientRect().toJSON(),
                 flash: node.classList.contains('flash'),
                 viewport: a.closest('.viewport').getBoundingClientRect().toJSON()}};
    }}"""


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 1.0) -> bool:
    return (
        inner["left"] >= outer["left"] - slack and inner["right"] <= outer["right"] + slack
        and inner["top"] >= outer["top"] - slack and inner["bottom"] <= outer["bottom"] + slack
    )  # fmt: skip


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_loads_offline_without_errors(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    watch.assert_clean()
    assert watch.requests == [watch.url]
    # viewer.js ran: it reveals the zoom controls and records the scale.
    assert page.locator("figure.diagram").count() == len(SLUGS)
    for slug in SLUGS:
        assert page.locator(f"#{slug}-diagram .zoom-controls").is_visible()
        scale = float(page.get_attribute(f"#{slug}-diagram", "data-scale") or "nan")
        assert 0.05 <= scale <= 1
        assert page.text_content(f"#{slug}-diagram .zoom-level") == f"{round(scale * 100)} %"


@pytest.mark.slow
def test_hostile_names_are_text(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    assert page.text_content("#model-hostile-names h2").strip() == "Hostile <names>"
    cells = page.eval_on_selector_all(
        "table.layers[data-model=hostile-names] td.name a.to-diagram",
        "as => as.map(a => a.textContent)",
    )
    assert cells == ["hostile_in", *HOSTILE_NAMES, *(f"pad_{i}" for i in range(40))]
    svg_texts = page.eval_on_selector_all(
        "#hostile-names-diagram svg text", "ts => ts.map(t => t.textContent)"
    )
    titles = page.eval_on_selector_all(
        "#hostile-names-diagram svg a",
        "as => as.map(a => a.getAttribute('xlink:title') || a.getAttribute('title'))",
    )
    for name in HOSTILE_NAMES:
        assert name in svg_texts, f"{name!r} is not drawn as text in the diagram"
        assert name in titles, f"{name!r} is not the node's tooltip"
        assert page.get_by_text(name, exact=True).count() >= 2  # table cell + diagram node
    # Nothing was parsed as markup: no injected elements or handlers anywhere.
    injected = page.evaluate(
        """() => ({
            img: document.querySelectorAll('img').length,
            handlers: [...document.querySelectorAll('*')].filter(
                el => [...el.attributes].some(a => a.name.startsWith('on'))).length,
            scripts: document.querySelectorAll('script').length,
            nestedSvg: document.querySelectorAll('svg svg').length,
        })"""
    )
    assert injected == {"img": 0, "handlers": 0, "scripts": 1, "nestedSvg": 0}
    # Hovering and clicking the hostile rows and nodes runs nothing either.
    for name in HOSTILE_NAMES:
        page.locator("table.layers td.name a.to-diagram", has_text=name).hover()
    page.wait_for_timeout(100)
    watch.assert_clean()


@pytest.mark.slow
def test_every_diagram_is_visible(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    svgs = page.locator("figure.diagram svg")
    assert svgs.count() == len(SLUGS)
    for i in range(svgs.count()):
        svg = svgs.nth(i)
        svg.scroll_into_view_if_needed()
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box is not None
        assert box["width"] > 50
        assert box["height"] > 50
        # Nodes are drawn (not an empty canvas): at least one node inside the box.
        assert svg.locator("g.node").count() >= 3
    watch.assert_clean()


@pytest.mark.slow
def test_toc_links_scroll_target_into_view(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    hrefs = page.eval_on_selector_all("nav.toc a", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs == ["#summary", *(f"#model-{s}" for s in SLUGS)]
    moved = 0
    for href in hrefs:
        page.evaluate("window.scrollTo(0, 0)")
        before = rect(page, href)
        page.click(f"nav.toc a[href='{href}']")
        page.wait_for_function("h => location.hash === h", arg=href)
        after = rect(page, href)
        assert in_window(page, after), f"{href} is not in the viewport after clicking its link"
        moved += after["top"] != before["top"]
    assert moved >= len(SLUGS)  # every model section starts below the fold
    watch.assert_clean()


@pytest.mark.slow
@pytest.mark.parametrize("slug", ["lenet", "nested-classifier", "hostile-names"])
def test_diagram_node_link_goes_to_row(opened: tuple[Any, Watch], slug: str) -> None:
    page, watch = opened
    links = page.locator(f"#{slug}-diagram svg a")
    hrefs = [
        links.nth(i).get_attribute("xlink:href") or links.nth(i).get_attribute("href")
        for i in range(links.count())
    ]
    assert len(hrefs) >= 5
    assert all(h.startswith(f"#{slug}-r") for h in hrefs)
    for i in (0, len(hrefs) // 2, len(hrefs) - 1):
        page.evaluate("window.scrollTo(0, 0)")
        links.nth(i).click()
        page.wait_for_function("h => location.hash === h", arg=hrefs[i])
        row_id = hrefs[i][1:]
        assert page.evaluate("id => document.getElementById(id).tagName", row_id) == "TR"
        r = rect(page, f"[id='{row_id}']")
        assert in_window(page, r), f"row {row_id} is not in the viewport"
        # Visible, not only inside the window: nothing (e.g. the sticky header) covers it.
        hit = page.evaluate(
            "([id, x, y]) => document.elementFromPoint(x, y)?.closest('tr')?.id",
            [row_id, r["left"] + 20, r["top"] + r["height"] / 2],
        )
        assert hit == row_id, f"row {row_id} is covered by {hit!r}"
        assert page.eval_on_selector(
            f"[id='{row_id}']", "r => r.classList.contains('flash') || r.matches(':target')"
        )
    watch.assert_clean()


@pytest.mark.slow
def test_table_link_shows_node_in_diagram(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    # Zoom in so the last layer's node is far outside the diagram's box.
    click_zoom(page, "lenet", "reset")
    click_zoom(page, "lenet", "in", 4)
    page.eval_on_selector("#lenet-diagram .viewport", "v => { v.scrollTop = 0; v.scrollLeft = 0; }")
    last = page.eval_on_selector_all("table.layers[data-model=lenet] tbody tr", "rs => rs.at(-1).id")
    before = page.evaluate(node_rect_js(last))
    assert not inside(before["node"], before["viewport"]), "test setup: the node should start hidden"
    page.click(f"a.to-diagram[data-node='{last}']")
    page.wait_for_function("() => location.hash === '#lenet-diagram'")
    after = page.evaluate(node_rect_js(last))
    assert inside(after["node"], after["viewport"]), "the node was not scrolled into the diagram's box"
    assert in_window(page, after["node"])
    assert after["node"]["bottom"] <= VIEWPORT["height"]
    assert after["flash"]
    # Every row that has a node brings it into view, in every diagram.
    for slug in ("residual-block", "nested-classifier"):
        anchors = page.eval_on_selector_all(
            f"#{slug}-diagram svg a",
            "as => as.map(a => (a.getAttribute('href') || a.getAttribute('xlink:href')).slice(1))",
        )
        for anchor in (anchors[0], anchors[-1]):
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.click(f"a.to-diagram[data-node='{anchor}']")
            got = page.evaluate(node_rect_js(anchor))
            assert inside(got["node"], got["viewport"]), anchor
            assert in_window(page, got["node"]), anchor
    watch.assert_clean()


@pytest.mark.slow
def test_zoom_buttons(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    slug = "residual-block"
    lenet_scale = page.get_attribute("#lenet-diagram", "data-scale")
    click_zoom(page, slug, "reset")
    w0 = svg_rect(page, slug)["width"]
    assert w0 == pytest.approx(natural_width(page, slug), rel=0.002)
    assert page.text_content(f"#{slug}-diagram .zoom-level") == "100 %"

    click_zoom(page, slug, "in")
    assert svg_rect(page, slug)["width"] == pytest.approx(w0 * STEP, rel=0.002)
    assert page.text_content(f"#{slug}-diagram .zoom-level") == "125 %"
    click_zoom(page, slug, "out", 2)
    assert svg_rect(page, slug)["width"] == pytest.approx(w0 / STEP, rel=0.002)
    click_zoom(page, slug, "in")
    assert svg_rect(page, slug)["width"] == pytest.approx(w0, rel=0.002)

    # Fit after zooming in: the whole diagram fits in its box, filling it one way.
    click_zoom(page, slug, "in", 5)
    assert svg_rect(page, slug)["width"] == pytest.approx(w0 * STEP**5, rel=0.002)
    click_zoom(page, slug, "fit")
    box = page.eval_on_selector(
        f"#{slug}-diagram .viewport",
        "v => ({cw: v.clientWidth, ch: v.clientHeight, sw: v.scrollWidth, sh: v.scrollHeight})",
    )
    r = svg_rect(page, slug)
    assert r["width"] <= box["cw"] + 0.5
    assert r["height"] <= box["ch"] + 0.5
    assert box["sw"] <= box["cw"], "no horizontal scrollbar after Fit"
    assert box["sh"] <= box["ch"], "no vertical scrollbar after Fit"
    assert max(r["width"] / box["cw"], r["height"] / box["ch"]) == pytest.approx(1, abs=0.01)
    assert r["width"] < w0  # this diagram is taller than its box at 100 %

    # The zoom stops at its limits instead of shrinking to nothing.
    click_zoom(page, slug, "out", 30)
    assert svg_rect(page, slug)["width"] == pytest.approx(w0 * 0.05, rel=0.01)
    # The other diagrams did not change.
    assert page.get_attribute("#lenet-diagram", "data-scale") == lenet_scale
    watch.assert_clean()


@pytest.mark.slow
def test_ctrl_wheel_zooms_around_the_pointer(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    slug = "residual-block"
    click_zoom(page, slug, "reset")
    click_zoom(page, slug, "in", 4)  # wider and taller than its box: scrollable both ways
    page.locator(f"#{slug}-diagram .viewport").scroll_into_view_if_needed()
    page.eval_on_selector(f"#{slug}-diagram .viewport", "v => { v.scrollLeft = 200; v.scrollTop = 300; }")
    vr = rect(page, f"#{slug}-diagram .viewport")
    x, y = vr["left"] + 300, vr["top"] + 200
    before = svg_rect(page, slug)
    fx, fy = (x - before["left"]) / before["width"], (y - before["top"]) / before["height"]

    page.mouse.move(x, y)
    page.mouse.wheel(0, 100)  # no modifier: the diagram keeps its size
    page.wait_for_timeout(100)
    assert svg_rect(page, slug)["width"] == pytest.approx(before["width"], rel=0.002)

    page.eval_on_selector(f"#{slug}-diagram .viewport", "v => { v.scrollLeft = 200; v.scrollTop = 300; }")
    page.evaluate("r => window.scrollBy(0, r)", vr["top"] - rect(page, f"#{slug}-diagram .viewport")["top"])
    vr = rect(page, f"#{slug}-diagram .viewport")
    x, y = vr["left"] + 300, vr["top"] + 200
    before = svg_rect(page, slug)
    fx, fy = (x - before["left"]) / before["width"], (y - before["top"]) / before["height"]
    page.mouse.move(x, y)
    page.keyboard.down("Control")
    try:
        page.mouse.wheel(0, -100)
        page.wait_for_function(
            "([sel, w]) => document.querySelector(sel).getBoundingClientRect().width > w + 1",
            arg=[f"#{slug}-diagram .viewport svg", before["width"]],
        )
    finally:
        page.keyboard.up("Control")
    after = svg_rect(page, slug)
    assert after["width"] == pytest.approx(before["width"] * STEP, rel=0.002)
    # The point under the pointer stays under the pointer.
    assert after["left"] + fx * after["width"] == pytest.approx(x, abs=2)
    assert after["top"] + fy * after["height"] == pytest.approx(y, abs=2)

    page.keyboard.down("Control")
    try:
        page.mouse.wheel(0, 100)
        page.wait_for_function(
            "([sel, w]) => document.querySelector(sel).getBoundingClientRect().width < w - 1",
            arg=[f"#{slug}-diagram .viewport svg", after["width"]],
        )
    finally:
        page.keyboard.up("Control")
    assert svg_rect(page, slug)["width"] == pytest.approx(before["width"], rel=0.002)
    watch.assert_clean()


def ctrl_wheel(page: Any, slug: str, delta: float) -> None:
    sel = f"#{slug}-diagram .viewport svg"
    width = svg_rect(page, slug)["width"]
    page.keyboard.down("Control")
    try:
        page.mouse.wheel(0, delta)
        page.wait_for_function(
            "([sel, w]) => Math.abs(document.querySelector(sel).getBoundingClientRect().width - w) > 1",
            arg=[sel, width],
        )
    finally:
        page.keyboard.up("Control")


@pytest.mark.slow
def test_ctrl_wheel_from_centred_to_scrolled(opened: tuple[Any, Watch]) -> None:
    """Zooming from narrower than the box (centred) to wider keeps the point under the pointer."""
    page, watch = opened
    slug = "residual-block"
    click_zoom(page, slug, "reset")
    sel = f"#{slug}-diagram .viewport"
    page.locator(sel).scroll_into_view_if_needed()
    box = page.eval_on_selector(sel, "v => [v.clientWidth, v.scrollLeft, v.scrollTop]")
    assert svg_rect(page, slug)["width"] < box[0] / 2 * 1.2
    assert box[1:] == [0, 0]
    vr = rect(page, sel)
    x, y = vr["left"] + box[0] / 2, vr["top"] + 200
    before = svg_rect(page, slug)
    fx, fy = (x - before["left"]) / before["width"], (y - before["top"]) / before["height"]
    page.mouse.move(x, y)
    for _ in range(4):
        ctrl_wheel(page, slug, -100)
    after = svg_rect(page, slug)
    assert after["width"] == pytest.approx(before["width"] * STEP**4, rel=0.002)
    assert after["width"] > box[0], "test setup: the diagram should now be wider than its box"
    assert after["left"] + fx * after["width"] == pytest.approx(x, abs=2)
    assert after["top"] + fy * after["height"] == pytest.approx(y, abs=2)
    watch.assert_clean()


@pytest.mark.slow
def test_drag_pans_the_diagram(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    slug = "residual-block"
    click_zoom(page, slug, "reset")
    click_zoom(page, slug, "in", 4)  # wider and taller than its box
    sel = f"#{slug}-diagram .viewport"
    page.locator(sel).scroll_into_view_if_needed()
    page.eval_on_selector(sel, "v => { v.scrollLeft = 100; v.scrollTop = 100; }")
    vr = rect(page, sel)
    # Start on the white background (the graph's top-left corner), not on a node link.
    x, y = vr["left"] + 5, vr["top"] + 5
    assert page.evaluate("([x, y]) => !document.elementFromPoint(x, y).closest('a')", [x, y])
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 40, steps=4)
    page.mouse.up()
    scroll = page.eval_on_selector(sel, "v => [v.scrollLeft, v.scrollTop]")
    assert scroll == [pytest.approx(40, abs=1), pytest.approx(60, abs=1)]
    watch.assert_clean()


@pytest.mark.slow
def test_collapse_toggle_hides_and_shows_children(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    table = "table.layers[data-model=nested-classifier]"
    parent = page.locator(f"{table} tr.has-children")
    assert parent.count() == 1
    parent_id = parent.get_attribute("id")
    children = page.locator(f"{table} tr[data-parent=features]")
    assert children.count() == 4
    after = page.locator(f"{table} tr[id=nested-classifier-r7]")
    toggle = parent.locator("button.toggle")

    assert toggle.get_attribute("aria-expanded") == "true"
    url = page.url
    toggle.click()
    for i in range(children.count()):
        assert children.nth(i).is_hidden()
    assert parent.is_visible()
    assert after.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.url == url  # the toggle does not navigate

    toggle.click()
    for i in range(children.count()):
        assert children.nth(i).is_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert parent.get_attribute("id") == parent_id
    watch.assert_clean()


def test_without_javascript_diagrams_still_show(chromium: Any, report_html: Path) -> None:
    context, page, watch = open_report(chromium, report_html, java_script_enabled=False)
    try:
        assert page.evaluate("1 + 1") == 2  # Playwright's own evaluation still works
        assert page.get_attribute("#lenet-diagram", "data-scale") is None  # viewer.js did not run
        for slug in SLUGS:
            svg = page.locator(f"#{slug}-diagram .viewport svg")
            svg.scroll_into_view_if_needed()
            assert svg.is_visible()
            box = svg.bounding_box()
            assert box is not None
            assert box["width"] > 50
            assert box["height"] > 50
            assert box["width"] == pytest.approx(natural_width(page, slug), rel=0.002)
            assert page.locator(f"#{slug}-diagram .zoom-controls").is_hidden()
        # Node links still reach their rows.
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("#hostile-names-diagram svg a").nth(2).click()
        page.wait_for_function("() => location.hash === '#hostile-names-r2'")
        assert in_window(page, rect(page, "#hostile-names-r2"))
        assert page.locator("table.layers td.name a", has_text=HOSTILE_NAMES[0]).is_visible()
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.slow
def test_full_page_screenshot(opened: tuple[Any, Watch], artifacts: Path) -> None:
    page, watch = opened
    path = artifacts / "report-browser.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height > 3 * VIEWPORT["height"]
    watch.assert_clean()


@pytest.mark.slow  # two full-page screenshots compared pixel by pixel
def test_the_inline_diagram_draws_what_graphviz_drew(
    chromium: Any, report_html: Path, tmp_path: Path
) -> None:
    # The report inlines a slimmer copy of each diagram.svg (svg.svg_for_inline): the same pixels as
    # Graphviz's own SVG put in a page as it is, from its <svg> tag on.
    from archreport.diagram.svg import svg_for_inline

    for slug in SLUGS:
        raw = (report_html.parent / "models" / slug / "diagram.svg").read_text(encoding="utf-8")
        shots = []
        for svg in (raw[raw.index("<svg") :], svg_for_inline(raw)):
            page_html = tmp_path / f"{slug}-{len(shots)}.html"
            page_html.write_text(
                f'<!DOCTYPE html><html><body style="margin:0">{svg}</body></html>', encoding="utf-8"
            )
            context = chromium.new_context(viewport=VIEWPORT)
            try:
                page = context.new_page()
                page.goto(page_html.as_uri(), wait_until="load")
                shots.append(page.locator("svg").first.screenshot())
            finally:
                context.close()
        assert shots[0] == shots[1], f"{slug}: the inline diagram looks different"


# --------------------------------------------------------------------------
# Marks: a failed per-layer expectation, and sub-layers that never ran
# --------------------------------------------------------------------------

MARKS_MANIFEST = (
    lenet_table(
        "Wrong pooling",
        more="""
[model.expect.layers]
max_pooling2d_1 = "(None, 14, 14, 50)"  # the tutorial's wrong assumption: it is (None, 7, 7, 50)
flatten = "(None, 2450)"
""",
    )
    + """
[[model]]
name = "Spare layer"
builder = "shown:spare"
"""
)

STYLE_JS = """([selector, props]) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const style = getComputedStyle(el);
    return Object.fromEntries(props.map(p => [p, style.getPropertyValue(p)]));
}"""


@pytest.fixture(scope="module")
def marks_html(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A report with a failed layer expectation and an uncalled sub-layer; the rows' anchors by path."""
    import json

    import archreport

    folder = tmp_path_factory.mktemp("marks")
    copy_example_builders(folder)
    from tests.test_report import SHOWN_BUILDERS  # Block's "spare" Dense is tracked, never called

    (folder / "shown.py").write_text(SHOWN_BUILDERS, encoding="utf-8")
    report = archreport.generate(
        write_manifest(folder, MARKS_MANIFEST), folder / "out", formats=["html"], use_cache=False
    )
    assert [m.status for m in report.models] == ["ok", "ok"]
    data = json.loads((folder / "out" / "report.json").read_text(encoding="utf-8"))
    anchors = {f"{m['slug']}:{r['path']}": r["anchor"] for m in data["models"] for r in m["layers"]}
    return folder / "out" / "report.html", anchors


def computed(page: Any, selector: str, *props: str) -> dict[str, str]:
    style = page.evaluate(STYLE_JS, [selector, list(props)])
    assert style is not None, f"nothing matches {selector}"
    return style


def node_shape(anchor: str) -> str:
    """The outline of the diagram node that links to a row (Graphviz draws it as a polygon)."""
    return f'#wrong-pooling-diagram svg a[*|href="#{anchor}"] polygon'


@pytest.mark.slow
def test_a_failed_layer_is_marked_in_the_table_and_the_diagram(
    chromium: Any, marks_html: tuple[Path, dict[str, str]], artifacts: Path
) -> None:
    path, anchors = marks_html
    bad, good = anchors["wrong-pooling:max_pooling2d_1"], anchors["wrong-pooling:flatten"]
    context, page, watch = open_report(chromium, path)
    try:
        failed_row = computed(page, f"tr#{bad} td", "background-color")
        held_row = computed(page, f"tr#{good} td", "background-color")
        assert failed_row["background-color"] == "rgb(253, 231, 233)"  # #fde7e9
        assert held_row["background-color"] != failed_row["background-color"]
        failed_node = computed(page, node_shape(bad), "stroke", "stroke-width")
        held_node = computed(page, node_shape(good), "stroke", "stroke-width")
        assert failed_node == {"stroke": "rgb(180, 35, 24)", "stroke-width": "3px"}  # #b42318
        assert held_node != failed_node
        # For people to look at: the marked row and the marked node.
        page.locator(f"tr#{bad}").scroll_into_view_if_needed()
        page.locator(f"tr#{bad}").screenshot(path=str(artifacts / "failed-layer-row.png"))
        page.locator(f'#wrong-pooling-diagram svg a[*|href="#{bad}"]').screenshot(
            path=str(artifacts / "failed-layer-node.png")
        )
        watch.assert_clean()
    finally:
        context.close()


@pytest.mark.slow
def test_uncalled_sub_layers_are_greyed(chromium: Any, marks_html: tuple[Path, dict[str, str]]) -> None:
    path, anchors = marks_html
    spare, dense = anchors["spare-layer:block/spare"], anchors["spare-layer:block/dense"]
    context, page, watch = open_report(chromium, path)
    try:
        grey = computed(page, f"tr#{spare} td", "color", "background-color")
        ran = computed(page, f"tr#{dense} td", "color", "background-color")
        assert grey == {
            "color": "rgb(91, 100, 117)",
            "background-color": "rgb(247, 248, 250)",
        }  # muted on #f7f8fa
        assert ran["color"] != grey["color"] and ran["background-color"] != grey["background-color"]
        name = computed(page, f"tr#{spare} td.name a", "color")
        assert name["color"] == grey["color"]  # the name's link is greyed too
        assert (
            page.get_attribute(f"tr#{spare}", "title")
            == "Tracked by its parent but never called at these input shapes"
        )
        watch.assert_clean()
    finally:
        context.close()
