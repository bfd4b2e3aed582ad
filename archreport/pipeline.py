"""The orchestrator: manifest -> workers (build, analyse, diagram) -> render -> atomic move.

It reads like the pipeline. Keras objects live only in the workers (archreport.model);
everything here handles plain data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archreport import environment, manifest, runners, stopping, task
from archreport.checks import compare as diff
from archreport.checks import expect, gates
from archreport.data import ModelReport, Report
from archreport.errors import ModelError, OutputError, UsageError, compare_argument, plain, with_output
from archreport.manifest import paths, sources
from archreport.manifest.schema import Gates
from archreport.render import write
from archreport.runners.worker import memory_limit_from_env
from archreport.store import fingerprint, outputs
from archreport.store.cache import Cache, cache_key
from archreport.store.results import refusal, validated

CACHE_DIR = ".archreport-cache"  # beside the manifest
Progress = Callable[[str, ModelReport | None, str], None]


def generated_time() -> str:
    """The report's time stamp: SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None:
        now = dt.datetime.now(dt.UTC)
    else:
        try:
            if not re.fullmatch(
                r"[0-9]+", raw
            ):  # int() also takes "-1", " 5", "1_000" and other scripts' digits
                raise ValueError(raw)
            now = dt.datetime.fromtimestamp(int(raw), dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise UsageError(
                f"SOURCE_DATE_EPOCH={raw!r} is not a valid time: expected a whole number of seconds since "
                "1970-01-01 UTC, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)."
            ) from None
    return now.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def generate(
    manifest_path: str | Path,
    output_dir: str | Path | None = None,
    *,
    only: Iterable[str] = (),
    formats: Iterable[str] | None = None,
    jobs: int | None = None,
    use_cache: bool = True,
    compare: str | Path | None = None,
    executor: str | runners.Runner | None = None,
    progress: Progress | None = None,
    gate: Gates | None = None,
    pdf: str | None = None,
) -> Report:
    """Build, analyse and draw every model in the manifest and write the report.

    Args:
        manifest_path: the TOML manifest.
        output_dir: where to write; defaults to the manifest's ``[report] output_dir``.
        only: restrict the run to these model names.
        formats: report formats ("html", "pdf"); defaults to the manifest's.
        jobs: local worker processes (default: the number of CPUs); not for a cluster.
        use_cache: reuse analysed models from ``.archreport-cache/`` beside the manifest.
        compare: a baseline ``report.json`` or report folder for the "Changes" section.
        executor: where the models are built: "local" (archreport's worker processes),
            "dask://HOST:PORT" or "tls://HOST:PORT" (a Dask cluster), or a
            :class:`~archreport.runners.Runner`, which the caller shuts down. Default: the
            manifest's ``[report] executor``, else "local".
        progress: called as ``progress(model_name, report_or_None, stage)``.
        gate: gates for every model against ``compare`` (``--gate``); they override the
            manifest's ``[report.gates]``, and a model's ``[model.gates]`` overrides them.
        pdf: report.pdf's profile, "full" or "compact"; defaults to the manifest's ``[report] pdf``.

    Returns:
        The report data; the files are in the output folder when this returns.

    Raises:
        ManifestError: invalid manifest or arguments (nothing was built).
        SystemDependencyError: Graphviz or WeasyPrint is missing, or the Dask scheduler cannot be
            reached (nothing was built).
        RenderError: the report could not be rendered.
        OutputError: the report could not be written (disk full, permissions); the previous one is kept.
    """
    started = time.perf_counter()
    spec = manifest.load(manifest_path)
    only = list(only)
    if only:
        spec = spec.select(only)
    fmts = tuple(formats) if formats is not None else spec.formats
    _check_formats(fmts)
    out = paths.expand(output_dir) if output_dir is not None else spec.output_dir
    if executor is None or isinstance(executor, str):
        where = executor or spec.executor
        source = "--executor" if executor else f"[report] executor in {spec.path}"
        executor = runners.parse(where, source, jobs=jobs)
    return generate_specs(
        spec.models,
        out,
        title=spec.title,
        formats=fmts,
        page_size=spec.page_size,
        executor=executor,
        jobs=jobs,
        cache_dir=spec.path.resolve().parent / CACHE_DIR if use_cache else None,
        compare=compare,
        progress=progress,
        started=started,
        gate=gate,
        pdf=pdf or spec.pdf,
        tex=spec.tex,
    )


def generate_specs(
    models: Sequence[manifest.ModelSpec],
    output_dir: str | Path,
    *,
    title: str,
    formats: Iterable[str] = ("html", "pdf"),
    page_size: str = "A4",
    executor: str | runners.Runner = runners.LOCAL,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    compare: str | Path | None = None,
    progress: Progress | None = None,
    started: float | None = None,
    gate: Gates | None = None,
    pdf: str = "full",
    tex: manifest.TexTable | None = None,
) -> Report:
    """Build, analyse and draw ``models`` and write the report: the pipeline after the manifest.

    :func:`generate` reads a manifest into specs and calls this; the library's ``report``
    (api.py) makes the specs in memory. The report folder and its guarantees are the same.

    Args:
        models: the models' specs, with unique names and slugs.
        output_dir: where to write.
        title: the report's title.
        formats: report formats ("html", "pdf", "tex").
        page_size: the PDF's page size.
        executor: "local", a Dask scheduler's address as :func:`runners.parse` gives it, or a
            :class:`~archreport.runners.Runner`, which the caller shuts down.
        jobs: local worker processes (default: the number of CPUs).
        cache_dir: the cache folder, or None for no cache.
        compare: a baseline ``report.json`` or report folder for the "Changes" section.
        progress: called as ``progress(model_name, report_or_None, stage)``.
        started: when the run started (``time.perf_counter()``), for the report's wall time.
        gate: gates for every model against ``compare``, as :func:`generate` takes them.
        pdf: report.pdf's profile: "full" or "compact" (title, summary, each model's totals,
            overview and top-level layers).
        tex: the LaTeX kit's options (``[report.tex]``), when formats has "tex".

    Returns:
        The report data; the files are in the output folder when this returns.

    Raises:
        ManifestError: invalid arguments (nothing was built).
        SystemDependencyError: Graphviz or WeasyPrint is missing, or the Dask scheduler cannot be
            reached (nothing was built).
        RenderError: the report could not be rendered.
        OutputError: the report could not be written (disk full, permissions); the previous one is kept.
    """
    started = time.perf_counter() if started is None else started
    fmts = tuple(formats)
    _check_formats(fmts)
    if pdf not in manifest.PDF_PROFILES:
        raise UsageError(f"--pdf {pdf!r}: expected {' or '.join(manifest.PDF_PROFILES)}.")
    given = paths.expand(output_dir)
    if (refused := paths.tilde_folder(given, str(output_dir))) is not None:
        raise UsageError(f"output folder {refused}, or choose another folder {with_output()}.")
    out = _resolved(given)
    generated = generated_time()
    memory_limit = memory_limit_from_env()
    if gate is not None and gate.given() and compare is None:
        raise UsageError(
            f"gates need a baseline to measure each change against: add {compare_argument('BASELINE')}."
        )
    baseline = diff.load_baseline(paths.expand(compare)) if compare is not None else None
    outputs.check_folder(out)
    environment.check(fmts, out)

    versions = fingerprint.versions()
    # The workers render each model's report sections too, in parallel, and the cache keeps them.
    sections = (
        task.Render(
            page_size=page_size,
            html="html" in fmts,
            pdf="pdf" in fmts,
            profile=pdf if "pdf" in fmts else "full",
        )
        if "html" in fmts or "pdf" in fmts
        else None
    )
    cache = Cache(cache_dir) if cache_dir is not None else None
    # ``later``: what may finish while the report is written (the workers' shutdown), before the run ends.
    with outputs.staging(out) as staging, contextlib.ExitStack() as later:
        stopping.checkpoint()
        reports = _run_models(
            models, staging, out, versions, jobs, cache, executor, progress, memory_limit, sections, later
        )
        stopping.checkpoint()
        if cache is not None:
            cache.prune()
        report = Report(
            title=title,
            generated=generated,
            versions=versions,
            models=reports,
            page_size=page_size,
            output_dir=str(out),
            pdf_profile=pdf,
        )
        if baseline is not None:
            report.changes = diff.compare(baseline, write.report_dict(report))
            report.models = _gated(report.models, models, baseline, gate)
        reproducible = "SOURCE_DATE_EPOCH" in os.environ
        with outputs.writing(out):
            write.write_all(
                report, staging, fmts, timings=not reproducible, progress=progress, cache=cache, tex=tex
            )
            stopping.checkpoint()  # the last one: once the new report is swapped in, the run is done
            outputs.publish(staging, out)
        report.wall_time = time.perf_counter() - started
    return report


def _resolved(output_dir: Path) -> Path:
    """The output folder with its symbolic links resolved (the swap replaces the folder, never a link).

    Raises:
        OutputError: a link in the path loops (resolve() raised RuntimeError: a traceback).
    """
    try:
        return output_dir.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11-3.12 raise RuntimeError for a loop, 3.13 OSError
        raise OutputError(
            f"output folder {output_dir} cannot be read ({exc}); choose another {with_output()}."
        ) from None


def _check_formats(formats: tuple[str, ...]) -> None:
    for fmt in formats:
        if fmt not in manifest.REPORT_FORMATS:
            raise UsageError(
                f"--format {fmt!r}: expected one or more of {', '.join(manifest.REPORT_FORMATS)}."
            )


@dataclass(frozen=True)
class _Pending:
    """A model that was not in the cache: its task, and where its files and cache entry go."""

    model: manifest.ModelSpec
    key: str  # its cache key ("" without a cache)
    model_dir: Path  # its folder in the staging folder
    job: task.Task


@dataclass
class _Results:
    """The models' reports as they are finished, each told to ``progress``."""

    progress: Progress | None
    reports: dict[str, ModelReport] = field(default_factory=dict)

    def add(self, model: manifest.ModelSpec, report: ModelReport, stage: str) -> None:
        self.reports[model.name] = done = _finish(model, report)
        if self.progress:
            self.progress(model.name, done, stage)


def _run_models(
    models: Sequence[manifest.ModelSpec],
    staging: Path,
    out: Path,
    versions: dict[str, str],
    jobs: int | None,
    cache: Cache | None,
    executor: str | runners.Runner,
    progress: Progress | None,
    memory_limit: int | None = None,
    sections: task.Render | None = None,
    later: contextlib.ExitStack | None = None,
) -> list[ModelReport]:
    """Every model's report: from the cache, else built by a runner; their files go into ``staging``.

    ``executor`` is a runner, or the address of one for :func:`runners.start` (which starts it
    only if some model is not cached, and shuts it down at the end). Results are taken as
    they come, so writing and caching one model overlaps with building the others.

    The steps: :func:`_look_up` (the cache), :func:`_schedule` (submit what is left, in the
    order it should start) and :func:`_gather` (collect each result, or resubmit a fallback).
    """
    results = _Results(progress)
    try:
        pending = _look_up(models, staging, out, versions, cache, memory_limit, sections, results)
        if pending:
            _build(pending, out, jobs, cache, executor, memory_limit, sections, results, later)
    finally:
        # An early template no pool took (nothing to build, or built elsewhere) would go on taking
        # a core for nothing: with nothing pending, this runs as soon as the cache has answered.
        runners.discard_early()
    return [results.reports[m.name] for m in models]


def _look_up(
    models: Sequence[manifest.ModelSpec],
    staging: Path,
    out: Path,
    versions: dict[str, str],
    cache: Cache | None,
    memory_limit: int | None,
    sections: task.Render | None,
    results: _Results,
) -> list[_Pending]:
    """The models still to build, in manifest order; a cached model, or one whose task cannot be
    made (its sources unreadable), goes straight to ``results``."""
    pending = []
    for model in models:
        model_dir = staging / "models" / model.slug
        try:
            job, key = _task(model, versions, memory_limit, sections, with_key=cache is not None)
        except ModelError as exc:
            results.add(model, _failed(model, str(exc), ""), "done")
            continue
        hit = _cached(model, job, key, model_dir, out, versions, cache, sections)
        if hit is not None:
            results.add(model, hit, "cached")
        else:
            pending.append(_Pending(model, key, model_dir, job))
    return pending


def _cached(
    model: manifest.ModelSpec,
    job: task.Task,
    key: str,
    model_dir: Path,
    out: Path,
    versions: dict[str, str],
    cache: Cache | None,
    sections: task.Render | None,
) -> ModelReport | None:
    """The model's report from the cache, its diagrams and sections copied into ``model_dir``, or None."""
    started = time.perf_counter()
    with outputs.writing(out):  # a cache hit copies its diagrams and sections into staging
        model_dir.mkdir(parents=True, exist_ok=True)
        hit = cache.get(key, model_dir, model) if cache is not None else None
        if hit is None and cache is not None and (every := _every_section(sections)) is not None:
            hit = cache.get(cache_key(model, versions, job.files, job.architecture, every), model_dir, model)
    if hit is None:
        return None
    return replace(
        hit,
        name=model.name,
        source=model.source,
        description=model.description,
        timings={"cache": time.perf_counter() - started},
    )


def _build(
    pending: list[_Pending],
    out: Path,
    jobs: int | None,
    cache: Cache | None,
    executor: str | runners.Runner,
    memory_limit: int | None,
    sections: task.Render | None,
    results: _Results,
    later: contextlib.ExitStack | None = None,
) -> None:
    """Build the pending models on ``executor`` (a runner, or the address of one to start and shut down).

    A runner started here is shut down in the background once every model is in, and ``later``
    waits for that: its processes end while the report is written (tearing down a worker and
    the template that holds Keras took 0.13 s at the end of every run; issue 26).
    """
    ours: runners.Runner | None = None
    try:
        if isinstance(executor, str):
            run = ours = runners.start(executor, jobs=jobs, memory_limit=memory_limit, tasks=len(pending))
        else:
            run = executor
        # Finished futures arrive on a queue rather than through concurrent.futures.wait: wait()
        # takes every future's lock in a Python loop, and a Ctrl-C landing there leaves a lock held
        # that the runner's thread needs to settle that future; the cancelling shutdown then hangs.
        finished: queue.SimpleQueue[Future[task.TaskResult]] = queue.SimpleQueue()
        times = cache.times() if cache is not None else {}
        waiting = _schedule(run, pending, finished, results.progress, times)
        wanted = fingerprint.runtime()  # after the work is handed out: the workers start meanwhile
        preparing = _prepare(sections) if sections is not None else None
        _gather(run, waiting, finished, out, wanted, cache, results)
        if preparing is not None:
            preparing.join()
        if cache is not None:
            built = [results.reports[item.model.name] for item in pending]
            cache.note_times({report.slug: _took(report) for report in built if report.ok})
    except BaseException:
        if ours is not None:
            ours.shutdown(cancel=True)
            ours = None
        raise
    finally:
        if ours is not None and later is not None:
            closing = threading.Thread(target=ours.shutdown, name="archreport-shutdown", daemon=True)
            closing.start()
            later.callback(closing.join)
        elif ours is not None:
            ours.shutdown()


def _schedule(
    run: runners.Runner,
    pending: list[_Pending],
    finished: queue.SimpleQueue[Future[task.TaskResult]],
    progress: Progress | None,
    times: Mapping[str, float] | None = None,
) -> dict[Future[task.TaskResult], _Pending]:
    """Submit every pending task to ``run``, in the order they should start: the longest first.

    ``times`` are how long the models took the last time, by slug (the cache's record). The
    longest starts first, so the last model to finish is not a long one that started last
    while the other workers sat idle; a model never timed counts as the longest (it may be);
    equal ones keep the manifest's order. Each model is reported "queued" as it is
    submitted. Each future is put on ``finished`` once done.
    """
    times = times or {}
    ordered = sorted(pending, key=lambda item: -times.get(item.model.slug, float("inf")))
    waiting: dict[Future[task.TaskResult], _Pending] = {}
    for item in ordered:
        waiting[_submit(run, item.job, finished)] = item
        if progress:
            progress(item.model.name, None, "queued")
    return waiting


def _gather(
    run: runners.Runner,
    waiting: dict[Future[task.TaskResult], _Pending],
    finished: queue.SimpleQueue[Future[task.TaskResult]],
    out: Path,
    wanted: dict[str, str],
    cache: Cache | None,
    results: _Results,
) -> None:
    """Take each result as it finishes: a shape-only build that fell back is submitted again with
    TensorFlow; any other result's report and files are collected, cached when ok, and added to
    ``results``."""
    while waiting:
        for future in _finished_now(finished, waiting):
            item = waiting.pop(future)
            result = _outcome(future)
            retry = _fallback(item, result)
            if retry is not None:
                waiting[_submit(run, retry.job, finished)] = retry
                continue
            with outputs.writing(out):  # its diagrams and sections go into staging
                report = _collect(result, run.name, item.model, item.model_dir, wanted)
            if report.ok and cache is not None:
                cache.put(item.key, report, item.model_dir, item.model)
            results.add(item.model, report, "done")


def _finished_now(
    finished: queue.SimpleQueue[Future[task.TaskResult]], waiting: dict[Future[task.TaskResult], _Pending]
) -> list[Future[task.TaskResult]]:
    """Every future finished by now (waiting for the first), in slug order: the same order whatever -j is."""
    done = [_next_finished(finished)]
    with contextlib.suppress(queue.Empty):
        while True:
            done.append(finished.get_nowait())
    return sorted(done, key=lambda f: waiting[f].model.slug)


def _fallback(item: _Pending, result: task.TaskResult) -> _Pending | None:
    """The model's task again with TensorFlow, when its shape-only build asked for that; else None."""
    if result.fallback is None or result.error is not None:
        return None
    retry = replace(
        item.job,
        backend="tensorflow",
        fallback_reason=f"built with TensorFlow because {result.fallback}.",
        param_bytes=result.param_bytes,
    )
    return replace(item, job=retry)


def _took(report: ModelReport) -> float:
    """How long a model took to build, analyse, draw and render, in its worker."""
    return sum(seconds for stage, seconds in report.timings.items() if stage != "cache")


def _next_finished(finished: queue.SimpleQueue[Future[task.TaskResult]]) -> Future[task.TaskResult]:
    """The next finished future, waiting for it in short slices so that a stop is seen at once.

    Raises:
        KeyboardInterrupt: the command was asked to stop (stopping.request).
    """
    while True:
        stopping.checkpoint()
        try:
            return finished.get(timeout=0.1)
        except queue.Empty:
            continue


def _prepare(sections: task.Render) -> threading.Thread:
    """Set up assembling the reports in a background thread, while the workers build.

    The parent only waits on futures meanwhile; WeasyPrint, pikepdf and fontTools take about
    0.5 s to import, loading the fonts and subsetting the page numbers' font 0.3 s more, and
    compiling report.html's and the front matter's templates 0.07 s: after the last model,
    that was time on every run that builds (issues 13 and 26). The thread must end before the
    report is laid out (WeasyPrint's fonts are shared). A failure here is left to the real
    work later, which raises it where it is handled.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            from archreport.render.templating import jinja_environment

            env = jinja_environment()
            if sections.html:
                env.get_template("report.html.j2")
            if sections.pdf:
                from archreport.render.pdf import document

                document.prepare()
                env.get_template("print.html.j2")

    thread = threading.Thread(target=load, name="archreport-prepare", daemon=True)
    thread.start()
    return thread


def _task(
    model: manifest.ModelSpec,
    versions: dict[str, str],
    memory_limit: int | None,
    sections: task.Render | None,
    *,
    with_key: bool,
) -> tuple[task.Task, str]:
    """The model's task (its sources read and hashed) and, when the cache is on, its cache key."""
    files, architecture = sources.read(model)
    wanted = model.backend
    job = task.Task(
        spec=model,
        backend="shape-only" if wanted in ("auto", "shape-only") else wanted,
        files=files,
        architecture=architecture,
        timeout=model.timeout,
        memory_limit=memory_limit,
        render=sections,
    )
    return job, cache_key(model, versions, files, architecture, sections) if with_key else ""


def _every_section(sections: task.Render | None) -> task.Render | None:
    """What a run with both formats renders, when this run asks for one: an entry that such a
    run cached holds this run's section too, so ``--format html`` after a full run builds nothing
    (the section it does not need is dropped with the others)."""
    if sections is None or (sections.html and sections.pdf):
        return None
    return replace(sections, html=True, pdf=True)


def _submit(
    run: runners.Runner, job: task.Task, finished: queue.SimpleQueue[Future[task.TaskResult]]
) -> Future[task.TaskResult]:
    """The task's future, put on ``finished`` once done; a task the runner refuses is a failed result."""
    try:
        future = run.submit(job)
    except runners.Refused as exc:
        future = Future()
        future.set_result(task.TaskResult(error=f"refused: {exc}", ran_on=run.name))
    future.add_done_callback(finished.put)
    return future


def _outcome(future: Future[task.TaskResult]) -> task.TaskResult:
    try:
        return future.result()
    except Exception as exc:  # a runner should not raise; one that does fails this model only
        return runners.failure(exc, "the runner")


def _collect(
    result: task.TaskResult,
    where: str,
    model: manifest.ModelSpec,
    model_dir: Path,
    wanted: dict[str, str],
) -> ModelReport:
    """The model's report from its task's result, its files written into ``model_dir``.

    A result from a worker whose versions differ from ``wanted`` (this machine's) is not used.
    """
    mismatch = fingerprint.mismatch(wanted, result.versions, result.ran_on or where)
    # On a cluster, -v says which machine a failure happened on.
    on_cluster = where != runners.LOCAL and result.ran_on
    details = f"ran on {result.ran_on}\n{result.details}" if on_cluster else result.details
    if mismatch is not None:
        return _failed(model, mismatch, details)
    if result.error is not None:
        return _failed(model, result.error, details)
    if result.report is None:
        return _failed(model, f"the worker returned no report ({result.fallback or 'no reason given'}).", "")
    # Checked before anything is written: the worker is not trusted with the parent's disk (store/results.py).
    try:
        report = validated(result.report)
        why = refusal(model, report, result.files)
    except Exception as exc:  # whatever it holds, a result that cannot be read fails its model
        why = f"its report cannot be read ({type(exc).__name__}: {_first_line(exc)})"
    if why is not None:
        return _failed(
            model, f"archreport refused the worker's result: {why}; nothing of it was written.", details
        )
    for name, data in result.files.items():
        path = model_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return report


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _failed(model: manifest.ModelSpec, error: str, details: str) -> ModelReport:
    return ModelReport(
        name=model.name, slug=model.slug, source=model.source, description=model.description,
        status="failed", error=plain(error), details=details,
    )  # fmt: skip


def _gated(
    reports: list[ModelReport],
    specs: Sequence[manifest.ModelSpec],
    baseline: dict[str, Any],
    command: Gates | None,
) -> list[ModelReport]:
    """Each model with its gates checked against its baseline entry (after its own expectations)."""
    before = {m.get("name"): m for m in baseline["models"] if isinstance(m, dict)}
    out = []
    for spec, report in zip(specs, reports, strict=True):
        found = gates.check(report, before.get(spec.name), gates.effective(spec, command), spec.accept)
        out.append(replace(report, expectations=[*report.expectations, *found]) if found else report)
    return out


def _finish(model: manifest.ModelSpec, report: ModelReport) -> ModelReport:
    return replace(report, expectations=expect.check(report, model.expect))


__all__ = ["generate", "generate_specs", "generated_time"]
