"""How soon Chromium shows a report and how it responds once open (issues 13 and 27). Not a test: it measures.

    python benchmarks/first_screen.py OUT/report.html [--reps 3] [--use] [--query block_13 ...]

Debian's Chromium (/usr/bin/chromium) is driven headless by playwright, as the browser tests do;
no browser is downloaded. Each repetition opens a fresh browser page and records, from the
navigation's start: the first contentful paint (the first screen a reader sees), DOMContentLoaded
(the whole document parsed) and the load event.

With ``--use``, one more page is used as a reader would, each step timed inside the page from the
click or keystroke to the frame after the result is in the page:
- the last model of the contents is opened from its link, until its diagram and the first rows of
  its layer table are in the page (``open_last``); then the model with the most layers (``open_largest``);
- each ``--query`` is typed into the search box, until its results are listed (``search``), and its
  first result is opened, until its row is in view (``search_open``);
- every model is opened from the contents, one after another, and then the tab's heap is read after
  a garbage collection (``heap``: V8's JavaScript heap, and Blink's heap of DOM objects beside it).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}
QUERIES = ["block_13", "Conv2D", "7, 7, 2048"]
TIMING = """() => {
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  return {fcp: paint ? paint.startTime / 1000 : null,
          dom: nav.domContentLoadedEventEnd / 1000, load: nav.loadEventEnd / 1000};
}"""


def load_times(browser: Any, url: str, reps: int) -> list[dict[str, float]]:
    runs = []
    for _ in range(reps):
        page = browser.new_page(viewport=VIEWPORT)
        start = time.perf_counter()
        page.goto(url, wait_until="load", timeout=600_000)
        wall = time.perf_counter() - start
        page.wait_for_function(
            "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=60_000
        )
        runs.append({**page.evaluate(TIMING), "goto_wall": wall})
        page.close()
    return runs


def timed(page: Any, act: str, done: str) -> float | None:
    """Seconds from running ``act`` in the page to the frame after ``done`` (a function body) returns true.

    Written into the function playwright runs, not handed to the page's ``Function``: the report's CSP
    allows no eval.
    """
    return page.evaluate(f"""async () => {{
      const frame = () => new Promise(r => requestAnimationFrame(() => r()));
      const done = () => {{ {done} }};
      const start = performance.now();
      {act}
      for (let i = 0; i < 3000 && !done(); i++) {{ await frame(); }}
      if (!done()) {{ return null; }}
      await frame();
      return (performance.now() - start) / 1000;
    }}""")


def opened(slug: str) -> str:
    """True once a model's diagram and the first row of its layer table are in the page."""
    sel = json.dumps(f'[id="{slug}-diagram"] svg')
    row = json.dumps(f'table.layers[data-model="{slug}"] tbody tr[id]')
    return f"return !!document.querySelector({sel}) && !!document.querySelector({row});"


def open_model(page: Any, slug: str) -> float | None:
    page.evaluate("window.scrollTo(0, 0)")
    link = json.dumps(f'nav.toc a[href="#model-{slug}"]')
    return timed(page, f"document.querySelector({link}).click();", opened(slug))


def use(browser: Any, url: str, queries: list[str], layers: dict[str, int]) -> dict[str, Any]:
    """The steps of ``--use`` on one page, in order."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url, wait_until="load", timeout=600_000)
    result: dict[str, Any] = {}
    slugs = page.eval_on_selector_all(
        "section.model .section-body", "bs => bs.map(b => b.getAttribute('data-slug'))"
    )
    if not slugs:  # a report from before issue 27: every section is in the page already
        result["note"] = "no packed sections: nothing to unpack"
        return result
    largest = max(layers, key=lambda slug: layers[slug]) if layers else slugs[0]
    result["open_last"] = {"model": slugs[-1], "s": open_model(page, slugs[-1])}
    result["open_largest"] = {"model": largest, "s": open_model(page, largest)}
    searches = []
    for query in queries:
        page.evaluate("window.scrollTo(0, 0)")
        act = (
            "const i = document.querySelector('.toolbar input');"
            f"i.value = {json.dumps(query)}; i.dispatchEvent(new Event('input'));"
        )
        listed = "const c = document.querySelector('.search-count').textContent; return !!c && c !== '…';"
        took = timed(page, act, listed)
        count = page.text_content(".search-count")
        first = page.eval_on_selector(
            ".search-results", "l => l.querySelector('a.hit')?.getAttribute('href')"
        )
        opening = None
        if first:
            row = json.dumps(first[1:])
            done = f"const r = document.getElementById({row}); return !!r && r.classList.contains('flash');"
            opening = timed(page, "document.querySelector('.search-results a.hit').click();", done)
        searches.append({"query": query, "s": took, "found": count, "first": first, "open_s": opening})
    result["search"] = searches
    client = page.context.new_cdp_session(page)
    visits = [open_model(page, slug) for slug in slugs]
    result["visit_all"] = {
        "models": len(slugs),
        "max_s": max(v or 0 for v in visits),
        "sum_s": sum(v or 0 for v in visits),
    }
    client.send("HeapProfiler.collectGarbage")
    heap = client.send("Runtime.getHeapUsage")
    result["heap"] = {
        "js_used_mb": heap["usedSize"] / 1e6,
        "js_total_mb": heap["totalSize"] / 1e6,
        "dom_mb": heap.get("embedderHeapUsedSize", 0) / 1e6,
    }
    page.close()
    return result


def layer_counts(html: Path) -> dict[str, int]:
    """Each model's rows, by slug, from the report.json beside the page (empty without one)."""
    data = html.with_name("report.json")
    if not data.is_file():
        return {}
    return {m["slug"]: len(m["layers"]) for m in json.loads(data.read_text(encoding="utf-8"))["models"]}


def measure(
    path: Path, reps: int, interactive: bool = False, queries: list[str] | None = None
) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    url = path.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            runs = load_times(browser, url, reps)
            used = use(browser, url, queries or QUERIES, layer_counts(path)) if interactive else None
        finally:
            browser.close()
    out: dict[str, object] = {
        "html_bytes": path.stat().st_size,
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in ("fcp", "dom", "load", "goto_wall")},
    }
    if used is not None:
        out["use"] = used
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--use", action="store_true", help="also open models, search and read the heap")
    parser.add_argument("--query", action="append", help=f"a search (default: {', '.join(QUERIES)})")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(json.dumps({"error": f"{CHROMIUM} is not installed"}))
        return 1
    print(json.dumps(measure(args.html, args.reps, args.use, args.query)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
