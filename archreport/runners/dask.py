"""Tasks on an existing Dask cluster (``--executor dask://HOST:PORT``; the ``archreport[dask]`` extra).

Each Dask task runs in archreport's own worker process, started with ``Popen``
and kept by the Dask worker thread for the run's next task (worker.run_kept),
so archreport, not Dask, enforces the model's time limit, memory limit and
crash isolation, and every model gets a fresh Keras session. Nanny workers are
daemonic and cannot start ``multiprocessing`` children; ``Popen`` works. The
Dask task itself never raises: a segfault, a time-out or an out-of-memory stop
comes back as ``TaskResult.error``, the Dask worker lives on and serves the
next model, and Dask's ``allowed-failures`` retries (a scheduler setting
archreport cannot change on someone else's cluster) never start.

A task carries its builder modules and model architecture (manifest/sources.py);
nothing is read from the worker's disk. Before it starts the work, the Dask
task compares the worker's versions with this machine's (fingerprint.runtime)
and fails the model if they differ.

The connection follows Dask's own configuration: ``distributed.comm.timeouts.connect``
(default 30 s) bounds it, and ``tls://`` addresses use ``distributed.comm.tls.*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
import uuid
from concurrent.futures import Future
from functools import partial
from typing import Any

from archreport.errors import SystemDependencyError
from archreport.runners.base import Honours, check, failure
from archreport.runners.local import run_isolated
from archreport.runners.worker import release_kept
from archreport.store import fingerprint
from archreport.task import Task, TaskResult

INSTALL_HINT = "python -m pip install 'archreport[dask]'"
TLS_HINT = (
    "set Dask's TLS configuration on this machine: distributed.comm.tls.ca-file, "
    "distributed.comm.tls.client.cert and distributed.comm.tls.client.key (in ~/.config/dask/*.yaml, or as "
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE=... and so on)"
)


class DaskRunner:
    """Tasks on the Dask cluster that ``client`` (a ``distributed.Client``) is connected to.

    It honours every setting: each task runs in an archreport worker process on a Dask
    worker, kept by that Dask worker's thread for this runner's next task and stopped
    when the runner shuts down. Pass the Client of a cluster you made (dask-kubernetes,
    Dask Gateway, ...) to :func:`archreport.generate` as ``executor=DaskRunner(client)``;
    :func:`connect` makes one from an address, and then the runner closes the Client
    when it shuts down.
    """

    honours = Honours()

    def __init__(
        self,
        client: Any,
        *,
        name: str | None = None,
        expected: dict[str, str] | None = None,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self.name = name or str(client.scheduler.address)
        # This machine's versions; a worker with others fails the model.
        self._expected = fingerprint.runtime() if expected is None else expected
        self._owns_client = owns_client
        self._running: dict[str, Any] = {}  # key -> distributed.Future, until its result is taken
        self._lock = threading.Lock()
        self._run = uuid.uuid4().hex  # the worker processes kept for this runner's tasks

    def submit(self, task: Task) -> Future[TaskResult]:
        check(self.name, self.honours, task)
        key = f"archreport-{task.spec.slug}-{uuid.uuid4().hex[:12]}"  # readable in Dask's dashboard
        outer: Future[TaskResult] = Future()
        # retries=0 is Dask's default, said here because a retry must never re-run a model.
        inner = self._client.submit(
            run_on_worker, task, self._expected, self._run, key=key, pure=False, retries=0
        )
        with self._lock:
            self._running[key] = inner
        inner.add_done_callback(partial(self._settle, outer, key))
        return outer

    def _settle(self, outer: Future[TaskResult], key: str, inner: Any) -> None:
        try:
            result = inner.result()
        except BaseException as exc:
            # The task itself never raises: this is the cluster's doing (the Dask worker died and
            # the scheduler gave up, the task was cancelled, the connection was lost).
            result = failure(exc, self.name)
            result.error = f"the Dask cluster could not run it: {result.error}"
        finally:
            with self._lock:
                self._running.pop(key, None)
            inner.release()  # the worker may drop the result now
        outer.set_result(result)

    def shutdown(self, *, cancel: bool = False) -> None:
        with self._lock:
            running = list(self._running.values())
        if cancel and running:
            # A cancelled task's worker process is stopped by the Dask task (see _TaskState).
            self._client.cancel(running, force=True)
        # Stop the processes kept for this run's tasks. Best effort: a Dask worker that cannot be
        # reached now has its kept process end itself after KEEP_IDLE at most.
        with contextlib.suppress(Exception):
            self._client.run(release_kept, self._run)
        if self._owns_client:
            self._client.close()


class _TaskState:
    """Tells a running Dask task that it was cancelled (the client let go of it, or disconnected)."""

    def __init__(self) -> None:
        from distributed import get_worker

        self._worker = get_worker()
        self._key = self._worker.get_current_task()

    def is_set(self) -> bool:
        state = self._worker.state.tasks.get(self._key)
        return state is None or state.state in ("cancelled", "released", "forgotten")


def run_on_worker(task: Task, expected: dict[str, str], run: str) -> TaskResult:
    """One task, on a Dask worker, in an archreport worker process kept for ``run``. Never raises."""
    return run_isolated(task, expected, f"the Dask worker {_where()}", run, _TaskState)


def _where() -> str:
    try:
        from distributed import get_worker

        return f"{get_worker().address} ({socket.gethostname()})"
    except (ImportError, ValueError):
        return socket.gethostname()


def connect(address: str, expected: dict[str, str]) -> DaskRunner:
    """A runner on the Dask cluster whose scheduler listens at ``address`` ("tcp://..." or "tls://...").

    Raises:
        SystemDependencyError: distributed is not installed, the scheduler cannot be reached within
            Dask's connection time limit, TLS is not configured, or the cluster has no worker.
    """
    name = address.replace("tcp://", "dask://", 1)
    try:
        # Imported by name: an optional extra, and untyped, so Any from here on.
        dask = importlib.import_module("dask")
        distributed = importlib.import_module("distributed")
        parse_timedelta = importlib.import_module("dask.utils").parse_timedelta
        import_term = importlib.import_module("distributed.utils").import_term
    except ImportError as exc:
        raise SystemDependencyError(
            f"--executor {name} needs Dask's distributed package, which cannot be imported ({exc}). "
            f"Install it with: {INSTALL_HINT}"
        ) from None
    timeout = float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s") or 30)
    # The security a Client would pick: the configured loader's (Dask Gateway and the like),
    # else distributed.comm.tls.* from Dask's configuration.
    loader = dask.config.get("distributed.client.security-loader", None)
    security = import_term(loader)({"address": address}) if loader else None
    security = security or distributed.Security()
    _probe(name, address, security, timeout)
    client = distributed.Client(address, timeout=timeout, security=security, set_as_default=False)
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        client.close()
        raise SystemDependencyError(
            f"the Dask scheduler at {name} has no workers (waited {timeout:g} s). Start some with: "
            f"dask worker {address}"
        ) from None
    return DaskRunner(client, name=name, expected=expected, owns_client=True)


def _probe(name: str, address: str, security: Any, timeout: float) -> None:
    """Connect once as a Client would, so that failing to is our message, and quick.

    A ``distributed.Client`` that cannot connect keeps its event loop: the process then
    waits twice the time limit again before it can exit.
    """
    dask_connect = importlib.import_module("distributed.comm.core").connect

    async def hello() -> None:
        comm = await dask_connect(address, timeout=timeout, **security.get_connection_args("client"))
        await comm.close()

    failed: list[BaseException] = []

    def probe() -> None:  # its own thread: the caller may be running an event loop (a notebook)
        try:
            asyncio.run(hello())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=probe, name="archreport-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 10)
    if not failed and not thread.is_alive():
        return
    exc = failed[0] if failed else TimeoutError(f"no answer within {timeout:g} s")
    if isinstance(exc, TypeError):  # "TLS expects a `ssl_context` argument": no certificate configured
        raise SystemDependencyError(f"cannot connect to {name}: {exc}. For tls:// addresses, {TLS_HINT}.")
    raise SystemDependencyError(
        f"cannot reach the Dask scheduler at {name} within {timeout:g} s ({exc}). Start one with "
        "`dask scheduler`, and workers with `dask worker SCHEDULER_ADDRESS`, or check the address; "
        "the time limit is Dask's distributed.comm.timeouts.connect (e.g. DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s)."
    )
