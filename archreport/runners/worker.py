"""Worker processes behind a ``concurrent.futures``-style executor.

Each model is built and analysed in a child process, so a builder that raises,
hangs, crashes the interpreter or eats all memory fails that model only. A
worker imports Keras once, with one backend for life (shape-only builds run on
the numpy backend; a real build on TensorFlow, JAX or torch gets a process of
that backend), and serves several models (Keras's name counter is reset per
model, see build.py), then is recycled after ``max_tasks`` models or when it
grows past ``recycle_rss``. A task marked ``dedicated`` (a model that opted
out of safe mode) gets a fresh worker that is discarded after it.

Each task states its :class:`Limits` (time, memory, a process of its own,
backend), and the pool enforces them. For a host that runs the work in its own
threads (a Dask worker, see dask.py), :func:`run_kept` runs one call
under the same limits in a worker process kept by the calling thread, and
:func:`run_once` in a fresh one. The runner contract (base.py) sits on top.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from archreport.errors import ModelError, UsageError, signal_name

GiB = 1024**3
MEMORY_LIMIT_ENV = "ARCHREPORT_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = 8 * GiB
STARTUP_TIMEOUT = 300.0  # a worker that cannot even start (import TensorFlow) within this is broken
MAX_TASKS = 8  # models a worker process serves before it is replaced
RECYCLE_RSS = 3 * GiB  # a worker process grown past this is replaced after its model
_POLL = 0.1  # seconds between checks of the time limit, the memory watchdog and the worker's health
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": GiB, "t": 1024**4}


def memory_limit_from_env() -> int:
    """The per-worker memory limit: ``ARCHREPORT_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix), else 8 GiB.

    Raises:
        UsageError: the variable is set but is not a positive size.
    """
    raw = os.environ.get(MEMORY_LIMIT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MEMORY_LIMIT
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", raw)
    # Decimal, not float: a number of 309 digits or more is infinite as a float, and int() of it raised.
    value = int(Decimal(match.group(1)) * _UNITS[match.group(2).lower()]) if match else 0
    if value <= 0:
        raise UsageError(
            f"{MEMORY_LIMIT_ENV}={raw!r} is not a valid memory limit: expected a positive number of bytes, "
            f"optionally with a K, M, G or T suffix (powers of 1024), e.g. {MEMORY_LIMIT_ENV}=4G."
        )
    return value


class WorkerFailure(ModelError):
    """A model's worker raised, crashed, timed out or ran out of memory."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details  # a traceback or the worker's last output, shown with -v


@dataclass(frozen=True)
class Limits:
    """What one call may use, enforced from outside the process that runs it."""

    timeout: float | None = None  # seconds, counted from the moment the worker takes the call
    memory_limit: int | None = None  # bytes of the worker's process tree; None: the pool's limit
    dedicated: bool = False  # a fresh process, discarded afterwards
    backend: str = "shape-only"  # the worker process's Keras backend (see task.BACKENDS)
    render: bool = False  # the call renders a PDF section: a worker started for it sets up the renderer first (job.prepare_render)


def _send(fd: int, obj: Any) -> None:
    _send_bytes(fd, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _send_bytes(fd: int, data: bytes) -> None:
    os.write(fd, struct.pack("!Q", len(data)))
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _recv_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv(fd: int) -> Any:
    head = _recv_exact(fd, 8)
    if head is None:
        raise EOFError
    body = _recv_exact(fd, struct.unpack("!Q", head)[0])
    if body is None:
        raise EOFError
    return pickle.loads(body)


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` and its children, in bytes (0 if it is gone)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for p in (pid, *_descendants(pid)):
        try:  # one process exiting mid-way must not hide the others
            with Path(f"/proc/{p}/statm").open() as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        threads = [t.name for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return out
    for tid in threads:  # a child belongs to the thread that started it
        with contextlib.suppress(OSError, ValueError):
            out.extend(int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
    for k in list(out):
        out.extend(_descendants(k))
    return out


class _Cancelled(Exception):
    pass


class Cancel(Protocol):
    """Something that says when to stop a running call: a ``threading.Event``, or a Dask task's state."""

    def is_set(self) -> bool: ...


class _Worker:
    """One child process running ``python -m archreport.runners.worker``."""

    def __init__(
        self,
        warm: bool,
        backend: str = "shape-only",
        idle_exit: float | None = None,
        remote: bool = False,
        render: bool = False,
        template: _Template | None = None,
    ) -> None:
        self.backend = backend
        task_r, self.task_w = os.pipe()
        self.result_r, result_w = os.pipe()
        self.log = tempfile.TemporaryFile()
        # The worker's temporary files go in a folder of ours, removed when it is retired: a worker
        # ends by SIGKILL (retired, timed out, cancelled), so its own clean-up never runs.
        self.scratch = tempfile.mkdtemp(prefix="archreport-worker-")
        env = {**os.environ, "TMPDIR": self.scratch}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.proc: subprocess.Popen[bytes] | _Forked
        try:
            if template is not None:
                self.proc = template.fork(task_r, result_w, self.log.fileno(), self.scratch)
            else:
                self.proc = self._start(task_r, result_w, warm, backend, idle_exit, remote, render, env)
        except BaseException:
            for fd in (task_r, result_w, self.task_w, self.result_r):
                os.close(fd)
            self.log.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        os.close(task_r)
        os.close(result_w)
        self.tasks = 0

    def _start(
        self,
        task_r: int,
        result_w: int,
        warm: bool,
        backend: str,
        idle_exit: float | None,
        remote: bool,
        render: bool,
        env: dict[str, str],
    ) -> subprocess.Popen[bytes]:
        """A new Python process running the worker."""
        return subprocess.Popen(
            [
                sys.executable,
                # -P: the working folder is not put first on the import path, where a user's
                # random.py or types.py beside the manifest shadowed the standard library's
                # and every model's worker died on start-up; _main appends it instead.
                "-P",
                "-m",
                "archreport.runners.worker",
                str(task_r),
                str(result_w),
                "1" if warm else "0",
                backend,
                self.scratch,  # removed by the worker itself if archreport is killed
                "" if idle_exit is None else str(idle_exit),
                "1" if render else "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(task_r, result_w),
            start_new_session=True,  # its own process group: a kill takes dot with it
            # `python -m` puts the working folder first on the import path. On a host that
            # runs tasks for someone else (a Dask worker), that folder is the host's, and a
            # module found there would make the result differ from a local run: start in
            # the worker's own empty folder instead. Locally, it is the user's folder, as
            # for the archreport command itself.
            cwd=self.scratch if remote else None,
            env=env,
        )

    def run(
        self,
        fn: Any,
        args: tuple[Any, ...],
        timeout: float | None,
        memory_limit: int,
        cancel: Cancel | None = None,
    ) -> Any:
        try:
            _send(self.task_w, (fn.__module__, fn.__qualname__, args))
        except (BrokenPipeError, ConnectionResetError):
            raise self.crashed() from None
        self.tasks += 1
        # The time limit counts from the moment the worker takes the task, not from its start-up
        # (a fresh worker spends seconds importing TensorFlow first).
        deadline = time.monotonic() + STARTUP_TIMEOUT
        started = False
        while True:
            wait = max(0.0, min(_POLL, deadline - time.monotonic()))
            ready, _, _ = select.select([self.result_r], [], [], wait)
            if ready:
                try:
                    status, payload, details = _recv(self.result_r)
                except (EOFError, OSError, pickle.UnpicklingError):
                    if cancel is not None and cancel.is_set():
                        raise _Cancelled from None
                    raise self.crashed() from None
                if status == "started":
                    started = True
                    deadline = float("inf") if timeout is None else time.monotonic() + timeout
                    continue
                if status == "ok":
                    return payload
                raise WorkerFailure(payload, details)
            if cancel is not None and cancel.is_set():
                self.kill()
                raise _Cancelled
            if time.monotonic() >= deadline:
                self.kill()
                if not started:
                    raise WorkerFailure(
                        f"the worker process did not start within {STARTUP_TIMEOUT:g} s; it was stopped.",
                        self.output_tail(),
                    )
                raise WorkerFailure(
                    f"timed out after {timeout:g} s (the model's time limit); the worker was stopped."
                )
            rss = _rss(self.proc.pid)
            if rss > memory_limit:
                self.kill()
                raise WorkerFailure(self.out_of_memory(rss, memory_limit))
            if self.proc.poll() is not None and not select.select([self.result_r], [], [], 0)[0]:
                if cancel is not None and cancel.is_set():
                    raise _Cancelled
                raise self.crashed()

    def out_of_memory(self, rss: int, limit: int) -> str:
        """What was tried, and what to try next: a shape-only build allocates no weights already."""
        used = (
            f"the worker used {rss / GiB:.2f} GiB, over the limit of {limit / GiB:.2f} GiB; it was stopped."
        )
        if self.backend == "shape-only":
            return (
                f"ran out of memory in a shape-only build, which allocates no weights: {used} What held the "
                "memory is what the builder computed on real arrays itself (NumPy data, a table it filled), "
                "or a constant as large as the inputs that a layer needed the values of. Declare smaller "
                "inputs ([model.inputs]: a shorter sequence, smaller images), or set ARCHREPORT_MEMORY_LIMIT higher."
            )
        return (
            f"ran out of memory in a real {self.backend} build, which allocates every weight: {used} Build it "
            'shape-only (backend = "auto" or "shape-only"), which allocates none, or set ARCHREPORT_MEMORY_LIMIT higher.'
        )

    def crashed(self) -> WorkerFailure:
        code = self.proc.wait()
        tail = self.output_tail()
        if code < 0:
            name = signal_name(-code)
            why = " (the system may have run out of memory)" if name == "SIGKILL" else ""
            return WorkerFailure(f"the worker process crashed with {name}{why}.", tail)
        return WorkerFailure(f"the worker process exited unexpectedly with code {code}.", tail)

    def output_tail(self, limit: int = 4000) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0, os.SEEK_END)
            size = self.log.tell()
            self.log.seek(max(0, size - limit))
            return self.log.read().decode("utf-8", "replace")
        return ""

    def rss(self) -> int:
        return _rss(self.proc.pid)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        else:
            # The worker is gone, but a process it started in its group (dot) may not be.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for fd in (self.task_w, self.result_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class _Forked:
    """A worker process forked by a :class:`_Template`: its pid and, as the template reports it, its exit.

    What the pool needs of a ``subprocess.Popen``: the template, not this process, is its parent,
    so only the template can wait for it.
    """

    def __init__(self, template: _Template, pid: int) -> None:
        self.template = template
        self.pid = pid

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def poll(self) -> int | None:
        return self.template.exit_code(self.pid)

    def wait(self) -> int:
        return self.template.wait_exit(self.pid)


class _Template:
    """A process that imports Keras and sets up the renderer once, then forks a worker per request.

    Each worker imported Keras and JAX (about 2 s of CPU) and WeasyPrint (0.6 s) for itself:
    the 10-model zoo's two workers paid that twice, all 40 keras.applications models' five
    (a worker serves MAX_TASKS models) five times (issue 26). A fork shares what the template
    imported, and starts in milliseconds. The template builds nothing and runs no task, so
    every worker starts from the same clean state, as a fresh process did: a model that opted
    out of safe mode gets one of its own. Only shape-only workers are forked (JAX's runtime
    is not started by the import; TensorFlow's threads are, and a fork would copy their
    locks). The template tells the pool when a worker ends and how (it is their parent);
    when the template is gone, the pool starts workers as before.
    """

    def __init__(self, backend: str, render: bool | None) -> None:
        """Start the template; ``render`` None: it is told later (:meth:`decide`), once the pool knows."""
        self.backend = backend
        self.render = render
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()
        self.scratch = tempfile.mkdtemp(prefix="archreport-template-")
        env = {**os.environ, "TMPDIR": self.scratch}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "archreport.runners.worker", "template", str(theirs.fileno()),
                 backend, {True: "1", False: "0", None: "?"}[render], self.scratch],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),), start_new_session=True, env=env,
            )  # fmt: skip
        except BaseException:
            self._sock.close()
            self.log.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self._forking = threading.Lock()  # one request at a time: the answer is the next pid
        self._changed = threading.Condition()
        self._pids: list[int] = []
        self._exits: dict[int, int] = {}
        self.alive = True
        threading.Thread(target=self._listen, daemon=True, name="archreport-template").start()

    def _listen(self) -> None:
        """Take the template's messages: the pid of each worker it forked, and each worker's end."""
        try:
            while True:
                message = self._sock.recv(4096)
                if not message:
                    break
                kind, pid, code = pickle.loads(message)
                with self._changed:
                    if kind == "pid":
                        self._pids.append(pid)
                    else:
                        self._exits[pid] = code
                    self._changed.notify_all()
        except (OSError, pickle.UnpicklingError, ValueError):
            pass
        with self._changed:
            self.alive = False
            self._changed.notify_all()

    def decide(self, render: bool) -> None:
        """Tell a template started undecided whether to set up the renderer (before any fork request)."""
        if self.render is None:
            self.render = render
            with contextlib.suppress(OSError):  # a template that is gone fails the first fork instead
                self._sock.send(pickle.dumps(render))

    def fork(self, task_r: int, result_w: int, log: int, scratch: str) -> _Forked:
        """A new worker reading tasks from ``task_r``, writing results to ``result_w`` and its output to ``log``.

        Raises:
            WorkerFailure: the template is gone, or did not fork within STARTUP_TIMEOUT (it may
                still be importing Keras).
        """
        with self._forking:
            try:
                socket.send_fds(self._sock, [pickle.dumps(scratch)], [task_r, result_w, log])
            except OSError:
                raise WorkerFailure("the template process is gone.", self.output_tail()) from None
            deadline = time.monotonic() + STARTUP_TIMEOUT
            with self._changed:
                while not self._pids:
                    left = deadline - time.monotonic()
                    if left <= 0:  # a pid that came later would answer the next request: stop it
                        self.alive = False
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(self.proc.pid, signal.SIGKILL)
                    if not self.alive:
                        raise WorkerFailure("the template process did not fork a worker.", self.output_tail())
                    self._changed.wait(min(left, _POLL))
                return _Forked(self, self._pids.pop(0))

    def exit_code(self, pid: int) -> int | None:
        """How worker ``pid`` ended, or None while it runs (a negative number: the signal that ended it)."""
        with self._changed:
            if pid in self._exits:
                return self._exits[pid]
            if self.alive or _running(pid):
                return None
        # The template died, and its orphaned worker has ended too (it ends itself when its
        # parent goes, by SIGKILL): nobody can say how.
        return -signal.SIGKILL

    def wait_exit(self, pid: int) -> int:
        while True:
            code = self.exit_code(pid)
            if code is not None:
                return code
            with self._changed:
                self._changed.wait(_POLL)

    def output_tail(self, limit: int = 4000) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0, os.SEEK_END)
            self.log.seek(max(0, self.log.tell() - limit))
            return self.log.read().decode("utf-8", "replace")
        return ""

    def close(self) -> None:
        """Stop the template (its workers are the pool's to stop)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._sock.close()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


# A template started as the command starts, before it has read the manifest (about 0.1 s sooner
# than the pool would: issue 26), by backend; the first pool that needs one adopts it.
_early: dict[str, _Template] = {}


def start_template_early(backend: str = "shape-only") -> None:
    """Start the template a pool will need, now, undecided about the renderer (:meth:`_Template.decide`).

    For the command's own process only: it is stopped by :func:`discard_early_template` if no
    pool adopts it (a run whose every model is cached builds nothing).
    """
    if backend not in _early:
        with contextlib.suppress(OSError):  # the pool starts one as before
            _early[backend] = _Template(backend, render=None)


def _adopt_early(backend: str, render: bool) -> _Template | None:
    template = _early.pop(backend, None)
    if template is not None and not template.alive:
        template.close()
        template = None
    if template is not None:
        template.decide(render)
    return template


def discard_early_template() -> None:
    """Stop every early template no pool adopted."""
    while _early:
        _early.popitem()[1].close()


class WorkerPool:
    """Run picklable module-level functions in recycled child processes.

    ``submit(fn, *args, limits=Limits(...))`` runs ``fn(*args)`` under the
    call's limits. ``memory_limit`` is the limit of calls that state none; it
    defaults to ``ARCHREPORT_MEMORY_LIMIT`` (see :func:`memory_limit_from_env`).
    """

    def __init__(
        self,
        jobs: int,
        *,
        max_tasks: int = MAX_TASKS,
        recycle_rss: int = RECYCLE_RSS,
        memory_limit: int | None = None,
        warm: bool = True,
    ) -> None:
        self.jobs = max(1, jobs)
        self.max_tasks = max_tasks
        self.recycle_rss = recycle_rss
        self.memory_limit = memory_limit_from_env() if memory_limit is None else memory_limit
        self.warm = warm
        self._queue: queue.Queue[Any] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._templates: dict[str, _Template] = {}  # by backend
        self._lock = threading.Lock()
        self._closed = False
        self._cancel = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve, daemon=True, name=f"archreport-worker-{i}")
            for i in range(self.jobs)
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Any, /, *args: Any, limits: Limits | None = None) -> Future[Any]:
        """Run ``fn(*args)`` in a worker; the future raises :class:`WorkerFailure` if it fails.

        Raises:
            RuntimeError: the pool was shut down.
        """
        if self._closed:
            raise RuntimeError("cannot submit to a pool that was shut down")
        future: Future[Any] = Future()
        self._queue.put((future, fn, args, limits or Limits()))
        return future

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    def _new_worker(self, limits: Limits | None = None) -> _Worker:
        limits = limits or Limits()
        with self._lock:  # no new process once shutdown(cancel_futures=True) started killing them
            if self._cancel.is_set():
                raise _Cancelled
            template = self._template(limits)
        render = self.warm and limits.render and self.jobs > 1  # see _template
        try:
            # Outside the lock: a fork waits for the template to finish importing Keras.
            worker = _Worker(self.warm, limits.backend, render=render, template=template)
        except WorkerFailure:
            if template is None or template.alive or self._cancel.is_set():
                raise
            worker = _Worker(self.warm, limits.backend, render=render)  # the template died: as before
        with self._lock:
            if self._cancel.is_set():
                worker.close()
                raise _Cancelled
            self._workers.add(worker)
        return worker

    def _template(self, limits: Limits) -> _Template | None:
        """The template that forks workers for ``limits``, started on first use; None: start a process.

        A warm pool forks its shape-only workers (:class:`_Template`); a pool that is not warm
        (tests, a single call) starts each as a process of its own, as does every pool once
        its template has died. The template sets up the renderer only for a pool of several
        workers, which share it: a lone worker sets it up in its first model, while Graphviz
        draws on the other core, instead of before it, when that core has nothing to do.
        """
        if not self.warm or limits.backend != "shape-only":
            return None
        template = self._templates.get(limits.backend)
        if template is None:
            render = limits.render and self.jobs > 1
            template = _adopt_early(limits.backend, render) or _Template(limits.backend, render=render)
            self._templates[limits.backend] = template
        return template if template.alive else None

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        worker.close()

    def _serve(self) -> None:
        worker: _Worker | None = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            future, fn, args, limits = item
            if self._cancel.is_set():
                future.cancel()
                continue
            if not future.set_running_or_notify_cancel():
                continue
            own: _Worker | None = None
            try:
                if limits.dedicated:
                    own = self._new_worker(limits)
                else:
                    if worker is not None and (
                        # A process has one Keras backend for life: a task for another gets another process.
                        worker.backend != limits.backend
                        or worker.proc.poll() is not None  # it ended while idle (its template died, say)
                    ):
                        self._retire(worker)
                        worker = None
                    if worker is None:
                        worker = self._new_worker(limits)
                    own = worker
                memory_limit = self.memory_limit if limits.memory_limit is None else limits.memory_limit
                result = own.run(fn, args, limits.timeout, memory_limit, self._cancel)
            except _Cancelled:
                future.set_exception(WorkerFailure("cancelled: archreport is shutting down."))
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            if own is not None and (
                own.proc.poll() is not None
                or limits.dedicated
                or own.tasks >= self.max_tasks
                or own.rss() > self.recycle_rss
            ):
                self._retire(own)
                if own is worker:
                    worker = None
        if worker is not None:
            self._retire(worker)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        if cancel_futures:
            with self._lock:
                self._cancel.set()
                workers = list(self._workers)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            for w in workers:  # kill running work now: Ctrl-C must leave no stray processes
                w.kill()
            self._close_templates()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            # Cancelling must end: a thread stuck in a caller's future callback is left behind
            # (the threads are daemons) once its worker is dead, rather than hanging Ctrl-C.
            deadline = time.monotonic() + 10
            for t in self._threads:
                t.join(max(0.0, deadline - time.monotonic()) if cancel_futures else None)
            with self._lock:
                workers = list(self._workers)
            for w in workers:
                self._retire(w)
            self._close_templates()

    def _close_templates(self) -> None:
        with self._lock:
            templates = list(self._templates.values())
            self._templates.clear()
        for template in templates:
            template.close()


def run_once(fn: Any, args: tuple[Any, ...], limits: Limits, cancel: Cancel | None = None) -> Any:
    """``fn(*args)`` in a fresh worker process under ``limits``, in this thread; the process is gone after.

    For a host that runs the work itself, such as a Dask worker (its processes are
    daemonic and cannot start ``multiprocessing`` children; ``Popen`` works).

    Raises:
        WorkerFailure: the call raised, crashed, ran out of time or memory, or was cancelled.
    """
    worker = _Worker(warm=False, backend=limits.backend, remote=True)
    try:
        return _run_in(worker, fn, args, limits, cancel)
    finally:
        worker.close()


def _run_in(worker: _Worker, fn: Any, args: tuple[Any, ...], limits: Limits, cancel: Cancel | None) -> Any:
    """``fn(*args)`` in ``worker`` under ``limits``, for a host that runs it in its own thread."""
    memory_limit = memory_limit_from_env() if limits.memory_limit is None else limits.memory_limit
    try:
        return worker.run(fn, args, limits.timeout, memory_limit, cancel)
    except _Cancelled:
        raise WorkerFailure("cancelled: archreport stopped waiting for it.") from None


# Worker processes kept by a host's threads between their calls of run_kept, by (run, thread),
# with the time each went idle. Only the same run reuses a process: a builder may leave state
# behind in it, and another run's models must not see that.
_kept: dict[tuple[str, int], tuple[_Worker, float]] = {}
_kept_lock = threading.Lock()
KEEP_IDLE = 30.0  # seconds a kept process may sit idle and still be reused; it stops itself at twice that


def run_kept(fn: Any, args: tuple[Any, ...], limits: Limits, run: str, cancel: Cancel | None = None) -> Any:
    """``fn(*args)`` under ``limits`` in a worker process this thread keeps for ``run``'s next call.

    What the local pool does, for a host whose threads each run one call at a time (a
    Dask worker thread): the process imports Keras once and serves up to ``MAX_TASKS``
    calls of the same run, each model in a fresh Keras session. It is replaced after a
    crash, a time-out, an out-of-memory stop or a cancellation, when it grows past
    ``RECYCLE_RSS``, for another backend, and after ``KEEP_IDLE`` seconds unused. A
    ``dedicated`` call gets a process of its own (:func:`run_once`). :func:`release_kept`
    stops a run's processes; one nobody stops ends itself when idle or orphaned.

    Raises:
        WorkerFailure: the call raised, crashed, ran out of time or memory, or was cancelled.
    """
    if limits.dedicated:
        return run_once(fn, args, limits, cancel)
    key = (run, threading.get_ident())
    with _kept_lock:
        worker, idle_since = _kept.pop(key, (None, 0.0))
    if worker is not None and (
        worker.backend != limits.backend
        or worker.proc.poll() is not None
        or time.monotonic() - idle_since > KEEP_IDLE  # too close to stopping itself
    ):
        worker.close()
        worker = None
    if worker is None:
        worker = _Worker(
            warm=True, backend=limits.backend, idle_exit=2 * KEEP_IDLE, remote=True, render=limits.render
        )
    try:
        return _run_in(worker, fn, args, limits, cancel)
    finally:
        if worker.proc.poll() is None and worker.tasks < MAX_TASKS and worker.rss() <= RECYCLE_RSS:
            with _kept_lock:
                _kept[key] = (worker, time.monotonic())
        else:
            worker.close()


def release_kept(run: str) -> int:
    """Stop the idle worker processes kept for ``run`` (see :func:`run_kept`); how many there were."""
    with _kept_lock:
        keys = [k for k in _kept if k[0] == run]
        workers = [_kept.pop(k)[0] for k in keys]
    for worker in workers:
        worker.close()
    return len(workers)


def _watch_parent(parent: int, scratch: str | None, children: bool = True) -> None:
    # If archreport itself is killed, its workers must not linger, nor their temporary files.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            for child in (
                _descendants(os.getpid()) if children else ()
            ):  # dot first, so nothing writes while we remove
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGKILL)  # this worker's group: itself and anything left in it
            os._exit(1)


# Python collects its youngest objects every 700 new containers. Importing Keras, JAX and
# WeasyPrint, analysing a model and assembling the PDF each make hundreds of thousands that
# live on, so each collection scanned survivors for nothing: about 7 % of a zoo run's CPU
# (benchmarks/README.md, issue 26). Garbage is not kept much longer for it: Keras's
# clear_session(), which each build starts with, collects every generation.
GC_THRESHOLD = (200_000, 50, 100)


def tune_gc() -> None:
    """Collect garbage less often: in a worker, and in the command's own process."""
    gc.set_threshold(*GC_THRESHOLD)


def _freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight.

    Keras's clear_session(), which each build starts with, runs a full collection. Over the
    millions of objects that importing Keras, JAX and WeasyPrint creates, that took 90 ms a
    model, half of a shape-only build (benchmarks/README.md); frozen, they are never scanned
    again, and the collection looks only at what the last model left behind.
    """
    gc.collect()
    gc.freeze()


def _main(
    task_fd: int,
    result_fd: int,
    warm: bool,
    backend: str = "shape-only",
    scratch: str | None = None,
    idle_exit: float | None = None,
    render: bool = False,
) -> None:
    _set_up(backend, scratch, warm=warm, render=render)
    threading.Thread(target=_watch_parent, args=(os.getppid(), scratch), daemon=True).start()
    _serve_tasks(task_fd, result_fd, scratch, idle_exit)


def _set_up(backend: str, scratch: str | None, *, warm: bool, render: bool, freeze: bool = True) -> None:
    """A worker's (or a template's) imports: Keras for ``backend``, and the renderer when ``render``.

    ``freeze``: then move what they made out of the collector's sight (:func:`_freeze_heap`);
    a caller that imports more right after does it once, after that.
    """
    tune_gc()  # first: importing Keras, JAX and WeasyPrint makes millions of objects that all live
    cwd = str(Path.cwd())
    if cwd != scratch:  # a local worker: the user's folder, as for the command, but last
        sys.path.append(cwd)
    from archreport.model import job

    # Keras reads its backend once, on import: it is this process's for life.
    job.choose_backend(backend)
    # Keras builds and serialises deep models recursively: a plain chain of 3200 layers
    # passes Python's default limit of 1000 frames (benchmarks/README.md, scaling suite).
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    job.prepare_backend(backend, warm=warm, render=render)
    if freeze:
        _freeze_heap()


def _template_main(sock_fd: int, backend: str, render: bool | None, scratch: str) -> None:
    """The template (:class:`_Template`): set up once, then fork a worker for each request and report its end.

    ``render`` None: started before the pool knew (:func:`start_template_early`); the first
    message says whether to set up the renderer too.
    """
    # When archreport is gone, the template just ends: each worker it forked then sees its
    # parent gone, and tidies up its own temporary files as it ends.
    threading.Thread(target=_watch_parent, args=(os.getppid(), scratch, False), daemon=True).start()
    _set_up(backend, scratch, warm=True, render=bool(render), freeze=render is not None)
    sock = socket.socket(fileno=sock_fd)
    if render is None:
        message = sock.recv(4096)
        if not message:  # never adopted: the run had nothing to build
            shutil.rmtree(scratch, ignore_errors=True)
            return
        if pickle.loads(message):
            from archreport.model import job

            job.prepare_render()
        _freeze_heap()
    while True:
        while True:  # reap: the pool learns how each worker ended from here
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            sock.send(pickle.dumps(("exit", pid, os.waitstatus_to_exitcode(status))))
        if not select.select([sock], [], [], _POLL)[0]:
            continue
        message, fds, _, _ = socket.recv_fds(sock, 4096, 3)
        if not message:  # the pool is gone (archreport may have been killed): tidy up as a worker does
            shutil.rmtree(scratch, ignore_errors=True)
            return
        worker_scratch = pickle.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            code = 0
            try:
                _forked_worker(sock, fds, worker_scratch, ready_w)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)  # never back into the template's loop
        os.close(ready_w)
        for fd in fds:
            os.close(fd)
        os.read(ready_r, 1)  # in its own session now: the pool may kill its group
        os.close(ready_r)
        sock.send(pickle.dumps(("pid", pid, None)))


def _forked_worker(sock: socket.socket, fds: list[int], scratch: str, ready: int) -> None:
    """A worker forked by the template: a session of its own, its own output and temporary folder, then tasks."""
    os.setsid()
    os.write(ready, b"1")
    os.close(ready)
    sock.close()
    task_fd, result_fd, log = fds
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = None  # tempfile read TMPDIR in the template
    threading.Thread(target=_watch_parent, args=(os.getppid(), scratch), daemon=True).start()
    _serve_tasks(task_fd, result_fd, scratch, None)
    sys.stdout.flush()
    sys.stderr.flush()


def _serve_tasks(task_fd: int, result_fd: int, scratch: str | None, idle_exit: float | None) -> None:
    """Run the tasks that come on ``task_fd``, each result onto ``result_fd``, until the pool lets go."""
    import importlib

    served = 0
    while True:
        if idle_exit is not None and not select.select([task_fd], [], [], idle_exit)[0]:
            # Kept by a host that gave it no work for a while (run_kept): end, and tidy up.
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            return
        try:
            module, qualname, args = _recv(task_fd)
        except EOFError:
            # The parent is gone (killed while this worker was idle: the kernel closed its end of
            # the pipe before _watch_parent looked), or let it go: its temporary files go with it.
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            return
        if served == 1:
            _freeze_heap()  # the first task imported the rest: analysis modules, and the renderer if not set up yet
        served += 1
        _send(result_fd, ("started", None, ""))
        try:
            fn: Any = importlib.import_module(module)
            for part in qualname.split("."):
                fn = getattr(fn, part)
            # Pickled here, so an unpicklable result is this task's error, not a crashed worker.
            data = pickle.dumps(("ok", fn(*args), ""), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            message = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            data = pickle.dumps(("error", message, traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            # sys.exit() or a KeyboardInterrupt in the model's code is that model's failure. Let
            # through, it ended this process unexplained ("exited unexpectedly with code 0") or, with
            # a thread the builder left running, kept it alive until the model's time limit.
            data = pickle.dumps(
                ("error", _stopped_by(exc), traceback.format_exc()), protocol=pickle.HIGHEST_PROTOCOL
            )
        sys.stdout.flush()
        sys.stderr.flush()
        _send_bytes(result_fd, data)


def _stopped_by(exc: BaseException) -> str:
    """The failure message of a task that raised a BaseException that is not an Exception."""
    if isinstance(exc, SystemExit):
        return f"the model's code called sys.exit({exc.code!r}); a builder must return a keras.Model."
    if isinstance(exc, KeyboardInterrupt):
        return "the model's code raised KeyboardInterrupt."
    return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__" and sys.argv[1] == "template":
    _template_main(int(sys.argv[2]), sys.argv[3], {"1": True, "0": False}.get(sys.argv[4]), sys.argv[5])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
elif __name__ == "__main__":
    _main(
        int(sys.argv[1]),
        int(sys.argv[2]),
        sys.argv[3] == "1",
        sys.argv[4],
        sys.argv[5] or None,
        float(sys.argv[6]) if sys.argv[6] else None,
        sys.argv[7] == "1",
    )
    # End now: a normal exit would wait for any non-daemon thread a builder left running, forever.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
