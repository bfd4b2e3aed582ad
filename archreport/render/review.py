"""The visual diff's drawings: both sides of each changed model, laid out once for the HTML and the PDF.

compare.py puts each changed model's block-level graph, baseline and current, in
``report.changes`` (checks/blocks.py). Here each side is written as DOT
(diagram/diff.py) and laid out by Graphviz into
``models/<slug>/changes/{baseline,current}/`` (SVG for the HTML, PDF for the PDF's
page, DOT to diff by hand). The layouts are independent Graphviz processes, so they
run a few at a time.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archreport.data import Report
from archreport.diagram import diff
from archreport.diagram.dot import DiagramOptions
from archreport.diagram.layout import layout
from archreport.errors import DiagramError

SIDES = ("baseline", "current")
LABELS = {"baseline": "Baseline", "current": "This report"}
_OPTIONS = DiagramOptions(splines="spline", timeout=60.0)


@dataclass(frozen=True)
class Drawing:
    """One changed model's two drawings."""

    name: str
    slug: str
    files: dict[str, dict[str, str]]  # side -> format -> path relative to the report folder
    sizes: dict[str, tuple[float, float]]  # side -> (width, height) in pt
    counts: dict[str, int] = field(
        default_factory=dict
    )  # nodes by status, of both sides ("removed": baseline)
    note: str | None = None  # why it could not be drawn


def _slug(report: Report, name: str) -> str | None:
    return next((m.slug for m in report.models if m.name == name), None)


def draw(report: Report, out: Path, formats: tuple[str, ...]) -> list[Drawing]:
    """Lay out both sides of every changed model that has a graph; in report order.

    Args:
        report: the report, with ``changes``.
        out: the report folder (staging).
        formats: the report's formats: SVG is drawn for "html", PDF for "pdf".
    """
    entries = [c for c in (report.changes or {}).get("models_changed") or [] if c.get("graph")]
    wanted = tuple(f for f, needed in (("svg", "html" in formats), ("pdf", "pdf" in formats)) if needed)
    if not entries or not wanted:
        return []
    jobs = []
    for entry in entries:
        slug = _slug(report, entry["name"])
        if slug is not None:
            jobs.append((entry, slug))
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda job: _draw(job[0], job[1], out, wanted), jobs))


def _draw(entry: dict[str, Any], slug: str, out: Path, formats: tuple[str, ...]) -> Drawing:
    graph = entry["graph"]
    files: dict[str, dict[str, str]] = {}
    sizes: dict[str, tuple[float, float]] = {}
    for side in SIDES:
        folder = Path("models") / slug / "changes" / side
        source = diff.side_dot(
            graph[side],
            id_prefix=f"{slug}-diff-{side[0]}-",
            current=side == "current",
            link=side == "current",
        )
        try:
            result = layout(source, out / folder, formats=formats, options=_OPTIONS)
        except DiagramError as exc:
            return Drawing(entry["name"], slug, {}, {}, note=str(exc))
        files[side] = {fmt: (folder / name).as_posix() for fmt, name in result.files.items()}
        sizes[side] = (result.width_pt, result.height_pt)
    counts = diff.counts(graph["current"])
    removed = diff.counts(graph["baseline"]).get("removed")
    if removed:
        counts["removed"] = removed
    return Drawing(entry["name"], slug, files, sizes, counts)


def svgs(drawings: list[Drawing], out: Path) -> dict[str, dict[str, str]]:
    """Each drawn model's SVGs, ready to inline, by model name: ``{name: {side: svg}}``."""
    from archreport.diagram.svg import svg_for_inline

    found = {}
    for d in drawings:
        if all("svg" in d.files.get(side, {}) for side in SIDES):
            found[d.name] = {
                side: svg_for_inline((out / d.files[side]["svg"]).read_text(encoding="utf-8"))
                for side in SIDES
            }
    return found
