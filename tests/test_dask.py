"""archreport on a real Dask cluster: a scheduler and two workers, started as separate processes.

The cluster runs in a folder of its own, so nothing a model needs can be read
from the manifest's folder: builder modules travel with the task. A
segfaulting, an exiting and a hanging builder sit among good models; each
fails its own model only, with archreport's own message, and the Dask worker
that ran it serves the next model. The good models' numbers are the same as a
local run's, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from archreport import manifest
from archreport.manifest import sources
from archreport.runners.dask import run_on_worker
from archreport.store import fingerprint
from archreport.task import Task
from tests.helpers import (
    LENET,
    ROOT,
    TAG,
    copy_example_builders,
    run_cli,
    tagged_processes,
    wait_until_gone,
    write_manifest,
)

pytest.importorskip("distributed")

TINY = ROOT / "tests" / "bad_inputs" / "_shared" / "tiny.py"
pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    address: str  # tcp://127.0.0.1:PORT
    workers: dict[str, int]  # Dask worker address -> pid
    folder: Path
    tag: str
    pem: Path | None = None  # its TLS certificate

    @property
    def executor(self) -> str:
        return self.address.replace("tcp://", "dask://")

    def current_workers(self, wait_for: int = 1) -> dict[str, int]:
        """The pids of the cluster's Dask workers, by address."""
        from distributed import Client, Security

        pem = None if self.pem is None else str(self.pem)
        security = Security(tls_ca_file=pem, tls_client_cert=pem, tls_client_key=pem) if pem else None
        with Client(self.address, timeout=30, security=security, set_as_default=False) as client:
            try:
                client.wait_for_workers(wait_for, timeout=60)
            except TimeoutError:
                pytest.fail((self.folder / "workers.log").read_text(errors="replace"))
            return client.run(os.getpid)


def _dask(folder: Path, tag: str, log: str, *args: str) -> subprocess.Popen:
    with (folder / log).open("wb") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "dask"), *args],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            # This checkout's archreport on the workers, as `pip install archreport` would give them;
            # the manifest's folder is neither on their path nor their working directory.
            env={**os.environ, TAG: tag, "PYTHONPATH": str(ROOT)},
        )


def _wait_for_file(path: Path, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{path.name} never appeared:\n{log.read_text(errors='replace')}"
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen]) -> None:
    # Workers first: a worker whose scheduler is gone waits seconds before it gives up.
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("dask-cluster")
    (folder / "stray.py").write_text(STRAY, encoding="utf-8")  # importable from the workers' folder only
    yield from _start_cluster(folder, nworkers=2)


def _start_cluster(folder: Path, nworkers: int, pem: Path | None = None) -> Iterator[Cluster]:
    """A scheduler and ``nworkers`` workers in ``folder``; with ``pem``, over TLS with that certificate."""
    tag = uuid.uuid4().hex
    scheduler_file = folder / "scheduler.json"
    security = (
        [] if pem is None else ["--tls-ca-file", str(pem), "--tls-cert", str(pem), "--tls-key", str(pem)]
    )
    scheduler = _dask(
        folder, tag, "scheduler.log", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
        "--scheduler-file", str(scheduler_file), *(["--protocol", "tls"] if pem else []), *security,
    )  # fmt: skip
    procs = [scheduler]
    try:
        _wait_for_file(scheduler_file, scheduler, folder / "scheduler.log")
        address = json.loads(scheduler_file.read_text())["address"]
        worker = _dask(
            folder, tag, "workers.log", "worker", "--scheduler-file", str(scheduler_file),
            "--nworkers", str(nworkers), "--nthreads", "1", "--no-dashboard", *security,
        )  # fmt: skip
        procs.insert(0, worker)
        cluster = Cluster(address, {}, folder, tag, pem)
        cluster.workers = cluster.current_workers(wait_for=nworkers)
        yield cluster
    finally:
        _stop(procs)
    assert wait_until_gone(tagged_processes(tag), seconds=20) == [], (
        "a Dask or archreport process outlived the test"
    )


# -- a manifest with failing builders among good ones -------------------------------------------
RECORDING = """
import ctypes
import os
import time
from pathlib import Path

import tiny


def _record(path):
    # The archreport worker process's parent is the Dask worker that ran the task.
    with open(path, "a") as fh:
        fh.write(f"{os.getppid()} {time.time()}\\n")


def hangs(path):
    _record(path)
    time.sleep(120)


def segfault(path):
    _record(path)
    ctypes.string_at(0)


def exits(path):
    _record(path)
    os._exit(3)


def eats_memory(path):
    _record(path)
    import numpy as np

    block = np.ones(4 * 1024**3 // 8)  # 4 GiB, every page touched: over the run's limit
    time.sleep(60)
    return block


def uses_stray():
    # stray.py lies only in the Dask workers' own folder: it must not be found there.
    import stray

    return stray.build()


def tiny_after(path, units=4):
    _record(path)
    time.sleep(2)  # so the other Dask worker cannot finish every model while the hanging one waits out its limit
    return tiny.build(units)
"""


def _manifest(records: Path) -> str:
    good = textwrap.dedent("""
        [report]
        formats = ["html"]

        [[model]]
        name = "Hangs"
        builder = "recording:hangs"
        args = ["{records}/hangs"]
        timeout = 3
        {lenet}
        [[model]]
        name = "Segfault"
        builder = "recording:segfault"
        args = ["{records}/segfault"]

        [[model]]
        name = "Residual block"
        builder = "blocks:residual_block"
        kwargs = {{ input_shape = [32, 32, 3], filters = 16, classes = 10 }}

        [[model]]
        name = "Exits"
        builder = "recording:exits"
        args = ["{records}/exits"]

        [[model]]
        name = "Out of memory"
        builder = "recording:eats_memory"
        args = ["{records}/memory"]

        [[model]]
        name = "Uses a module of the worker's folder"
        builder = "recording:uses_stray"

        [[model]]
        name = "Nested classifier"
        builder = "blocks:nested_classifier"

        [model.diagram]
        expand_nested = true
    """).format(records=records, lenet=LENET)
    after = "".join(
        f'\n[[model]]\nname = "After {i}"\nbuilder = "recording:tiny_after"\nargs = ["{records}/after-{i}", {i}]\n'
        for i in range(1, 4)
    )
    trusted = '\n[[model]]\nname = "Trusted"\nbuilder = "tiny:build"\ntrust = true\n'
    # Only its architecture travels; the Dask workers cannot see the file.
    from_file = '\n[[model]]\nname = "From a file"\nfile = "models/small.json"\n'
    return good + after + trusted + from_file


GOOD = [
    "LeNet",
    "Residual block",
    "Nested classifier",
    "After 1",
    "After 2",
    "After 3",
    "Trusted",
    "From a file",
]
MAKE_MODEL_FILE = """
import sys

import keras

model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Dense(2)], name="small")
open(sys.argv[1], "w", encoding="utf-8").write(model.to_json())
"""
FAILING = {
    "Hangs": "timed out after 3 s (the model's time limit); the worker was stopped.",
    "Segfault": "the worker process crashed with SIGSEGV.",
    "Exits": "the worker process exited unexpectedly with code 3.",
    "Out of memory": "ran out of memory in a shape-only build, which allocates no weights:",
    "Uses a module of the worker's folder": "ModuleNotFoundError: No module named 'stray'",
}
# The run's memory limit travels with each task to the Dask workers (the "Out of memory" model).
MEMORY_LIMIT = {"ARCHREPORT_MEMORY_LIMIT": "1536M"}
STRAY = "import keras\n\n\ndef build():\n    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\n"


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    models: dict[str, dict]
    out: Path
    records: Path
    elapsed: float


def _run(folder: Path, out: str, *args: str, env: dict[str, str] | None = None) -> Run:
    started = time.monotonic()
    proc = run_cli(
        str(folder / "manifest.toml"), "-o", str(folder / out), "--no-cache", *args,
        env={"SOURCE_DATE_EPOCH": "1700000000", **(env or {})}, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    path = folder / out / "report.json"
    assert path.exists(), proc.stdout + proc.stderr
    models = {m["name"]: m for m in json.loads(path.read_text(encoding="utf-8"))["models"]}
    return Run(proc, models, folder / out, folder / "records", elapsed)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    copy_example_builders(folder)
    shutil.copy(TINY, folder / "tiny.py")
    (folder / "recording.py").write_text(RECORDING, encoding="utf-8")
    (folder / "records").mkdir()
    (folder / "models").mkdir()
    subprocess.run(
        [sys.executable, "-c", MAKE_MODEL_FILE, str(folder / "models" / "small.json")],
        check=True, capture_output=True, timeout=120, env={**os.environ, "KERAS_BACKEND": "numpy"},
    )  # fmt: skip
    write_manifest(folder, _manifest(folder / "records"))
    return folder


@pytest.fixture(scope="module")
def dask_run(project: Path, cluster: Cluster) -> Run:
    return _run(project, "out-dask", "--executor", cluster.executor, "-v", env=MEMORY_LIMIT)


@pytest.fixture(scope="module")
def local_run(project: Path, dask_run: Run) -> Run:
    return _run(project, "out-local", "--only", *GOOD, "-j", "2", env=MEMORY_LIMIT)


def _records(run: Run, name: str) -> list[tuple[int, float]]:
    lines = (run.records / name).read_text().split()
    return [(int(pid), float(at)) for pid, at in zip(lines[::2], lines[1::2], strict=True)]


# -- the tests ------------------------------------------------------------------------------------
def test_each_failing_builder_fails_only_its_own_model(dask_run: Run) -> None:
    assert dask_run.proc.returncode == 1, dask_run.proc.stderr
    for name, message in FAILING.items():
        assert dask_run.models[name]["status"] == "failed"
        assert dask_run.models[name]["error"].startswith(message), "archreport's own message, not Dask's"
    for name in GOOD:
        assert dask_run.models[name]["status"] == "ok", dask_run.models[name]["error"]
    assert "13 models: 8 ok, 5 failed" in dask_run.proc.stdout
    # -v says which Dask worker a failure happened on.
    assert (
        "--- Segfault: worker traceback or output ---\nran on the Dask worker tcp://127.0.0.1:"
        in dask_run.proc.stderr
    )


def test_dask_never_retries_a_model(dask_run: Run, cluster: Cluster) -> None:
    # A task that killed its Dask worker would be retried (allowed-failures); ours never do.
    for name in ("segfault", "exits", "hangs", "memory"):
        assert len(_records(dask_run, name)) == 1, f"{name} ran more than once"
    assert cluster.current_workers() == cluster.workers, "a Dask worker died or was restarted"


def test_a_hanging_model_frees_its_dask_worker_for_the_next_model(dask_run: Run, cluster: Cluster) -> None:
    [(worker, started)] = _records(dask_run, "hangs")
    assert worker in cluster.workers.values(), "the builder's parent should be a Dask worker process"
    after = [at for i in range(1, 4) for pid, at in _records(dask_run, f"after-{i}") if pid == worker]
    after += [
        at
        for failed in ("segfault", "exits", "memory")
        for pid, at in _records(dask_run, failed)
        if pid == worker
    ]
    later = [at - started for at in after if at > started]
    assert later, "the Dask worker that ran the hanging model never served another one"
    # Its time limit is 3 s; the next model started (a fresh process imports Keras first) within 10 s more.
    assert min(later) < 3 + 10, f"the next model started {min(later):.1f} s after the hanging one"


def test_results_are_those_of_a_local_run(dask_run: Run, local_run: Run) -> None:
    assert local_run.proc.returncode == 0, local_run.proc.stdout + local_run.proc.stderr
    for name in GOOD:
        ours, local = dask_run.models[name], local_run.models[name]
        assert ours["totals"] == local["totals"], name
        assert ours["layers"] == local["layers"], name
        assert ours["diagram"] == local["diagram"], name
        slug = ours["diagram"]["files"]["svg"].split("/")[1]
        for path in sorted((local_run.out / "models" / slug).rglob("*")):
            if path.is_file():
                relative = path.relative_to(local_run.out)
                assert (dask_run.out / relative).read_bytes() == path.read_bytes(), relative


def test_keras_names_are_fresh_for_every_model(dask_run: Run) -> None:
    # Each model gets a fresh Keras session, in whichever worker process ran it, so names do not
    # depend on what ran before.
    names = {[r["name"] for r in dask_run.models[f"After {i}"]["layers"]][-1] for i in range(1, 4)}
    assert names == {"dense"}


def test_no_archreport_process_outlives_the_run(dask_run: Run, cluster: Cluster) -> None:
    # Only the Dask processes themselves may carry the cluster's tag now.
    leftovers = [p for p in tagged_processes(cluster.tag) if "archreport.runners.worker" in _cmdline(p)]
    assert wait_until_gone(leftovers) == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_unreachable_scheduler_exits_3_quickly(project: Path) -> None:
    started = time.monotonic()
    proc = run_cli(
        str(project / "manifest.toml"), "-o", str(project / "out-none"), "--executor", "dask://127.0.0.1:9",
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "ERROR cannot reach the Dask scheduler at dask://127.0.0.1:9 within 2 s" in proc.stderr
    assert "dask scheduler" in proc.stderr
    assert time.monotonic() - started < 15
    assert not (project / "out-none").exists()


def test_jobs_with_a_cluster_exits_2(project: Path, cluster: Cluster) -> None:
    proc = run_cli(
        str(project / "manifest.toml"), "-o", str(project / "out-j"), "--executor", cluster.executor, "-j", "2",
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"-j 2 has no meaning on a Dask cluster (--executor is {cluster.executor})" in proc.stderr


def test_a_worker_with_other_versions_fails_the_model_before_building(project: Path) -> None:
    spec = manifest.load(project / "manifest.toml").models[1]  # LeNet
    task = Task(spec=spec, files=sources.read(spec)[0], timeout=60)
    ours = fingerprint.runtime()
    started = time.monotonic()
    result = run_on_worker(task, {**ours, "keras": "3.0.0"}, "a run")
    assert time.monotonic() - started < 2, "it should not have started a worker process"
    assert result.report is None
    assert result.error is not None
    assert f"runs keras {ours['keras']} (here: 3.0.0)" in result.error
    assert result.versions == ours


# -- TLS, with Dask's own configuration -----------------------------------------------------------
def _certificate(folder: Path) -> Path:
    pem = folder / "tls.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=archreport-test",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem.write_bytes((folder / "cert.pem").read_bytes() + (folder / "key.pem").read_bytes())
    return pem


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_tls_with_dasks_own_configuration(tmp_path: Path) -> None:
    pem = _certificate(tmp_path)
    copy_example_builders(tmp_path)
    write_manifest(
        tmp_path,
        '[report]\nformats = ["html"]\n' + LENET,
    )
    cluster_dir = tmp_path / "cluster"
    cluster_dir.mkdir()
    clusters = _start_cluster(cluster_dir, nworkers=1, pem=pem)
    cluster = next(clusters)
    try:
        assert cluster.address.startswith("tls://")
        where = cluster.address
        bare = run_cli(
            str(tmp_path / "manifest.toml"), "-o", str(tmp_path / "out"), "--executor", where, timeout=60
        )
        assert bare.returncode == 3, bare.stdout + bare.stderr
        assert "distributed.comm.tls.ca-file" in bare.stderr
        tls = {
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(pem),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(pem),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(pem),
        }
        proc = run_cli(
            str(tmp_path / "manifest.toml"),
            "-o",
            str(tmp_path / "out"),
            "--executor",
            where,
            env=tls,
            timeout=90,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lenet = json.loads((tmp_path / "out" / "report.json").read_text())["models"][0]
        assert lenet["totals"]["params"] == 1256080
    finally:
        next(clusters, None)  # stops the cluster and checks that nothing outlived it


# -- the library with a Client of one's own, and stopping --------------------------------------------
def test_the_library_runs_on_a_client_you_made(project: Path, cluster: Cluster, dask_run: Run) -> None:
    # What a dask-kubernetes or Dask Gateway user does: the cluster's Client, passed in.
    from distributed import Client

    from archreport import generate
    from archreport.runners.dask import DaskRunner

    with Client(cluster.address, set_as_default=False) as client:
        report = generate(
            project / "manifest.toml", project / "out-client", only=["Trusted"], use_cache=False,
            executor=DaskRunner(client),
        )  # fmt: skip
        assert client.status == "running", "the caller's Client is the caller's to close"
    [model] = report.models
    assert model.ok, model.error
    assert model.totals is not None
    assert model.totals.params == dask_run.models["Trusted"]["totals"]["params"] == 16


# SIGTERM is what a CI runner sends when a job is cancelled; SIGKILL (or the OOM killer) leaves
# archreport no chance to say anything: its Dask client's connection simply closes.
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopping_archreport_stops_its_models_on_the_cluster(
    project: Path, cluster: Cluster, how: signal.Signals
) -> None:
    record = project / "records" / f"stopped-{how.name}"
    manifest = write_manifest(
        project,
        f'[report]\nformats = ["html"]\n\n[[model]]\nname = "Long"\nbuilder = "recording:hangs"\n'
        f'args = ["{record}"]\ntimeout = 100\n',
        name="long.toml",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "archreport", str(manifest), "-o", str(project / "out-long"), "--executor",
         cluster.executor],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not record.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the model never started"
            time.sleep(0.1)
        running = [p for p in tagged_processes(cluster.tag) if "archreport.runners.worker" in _cmdline(p)]
        assert running, "the model's worker process should be running on a Dask worker"
        proc.send_signal(how)
        assert proc.wait(timeout=20) == (130 if how == signal.SIGTERM else -signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    # 0.1 s on a quiet machine; the margin is for a busy CI runner.
    assert wait_until_gone(running, seconds=2) == [], "the model kept running on the cluster"
    assert cluster.current_workers() == cluster.workers


def test_a_scheduler_without_workers_exits_3(project: Path, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _dask(
        tmp_path, tag, "scheduler.log", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
        "--scheduler-file", str(scheduler_file),
    )  # fmt: skip
    try:
        _wait_for_file(scheduler_file, scheduler, tmp_path / "scheduler.log")
        executor = json.loads(scheduler_file.read_text())["address"].replace("tcp://", "dask://")
        proc = run_cli(
            str(project / "manifest.toml"), "-o", str(project / "out-idle"), "--executor", executor,
            env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}, timeout=60,
        )  # fmt: skip
    finally:
        _stop([scheduler])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"ERROR the Dask scheduler at {executor} has no workers (waited 2 s)" in proc.stderr
    assert "dask worker tcp://127.0.0.1:" in proc.stderr
    assert wait_until_gone(tagged_processes(tag)) == []


def test_the_pdf_is_that_of_a_local_run(tmp_path: Path, cluster: Cluster) -> None:
    # PDF sections are rendered where the model is built: on a Dask worker, with its WeasyPrint,
    # Pango and fonts, which each task reports and the parent compares with its own.
    copy_example_builders(tmp_path)
    write_manifest(tmp_path, LENET)
    on_dask = _run(tmp_path, "out-dask", "--executor", cluster.executor)
    local = _run(tmp_path, "out-local")
    assert on_dask.proc.returncode == local.proc.returncode == 0, on_dask.proc.stderr + local.proc.stderr
    for name in ("report.pdf", "report.html", "report.json"):
        assert (on_dask.out / name).read_bytes() == (local.out / name).read_bytes(), name
