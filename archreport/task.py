"""What a worker does for one model: build, analyse, lay out the diagram."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from .analyse import analyse
from .build import build
from .data import DiagramInfo, ModelReport
from .dot import DiagramOptions, model_to_dot
from .graphviz import DiagramError, layout
from .manifest import ModelSpec
from .overview import overview_dot


def run(spec: ModelSpec, model_dir: str) -> ModelReport:
    """Build and analyse ``spec``; write its diagram files into ``model_dir``."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model = build(spec)
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    result = analyse(model, spec.slug)
    timings["analyse"] = time.perf_counter() - start

    start = time.perf_counter()
    warnings = list(result.warnings)
    source = model_to_dot(model, spec.diagram, id_prefix=f"{spec.slug}-", anchor_for=result.paths.get)
    diagram = draw(source, out, f"models/{spec.slug}", spec.diagram_formats, spec.diagram)
    if diagram.note:
        warnings.append(diagram.note)
    # Large models also get a one-page overview of their blocks; the full diagram follows it.
    overview = None
    overview_source = overview_dot(result.rows, id_prefix=f"{spec.slug}-ov-", rankdir=spec.diagram.rankdir)
    if overview_source is not None:
        overview = draw(
            overview_source,
            out / "overview",
            f"models/{spec.slug}/overview",
            ("svg", "pdf"),
            replace(spec.diagram, splines="spline"),
        )
    timings["layout"] = time.perf_counter() - start

    report = ModelReport(
        name=spec.name,
        slug=spec.slug,
        source=spec.source,
        description=spec.description,
        status="ok",
        totals=result.totals,
        layers=result.rows,
        input_shapes=result.input_shapes,
        output_shapes=result.output_shapes,
        diagram=diagram,
        overview=overview,
        warnings=warnings,
        timings=timings,
        kind=result.kind,
    )
    return report


def draw(
    source: str, out: Path, prefix: str, formats: tuple[str, ...], options: DiagramOptions
) -> DiagramInfo:
    """Lay out ``source`` once into ``out``; a diagram that cannot be drawn is a note, not a failure."""
    try:
        result = layout(source, out, formats=formats, options=options)
    except DiagramError as exc:
        return DiagramInfo(
            mode=None, attempts=[str(exc)], width_pt=0, height_pt=0, files={}, note=f"No diagram: {exc}"
        )
    return DiagramInfo(
        mode=result.mode,
        attempts=list(result.attempts),
        width_pt=result.width_pt,
        height_pt=result.height_pt,
        files={fmt: f"{prefix}/{name}" for fmt, name in result.files.items()},
        note=(
            f"Graphviz failed with splines={options.splines!r}; drawn with splines={result.mode!r}."
            if result.mode != options.splines
            else None
        ),
    )
