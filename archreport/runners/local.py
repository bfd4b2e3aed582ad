"""Tasks in archreport's own worker processes on this machine (worker.py), and in one started
for another engine's worker (a Dask task, dask.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from functools import partial

from archreport.model.job import execute
from archreport.runners.base import LOCAL, Honours, check, failure, limits
from archreport.runners.worker import Cancel, WorkerPool, run_kept
from archreport.store import fingerprint
from archreport.task import Task, TaskResult


def work(task: Task) -> TaskResult:
    """Run ``task`` in this worker process and say which versions it ran with."""
    result = execute(task)
    result.versions = fingerprint.runtime()
    return result


def run_isolated(
    task: Task,
    expected: dict[str, str],
    where: str,
    run: str,
    cancel: Callable[[], Cancel] | None = None,
) -> TaskResult:
    """``task`` in an archreport worker process started from this one, for an engine's worker (Dask's). Never raises.

    The engine only carries the task: archreport enforces its limits, and a crash, a
    time-out or an out-of-memory stop is a result, so the engine never retries it. The
    process is kept for the calling thread's next task, as the local pool keeps its
    workers (worker.run_kept); a ``trust = true`` model gets one of its own.
    A worker whose versions differ from ``expected`` (the parent's) fails the task at once.

    Args:
        task: the task, with its limits.
        expected: the parent's :func:`fingerprint.runtime`.
        where: this worker, for messages ("the Dask worker tcp://10.0.0.7:40123 (node-7)").
        run: the run the task belongs to; only its tasks share a kept process.
        cancel: makes the engine's "stop now" signal, polled while the task runs.
    """
    found: dict[str, str] = {}
    try:
        found = fingerprint.runtime()
        problem = fingerprint.mismatch(expected, found, where)
        if problem is not None:
            return TaskResult(error=problem, versions=found, ran_on=where)
        result: TaskResult = run_kept(work, (task,), limits(task), run, cancel() if cancel else None)
    except Exception as exc:
        result = failure(exc, where)
    result.ran_on = where
    result.versions = result.versions or found
    return result


class LocalRunner:
    """Tasks in archreport's own worker processes on this machine (worker.py); honours every setting."""

    honours = Honours()
    name = LOCAL

    def __init__(self, jobs: int, *, memory_limit: int | None = None) -> None:
        self._pool = WorkerPool(jobs, memory_limit=memory_limit)
        self._spare_core = jobs < (os.cpu_count() or 1)

    def submit(self, task: Task) -> Future[TaskResult]:
        check(self.name, self.honours, task)
        task = replace(task, spare_core=self._spare_core)
        outer: Future[TaskResult] = Future()
        self._pool.submit(work, task, limits=limits(task)).add_done_callback(partial(_settle, outer))
        return outer

    def shutdown(self, *, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def _settle(outer: Future[TaskResult], inner: Future[TaskResult]) -> None:
    where = "a local worker process"
    if inner.cancelled():
        outer.set_result(TaskResult(error="cancelled: archreport is shutting down.", ran_on=where))
        return
    exc = inner.exception()
    result = failure(exc, where) if exc is not None else inner.result()
    result.ran_on = result.ran_on or where
    outer.set_result(result)
