"""The worker side of a task: build the model, trace and analyse it, draw its diagrams, render its sections.

:func:`execute` runs in a worker process (a local one, or on a Dask worker) and
returns a :class:`~archreport.task.TaskResult` holding plain data and the files
it wrote, as bytes; it never reads the manifest's folder. :func:`analyse_and_draw`
is everything after the build, shared with the library's in-process models.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archreport.data import SECTION_FILES, SECTIONS, DiagramInfo, LayerRow, ModelReport, SweepPoint
from archreport.errors import ModelError, plain
from archreport.manifest import ModelSpec
from archreport.manifest.sources import SourceFile
from archreport.task import KERAS_BACKEND, Render, Task, TaskResult

if TYPE_CHECKING:
    import jinja2

    from archreport.diagram.dot import DiagramOptions
    from archreport.model.analyse import Analysis


def choose_backend(backend: str) -> None:
    """Make ``backend`` (one of task.BACKENDS) this process's Keras backend; call before Keras is imported."""
    os.environ["KERAS_BACKEND"] = KERAS_BACKEND[backend]


def prepare_backend(backend: str, *, warm: bool, render: bool = False) -> None:
    """Import Keras in a worker process chosen for ``backend``, and set it up for shape-only builds.

    ``warm``: import a real backend (TensorFlow: seconds) now, while the parent is still busy
    handing out work; a failure is left to the first task, which reports it.
    ``render``: then set up the report sections' renderer (:func:`prepare_render`). In a thread
    beside the Keras import it took as long (2.7 to 3.0 s either way): both imports are Python
    holding the interpreter's lock.
    """
    if backend == "shape-only":
        import keras

        from archreport.model import keras_compat

        keras_compat.enable_shape_only()
    elif warm:
        with contextlib.suppress(Exception):
            import keras  # noqa: F401
    if render:
        prepare_render()


def prepare_render() -> None:
    """Set up what rendering a model's sections needs, once per process, before the first model.

    The templates and the fonts archreport draws with cost the first model in each worker
    about 1 s more than the others (issue 26); WeasyPrint is left to a section that needs it
    (section.prepare). A failure is left to the first model that renders, which reports it.
    """
    with contextlib.suppress(Exception):
        from archreport.render.pdf.section import prepare

        env = environment()
        env.get_template("report_section.html.j2")
        prepare(env, weasyprint=False)


@functools.cache
def environment() -> jinja2.Environment:
    """This process's Jinja environment for the sections: each template compiles once, not once per model."""
    from archreport.render.templating import jinja_environment

    return jinja_environment()


_SOURCE_ROOT: list[str] = []  # this process's folder for shipped sources, made on first use


def _source_root() -> str:
    if not _SOURCE_ROOT:
        root = tempfile.mkdtemp(prefix="archreport-src-")
        atexit.register(shutil.rmtree, root, True)
        _SOURCE_ROOT.append(root)
    return _SOURCE_ROOT[0]


@contextlib.contextmanager
def _sources(files: tuple[SourceFile, ...]) -> Iterator[str]:
    """Write the task's builder modules into a folder named after their contents; forget them afterwards.

    The folder lives as long as the worker, so tracebacks can show the builder's lines.
    The worker serves many tasks, maybe from other manifests: modules imported from
    this folder leave ``sys.modules`` when the task ends, so a module of the same name
    in the next task is imported afresh.
    """
    digest = hashlib.sha256("\0".join(f"{f.path}\0{f.sha256}" for f in files).encode()).hexdigest()[:20]
    folder = str(Path(_source_root(), digest))
    if not Path(folder).is_dir():
        staging = tempfile.mkdtemp(dir=_source_root())
        for f in files:
            path = Path(staging, *f.path.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.data)
        os.replace(staging, folder)
    try:
        yield folder
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(folder + os.sep):
                del sys.modules[name]


def _raised_by_the_builder(exc: BaseException, folder: str) -> bool:
    """Whether the error comes from the builder's own code (a ``raise`` in its module), not from a
    backend it cannot run on: only the latter is worth a real TensorFlow build."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(folder + os.sep)


def execute(task: Task) -> TaskResult:
    """Build, analyse and draw ``task.spec`` in this process (a worker whose Keras backend fits the task).

    Raises:
        ModelError: the model cannot be built or analysed; the message says why.
    """
    # The worker's modules are imported here: a parent serving every model from its cache never loads them.
    from archreport.model.build import build

    spec = task.spec
    timings: dict[str, float] = {}
    warnings: list[str] = []
    shape_only = task.backend == "shape-only"
    can_fall_back = shape_only and spec.backend == "auto"
    with _sources(task.files) as base_dir, tempfile.TemporaryDirectory(prefix="archreport-out-") as out:
        start = time.perf_counter()
        if (
            task.param_bytes is not None
            and task.memory_limit is not None
            and task.param_bytes > task.memory_limit
        ):
            raise ModelError(
                f"a real {task.backend} build needs {task.param_bytes / 2**30:.1f} GiB for its weights alone, over "
                f"the limit of {task.memory_limit / 2**30:.1f} GiB (ARCHREPORT_MEMORY_LIMIT); it was not attempted."
            )
        reads = None
        try:
            if shape_only:
                from archreport.model import keras_compat

                with keras_compat.watching_weight_reads(base_dir) as reads:
                    model = build(spec, base_dir, task.architecture, shape_only=True)
            else:
                model = build(spec, base_dir, task.architecture)
        except ModelError:
            raise
        except Exception as exc:
            read = list(reads.names) if reads is not None else []
            raised = f"{type(exc).__name__}: {_short(exc)}"
            # An error the builder raises itself is its own, unless it read weight values first:
            # they are all zero in a shape-only build, and may be why it raised.
            if can_fall_back and read:
                return TaskResult(
                    fallback=f"the builder computed on weight values ({', '.join(read[:4])}), which are "
                    f"all zero in a shape-only build, and then raised {raised}"
                )
            if can_fall_back and not _raised_by_the_builder(exc, base_dir):
                return TaskResult(fallback=f"building it shape-only raised {raised}")
            raise
        read = list(reads.names) if reads is not None else []
        if read:
            if can_fall_back:
                from archreport.model.rows import weight_bytes

                return TaskResult(
                    fallback=f"the builder computed on weight values ({', '.join(read[:4])}), which are all "
                    "zero in a shape-only build",
                    param_bytes=weight_bytes(model.weights),
                )
            warnings.append(
                f"The builder computed on weight values ({', '.join(read[:4])}); in a shape-only build they are "
                "all zero, so anything it derived from them is not what a real build would give."
            )
        timings["build"] = time.perf_counter() - start
        report = analyse_and_draw(
            model,
            spec,
            Path(out),
            backend=task.backend,
            backend_note=task.fallback_reason,
            warnings=warnings,
            timings=timings,
            render=task.render,
            spare_core=task.spare_core,
        )
        files = model_files(Path(out), spec.slug)
    return TaskResult(report=report, files=files)


def analyse_and_draw(
    model: Any,
    spec: ModelSpec,
    report_dir: Path,
    *,
    backend: str,
    backend_note: str | None = None,
    warnings: Sequence[str] = (),
    timings: dict[str, float] | None = None,
    render: Render | None = None,
    spare_core: bool = False,
) -> ModelReport:
    """Everything after the build: analyse a built ``model``, draw its diagrams and render its sections.

    The files go into ``report_dir/models/<slug>/`` (laid out as in the report, so the sections
    find them). Shared by :func:`execute` (a worker's model) and the library's in-process models
    (api.py), which analyse a live model on whatever Keras backend built it.

    Args:
        model: a built ``keras.Model``; only traced symbolically, never changed.
        spec: the model's name, slug, diagram options, batch size and input shapes.
        report_dir: the report folder (or a scratch folder laid out like one).
        backend: what built the model, for the report.
        backend_note: why it was not built shape-only, when "auto" fell back.
        warnings: warnings from the build, shown before the analysis's own.
        timings: stage times so far; the analysis's stages are added.
        render: the report sections to render, if any.
        spare_core: a core of this machine would sit idle meanwhile (Graphviz may use it).

    Raises:
        ModelError: the model cannot be analysed.
    """
    timings = dict(timings or {})
    result, points, notes = _analyse(model, spec, timings)
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
        warnings=[*warnings, *notes, *result.warnings],
        timings=timings,
        kind=result.kind,
        backend=backend,
        backend_note=backend_note,
        repeated_blocks=result.repeated_blocks,
        sweep=points,
    )
    sources = _dot_sources(model, spec, result)
    report, body, body_time = _draw(report, sources, spec, report_dir, render, spare_core)
    if render is None:
        return report
    from archreport.render.pdf.section import failure_note

    start = time.perf_counter()
    # The body was laid out before the diagram was drawn: again if it must name a failure.
    render_sections(report, report_dir, render, body=body if failure_note(report) is None else None)
    took = body_time + time.perf_counter() - start
    return replace(report, timings={**report.timings, "render": took})


def _analyse(
    model: Any, spec: ModelSpec, timings: dict[str, float]
) -> tuple[Analysis, list[SweepPoint], list[str]]:
    """The model's analysis at its declared inputs, its sweep's points and the sweep's notes; times into ``timings``."""
    from archreport.model.analyse import analyse

    start = time.perf_counter()
    result = analyse(
        model,
        spec.slug,
        batch_size=spec.batch_size,
        inputs=spec.inputs,
        input_shapes=spec.input_shapes,
        input_values=spec.input_values,
    )
    timings["analyse"] = time.perf_counter() - start
    if spec.sweep is None:
        return result, [], []
    from archreport.model import sweep

    start = time.perf_counter()
    points, notes = sweep.points(
        model,
        spec.slug,
        spec.sweep,
        batch_size=spec.batch_size,
        inputs=spec.inputs,
        input_shapes=spec.input_shapes,
        input_values=spec.input_values,
    )
    timings["sweep"] = time.perf_counter() - start
    return result, points, notes


def _dot_sources(model: Any, spec: ModelSpec, result: Analysis) -> tuple[str, str | None]:
    """The model's full diagram in DOT, and its one-page overview (large models, repeated blocks) or None."""
    from archreport.diagram.overview import overview_dot
    from archreport.model.graph import model_to_dot

    source = model_to_dot(
        model,
        spec.diagram,
        id_prefix=f"{spec.slug}-",
        anchor_for=result.paths.get,
        # Declared input shapes: the diagram shows what was traced, as the table does.
        shapes_for=traced_shapes(result.rows) if spec.inputs or spec.input_shapes else lambda path: None,
    )
    overview = overview_dot(
        result.rows,
        id_prefix=f"{spec.slug}-ov-",
        rankdir=spec.diagram.rankdir,
        repeated=result.repeated_blocks,
    )
    return source, overview


def _draw(
    report: ModelReport,
    sources: tuple[str, str | None],
    spec: ModelSpec,
    report_dir: Path,
    render: Render | None,
    spare_core: bool = False,
) -> tuple[ModelReport, bytes | None, float]:
    """``report`` with its diagrams drawn into ``report_dir``; its PDF section's body, laid out meanwhile, and how long that took."""
    source, overview_source = sources
    folder = report_dir / "models" / spec.slug
    # Graphviz draws in processes of its own, the threads only wait for them: meanwhile this
    # thread lays out the PDF section's pages that do not show the diagram.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="archreport-dot") as pool:
        drawing = pool.submit(
            _timed,
            draw,
            source,
            folder,
            f"models/{spec.slug}",
            spec.diagram_formats,
            spec.diagram,
            spare_core,
        )
        overview_drawing = (
            pool.submit(
                _timed,
                draw,
                overview_source,
                folder / "overview",
                f"models/{spec.slug}/overview",
                ("svg", "pdf"),
                replace(spec.diagram, splines="spline"),
            )
            if overview_source is not None
            else None
        )
        start = time.perf_counter()
        body = _section_body(report, report_dir, render) if render is not None and render.pdf else None
        body_time = time.perf_counter() - start
        diagram, took = drawing.result()
        overview, overview_took = overview_drawing.result() if overview_drawing is not None else (None, 0.0)
    timings = {**report.timings, "layout": max(took, overview_took)}
    warnings = [*report.warnings, diagram.note] if diagram.note else report.warnings
    return (
        replace(report, diagram=diagram, overview=overview, warnings=warnings, timings=timings),
        body,
        body_time,
    )


def _timed(fn: Callable[..., DiagramInfo], *args: Any) -> tuple[DiagramInfo, float]:
    start = time.perf_counter()
    return fn(*args), time.perf_counter() - start


def _section_body(report: ModelReport, report_dir: Path, render: Render) -> bytes:
    from archreport.render.pdf.section import section_body

    return section_body(
        report, report_dir, page_size=render.page_size, env=environment(), profile=render.profile
    )


def model_files(report_dir: Path, slug: str) -> dict[str, bytes]:
    """The files :func:`analyse_and_draw` wrote for a model, relative to ``models/<slug>/``, as bytes."""
    folder = report_dir / "models" / slug
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def traced_shapes(rows: list[LayerRow]) -> Callable[[tuple[str, ...]], tuple[str | None, str | None] | None]:
    """Each layer's traced shape texts by path, in Keras's label style."""
    by_path = {tuple(r.path.split("/")): r for r in rows}

    def shapes(path: tuple[str, ...]) -> tuple[str | None, str | None] | None:
        row = by_path.get(path)
        if row is None or not row.called:
            return None
        inputs = row.input_shapes
        text = inputs[0] if len(inputs) == 1 else ("[" + ", ".join(inputs) + "]" if inputs else None)
        return text, row.output_shape or None

    return shapes


def render_sections(
    report: ModelReport, report_dir: Path, render: Render, *, body: bytes | None = None
) -> None:
    """Write the model's HTML fragment (packed, as report.html stores it) and PDF section into ``models/<slug>/.sections``.

    They depend only on the analysed model, its files and the page size, so they are
    rendered here, in the worker, in parallel with the other models, and cached with it.
    ``body`` is the PDF section's :func:`archreport.render.pdf.section.section_body`, when it was laid out already.
    """
    from archreport.render import html_report
    from archreport.render.pdf import document

    env = environment()
    folder = report_dir / "models" / report.slug / SECTIONS
    folder.mkdir(parents=True, exist_ok=True)
    if render.html:
        (folder / SECTION_FILES["html"]).write_bytes(
            html_report.pack(html_report.render_section_html(report, report_dir, env))
        )
    if render.pdf:
        (folder / SECTION_FILES["pdf"]).write_bytes(
            document.render_section_pdf(
                report, report_dir, page_size=render.page_size, env=env, body=body, profile=render.profile
            )
        )


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(plain(str(exc)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def draw(
    source: str,
    out: Path,
    prefix: str,
    formats: tuple[str, ...],
    options: DiagramOptions,
    spare_core: bool = False,
) -> DiagramInfo:
    """Lay out ``source`` once into ``out``; a diagram that cannot be drawn is a note, not a failure.

    ``spare_core``: a fallback splines mode may be laid out beside the first (diagram.layout).
    """
    from archreport.diagram.layout import DiagramError, layout

    try:
        result = layout(source, out, formats=formats, options=options, spare_core=spare_core)
    except DiagramError as exc:
        return DiagramInfo(
            mode=None, attempts=[str(exc)], width_pt=0, height_pt=0, files={}, note=f"No diagram: {exc}"
        )
    notes = [f"No diagram.{fmt}: {why}" for fmt, why in result.missing.items()]
    if result.mode != options.splines:
        notes.insert(
            0, f"Graphviz failed with splines={options.splines!r}; drawn with splines={result.mode!r}."
        )
    return DiagramInfo(
        mode=result.mode,
        attempts=list(result.attempts),
        width_pt=result.width_pt,
        height_pt=result.height_pt,
        files={fmt: f"{prefix}/{name}" for fmt, name in result.files.items()},
        note=" ".join(notes) or None,
    )
