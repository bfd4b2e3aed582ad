"""The runner protocol: tasks carry their limits, runners honour them or refuse, failures are data.

The pipeline is driven here by a small runner of the tests' own (it answers
from the task without building anything), so these tests need no Keras; the
local runner is then checked on real worker processes.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from archreport import generate, manifest, runners
from archreport.data import LayerRow, ModelReport, Totals
from archreport.errors import SystemDependencyError, UsageError
from archreport.manifest import sources
from archreport.runners.base import Honours, Refused
from archreport.runners.local import LocalRunner
from archreport.store import fingerprint
from archreport.store.cache import Cache
from archreport.task import Task, TaskResult
from tests.helpers import write_manifest

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "bad_inputs" / "_shared" / "tiny.py"


# -- a runner of the tests' own ---------------------------------------------------------------
def canned_report(spec: manifest.ModelSpec, backend: str) -> ModelReport:
    """A small, complete report of the tiny model, as a worker would send it."""
    row = LayerRow(
        index=0, name="dense", class_name="Dense", depth=0, parent=None, input_shapes=["(None, 3)"],
        output_shape="(None, 4)", params=16, trainable_params=16, non_trainable_params=0,
        trainable=True, dtype="float32", flops=28, activation_bytes=16, path="dense",
    )  # fmt: skip
    totals = Totals(
        params=16, trainable_params=16, non_trainable_params=0, param_bytes=64, flops=28,
        flops_lower_bound=False, macs=14, activation_bytes=16, input_bytes=12, inference_bytes=92,
        layers=1, depth=1,
    )  # fmt: skip
    return ModelReport(
        name=spec.name, slug=spec.slug, source=spec.source, description=None, status="ok",
        totals=totals, layers=[row], input_shapes=["(None, 3)"], output_shapes=["(None, 4)"],
        backend=backend,
    )  # fmt: skip


class TestRunner:
    """Answers each task from a table keyed by model name; no process isolation.

    ``answers[name]`` is a TaskResult (its report filled in when left None), an
    exception for the future to raise, or "fallback" (shape-only cannot build it).
    """

    honours = Honours(isolation=False)
    name = "test"

    def __init__(
        self, answers: dict[str, object] | None = None, versions: dict[str, str] | None = None
    ) -> None:
        self.answers = answers or {}
        self.versions = fingerprint.runtime() if versions is None else versions
        self.submitted: list[Task] = []
        self.shut_down: list[bool] = []

    def submit(self, task: Task) -> Future[TaskResult]:
        runners.check(self.name, self.honours, task)
        self.submitted.append(task)
        future: Future[TaskResult] = Future()
        answer = self.answers.get(task.spec.name)
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        elif answer == "fallback" and task.backend == "shape-only":
            future.set_result(
                TaskResult(fallback="it calls tf.* ops", param_bytes=64, versions=self.versions)
            )
        else:
            result = answer if isinstance(answer, TaskResult) else TaskResult(versions=self.versions)
            if result.report is None and result.error is None:
                result = replace(result, report=canned_report(task.spec, task.backend))
            future.set_result(result)
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
        self.shut_down.append(cancel)


TestRunner.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test class


MANIFEST = """
[report]
title = "runner protocol"
formats = ["html"]

[[model]]
name = "First"
builder = "tiny:build"
timeout = 42

[[model]]
name = "Second"
builder = "tiny:build"
kwargs = { units = 2 }
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(TINY, tmp_path / "tiny.py")
    return write_manifest(tmp_path, MANIFEST)


def run(project: Path, test_runner: TestRunner, extra: str = "") -> dict[str, dict]:
    if extra:
        project.write_text(project.read_text(encoding="utf-8") + textwrap.dedent(extra), encoding="utf-8")
    generate(project, project.parent / "out", use_cache=False, executor=test_runner)
    data = json.loads((project.parent / "out" / "report.json").read_text(encoding="utf-8"))
    return {m["name"]: m for m in data["models"]}


# -- the pipeline speaks only the protocol ----------------------------------------------------
def test_sources_over_the_size_limit_fail_their_model_only(project: Path) -> None:
    # A builder ships with every task; one that imports a module past the limit is not sent.
    filler = "#" * 1023 + "\n"
    (project.parent / "huge.py").write_text(filler * (sources.MAX_SOURCE_BYTES // 1024), encoding="utf-8")
    (project.parent / "big.py").write_text("import huge\nfrom tiny import build\n", encoding="utf-8")
    text = project.read_text(encoding="utf-8").replace(
        'name = "First"\nbuilder = "tiny:build"', 'name = "First"\nbuilder = "big:build"'
    )
    project.write_text(text, encoding="utf-8")
    test_runner = TestRunner()
    models = run(project, test_runner)
    assert models["First"]["status"] == "failed"
    assert models["First"]["error"] == (
        f"builder 'big:build': the Python files it imports from {project.parent.resolve()} are larger than "
        "16 MiB together; archreport ships them with each task."
    )
    assert models["Second"]["status"] == "ok"
    assert [t.spec.name for t in test_runner.submitted] == ["Second"]


def test_tasks_carry_their_limits_and_sources(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHREPORT_MEMORY_LIMIT", "3G")
    test_runner = TestRunner()
    models = run(project, test_runner)
    assert [m["status"] for m in models.values()] == ["ok", "ok"]
    first, second = test_runner.submitted
    assert (first.timeout, first.memory_limit, first.isolated, first.backend) == (
        42,
        3 * 2**30,
        False,
        "shape-only",
    )
    assert second.timeout == 600  # the manifest's default
    assert [f.path for f in first.files] == ["tiny.py"]
    assert first.files[0].data == TINY.read_bytes()
    assert test_runner.shut_down == [], "a runner the caller passed in is the caller's to shut down"


def test_a_runner_refuses_what_it_cannot_honour(project: Path) -> None:
    models = run(
        project,
        TestRunner(),
        """
        [[model]]
        name = "Trusted"
        builder = "tiny:build"
        trust = true
        """,
    )
    assert models["Trusted"]["status"] == "failed"
    assert models["Trusted"]["error"].startswith("refused: the test runner has no process isolation")
    assert "trust = true" in models["Trusted"]["error"]
    assert models["First"]["status"] == models["Second"]["status"] == "ok"


@pytest.mark.parametrize(
    ("honours", "message"),
    [
        (Honours(isolation=False), "has no process isolation, which `trust = true` needs"),
        (Honours(time_limit=False), r"cannot enforce the model's time limit \(600 s\)"),
        (
            Honours(memory_limit=False),
            r"cannot enforce the memory limit \(2.00 GiB, ARCHREPORT_MEMORY_LIMIT\)",
        ),
        (Honours(backends=("shape-only",)), "cannot build with backend 'tensorflow'; it has shape-only"),
    ],
)
def test_check_names_the_setting_it_cannot_honour(project: Path, honours: Honours, message: str) -> None:
    spec = replace(manifest.load(project).models[0], trust=True)
    task = Task(spec=spec, backend="tensorflow", memory_limit=2 * 2**30)
    with pytest.raises(Refused, match=message):
        runners.check("odd", honours, task)
    runners.check("local", LocalRunner.honours, task)  # the local runner honours all of them


def test_failures_come_back_as_data(project: Path) -> None:
    test_runner = TestRunner(
        {
            "First": TaskResult(
                error="the worker process crashed with SIGSEGV.", details="Fatal Python error"
            ),
            "Second": ConnectionError("the runner lost its connection"),
        }
    )
    models = run(project, test_runner)
    assert models["First"]["status"] == "failed"
    assert models["First"]["error"] == "the worker process crashed with SIGSEGV."
    assert models["Second"]["status"] == "failed"
    assert models["Second"]["error"] == "ConnectionError: the runner lost its connection"


# What builds a model, and what renders its report sections on the worker: a worker with other
# fonts or text libraries would render other PDF bytes and put them in the cache under our key.
@pytest.mark.parametrize(
    ("name", "other"),
    [("keras", "3.0.0"), ("keras-hub", "0.1.0"), ("pango", "1.0.0"), ("fonts", "0123456789abcdef")],
)
def test_a_result_from_other_versions_is_not_used(project: Path, name: str, other: str) -> None:
    theirs = {**fingerprint.runtime(), name: other}
    models = run(
        project, TestRunner({"First": TaskResult(versions=theirs, ran_on="the Dask worker tcp://w:1")})
    )
    assert models["First"]["status"] == "failed"
    assert models["First"]["error"].startswith(
        f"the Dask worker tcp://w:1 runs {name} {other} (here: {fingerprint.runtime()[name]}); "
    )
    assert "Install the same versions on the workers" in models["First"]["error"]
    assert models["Second"]["status"] == "ok"


def test_auto_falls_back_to_tensorflow_through_the_runner(project: Path) -> None:
    test_runner = TestRunner({"First": "fallback"})
    models = run(project, test_runner)
    assert [(t.spec.name, t.backend) for t in test_runner.submitted] == [
        ("First", "shape-only"),
        ("Second", "shape-only"),
        ("First", "tensorflow"),
    ]
    retry = test_runner.submitted[2]
    assert retry.fallback_reason == "built with TensorFlow because it calls tf.* ops."
    assert retry.param_bytes == 64
    assert models["First"]["status"] == "ok"
    assert models["First"]["backend"] == "tensorflow"


# -- choosing a runner ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "address"),
    [
        ("local", "local"),
        ("dask://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("dask://scheduler.example.org:8786", "tcp://scheduler.example.org:8786"),
        ("tls://[::1]:8786", "tls://[::1]:8786"),
    ],
)
def test_parse_accepts_local_and_scheduler_addresses(where: str, address: str) -> None:
    assert runners.parse(where, "--executor") == address


@pytest.mark.parametrize(
    "where", ["dask", "dask://host", "tcp://host:8786", "dask://host:0", "dask://host:99999", ""]
)
def test_parse_rejects_anything_else(where: str) -> None:
    with pytest.raises(
        UsageError, match=r"--executor '.*': expected local, dask://HOST:PORT or tls://HOST:PORT"
    ):
        runners.parse(where, "--executor")


def test_jobs_have_no_meaning_on_a_cluster(project: Path) -> None:
    with pytest.raises(
        UsageError, match=r"-j 4 has no meaning on a Dask cluster \(--executor is dask://127.0.0.1:1\)"
    ):
        generate(project, project.parent / "out", jobs=4, executor="dask://127.0.0.1:1")
    assert not (project.parent / "out").exists()


def test_the_manifest_names_the_executor_and_the_command_line_wins(project: Path) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    text = project.read_text(encoding="utf-8")
    project.write_text(
        text.replace("[report]\n", '[report]\nexecutor = "dask://127.0.0.1:9"\n'), encoding="utf-8"
    )
    with pytest.raises(
        UsageError,
        match=r"-j 2 has no meaning on a Dask cluster \(\[report\] executor in .*manifest.toml is dask://127.0.0.1:9\)",
    ):
        generate(project, project.parent / "out", jobs=2)
    # In this process Dask has read its environment already: its configuration is set directly.
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(SystemDependencyError, match=r"cannot reach the Dask scheduler at dask://127.0.0.1:9"),
    ):
        generate(project, project.parent / "out", use_cache=False)
    test_runner = TestRunner()
    generate(project, project.parent / "out", use_cache=False, executor=test_runner)
    assert len(test_runner.submitted) == 2


def test_unreachable_scheduler_is_a_system_dependency_error(project: Path) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    started = time.monotonic()
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            SystemDependencyError, match=r"cannot reach the Dask scheduler at dask://127.0.0.1:9 within 1 s"
        ),
    ):
        generate(project, project.parent / "out", use_cache=False, executor="dask://127.0.0.1:9")
    assert time.monotonic() - started < 10
    assert not (project.parent / "out").exists()


def test_missing_dask_is_a_system_dependency_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` sees without the extra
    with pytest.raises(
        SystemDependencyError,
        match=r"--executor dask://127.0.0.1:9 needs Dask's distributed package, .* pip install 'archreport\[dask\]'",
    ):
        generate(project, project.parent / "out", use_cache=False, executor="dask://127.0.0.1:9")


def test_a_cached_run_needs_no_runner(project: Path) -> None:
    generate(project, project.parent / "out", executor=TestRunner())  # fills the cache
    unused = TestRunner()
    generate(project, project.parent / "out", executor=unused)
    assert unused.submitted == []
    # Not even a connection: the scheduler below does not exist.
    report = generate(project, project.parent / "out", executor="dask://127.0.0.1:9")
    assert all(m.cached for m in report.models)


def test_the_longest_model_starts_first_by_the_caches_last_times(tmp_path: Path) -> None:
    # Issue 26: a long model that starts last keeps the run going while the other workers sit
    # idle. A model never timed may be the longest of all: it starts first too.
    shutil.copy(TINY, tmp_path / "tiny.py")
    more = "".join(f'\n[[model]]\nname = "{name}"\nbuilder = "tiny:build"\n' for name in ("Third", "Fourth"))
    project = write_manifest(tmp_path, MANIFEST + more)
    (tmp_path / ".archreport-cache").mkdir()
    cache = Cache(tmp_path / ".archreport-cache")
    cache.note_times({"first": 1.0, "second": 5.0, "third": 2.5})
    runner = TestRunner()
    generate(project, tmp_path / "out", executor=runner)
    assert [t.spec.name for t in runner.submitted] == ["Fourth", "Second", "Third", "First"]
    assert sorted(cache.times()) == ["first", "fourth", "second", "third"]  # what this run took
    unordered = TestRunner()
    generate(
        project, tmp_path / "out", executor=unordered, use_cache=False
    )  # --no-cache: the manifest's order
    assert [t.spec.name for t in unordered.submitted] == ["First", "Second", "Third", "Fourth"]


# -- the local runner on real worker processes ------------------------------------------------
def test_local_runner_results_and_failures_are_task_results(project: Path) -> None:
    spec = manifest.load(project).models[0]
    files, _ = sources.read(spec)
    good = Task(spec=spec, files=files, timeout=60)
    bad = Task(spec=replace(spec, target="tiny:explode"), files=files, timeout=60)
    local = LocalRunner(1)
    try:
        ok, failed = local.submit(good).result(timeout=120), local.submit(bad).result(timeout=120)
    finally:
        local.shutdown()
    assert ok.error is None and ok.report is not None and ok.report.totals is not None
    assert ok.report.totals.params == 16  # Dense(4) on 3 inputs
    assert ok.versions == fingerprint.runtime(), "a task reports the versions it ran with"
    assert b"<svg" in ok.files["diagram.svg"]
    assert failed.report is None
    assert failed.error == "RuntimeError: the builder blew up on purpose"
    assert "tiny.py" in failed.details, "the traceback names the builder's file"


@pytest.mark.slow
def test_local_runner_cancels_running_work(project: Path) -> None:
    spec = manifest.load(project).models[0]
    (project.parent / "slow.py").write_text(
        "import time\n\ndef build():\n    time.sleep(60)\n", encoding="utf-8"
    )
    slow = replace(spec, target="slow:build")
    local = LocalRunner(1)
    future = local.submit(Task(spec=slow, files=sources.read(slow)[0], timeout=120))
    time.sleep(4)
    started = time.monotonic()
    local.shutdown(cancel=True)
    assert time.monotonic() - started < 10
    result = future.result(timeout=1)
    assert result.error is not None and result.error.startswith("cancelled")
