"""Runners: where tasks run. The local process pool is one; a Dask cluster is another (dask_runner.py).

A :class:`Runner` takes a :class:`~archreport.task.Task` and hands back a
future of its :class:`~archreport.task.TaskResult`. The task carries its own
limits: a time limit, a memory limit, whether it needs a process of its own
(``trust = true``) and the backend that builds it. A runner either honours
every one of them or refuses the task with :class:`Refused`, which fails that
model with the runner's reason; it never drops a limit silently.

A failure comes back as data (``TaskResult.error``), never as an exception
from the future: a distributed engine would take a raising task for a reason
to retry it elsewhere.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from . import environment
from .errors import ModelError, UsageError
from .task import BACKENDS, Task, TaskResult, execute
from .worker import Cancel, Limits, WorkerFailure, WorkerPool, run_kept

LOCAL = "local"
# The same forms as the manifest's [report] executor; "dask://" is Dask's plain "tcp://".
_ADDRESS = re.compile(
    r"(dask|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})"
)


class Refused(ModelError):
    """A runner cannot honour one of a task's settings; that model fails with the reason."""


class Runner(Protocol):
    """Runs tasks somewhere and hands back their results."""

    @property
    def name(self) -> str:
        """What the messages call it: "local", "dask://HOST:PORT"."""
        ...

    def submit(self, task: Task) -> Future[TaskResult]:
        """Start ``task``. The future's result is its :class:`TaskResult`, failures included.

        Raises:
            Refused: the runner cannot honour one of the task's settings.
        """
        ...

    def shutdown(self, *, cancel: bool = False) -> None:
        """Release the runner; with ``cancel``, stop running and queued tasks now."""
        ...


@dataclass(frozen=True)
class Honours:
    """The task settings a runner can enforce."""

    time_limit: bool = True
    memory_limit: bool = True
    isolation: bool = True  # a process of its own for a model that opted out of safe mode
    backends: tuple[str, ...] = BACKENDS


def check(runner: str, honours: Honours, task: Task) -> None:
    """Refuse ``task`` if ``runner`` cannot honour one of its settings.

    Raises:
        Refused: naming the setting and the runner.
    """
    if task.isolated and not honours.isolation:
        raise Refused(
            f"the {runner} runner has no process isolation, which `trust = true` needs (this model's "
            "Lambda layers load with safe mode off, in a process of their own). Run it with --executor local."
        )
    if not honours.time_limit:
        raise Refused(f"the {runner} runner cannot enforce the model's time limit ({task.timeout:g} s).")
    if task.memory_limit is not None and not honours.memory_limit:
        raise Refused(
            f"the {runner} runner cannot enforce the memory limit ({task.memory_limit / 2**30:.2f} GiB, "
            "ARCHREPORT_MEMORY_LIMIT)."
        )
    if task.backend not in honours.backends:
        raise Refused(
            f"the {runner} runner cannot build with backend {task.backend!r}; it has {', '.join(honours.backends)}."
        )


def limits(task: Task, *, dedicated: bool = False) -> Limits:
    """The limits a worker process enforces for ``task``."""
    return Limits(
        timeout=task.timeout,
        memory_limit=task.memory_limit,
        dedicated=dedicated or task.isolated,
        backend=task.backend,
    )


def work(task: Task) -> TaskResult:
    """Run ``task`` in this worker process and say which versions it ran with."""
    result = execute(task)
    result.versions = environment.runtime()
    return result


def failure(exc: BaseException, ran_on: str) -> TaskResult:
    """A failed task as data: a worker's failure keeps its message, anything else its type too."""
    if isinstance(exc, WorkerFailure):
        return TaskResult(error=str(exc), details=exc.details, ran_on=ran_on)
    return TaskResult(
        error=f"{type(exc).__name__}: {exc}",
        details="".join(traceback.format_exception(exc)),
        ran_on=ran_on,
    )


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
        expected: the parent's :func:`environment.runtime`.
        where: this worker, for messages ("the Dask worker tcp://10.0.0.7:40123 (node-7)").
        run: the run the task belongs to; only its tasks share a kept process.
        cancel: makes the engine's "stop now" signal, polled while the task runs.
    """
    found: dict[str, str] = {}
    try:
        found = environment.runtime()
        problem = environment.mismatch(expected, found, where)
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

    def submit(self, task: Task) -> Future[TaskResult]:
        check(self.name, self.honours, task)
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


def parse(where: str, source: str, *, jobs: int | None = None) -> str:
    """``where`` checked: "local", or a Dask scheduler's address in Dask's own spelling ("tcp://", "tls://").

    Raises:
        UsageError: ``where`` is neither, or ``jobs`` was given for a cluster; ``source`` says where
            ``where`` came from.
    """
    if where == LOCAL:
        return LOCAL
    found = _ADDRESS.fullmatch(where)
    if found is None or not 0 < int(found.group(3)) < 65536:
        raise UsageError(
            f"{source} {where!r}: expected local, dask://HOST:PORT or tls://HOST:PORT "
            "(a Dask scheduler's address, e.g. dask://127.0.0.1:8786)."
        )
    if jobs is not None:
        raise UsageError(
            f"-j {jobs} has no meaning on a Dask cluster ({source} is {where}): its workers decide how many "
            "models run at once (dask worker --nworkers/--nthreads). Leave -j out, or use --executor local."
        )
    scheme = "tcp" if found.group(1) == "dask" else "tls"
    return f"{scheme}://{found.group(2)}:{found.group(3)}"


def start(address: str, *, jobs: int | None, memory_limit: int | None, tasks: int) -> Runner:
    """The runner at ``address`` (from :func:`parse`), ready for ``tasks`` tasks.

    Raises:
        SystemDependencyError: Dask is not installed, or its scheduler cannot be reached.
    """
    if address == LOCAL:
        return LocalRunner(min(jobs or os.cpu_count() or 1, max(1, tasks)), memory_limit=memory_limit)
    from . import dask_runner

    return dask_runner.connect(address, environment.runtime())
