"""Runners: where tasks run. The local process pool is one; a Dask cluster is another (dask.py).

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

import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from archreport.errors import ModelError
from archreport.runners.worker import Limits, WorkerFailure
from archreport.task import BACKENDS, Task, TaskResult

LOCAL = "local"


# The same forms as the manifest's [report] executor; "dask://" is Dask's plain "tcp://".
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
        render=task.render is not None and task.render.pdf,
    )


def failure(exc: BaseException, ran_on: str) -> TaskResult:
    """A failed task as data: a worker's failure keeps its message, anything else its type too."""
    if isinstance(exc, WorkerFailure):
        return TaskResult(error=str(exc), details=exc.details, ran_on=ran_on)
    return TaskResult(
        error=f"{type(exc).__name__}: {exc}",
        details="".join(traceback.format_exception(exc)),
        ran_on=ran_on,
    )
