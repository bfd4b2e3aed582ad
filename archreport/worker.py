"""Worker processes behind a ``concurrent.futures``-style executor.

Each model is built and analysed in a child process, so a builder that raises,
hangs, crashes the interpreter or eats all memory fails that model only. A
worker imports TensorFlow once and serves several models (Keras's name counter
is reset per model, see build.py), then is recycled after ``max_tasks`` models
or when it grows past ``recycle_rss``. A task marked ``dedicated`` (a model
that opted out of safe mode) gets a fresh worker that is discarded after it.

The seam is :class:`concurrent.futures.Executor`: anything that can run
``fn(*args)`` for picklable module-level functions (a distributed engine, or
``ThreadPoolExecutor`` in a pinch) can take its place.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError

GiB = 1024**3


class WorkerFailure(ModelError):
    """A model's worker raised, crashed, timed out or ran out of memory."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details  # a traceback or the worker's last output, shown with -v


@dataclass
class TaskOptions:
    timeout: float | None = None
    dedicated: bool = False


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
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
    try:
        pids = [pid, *_descendants(pid)]
        for p in pids:
            with Path(f"/proc/{p}/statm").open() as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    return total


def _descendants(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(k) for k in kids]
    for k in list(out):
        out.extend(_descendants(k))
    return out


class _Worker:
    """One child process running ``python -m archreport.worker``."""

    def __init__(self, warm: bool) -> None:
        task_r, self.task_w = os.pipe()
        self.result_r, result_w = os.pipe()
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, ARCHREPORT_WORKER="1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "archreport.worker", str(task_r), str(result_w), "1" if warm else "0"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(task_r, result_w),
            start_new_session=True,  # its own process group: a kill takes dot with it
            env=env,
        )
        os.close(task_r)
        os.close(result_w)
        self.tasks = 0

    def run(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None, memory_limit: int) -> Any:
        _send(self.task_w, (fn.__module__, fn.__qualname__, args, kwargs))
        self.tasks += 1
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
            ready, _, _ = select.select([self.result_r], [], [], wait)
            if ready:
                try:
                    status, payload, details = _recv(self.result_r)
                except (EOFError, OSError):
                    raise self.crashed() from None
                if status == "ok":
                    return payload
                raise WorkerFailure(payload, details)
            if deadline is not None and time.monotonic() >= deadline:
                self.kill()
                raise WorkerFailure(f"timed out after {timeout:g} s (the model's time limit); the worker was stopped.")
            rss = _rss(self.proc.pid)
            if rss > memory_limit:
                self.kill()
                raise WorkerFailure(
                    f"ran out of memory: the worker used {rss / GiB:.1f} GiB, over the limit of "
                    f"{memory_limit / GiB:.1f} GiB; it was stopped."
                )
            if self.proc.poll() is not None and not select.select([self.result_r], [], [], 0)[0]:
                raise self.crashed()

    def crashed(self) -> WorkerFailure:
        code = self.proc.wait()
        tail = self.output_tail()
        if code < 0:
            name = signal.Signals(-code).name
            why = " (the system may have run out of memory)" if name == "SIGKILL" else ""
            return WorkerFailure(f"the worker process crashed with {name}{why}.", tail)
        return WorkerFailure(f"the worker process exited unexpectedly with code {code}.", tail)

    def output_tail(self, limit: int = 4000) -> str:
        with contextlib.suppress(OSError):
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
        for fd in (self.task_w, self.result_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.log.close()


class WorkerPool(Executor):
    """Run picklable module-level functions in recycled child processes."""

    def __init__(self, jobs: int, *, max_tasks: int = 8, recycle_rss: int = 3 * GiB, memory_limit: int = 8 * GiB, warm: bool = True) -> None:
        self.jobs = max(1, jobs)
        self.max_tasks = max_tasks
        self.recycle_rss = recycle_rss
        self.memory_limit = memory_limit
        self.warm = warm
        self._queue: queue.Queue[Any] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, daemon=True) for _ in range(self.jobs)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        options = kwargs.pop("_options", None) or TaskOptions()
        if self._closed:
            raise RuntimeError("cannot submit to a pool that was shut down")
        future: Future[Any] = Future()
        self._queue.put((future, fn, args, kwargs, options))
        return future

    def _new_worker(self) -> _Worker:
        worker = _Worker(self.warm)
        with self._lock:
            self._workers.add(worker)
        return worker

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
            future, fn, args, kwargs, options = item
            if not future.set_running_or_notify_cancel():
                continue
            if options.dedicated:
                own = self._new_worker()
            else:
                if worker is None:
                    worker = self._new_worker()
                own = worker
            try:
                result = own.run(fn, args, kwargs, options.timeout, self.memory_limit)
            except BaseException as exc:  # noqa: BLE001 - every failure belongs to this task's future
                future.set_exception(exc)
            else:
                future.set_result(result)
            if own.proc.poll() is not None or options.dedicated or own.tasks >= self.max_tasks or own.rss() > self.recycle_rss:
                self._retire(own)
                if own is worker:
                    worker = None
        if worker is not None:
            self._retire(worker)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
            with self._lock:
                workers = list(self._workers)
            for w in workers:  # kill running work now: Ctrl-C must leave no stray processes
                w.kill()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for t in self._threads:
                t.join()
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            self._retire(w)


def _watch_parent(parent: int) -> None:
    # If archreport itself is killed, its workers must not linger.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _main(task_fd: int, result_fd: int, warm: bool) -> None:
    import importlib

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    if warm:
        # Import TensorFlow while the parent is still busy handing out work.
        with contextlib.suppress(Exception):
            import keras  # noqa: F401
    while True:
        try:
            module, qualname, args, kwargs = _recv(task_fd)
        except EOFError:
            return
        try:
            fn: Any = importlib.import_module(module)
            for part in qualname.split("."):
                fn = getattr(fn, part)
            reply = ("ok", fn(*args, **kwargs), "")
        except Exception as exc:  # noqa: BLE001 - reported to the parent as this model's failure
            message = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            reply = ("error", message, traceback.format_exc())
        sys.stdout.flush()
        _send(result_fd, reply)


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1")
