"""Models that already live in this process: their specs, and a runner that analyses them here.

The library's ``describe`` and ``report`` (api.py) take ``keras.Model`` objects
and zero-argument callables. A model object cannot go to a worker process: its
code already ran, and pickling a Keras model is not reliable. So it is analysed
here, on whatever Keras backend built it, by :class:`InProcessRunner`, with the
same :func:`archreport.model.job.analyse_and_draw` a worker runs after its build. A callable
that a worker can import by name (a module-level function or class, not
``__main__``'s, not a lambda or a closure) becomes an ordinary builder task and
goes to the local worker pool, with its time and memory limits (a
``keras.applications`` function becomes an ``application`` task, built without
weights, as the command builds it); everything else runs here, where no limit
applies.
"""

from __future__ import annotations

import contextlib
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archreport import runners, task
from archreport.errors import ModelError, UsageError
from archreport.manifest import ModelSpec
from archreport.manifest.schema import DiagramOptions, Sweep
from archreport.model import keras_compat
from archreport.model.job import analyse_and_draw, model_files

LIVE = "live"  # ModelSpec.kind (and Task.backend) of a model analysed in this process
WHERE = "this process"


def keras_model(value: Any) -> bool:
    """Whether ``value`` is a ``keras.Model``, without importing Keras when nothing has."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


def check_built(model: Any, what: str) -> None:
    """Raise unless ``model`` is a built ``keras.Model``.

    Raises:
        ModelError: it is something else, or a model that is not built; ``what`` names it.
    """
    if not keras_model(model):
        raise ModelError(f"{what} is {type(model).__module__}.{type(model).__qualname__}, not a keras.Model.")
    if not model.built:
        raise ModelError(
            f"{what} ({model.name!r}) is not built: give it a keras.Input, or call "
            "model.build(input_shape) or the model on a batch first."
        )


def spec(
    name: str,
    slug: str,
    target: str,
    *,
    kind: str = LIVE,
    base_dir: str = ".",
    batch_size: int = 1,
    inputs: dict[str, tuple[int, ...]] | None = None,
    input_shapes: tuple[tuple[int, ...], ...] | None = None,
    sweep: Sweep | None = None,
) -> ModelSpec:
    """A model's spec with a manifest's defaults: ``[diagram]``'s options, SVG and PDF diagrams."""
    return ModelSpec(
        name=name, slug=slug, kind=kind, target=target, diagram=DiagramOptions(),
        diagram_formats=("svg", "pdf"), base_dir=base_dir,
        backend=LIVE if kind == LIVE else "auto",
        batch_size=batch_size, inputs=inputs, input_shapes=input_shapes, sweep=sweep,
    )  # fmt: skip


@dataclass(frozen=True)
class Importable:
    """A callable a worker process can import by name: ``module:qualname``, and the folder its module is in."""

    target: str
    base_dir: str | None  # the folder holding its top-level package; None: installed, nothing to ship


def importable(fn: Any) -> Importable | None:
    """How a worker would import ``fn``, or None when only this process can call it.

    Lambdas, closures, ``__main__``'s functions (a notebook's or a script's) and
    anything whose name does not lead back to ``fn`` itself run in this process.
    """
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return None
    if module_name == "__main__" or "<" in qualname:  # <lambda>, <locals>
        return None
    module = sys.modules.get(module_name)
    if module is None:
        return None
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not fn and found != fn:  # a bound method compares equal, not identical
        return None
    top = sys.modules.get(module_name.partition(".")[0])
    top_file = getattr(top, "__file__", None)
    if not top_file:
        return None  # a namespace package: no folder a worker could be sure of
    path = Path(top_file).resolve()
    folder = path.parent.parent if path.name == "__init__.py" else path.parent
    installed = {
        Path(p).resolve() for key in ("purelib", "platlib", "stdlib", "platstdlib")
        if (p := sysconfig.get_paths().get(key))
    }  # fmt: skip
    return Importable(f"{module_name}:{qualname}", None if folder in installed else str(folder))


class InProcessRunner:
    """Analyses live models (tasks whose spec is :data:`LIVE`) in this process; passes the rest on.

    Honours no time or memory limit and no isolation for the live models: they run in the
    caller's process, with the caller's Keras. Builder tasks go to a local worker pool,
    started on the first one, which honours every setting as usual.
    """

    name = runners.LOCAL  # builder tasks run in the local pool; messages about them say so

    def __init__(self, live: dict[str, Any], *, builders: int = 0, memory_limit: int | None = None) -> None:
        self._live = live  # slug -> a keras.Model, or a zero-argument callable returning one
        self._builders = builders  # how many builder tasks will come: the pool's size
        self._memory_limit = memory_limit
        self._pool: runners.Runner | None = None

    def submit(self, job: task.Task) -> Future[task.TaskResult]:
        """Analyse a live model now and return its finished future; pass a builder task to the pool.

        Raises:
            Refused: the local pool refuses the task.
        """
        if job.spec.kind != LIVE:
            if self._pool is None:
                self._pool = runners.start(
                    runners.LOCAL, jobs=None, memory_limit=self._memory_limit, tasks=max(1, self._builders)
                )
            return self._pool.submit(job)
        future: Future[task.TaskResult] = Future()
        try:
            result = self._run(job)
        except Exception as exc:
            result = runners.failure(exc, WHERE)
            if isinstance(exc, ModelError):  # archreport's own message says it all
                result.error, result.details = str(exc), ""
        result.ran_on = WHERE
        future.set_result(result)
        return future

    def _run(self, job: task.Task) -> task.TaskResult:
        value = self._live[job.spec.slug]
        timings: dict[str, float] = {}
        if not keras_model(value):  # a callable: building it is part of the work
            start = time.perf_counter()
            value = value()
            timings["build"] = time.perf_counter() - start
            check_built(value, f"the callable for {job.spec.name!r} returned a value that")
        else:  # an unbuilt model failed deep in the analysis ("has no defined inputs yet")
            check_built(value, f"models[{job.spec.name!r}]")
        with tempfile.TemporaryDirectory(prefix="archreport-live-") as out:
            report = analyse_and_draw(
                value,
                job.spec,
                Path(out),
                backend=keras_compat.backend_name(),
                timings=timings,
                render=job.render,
            )
            return task.TaskResult(report=report, files=model_files(Path(out), job.spec.slug))

    def shutdown(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel=cancel)
            self._pool = None


def describe_value(value: Any) -> str:
    """What the report's source list says a live model was."""
    if keras_model(value):
        return f"{type(value).__qualname__} {value.name!r}, a model in memory"
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{name}(), called in this process"


def live_or_builder(name: str, value: Any) -> tuple[str, str, str | None]:
    """``(kind, target, base_dir)`` for one entry of ``report``'s models: "live", "builder" or "application".

    Raises:
        UsageError: ``value`` is neither a keras.Model nor callable.
    """
    if keras_model(value):
        return LIVE, describe_value(value), None
    if not callable(value):
        raise UsageError(
            f"models[{name!r}] is {type(value).__module__}.{type(value).__qualname__}: expected a keras.Model "
            "or a callable that takes no arguments and returns one."
        )
    application = _application_name(value)
    if application is not None:
        return "application", application, None
    found = importable(value)
    if found is None:
        return LIVE, describe_value(value), None
    return "builder", found.target, found.base_dir


def _application_name(fn: Any) -> str | None:
    """``"MobileNetV2"`` for ``keras.applications.MobileNetV2``: built as a manifest's ``application``.

    Called with no arguments it would download ImageNet weights; a report needs none, so it is
    built as the command builds it, with ``weights=None``.
    """
    keras = sys.modules.get("keras")
    name = getattr(fn, "__name__", None)
    if keras is None or not isinstance(name, str):
        return None
    return name if getattr(keras.applications, name, None) is fn else None


@contextlib.contextmanager
def nothing_to_ship() -> Iterator[str]:
    """A folder holding no module, for builders a worker imports from its installation."""
    with tempfile.TemporaryDirectory(prefix="archreport-none-") as folder:
        yield folder


def zero_argument(name: str, fn: Callable[..., Any]) -> None:
    """Raise unless ``fn`` can be called without arguments.

    Raises:
        UsageError: it needs arguments.
    """
    import inspect

    try:
        inspect.signature(fn).bind()
    except TypeError as exc:
        raise UsageError(
            f"models[{name!r}] needs arguments ({exc}); give a keras.Model, or a callable that takes none "
            "(functools.partial or a lambda can supply them)."
        ) from None
    except ValueError:
        pass  # no signature (a builtin): the call itself will say


__all__ = ["LIVE", "InProcessRunner", "check_built", "importable", "live_or_builder", "spec"]
