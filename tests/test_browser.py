"""The HTML report as a user sees it: headless Chromium (Debian's, never a downloaded one).

One report is generated per module (LeNet, the residual block, the nested
classifier drawn with ``expand_nested``, a model whose layer names are
hostile HTML and a long one whose table shows in groups of rows) and opened
from disk with ``file://``. Each model's diagrams and table are packed in the
page and unpacked near the viewport (issue 27). Every test gets a fresh
browser context that records console errors, page errors, failed and
external requests, dialogs (an ``alert`` means injected markup ran) and
Content-Security-Policy violations (issue 25: the page's own script runs,
nothing else does).
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
# 142 rows, so its table shows in groups of 50 (sections.js); a nested model spans the first two groups.
LONG_BUILDER = """
import keras
from keras import layers


def build():
    inner = keras.Sequential([keras.Input((8,))] + [layers.Dense(8, name=f"inner_{i}") for i in range(60)], name="inner")
    inputs = keras.Input(shape=(8,), name="long_in")
    x = inner(inputs)
    for i in range(80):
        x = layers.Dense(8, name=f"long_{i}")(x)
    return keras.Model(inputs, x, name="long")
"""
LONG_ROWS = 142

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

[[model]]
name = "Long chain"
builder = "long:build"
"""
)

SLUGS = ["lenet", "residual-block", "nested-classifier", "hostile-names", "long-chain"]


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import archreport

    folder = tmp_path_factory.mktemp("browser")
    copy_example_builders(folder)
    (folder / "hostile.py").write_text(HOSTILE_BUILDER, encoding="utf-8")
    (folder / "long.py").write_text(LONG_BUILDER, encoding="utf-8")
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


# Recorded from the page's start, by playwright, outside the page's CSP.
RECORD_CSP = """document.addEventListener("securitypolicyviolation", e => {
    (window.cspViolations = window.cspViolations || []).push(
        {directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample});
});"""


@dataclass
class Watch:
    """What a page did that a user would call broken (or an attacker would call success)."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page: Any = None

    def csp_violations(self) -> list[dict[str, str]]:
        """What the page's Content-Security-Policy refused, in order."""
        return list(self.page.evaluate("window.cspViolations || []")) if self.page else []

    def attach(self, page: Any) -> None:
        self.page = page
        page.add_init_script(RECORD_CSP)
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
        assert self.csp_violations() == [], "the CSP refused something of the report's own"
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


def open_section(page: Any, slug: str) -> None:
    """Unpack a model's section, as a link to its diagram would, and wait until its viewer set it up."""
    page.evaluate("id => document.archreportReveal(id)", f"{slug}-diagram")
    page.wait_for_selector(f"[id='{slug}-diagram'][data-scale]", state="attached")


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


def node_rect_js(anchor: str, figure: str = "figure.diagram") -> str:
    return f"""() => {{
        const a = [...document.querySelectorAll('{figure} svg a')]
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


def test_loads_offline_and_unpacks_each_section(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    # The first screen is the contents and the summary: the sections far below it stay packed.
    assert page.locator(".section-body[data-slug='long-chain'].packed").count() == 1
    assert page.locator("figure.diagram:not(.overview)").count() < len(SLUGS)
    assert page.locator("section.model dl.totals").count() == len(SLUGS)  # every model's totals at once
    assert page.locator(".toolbar input").is_visible()  # the search
    for slug in SLUGS:
        open_section(page, slug)
        # viewer.js ran on what sections.js unpacked: it reveals the zoom controls and records the scale.
        assert page.locator(f"#{slug}-diagram .zoom-controls").is_visible()
        scale = float(page.get_attribute(f"#{slug}-diagram", "data-scale") or "nan")
        assert 0.05 <= scale <= 1
        assert page.text_content(f"#{slug}-diagram .zoom-level") == f"{round(scale * 100)} %"
        assert page.locator(f"table.layers[data-model='{slug}'] tbody tr[id]").count() > 3
    watch.assert_clean()  # nothing of the report's own was refused by its CSP
    assert watch.requests == [watch.url]


@pytest.mark.slow
def test_hostile_names_are_text(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    assert page.text_content("#model-hostile-names h2").strip() == "Hostile <names>"
    open_section(page, "hostile-names")
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
            scripts: document.querySelectorAll('script:not([type="application/octet-stream"])').length,
            nestedSvg: document.querySelectorAll('svg svg').length,
        })"""
    )
    assert injected == {"img": 0, "handlers": 0, "scripts": 1, "nestedSvg": 0}
    # The search lists them as text too.
    for name in HOSTILE_NAMES:
        page.fill(".toolbar input", name)
        assert name in page.locator(".search-results a.hit .hit-name").all_text_contents()
    # Hovering and clicking the hostile rows and nodes runs nothing either.
    for name in HOSTILE_NAMES:
        page.locator("table.layers td.name a.to-diagram", has_text=name).hover()
    page.wait_for_timeout(100)
    watch.assert_clean()


@pytest.mark.slow
def test_every_diagram_is_visible(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    for slug in SLUGS:
        open_section(page, slug)
        svg = page.locator(f"[id='{slug}-diagram'] svg")
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
        if href != "#summary":  # the model's diagrams and table are unpacked where the link lands
            page.wait_for_selector(f"{href} .section-body:not(.packed) figure.diagram[data-scale]")
        after = rect(page, href)
        assert in_window(page, after), f"{href} is not in the viewport after clicking its link"
        # Below the search bar that stays at the top, not under it.
        assert after["top"] >= rect(page, ".toolbar")["bottom"] - 1, href
        moved += after["top"] != before["top"]
    assert moved >= len(SLUGS)  # every model section starts below the fold
    watch.assert_clean()


@pytest.mark.slow
@pytest.mark.parametrize("slug", ["lenet", "nested-classifier", "hostile-names"])
def test_diagram_node_link_goes_to_row(opened: tuple[Any, Watch], slug: str) -> None:
    page, watch = opened
    open_section(page, slug)
    links = page.locator(f"#{slug}-diagram svg a")
    hrefs = [
        links.nth(i).get_attribute("xlink:href") or links.nth(i).get_attribute("href")
        for i in range(links.count())
    ]
    assert len(hrefs) >= 5
    assert all(h.startswith(f"#{slug}-r") for h in hrefs)
    for i in (0, len(hrefs) // 2, len(hrefs) - 1):
        page.locator(f"#{slug}-diagram").scroll_into_view_if_needed()
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
    open_section(page, "lenet")
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
        open_section(page, slug)
        anchors = page.eval_on_selector_all(
            f"#{slug}-diagram svg a",
            "as => as.map(a => (a.getAttribute('href') || a.getAttribute('xlink:href')).slice(1))",
        )
        for anchor in (anchors[0], anchors[-1]):
            page.locator(f"tr[id='{anchor}']").scroll_into_view_if_needed()
            page.click(f"a.to-diagram[data-node='{anchor}']")
            got = page.evaluate(node_rect_js(anchor))
            assert inside(got["node"], got["viewport"]), anchor
            assert in_window(page, got["node"]), anchor
    watch.assert_clean()


@pytest.mark.slow
def test_zoom_buttons(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    slug = "residual-block"
    open_section(page, "lenet")
    open_section(page, slug)
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
    open_section(page, slug)
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
    open_section(page, slug)
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
    open_section(page, slug)
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
    open_section(page, "nested-classifier")
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


def test_without_javascript_the_page_says_where_the_pdf_is(chromium: Any, report_html: Path) -> None:
    context, page, watch = open_report(chromium, report_html, java_script_enabled=False)
    try:
        assert page.evaluate("1 + 1") == 2  # Playwright's own evaluation still works
        note = page.locator("header .nojs")
        assert note.is_visible()
        assert "needs JavaScript" in note.text_content()
        # This report was written without its PDF: the note says how to get one.
        assert "A report.pdf (the command's --format pdf" in note.text_content()
        assert page.locator("table.summary").is_visible()
        assert page.locator("figure.diagram").count() == 0  # packed, and nothing unpacks them
        assert page.locator(".toolbar").is_hidden()  # no search without its script
        for slug in SLUGS:
            section = page.locator(f"#model-{slug}")
            section.scroll_into_view_if_needed()
            assert section.locator("dl.totals").is_visible()  # the header and totals are in the page
            assert "need JavaScript" in section.locator(".section-body").inner_text()
        watch.assert_clean()
    finally:
        context.close()


def unpack_all(page: Any) -> None:
    """Every section unpacked at once: a window as tall as the page keeps all of them near it (in a
    window of the usual size, most would be packed away again)."""
    for _ in range(4):  # each unpacked section makes the page taller
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height, 30_000)})
        page.wait_for_function(
            "() => !document.querySelector('.section-body.packed, .section-body[aria-busy]')"
        )


@pytest.mark.slow
def test_full_page_screenshot(opened: tuple[Any, Watch], artifacts: Path) -> None:
    page, watch = opened
    unpack_all(page)
    path = artifacts / "report-browser.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
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
        open_section(page, "wrong-pooling")
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
        open_section(page, "spare-layer")
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


# --------------------------------------------------------------------------
# Search, groups of rows, packing away, printing
# --------------------------------------------------------------------------


def flashed(page: Any, anchor: str) -> None:
    page.wait_for_function(
        "id => document.getElementById(id)?.classList.contains('flash')", arg=anchor, timeout=10_000
    )


def uncovered(page: Any, selector: str) -> bool:
    """Whether the middle of the element's left part is the element itself, not a bar or header over it."""
    r = rect(page, selector)
    return page.evaluate(
        "([sel, x, y]) => document.elementFromPoint(x, y)?.closest(sel) !== null",
        [selector, r["left"] + 20, r["top"] + r["height"] / 2],
    )


def test_search_finds_a_layer_in_the_last_model_and_opens_it(
    opened: tuple[Any, Watch], artifacts: Path
) -> None:
    page, watch = opened
    assert "packed" in (page.get_attribute(".section-body[data-slug='long-chain']", "class") or "")
    page.fill(".toolbar input", "long_77")
    hits = page.locator(".search-results a.hit")
    assert hits.count() == 1
    assert page.text_content(".search-count") == "1 layer in 1 model"
    assert hits.first.locator(".hit-name").text_content() == "long_77"
    assert hits.first.locator(".hit-class").text_content() == "Dense"
    assert hits.first.locator("code").text_content() == "(None, 8)"
    assert hits.first.locator(".hit-model").text_content() == "Long chain"
    page.screenshot(path=str(artifacts / "report-search.png"))
    anchor = (hits.first.get_attribute("href") or "#")[1:]
    assert anchor == f"long-chain-r{LONG_ROWS - 3}"  # its row in the third group of rows
    hits.first.click()
    flashed(page, anchor)
    assert page.locator(".search-results").is_hidden()
    # The section was unpacked, the row's group put in the table, the row brought into view.
    row = f"tr[id='{anchor}']"
    assert in_window(page, rect(page, row))
    assert uncovered(page, row), "the row is under the search bar or the table's header"
    # Its node is centred in the diagram's box and flashed.
    node = page.evaluate(node_rect_js(anchor, "#long-chain-diagram"))
    assert node["flash"] and inside(node["node"], node["viewport"])
    page.screenshot(path=str(artifacts / "report-search-opened.png"))
    # A shape or a class finds layers too, in every model.
    page.fill(".toolbar input", "7, 7, 50")
    assert hits.locator(".hit-name").all_text_contents() == ["max_pooling2d_1", "flatten"]
    assert set(hits.locator(".hit-model").all_text_contents()) == {"LeNet"}
    page.fill(".toolbar input", "sequential")
    assert hits.locator(".hit-name").all_text_contents() == ["features", "inner"]
    page.fill(".toolbar input", "no such layer")
    assert page.text_content(".search-count") == "No layer matches" and hits.count() == 0
    watch.assert_clean()


def test_a_long_table_shows_its_rows_in_groups(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    open_section(page, "long-chain")
    table = "table.layers[data-model='long-chain']"
    assert page.locator(f"{table} tbody.row-group").count() == 3  # 50 + 50 + 42 rows
    assert 50 <= page.locator(f"{table} tbody tr[id]").count() < LONG_ROWS  # only groups near its box
    wrap = page.locator(table).locator("xpath=..")
    wrap.evaluate("w => { w.scrollTop = w.scrollHeight; }")
    last = f"{table} tr[id='long-chain-r{LONG_ROWS - 1}']"
    page.wait_for_selector(last)
    page.wait_for_selector(f"{table} tr[id='long-chain-r0']", state="detached")  # far above: a spacer now
    # Collapsing the nested model hides its 60 rows, across two groups; long_0 then follows it.
    wrap.evaluate("w => { w.scrollTop = 0; }")
    inner = page.locator(f"{table} tr[id='long-chain-r1']")
    inner.locator("button.toggle").click()
    hidden = page.evaluate(
        f'() => document.querySelector("{table}").archreportRows.filter('
        "r => r.classList.contains('collapsed-hidden')).map(r => r.id)"
    )
    assert hidden == [f"long-chain-r{i}" for i in range(2, 62)]
    after = page.locator(f"{table} tr[id='long-chain-r62']")
    after.wait_for()
    assert after.bounding_box()["y"] == pytest.approx(
        inner.bounding_box()["y"] + inner.bounding_box()["height"], abs=2
    )
    inner.locator("button.toggle").click()
    assert page.locator(f"{table} tr.collapsed-hidden").count() == 0
    assert page.locator(f"{table} tr[id='long-chain-r2']").is_visible()
    watch.assert_clean()


@pytest.mark.slow
def test_a_section_far_away_is_packed_again(chromium: Any, report_html: Path) -> None:
    context, page, watch = open_report(chromium, report_html)
    try:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": 400})  # "far" is 5 windows away
        open_section(page, "lenet")
        lenet = page.locator(".section-body[data-slug='lenet']")
        height = lenet.bounding_box()["height"]
        open_section(page, "long-chain")
        page.wait_for_selector(".section-body.packed[data-slug='lenet']", state="attached")
        assert lenet.locator("figure").count() == 0  # its diagrams and table left the page
        assert lenet.bounding_box()["height"] == pytest.approx(height, abs=1)  # and kept their place
        open_section(page, "lenet")  # and come back
        assert page.locator("table.layers[data-model='lenet'] tbody tr[id]").count() == 11
        watch.assert_clean()
    finally:
        context.close()


def test_printing_says_the_pdf_is_the_printable_form(opened: tuple[Any, Watch]) -> None:
    page, watch = opened
    open_section(page, "lenet")
    page.emulate_media(media="print")
    notes = page.locator(".print-only")
    assert notes.count() == 1 + len(SLUGS)
    assert notes.first.is_visible() and "report.pdf" in notes.first.text_content()
    assert page.locator("#model-lenet .print-only").is_visible()
    assert page.locator("#model-lenet dl.totals").is_visible()
    assert page.locator("#lenet-diagram").is_hidden() and page.locator(".toolbar").is_hidden()
    page.emulate_media(media="screen")
    assert notes.first.is_hidden() and page.locator("#lenet-diagram").is_visible()
    watch.assert_clean()


# --------------------------------------------------------------------------
# The CSP: a section a worker wrote runs nothing (issue 25)
# --------------------------------------------------------------------------

# What a compromised worker could send as a model's section: markup that runs script every way HTML allows.
INJECTED = """<h3>Diagram</h3>
<figure class="diagram" id="first-diagram"><div class="viewport">
<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" onload="alert('svg onload')">
<a href="javascript:alert('javascript link')"><text x="5" y="30">a link</text></a></svg></div></figure>
<img src="x" onerror="alert('img onerror')">
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" onload="alert('img onload')">
<script>alert('script'); window.scriptRan = true;</script>
<p id="injected" onclick="alert('onclick')">a paragraph its worker wrote</p>
<table class="layers" data-model="first"><thead><tr><th>Layer</th></tr></thead>
<tbody><tr id="first-r0" data-depth="0"><td class="name">dense</td></tr></tbody></table>
"""


@pytest.fixture(scope="module")
def injected_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report whose first model's section came from a stand-in runner, with script in it."""
    import archreport
    from archreport.data import SECTION_FILES, SECTIONS
    from archreport.render.html_report import pack
    from archreport.store import fingerprint
    from archreport.task import TaskResult
    from tests.test_runner import MANIFEST as RUNNER_MANIFEST
    from tests.test_runner import TINY, TestRunner

    folder = tmp_path_factory.mktemp("injected")
    (folder / "tiny.py").write_bytes(TINY.read_bytes())
    files = {f"{SECTIONS}/{SECTION_FILES['html']}": pack(INJECTED)}
    runner = TestRunner({"First": TaskResult(versions=fingerprint.runtime(), files=files)})
    archreport.generate(
        write_manifest(folder, RUNNER_MANIFEST), folder / "out", use_cache=False, executor=runner
    )
    return folder / "out" / "report.html"


def test_the_csp_runs_no_script_a_worker_put_in_its_section(chromium: Any, injected_html: Path) -> None:
    context, page, watch = open_report(chromium, injected_html)
    try:
        page.evaluate("id => document.archreportReveal(id)", "first-r0")
        page.wait_for_selector("#injected")  # the report's own script ran: it unpacked the section
        page.click("#injected")
        page.click("#first-diagram svg a")
        page.wait_for_timeout(300)
        # A script added to the page later is refused too.
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.added = 1';"
            " document.body.append(s); }"
        )
        assert page.evaluate("[window.scriptRan, window.added]") == [None, None]
        assert watch.dialogs == [], "injected script ran"
        refused = {(v["directive"], v["blocked"]) for v in watch.csp_violations()}
        assert refused >= {
            ("script-src-attr", "inline"),  # svg onload, img onload and onerror, onclick
            ("script-src-elem", "inline"),  # the added script, the javascript: link
            ("img-src", "file"),  # the image "x" beside the page (a file: page reports the scheme only)
        }
        assert {d for d, _ in refused} == {"script-src-attr", "script-src-elem", "img-src"}
        assert all("Content Security Policy" in e for e in watch.console_errors)
        assert watch.page_errors == []
        # Nothing left the page: the image it asked for was refused before it was read.
        image = injected_html.with_name("x").as_uri()
        assert [u for u in watch.requests if not u.startswith("data:")] == [watch.url, image]
        assert watch.failed == [f"{image}: csp"]
        # The second model's section, rendered by the parent (its runner sent none), unpacks as usual.
        page.locator("#model-second").scroll_into_view_if_needed()
        assert page.locator("table.layers[data-model=second] td.name a").inner_text() == "dense"
    finally:
        context.close()


@pytest.mark.slow  # builds LeNet with Keras in this process
def test_a_notebook_output_runs_under_a_csp_that_names_its_script(chromium: Any, tmp_path: Path) -> None:
    """A page that sets a CSP allows the outputs' one script by its hash (notebook.script_source)."""
    import archreport
    from archreport.render import notebook
    from tests.test_api import build_lenet

    described = archreport.describe(build_lenet())
    whole = described._repr_html_()
    packed = notebook.render_html(described.report, described.files, limit=len(whole.encode()) - 1)
    assert 'class="pack"' in packed and 'class="layers"' not in packed
    csp = (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {notebook.script_source()}"
    )
    path = tmp_path / "outputs.html"
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
        f'content="{csp}"></head><body>{whole}{packed}</body></html>',
        encoding="utf-8",
    )
    context, page, watch = open_report(chromium, path)
    try:
        outputs = page.locator(".archreport-nb")
        for i in range(2):  # the script ran in each output: the viewer set up its diagram
            outputs.nth(i).scroll_into_view_if_needed()
            outputs.nth(i).locator("figure.diagram:not(.overview)[data-scale]").wait_for()
            assert outputs.nth(i).locator("table.layers tbody tr[id]").count() == 11
        assert outputs.nth(1).locator(".nb-note").count() == 0  # the unpacked section took the note's place
        watch.assert_clean()
    finally:
        context.close()
