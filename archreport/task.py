"""What a worker does for one model: build, analyse, lay out the diagram."""

from __future__ import annotations

import time
from pathlib import Path

from .analyse import analyse
from .build import build
from .data import DiagramInfo, ModelReport
from .diagram import DiagramError, model_to_dot, render
from .manifest import ModelSpec


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
    try:
        source = model_to_dot(model, spec.diagram, id_prefix=f"{spec.slug}-", anchor_for=result.paths.get)
        layout = render(source, out, formats=spec.diagram_formats, options=spec.diagram)
        diagram = DiagramInfo(
            mode=layout.mode,
            attempts=list(layout.attempts),
            width_pt=layout.width_pt,
            height_pt=layout.height_pt,
            files={fmt: f"models/{spec.slug}/{name}" for fmt, name in layout.files.items()},
            note=(
                f"Graphviz failed with splines={spec.diagram.splines!r}; drawn with splines={layout.mode!r}."
                if layout.mode != spec.diagram.splines
                else None
            ),
        )
        if diagram.note:
            warnings.append(diagram.note)
    except DiagramError as exc:
        diagram = DiagramInfo(mode=None, attempts=[str(exc)], width_pt=0, height_pt=0, files={}, note=f"No diagram: {exc}")
        warnings.append(diagram.note or "")
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
        warnings=warnings,
        timings=timings,
        kind=result.kind,
    )
    return report
