"""How long Chromium takes to show a report's first screen (issue 13). Not a test: it measures.

    python benchmarks/first_screen.py reports/example/report.html [--reps 3]

Debian's Chromium (/usr/bin/chromium) is driven headless by playwright, as the browser tests do;
no browser is downloaded. Each repetition opens a fresh browser page and records, from the
navigation's start: the first contentful paint (the first screen a reader sees), DOMContentLoaded
(the whole document parsed) and the load event. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMING = """() => {
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  return {fcp: paint ? paint.startTime / 1000 : null,
          dom: nav.domContentLoadedEventEnd / 1000, load: nav.loadEventEnd / 1000};
}"""


def measure(path: Path, reps: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for _ in range(reps):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                start = time.perf_counter()
                page.goto(path.resolve().as_uri(), wait_until="load", timeout=600_000)
                wall = time.perf_counter() - start
                page.wait_for_function(
                    "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=60_000
                )
                runs.append({**page.evaluate(TIMING), "goto_wall": wall})
                page.close()
        finally:
            browser.close()
    return {
        "html_bytes": path.stat().st_size,
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in ("fcp", "dom", "load", "goto_wall")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(json.dumps({"error": f"{CHROMIUM} is not installed"}))
        return 1
    print(json.dumps(measure(args.html, args.reps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
