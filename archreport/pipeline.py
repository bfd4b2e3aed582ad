"""The orchestrator: manifest -> workers (build, analyse, diagram) -> render -> atomic move.

It reads like the pipeline. Keras objects live only in the workers (task.py);
everything here handles plain data.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import compare as diff
from . import environment, expect, manifest, outputs, render, sources, task
from .cache import Cache, cache_key
from .data import ModelReport, Report
from .errors import ModelError, UsageError
from .worker import TaskOptions, WorkerFailure, WorkerPool, memory_limit_from_env

Progress = Callable[[str, ModelReport | None, str], None]


def generated_time() -> str:
    """The report's time stamp: SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None:
        now = dt.datetime.now(dt.UTC)
    else:
        try:
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
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> Report:
    """Build, analyse and draw every model in the manifest and write the report.

    Args:
        manifest_path: the TOML manifest.
        output_dir: where to write; defaults to the manifest's ``[report] output_dir``.
        only: restrict the run to these model names.
        formats: report formats ("html", "pdf"); defaults to the manifest's.
        jobs: worker processes (default: the number of CPUs).
        use_cache: reuse analysed models from ``.archreport-cache/`` beside the manifest.
        compare: a baseline ``report.json`` or report folder for the "Changes" section.
        executor: run tasks here instead of in archreport's own worker pool.
        progress: called as ``progress(model_name, report_or_None, stage)``.

    Returns:
        The report data; the files are in the output folder when this returns.

    Raises:
        ManifestError: invalid manifest or arguments (nothing was built).
        SystemDependencyError: Graphviz or WeasyPrint is missing (nothing was built).
        RenderError: the report could not be rendered.
        OutputError: the report could not be written (disk full, permissions); the previous one is kept.
    """
    started = time.perf_counter()
    spec = manifest.load(manifest_path)
    only = list(only)
    if only:
        spec = spec.select(only)
    fmts = tuple(formats) if formats is not None else spec.formats
    for fmt in fmts:
        if fmt not in manifest.REPORT_FORMATS:
            raise UsageError(f"--format {fmt!r}: expected html and/or pdf.")
    out = Path(output_dir) if output_dir is not None else spec.output_dir
    out = out.resolve()
    generated = generated_time()
    memory_limit = memory_limit_from_env()
    baseline = diff.load_baseline(Path(compare)) if compare is not None else None
    outputs.check_folder(out)
    environment.check(fmts, out)

    versions = environment.versions()
    with outputs.staging(out) as staging:
        models = _run_models(spec, staging, out, versions, jobs, use_cache, executor, progress, memory_limit)
        report = Report(
            title=spec.title,
            generated=generated,
            versions=versions,
            models=models,
            page_size=spec.page_size,
            output_dir=str(out),
        )
        if baseline is not None:
            report.changes = diff.compare(baseline, render.report_dict(report))
        reproducible = "SOURCE_DATE_EPOCH" in os.environ
        with outputs.writing(out):
            render.write_all(report, staging, fmts, timings=not reproducible, progress=progress)
            outputs.publish(staging, out)
        report.wall_time = time.perf_counter() - started
    return report


def _run_models(
    spec: manifest.Manifest,
    staging: Path,
    out: Path,
    versions: dict[str, str],
    jobs: int | None,
    use_cache: bool,
    executor: Executor | None,
    progress: Progress | None,
    memory_limit: int | None = None,
) -> list[ModelReport]:
    cache = Cache(spec.path.resolve().parent / ".archreport-cache") if use_cache else None
    results: dict[str, ModelReport] = {}
    todo: list[tuple[manifest.ModelSpec, str, Path, task.Task | None, str | None]] = []
    for model in spec.models:
        model_dir = staging / "models" / model.slug
        try:
            job, key = _task(model, versions, memory_limit, with_key=cache is not None)
        except ModelError as exc:
            todo.append((model, "", model_dir, None, str(exc)))
            continue
        started = time.perf_counter()
        with outputs.writing(out):  # a cache hit copies its diagrams into staging
            model_dir.mkdir(parents=True, exist_ok=True)
            hit = cache.get(key, model_dir) if cache is not None else None
        if hit is not None:
            hit = replace(
                hit,
                name=model.name,
                source=model.source,
                description=model.description,
                timings={"cache": time.perf_counter() - started},
            )
            results[model.name] = _finish(model, hit)
            if progress:
                progress(model.name, results[model.name], "cached")
        else:
            todo.append((model, key, model_dir, job, None))

    own_pool = None
    try:
        if todo and executor is None:
            own_pool = executor = WorkerPool(
                min(jobs or os.cpu_count() or 1, len(todo)), memory_limit=memory_limit
            )
        pending = []
        for model, key, model_dir, waiting, error in todo:
            future = _submit(executor, waiting) if waiting is not None and executor is not None else None
            pending.append((model, key, model_dir, waiting, error, future))
            if progress:
                progress(model.name, None, "queued")
        for model, key, model_dir, queued, error, future in pending:
            if future is None or queued is None:
                result = _failed(model, error or "", "")
            else:
                with outputs.writing(out):  # its diagrams go into staging
                    result = _collect(executor, queued, future, model, model_dir)
                if result.ok and cache is not None:
                    cache.put(key, result, model_dir)
            results[model.name] = _finish(model, result)
            if progress:
                progress(model.name, results[model.name], "done")
    except BaseException:
        if own_pool is not None:
            own_pool.shutdown(wait=True, cancel_futures=True)
            own_pool = None
        raise
    finally:
        if own_pool is not None:
            own_pool.shutdown(wait=True)
    return [results[m.name] for m in spec.models]


def _task(
    model: manifest.ModelSpec, versions: dict[str, str], memory_limit: int | None, *, with_key: bool
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
    )
    return job, cache_key(model, versions, files, architecture) if with_key else ""


def _submit(executor: Executor, job: task.Task) -> Future[Any]:
    if isinstance(executor, WorkerPool):
        options = TaskOptions(timeout=job.timeout, dedicated=job.isolated, backend=job.backend)
        return executor.submit(task.execute, job, _options=options)
    return executor.submit(task.execute, job)


def _collect(
    executor: Executor | None, job: task.Task, future: Future[Any], model: manifest.ModelSpec, model_dir: Path
) -> ModelReport:
    """The model's report from its task, its files written into ``model_dir``.

    A shape-only build that cannot run the model ("auto") is retried for real, with TensorFlow.
    """
    result: task.TaskResult
    try:
        result = future.result()
        if result.fallback is not None and executor is not None:
            retry = replace(
                job,
                backend="tensorflow",
                fallback_reason=f"built with TensorFlow because {result.fallback}.",
                param_bytes=result.param_bytes,
            )
            result = _submit(executor, retry).result()
    except WorkerFailure as exc:
        return _failed(model, str(exc), exc.details)
    except Exception as exc:
        return _failed(model, f"{type(exc).__name__}: {exc}", "")
    if result.report is None:
        return _failed(model, f"the worker returned no report ({result.fallback or 'no reason given'}).", "")
    for name, data in result.files.items():
        path = model_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return result.report


def _failed(model: manifest.ModelSpec, error: str, details: str) -> ModelReport:
    return ModelReport(
        name=model.name, slug=model.slug, source=model.source, description=model.description,
        status="failed", error=error, details=details,
    )  # fmt: skip


def _finish(model: manifest.ModelSpec, report: ModelReport) -> ModelReport:
    return replace(report, expectations=expect.check(report, model.expect))


__all__ = ["generate", "generated_time"]
