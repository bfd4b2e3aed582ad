"""Isolation: every way a builder can fail takes down its own model only.

The command runs in a separate process, as a user runs it; workers are real
child processes. A unique environment variable tags every process a run
starts, so /proc tells whether any of them outlived the run.
"""

from __future__ import annotations

import json
import operator
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from archreport import generate, runners
from archreport.errors import UsageError
from archreport.runners import worker
from archreport.runners.worker import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_LIMIT_ENV,
    GiB,
    Limits,
    WorkerFailure,
    WorkerPool,
    _Worker,
    memory_limit_from_env,
    release_kept,
    run_kept,
    run_once,
)
from tests.helpers import (
    LENET,
    ROOT,
    TAG,
    copy_example_builders,
    lenet_table,
    run_cli,
    tagged_processes,
    wait_for,
    wait_until_gone,
    write_manifest,
)

TESTS = Path(__file__).resolve().parent


# -- helpers ------------------------------------------------------------------
def children_of_this_process() -> list[int]:
    kids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def load_report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def by_name(report: dict) -> dict[str, dict]:
    return {m["name"]: m for m in report["models"]}


def layer_names(model: dict) -> list[str]:
    return [row["name"] for row in model["layers"]]


# Module-level functions the pool runs in its children (imported there by name).
def add(a: int, b: int) -> int:
    return a + b


def divide(a: int, b: int) -> float:
    return a / b


def pid() -> int:
    return os.getpid()


def unpicklable() -> object:
    return lambda: None


def process_facts() -> tuple[int, int, int, bool]:
    """This worker's pid, its parent's, its process group and whether Keras was imported before its task."""
    return os.getpid(), os.getppid(), os.getpgid(0), "keras" in sys.modules


def segfault() -> None:
    import ctypes

    ctypes.string_at(0)


def left_behind() -> str:
    """A temporary folder this process never removes, with a file in it."""
    folder = tempfile.mkdtemp(prefix="left-behind-")
    Path(folder, "scratch.txt").write_text("scratch", encoding="utf-8")
    return folder


def leave_a_thread_running() -> None:
    """What a builder that starts a non-daemon thread (a data loader, a progress bar) leaves behind."""
    threading.Thread(target=time.sleep, args=(3600,), name="left-running").start()


def call_in(module: str, name: str, *args: Any) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)(*args)


def interrupt() -> None:
    raise KeyboardInterrupt


def hog(size: int) -> int:
    block = bytearray(size)
    block[::4096] = b"\1" * len(range(0, size, 4096))  # touch every page: RSS, not just address space
    time.sleep(30)
    return len(block)


# -- the pool: module-level functions in child processes, under each call's limits ----
@pytest.fixture
def pool_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The children import this module by name (tests.test_worker): a worker for a host such as
    # Dask starts in a folder of its own, so the repository must be on the path, not the cwd.
    # No empty entry: one means the working folder, which a test here keeps off the path.
    paths = [str(ROOT), str(TESTS), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.mark.usefixtures("pool_env")
def test_pool_runs_module_level_functions_in_child_processes() -> None:
    # max_tasks above the 11 tasks here: one thread may take nine of them while the other's
    # worker starts, and its worker's recycling after eight made a third process.
    with WorkerPool(2, warm=False, max_tasks=100) as pool:
        assert [pool.submit(add, i, i).result(timeout=60) for i in range(6)] == [0, 2, 4, 6, 8, 10]
        future = pool.submit(add, 2, 40)
        assert future.result(timeout=60) == 42
        pids = {pool.submit(pid).result(timeout=60) for _ in range(4)}
    assert os.getpid() not in pids, "tasks must run in child processes"
    assert len(pids) <= 2, f"the pool has 2 workers and recycles them, got {len(pids)} processes"
    assert wait_until_gone(children_of_this_process()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_pool_failures_are_the_tasks_exceptions() -> None:
    with WorkerPool(1, warm=False) as pool:
        with pytest.raises(WorkerFailure, match="ZeroDivisionError: division by zero"):
            pool.submit(divide, 1, 0).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"timed out after 1 s"):
            pool.submit(time.sleep, 30, limits=Limits(timeout=1)).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"exited unexpectedly with code 7"):
            pool.submit(os._exit, 7).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"PicklingError|AttributeError|Can't pickle"):
            pool.submit(unpicklable).result(timeout=60)
        # A call's own memory limit wins over the pool's (8 GiB by default).
        with pytest.raises(
            WorkerFailure, match=r"ran out of memory in a shape-only build, .* over the limit of 0.25 GiB"
        ):
            pool.submit(hog, 512 * 2**20, limits=Limits(memory_limit=2**28)).result(timeout=60)
        # The pool carries on after each of them.
        assert pool.submit(add, 1, 1).result(timeout=60) == 2
    assert wait_until_gone(children_of_this_process()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_a_worker_leaves_no_temporary_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers end by SIGKILL (retired, timed out, cancelled), so their own clean-up never runs.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # the parent reads TMPDIR again
    with WorkerPool(1, warm=False, max_tasks=1) as pool:
        first = Path(pool.submit(left_behind).result(timeout=60))
        assert first.is_relative_to(tmp_path)
        second = Path(pool.submit(left_behind).result(timeout=60))
        assert not first.exists(), "the retired worker's temporary files are still there"
        assert second.is_dir(), "a live worker's temporary files were removed"
    third = Path(run_once(left_behind, (), Limits()))
    assert not second.exists() and not third.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_run_leaves_no_temporary_files(tmp_path: Path) -> None:
    # The builder modules a worker imports are written to a temporary folder of its own.
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, '[report]\nformats = ["html"]\n' + LENET)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--no-cache", env={"TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(scratch.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_run_once_is_a_fresh_process_per_call_under_its_limits() -> None:
    # What a Dask task runs: one worker process per model, gone afterwards.
    first, second = run_once(pid, (), Limits()), run_once(pid, (), Limits())
    assert first != second != os.getpid()
    assert wait_until_gone([first, second]) == []
    with pytest.raises(WorkerFailure, match="crashed with SIGSEGV"):
        run_once(segfault, (), Limits())
    with pytest.raises(WorkerFailure, match=r"timed out after 1 s"):
        run_once(time.sleep, (30,), Limits(timeout=1))
    assert wait_until_gone(children_of_this_process()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_run_kept_reuses_the_threads_process_for_its_run_until_it_fails() -> None:
    # What a Dask worker thread runs: its process serves the run's next model, unless something went wrong.
    seen: list[object] = []
    run = uuid.uuid4().hex

    def call(fn: object, *args: object, limits: Limits | None = None, of: str = run) -> object:
        return run_kept(fn, args, limits or Limits(), of)

    def host_thread() -> None:
        try:
            first = call(pid)
            seen.append(call(pid) == first)
            with pytest.raises(WorkerFailure, match="ZeroDivisionError"):
                call(divide, 1, 0)
            seen.append(call(pid) == first)  # the task failed, not the process
            seen.append(call(pid, limits=Limits(dedicated=True)) not in (first, os.getpid()))
            other = call(pid, of="another run")  # another run's builders never share its process
            seen.append(other != first and call(pid) == first)
            seen.append(release_kept("another run") == 1 and wait_until_gone([other]) == [])
            with pytest.raises(WorkerFailure, match="crashed with SIGSEGV"):
                call(segfault)
            after_crash = call(pid)
            seen.append(after_crash != first)
            with pytest.raises(WorkerFailure, match=r"timed out after 1 s"):
                call(time.sleep, 30, limits=Limits(timeout=1))
            last = call(pid)
            seen.append(last not in (first, after_crash))
            seen.append(release_kept(run) == 1 and wait_until_gone([last]) == [])
        except BaseException as exc:  # shown by the test, not lost in the thread
            seen.append(exc)

    thread = threading.Thread(target=host_thread)
    thread.start()
    thread.join(timeout=300)
    assert seen == [True] * 8
    assert wait_until_gone(children_of_this_process()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_a_kept_process_left_idle_ends_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    # A host that never releases it (its client vanished) is not left with the process for good.
    from archreport.runners import worker

    monkeypatch.setattr(worker, "KEEP_IDLE", 0.5)
    run = uuid.uuid4().hex
    first = run_kept(pid, (), Limits(), run)
    assert wait_until_gone([first], seconds=10) == [], "the idle process did not end itself"
    assert run_kept(pid, (), Limits(), run) != first  # and the next call gets a new one
    assert release_kept(run) == 1


@pytest.mark.usefixtures("pool_env")
def test_run_once_stops_its_process_when_cancelled() -> None:
    cancel = threading.Event()
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(WorkerFailure, match="cancelled"):
        run_once(time.sleep, (60,), Limits(), cancel)
    assert time.monotonic() - started < 15
    assert wait_until_gone(children_of_this_process()) == []


@pytest.mark.slow
def test_time_limit_starts_when_the_worker_takes_the_task() -> None:
    # A warm worker imports TensorFlow (seconds) before it reads its first task;
    # that start-up must not count against a short per-task limit.
    with WorkerPool(1, warm=True) as pool:
        started = time.monotonic()
        assert pool.submit(operator.add, 1, 2, limits=Limits(timeout=0.5)).result(timeout=120) == 3
    assert time.monotonic() - started > 0.5, "the worker should have spent its start-up importing Keras"


@pytest.mark.usefixtures("pool_env")
def test_a_warm_pool_forks_its_workers_from_one_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keras is imported once, by the template, and each worker is a fork of it (issue 26), with the
    # limits, failure messages, process group and clean-up of a worker started on its own.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    with WorkerPool(2, max_tasks=2) as pool:
        facts = [pool.submit(process_facts).result(timeout=300) for _ in range(4)]
        workers = {pid for pid, _, _, _ in facts}
        (template,) = {parent for _, parent, _, _ in facts}
        assert template != os.getpid() and len(workers) >= 2  # two tasks a worker: recycled
        assert all(group == pid and keras for pid, _, group, keras in facts), facts
        assert Path(pool.submit(left_behind).result(timeout=60)).is_relative_to(tmp_path)
        with pytest.raises(WorkerFailure, match="crashed with SIGSEGV"):
            pool.submit(segfault).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"exited unexpectedly with code 7"):
            pool.submit(os._exit, 7).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"timed out after 1 s"):
            pool.submit(time.sleep, 30, limits=Limits(timeout=1)).result(timeout=60)
        with pytest.raises(
            WorkerFailure,
            match=r"ran out of memory.*: the worker used [\d.]+ GiB, over the limit of 0\.25 GiB",
        ):
            pool.submit(hog, 512 * 2**20, limits=Limits(memory_limit=2**28)).result(timeout=60)
        forked = {pool.submit(process_facts).result(timeout=60)[0] for _ in range(2)}
        # A template that dies takes its idle workers with it; the pool starts its own from then on.
        os.kill(template, signal.SIGKILL)
        assert wait_until_gone([template, *forked], seconds=10) == []
        pid, parent, _, _ = pool.submit(process_facts).result(timeout=300)
        assert parent == os.getpid()
    assert wait_until_gone([pid]) == []
    assert list(tmp_path.iterdir()) == [], "a worker's temporary files outlived it"


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_dedicated_task_gets_a_fresh_process_that_is_discarded() -> None:
    with WorkerPool(1, warm=False) as pool:
        shared = pool.submit(pid).result(timeout=60)
        own = pool.submit(pid, limits=Limits(dedicated=True)).result(timeout=60)
        again = pool.submit(pid).result(timeout=60)
        own_again = pool.submit(pid, limits=Limits(dedicated=True)).result(timeout=60)
        assert shared == again, "ordinary tasks reuse the worker"
        assert own not in {shared, own_again}
        assert wait_until_gone([own, own_again]) == [], "a dedicated worker is discarded after its task"


@pytest.mark.usefixtures("pool_env")
def test_shutdown_with_cancel_kills_running_work() -> None:
    pool = WorkerPool(1, warm=False)
    running = pool.submit(time.sleep, 60)
    queued = pool.submit(add, 1, 1)
    deadline = time.monotonic() + 30
    while not children_of_this_process() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_of_this_process(), "the worker never started"
    time.sleep(0.5)
    started = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True)
    assert time.monotonic() - started < 10, "shutdown waited for the 60 s task instead of killing it"
    assert queued.cancelled()
    with pytest.raises(WorkerFailure, match="cancelled"):
        running.result(timeout=1)
    assert wait_until_gone(children_of_this_process()) == []
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(add, 1, 2)


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_sys_exit_and_keyboard_interrupt_in_a_task_fail_that_task_with_a_reason() -> None:
    """They ended the worker process: "exited unexpectedly with code 0", and after a task that left
    a thread running, no exit at all, so the model was reported as timed out after its whole limit."""
    limits = Limits(timeout=20)
    with WorkerPool(1, warm=False) as pool:
        pool.submit(leave_a_thread_running).result(timeout=60)
        started = time.monotonic()
        with pytest.raises(
            WorkerFailure, match=r"^the model's code called sys\.exit\(0\); a builder must return"
        ):
            pool.submit(sys.exit, 0, limits=limits).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"^the model's code called sys\.exit\('bye'\)"):
            pool.submit(sys.exit, "bye", limits=limits).result(timeout=60)
        with pytest.raises(WorkerFailure, match=r"^the model's code raised KeyboardInterrupt\.$"):
            pool.submit(interrupt, limits=limits).result(timeout=60)
        assert time.monotonic() - started < 15, "a task waited for its time limit"
        assert pool.submit(add, 1, 1).result(timeout=60) == 2
    assert wait_until_gone(children_of_this_process()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_an_idle_worker_whose_parent_is_gone_removes_its_temporary_files() -> None:
    """archreport killed (SIGKILL) while a worker waited for its next task: the closed pipe ended the
    worker before its parent watch looked, and its archreport-worker-* folder stayed in $TMPDIR."""
    worker = _Worker(warm=False)
    try:
        left = Path(worker.run(left_behind, (), 60, 2**33))
        assert left.parent == Path(worker.scratch) and left.is_dir()
        os.close(worker.task_w)  # what the kernel does to a killed parent's end of the pipe
        assert worker.proc.wait(timeout=30) == 0
        assert not Path(worker.scratch).exists()
    finally:
        worker.close()


@pytest.mark.slow
@pytest.mark.usefixtures("pool_env")
def test_an_idle_worker_ends_even_with_a_thread_a_task_left_running() -> None:
    """A kept worker (Dask) ends itself when idle; a non-daemon thread kept it alive for ever."""
    worker = _Worker(warm=False, idle_exit=1.0)
    try:
        worker.run(leave_a_thread_running, (), 60, 2**33)
        assert worker.proc.wait(timeout=30) == 0
    finally:
        worker.close()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, DEFAULT_MEMORY_LIMIT),
        ("1610612736", 1536 * 1024**2),
        ("1.5G", int(1.5 * GiB)),
        ("512M", 512 * 1024**2),
        ("2GiB", 2 * GiB),
        # 400 digits: infinite as a float, and int() of that raised OverflowError (a traceback).
        pytest.param("1" + "0" * 400, 10**400, id="400-digits"),
        pytest.param("1" + "0" * 400 + "K", 10**400 * 1024, id="400-digits-K"),
    ],
)
def test_memory_limit_from_env(monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: int) -> None:
    if raw is None:
        monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    else:
        monkeypatch.setenv(MEMORY_LIMIT_ENV, raw)
    assert memory_limit_from_env() == expected


@pytest.mark.parametrize("raw", ["lots", "0", "-1G", "1.5X", "0.0000001", "1e9"])
def test_invalid_memory_limit_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, raw)
    with pytest.raises(UsageError, match=rf"{MEMORY_LIMIT_ENV}=.* is not a valid memory limit"):
        memory_limit_from_env()


def test_cli_rejects_an_invalid_memory_limit_before_building(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, LENET)
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), env={MEMORY_LIMIT_ENV: "lots"}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "ARCHREPORT_MEMORY_LIMIT='lots' is not a valid memory limit" in proc.stderr
    assert not (tmp_path / "out").exists()


# -- the command: one bad builder of each kind beside good models -------------
BAD_BUILDERS = """
import ctypes
import os
import time

import numpy as np


def raises():
    raise RuntimeError("builder exploded on purpose")


def hangs():
    time.sleep(120)


def segfault():
    ctypes.string_at(0)


def exits():
    os._exit(3)


def eats_memory():
    block = np.ones(4 * 1024**3 // 8)  # 4 GiB, every page touched
    time.sleep(60)
    return block
"""

ISOLATION_MANIFEST = f"""
[report]
title = "isolation"
formats = ["html"]
{LENET}
[[model]]
name = "Raises"
builder = "bad:raises"

[[model]]
name = "Hangs"
builder = "bad:hangs"
timeout = 3

[[model]]
name = "Segfault"
builder = "bad:segfault"

[[model]]
name = "Exits"
builder = "bad:exits"

[[model]]
name = "Out of memory"
builder = "bad:eats_memory"

{lenet_table("LeNet after the failures")}"""


@pytest.fixture(scope="module")
def isolation_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict, str, float]:
    folder = tmp_path_factory.mktemp("isolation")
    copy_example_builders(folder)
    (folder / "bad.py").write_text(BAD_BUILDERS, encoding="utf-8")
    manifest = write_manifest(folder, ISOLATION_MANIFEST)
    tag = uuid.uuid4().hex
    env = {TAG: tag, MEMORY_LIMIT_ENV: str(int(1.5 * GiB))}
    started = time.monotonic()
    proc = run_cli(str(manifest), "-o", str(folder / "out"), "--no-cache", "-j", "2", env=env, timeout=240)
    elapsed = time.monotonic() - started
    report = load_report(folder / "out") if (folder / "out" / "report.json").exists() else {}
    return proc, report, tag, elapsed


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("Raises", "RuntimeError: builder exploded on purpose"),
        ("Hangs", "timed out after 3 s"),
        ("Segfault", "crashed with SIGSEGV"),
        ("Exits", "exited unexpectedly with code 3"),
        ("Out of memory", "out of memory"),
    ],
)
def test_failing_builder_fails_only_its_own_model(isolation_run: tuple, name: str, cause: str) -> None:
    proc, report, _tag, _elapsed = isolation_run
    assert report, f"no report.json was written:\n{proc.stdout}\n{proc.stderr}"
    model = by_name(report)[name]
    assert model["status"] == "failed"
    assert cause in model["error"], model["error"]
    assert f"FAILED  {name}: " in proc.stdout


@pytest.mark.slow
def test_good_models_beside_failures_are_ok(isolation_run: tuple) -> None:
    proc, report, _tag, elapsed = isolation_run
    assert proc.returncode == 1, proc.stderr
    models = by_name(report)
    for name in ("LeNet", "LeNet after the failures"):
        assert models[name]["status"] == "ok", models[name].get("error")
        assert models[name]["totals"]["params"] == 1256080
    assert report["summary"] == {"models": 7, "ok": 2, "failed": 5, "expectation_failures": 0}
    assert "7 models: 2 ok, 5 failed" in proc.stdout
    assert elapsed < 100, f"the hanging builder (120 s) was not stopped at its 3 s limit: {elapsed:.0f} s"


@pytest.mark.slow
def test_no_worker_outlives_the_run(isolation_run: tuple) -> None:
    _proc, _report, tag, _elapsed = isolation_run
    assert wait_until_gone(tagged_processes(tag)) == []


def test_tagged_process_probe_sees_a_live_child() -> None:
    # The leak check above is only worth something if it can see a process.
    tag = uuid.uuid4().hex
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], env={**os.environ, TAG: tag}
    )
    try:
        # Popen returns once the exec started; the new program's environment is readable a moment later.
        assert wait_for(lambda: tagged_processes(tag) == [child.pid], 10), tagged_processes(tag)
    finally:
        child.kill()
        child.wait()
    assert tagged_processes(tag) == []


# -- trusted models and Keras's global state -----------------------------------
PID_BUILDERS = """
import os
from pathlib import Path

import keras


def dense(pid_file):
    Path(pid_file).write_text(str(os.getpid()))
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
"""

MAKE_LAMBDA_MODEL = """
import sys

import keras

pid_file = sys.argv[2]
record = eval(f"lambda x: (__import__('pathlib').Path({pid_file!r}).write_text(str(__import__('os').getpid())), x)[1]")
model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(record), keras.layers.Dense(2)])
model.save(sys.argv[1])
"""


@pytest.fixture(scope="module")
def trust_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict, dict[str, int], str]:
    folder = tmp_path_factory.mktemp("trust")
    pids = folder / "pids"
    pids.mkdir()
    (folder / "pidmodels.py").write_text(PID_BUILDERS, encoding="utf-8")
    made = subprocess.run(
        [sys.executable, "-c", MAKE_LAMBDA_MODEL, str(folder / "lambda.keras"), str(pids / "trusted")],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (pids / "trusted").unlink(missing_ok=True)
    manifest = write_manifest(
        folder,
        textwrap.dedent(f'''
        [report]
        formats = ["html"]

        [[model]]
        name = "Before"
        builder = "pidmodels:dense"
        args = ["{pids / "before"}"]

        [[model]]
        name = "Trusted"
        file = "lambda.keras"
        trust = true

        [[model]]
        name = "After"
        builder = "pidmodels:dense"
        args = ["{pids / "after"}"]

        [[model]]
        name = "Untrusted"
        file = "lambda.keras"
    '''),
    )
    tag = uuid.uuid4().hex
    proc = run_cli(
        str(manifest), "-o", str(folder / "out"), "--no-cache", "-j", "1", env={TAG: tag}, timeout=240
    )
    assert (folder / "out" / "report.json").exists(), proc.stdout + proc.stderr
    recorded = {p.name: int(p.read_text()) for p in pids.iterdir()}
    return proc, by_name(load_report(folder / "out")), recorded, tag


@pytest.mark.slow
def test_trusted_model_runs_in_a_dedicated_process(trust_run: tuple) -> None:
    _proc, models, pids, tag = trust_run
    assert models["Trusted"]["status"] == "ok", models["Trusted"].get("error")
    assert {"before", "after", "trusted"} <= set(pids), pids
    assert pids["before"] == pids["after"], "the ordinary models should share the recycled worker"
    assert pids["trusted"] != pids["before"], "the trusted model ran in the shared worker"
    assert wait_until_gone([pids["trusted"], pids["before"], *tagged_processes(tag)]) == []


@pytest.mark.slow
def test_trust_is_per_model(trust_run: tuple) -> None:
    proc, models, _pids, _tag = trust_run
    assert models["Untrusted"]["status"] == "failed"
    assert "Lambda" in models["Untrusted"]["error"]
    assert "trust = true" in models["Untrusted"]["error"]
    assert proc.returncode == 1


@pytest.mark.slow
def test_keras_auto_names_do_not_depend_on_earlier_models(trust_run: tuple) -> None:
    _proc, models, pids, _tag = trust_run
    assert pids["before"] == pids["after"]  # same worker, so its name counter was reset in between
    assert layer_names(models["Before"]) == layer_names(models["After"]) == ["dense", "dense_1"]


# -- a real build too big for the memory limit -------------------------------------------------
READS_WEIGHTS = """
from tests.models import llama_8b


def reads_weights():
    model = llama_8b()
    # Computing on a weight's values: zeros in a shape-only build, so "auto" builds it for real.
    print(float(model.get_layer("token_embedding").embeddings.numpy()[0, :8].sum()))
    return model
"""


@pytest.mark.slow
def test_a_real_build_over_the_memory_limit_fails_with_a_message_not_a_kill(tmp_path: Path) -> None:
    """An 8-billion-parameter model built with real weights (32 GB) under a 3 GiB limit: stopped
    by archreport's watchdog when built with TensorFlow on request, and not even attempted when a
    shape-only build already measured its weights. The other model is reported."""
    copy_example_builders(tmp_path)
    (tmp_path / "heavy.py").write_text(READS_WEIGHTS, encoding="utf-8")
    manifest = write_manifest(
        tmp_path,
        textwrap.dedent("""
        [report]
        formats = ["html"]

        [[model]]
        name = "Llama 8B, real weights"
        builder = "tests.models:llama_8b"
        backend = "tensorflow"

        [[model]]
        name = "Llama 8B, reads its weights"
        builder = "heavy:reads_weights"
    """)
        + LENET,
    )
    env = {MEMORY_LIMIT_ENV: "3G", "PYTHONPATH": str(ROOT)}
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--no-cache", "-j", "2", env=env, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    models = by_name(load_report(tmp_path / "out"))
    assert models["LeNet"]["status"] == "ok"
    real = models["Llama 8B, real weights"]
    assert real["status"] == "failed"
    assert re.fullmatch(
        r"ran out of memory in a real tensorflow build, which allocates every weight: the worker used "
        r"\d+\.\d\d GiB, over the limit of 3\.00 GiB; it was stopped\. Build it shape-only .*",
        real["error"],
    ), real["error"]
    measured = models["Llama 8B, reads its weights"]
    assert measured["status"] == "failed"
    # 8,030,261,248 float32 parameters: 29.9 GiB.
    assert measured["error"].startswith(
        "a real tensorflow build needs 29.9 GiB for its weights alone, over the limit of 3.0 GiB "
        "(ARCHREPORT_MEMORY_LIMIT); it was not attempted."
    ), measured["error"]


# -- -j 1, -j 2 and a half-filled cache give the same report ---------------------------------------
SETTINGS_BUILDER = """
import keras


def channels_first():
    # Keras's global settings: clear_session() keeps them, so a worker must restore them itself.
    keras.config.set_image_data_format("channels_first")
    keras.config.set_floatx("float16")
    keras.config.set_epsilon(1e-3)
    return keras.Sequential([keras.Input((3, 8, 8)), keras.layers.Conv2D(4, 3)])
"""


@pytest.mark.slow
def test_the_report_does_not_depend_on_jobs_or_what_the_cache_holds(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    (tmp_path / "settings.py").write_text(SETTINGS_BUILDER, encoding="utf-8")
    manifest = write_manifest(
        tmp_path,
        textwrap.dedent("""
        [[model]]
        name = "Channels first"
        builder = "settings:channels_first"
    """)
        + LENET
        + textwrap.dedent("""
        [[model]]
        name = "Residual block"
        builder = "blocks:residual_block"
        kwargs = { input_shape = [32, 32, 3], filters = 16, classes = 10 }

        [[model]]
        name = "Nested classifier"
        builder = "blocks:nested_classifier"
    """),
    )
    env = {"SOURCE_DATE_EPOCH": "1700000000"}

    def run(out: str, *args: str) -> Path:
        proc = run_cli(str(manifest), "-o", str(tmp_path / out), *args, env=env, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return tmp_path / out

    # One worker builds every model in turn; two share them out; a cache holding one model's
    # result (and none of the others') mixes cached and new sections in one report.
    outputs = [run("out-j1", "--no-cache", "-j", "1"), run("out-j2", "--no-cache", "-j", "2")]
    run("out-one", "--only", "Residual block", "-j", "1")
    outputs.append(run("out-partly-cached", "-j", "1"))
    files = sorted(p.relative_to(outputs[0]) for p in outputs[0].rglob("*") if p.is_file())
    assert {"report.pdf", "report.html", "report.json"} <= {str(f) for f in files}
    for out in outputs[1:]:
        assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == files
        for name in files:
            assert (out / name).read_bytes() == (outputs[0] / name).read_bytes(), (
                f"{name} differs in {out.name}"
            )
    models = {m["name"]: m for m in load_report(outputs[0])["models"]}
    # LeNet ran after the channels_first, float16 builder in the same worker, and never saw its settings.
    assert models["LeNet"]["layers"][0]["output_shape"] == "(None, 28, 28, 20)"
    assert models["LeNet"]["totals"]["param_bytes"] == 4 * 1_256_080
    assert models["Channels first"]["layers"][0]["output_shape"] == "(None, 4, 6, 6)"


def test_workers_run_in_their_own_process_group() -> None:
    # Workers run in their own session: Ctrl-C in a terminal reaches archreport, which
    # decides what to stop, not every worker at once.
    pool = WorkerPool(1, warm=False)
    try:
        worker = pool._new_worker()
        assert os.getpgid(worker.proc.pid) == worker.proc.pid != os.getpgid(0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert wait_until_gone(children_of_this_process()) == []


SHADOWING = "raise RuntimeError('the user\\'s random.py was imported in place of the standard library\\'s')\n"


@pytest.mark.usefixtures("pool_env")
def test_a_module_in_the_working_folder_does_not_shadow_the_standard_librarys_in_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m` put the working folder first on a worker's import path: a random.py there
    (tempfile imports random) killed every worker on start-up, so every model failed with
    "exited unexpectedly with code 1"."""
    (tmp_path / "random.py").write_text(SHADOWING, encoding="utf-8")
    (tmp_path / "mine.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with WorkerPool(1, warm=False) as pool:
        assert pool.submit(add, 2, 3).result(timeout=60) == 5
        # The working folder is still on the path, last: its own modules import as before.
        assert pool.submit(call_in, "mine", "double", 21).result(timeout=60) == 42


@pytest.mark.slow
def test_python_m_archreport_in_a_folder_with_a_random_py_runs(tmp_path: Path) -> None:
    """The command itself, as `python -m archreport` from the project folder: it died with a
    traceback (importlib.metadata imports random) before reading the manifest."""
    (tmp_path / "random.py").write_text(SHADOWING, encoding="utf-8")
    (tmp_path / "tiny.py").write_text(
        "import keras\n\n\ndef build():\n    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n",
        encoding="utf-8",
    )
    write_manifest(tmp_path, '[report]\nformats = ["html"]\n[[model]]\nname = "T"\nbuilder = "tiny:build"\n')
    proc = run_cli("manifest.toml", "-o", "out", "--no-cache", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert load_report(tmp_path / "out")["models"][0]["status"] == "ok"


def rendering_ready() -> bool:
    """Whether the faces archreport draws with were subset before this worker's task (the template set up the renderer)."""
    text = sys.modules.get("archreport.render.pdf.text")
    return text is not None and text._program.cache_info().currsize >= 4


@pytest.mark.usefixtures("pool_env")
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_template_started_early_is_the_one_the_pool_forks_from(jobs: int) -> None:
    # The command starts a template before it reads the manifest (issue 26); the pool adopts it
    # and tells it then whether to set up the renderer: only for a pool of several workers.
    worker.start_template_early()
    early = worker._early["shape-only"]
    try:
        with WorkerPool(jobs) as pool:
            pid, parent, _, keras = pool.submit(process_facts, limits=Limits(render=True)).result(timeout=300)
            assert parent == early.proc.pid and keras
            assert pool.submit(rendering_ready, limits=Limits(render=True)).result(timeout=60) == (jobs > 1)
            assert pool._templates["shape-only"] is early and worker._early == {}
    finally:
        worker.discard_early_template()
    assert wait_until_gone([pid, early.proc.pid]) == []


def test_a_template_started_early_that_no_pool_needs_is_stopped() -> None:
    # A run whose every model is cached builds nothing: the template must not go on importing Keras.
    worker.start_template_early()
    early = worker._early["shape-only"]
    runners.discard_early()
    assert early.proc.poll() is not None and worker._early == {}
    assert not Path(early.scratch).exists()


@pytest.mark.usefixtures("pool_env")
def test_a_run_returns_once_its_workers_are_gone(tmp_path: Path) -> None:
    # The pool is shut down in the background while the report is written (issue 26), and the
    # run waits for it: nothing it started outlives it, neither a worker nor the template.
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, '[report]\nformats = ["html"]\n' + LENET)
    report = generate(manifest, tmp_path / "out", use_cache=False, jobs=2)
    assert [m.status for m in report.models] == ["ok"]
    assert children_of_this_process() == []
