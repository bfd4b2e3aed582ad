"""Atomic output: a run that is interrupted or fails leaves the previous report exactly as it was.

The new report is written into a ``.<name>.staging-*`` folder beside the
output folder and swapped in at the end; these tests stop runs before that.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

import archreport
from archreport.errors import RenderError
from tests.helpers import (
    LENET,
    TAG,
    copy_example_builders,
    run_cli,
    staging_folders,
    tagged_processes,
    wait_for,
    write_manifest,
)

SLEEPER = """
import os
import time
from pathlib import Path

import keras


def build(marker):
    Path(marker).write_text(str(os.getpid()))
    time.sleep(30)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
"""


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bytes]]:
    """A project with a finished report in ``out`` (and its cache), and that report's bytes."""
    folder = tmp_path_factory.mktemp("atomic")
    copy_example_builders(folder)
    (folder / "sleeper.py").write_text(SLEEPER, encoding="utf-8")
    manifest = write_manifest(folder, '[report]\ntitle = "previous"\nformats = ["html"]\n' + LENET)
    out = folder / "out"
    proc = run_cli(str(manifest), "-o", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder, out, tree(out)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_keeps_the_previous_report(previous: tuple, signum: signal.Signals) -> None:
    folder, out, before = previous
    marker = folder / f"started-{signum.name}"
    manifest = write_manifest(
        folder,
        '[report]\ntitle = "interrupted"\nformats = ["html"]\n'
        + LENET
        + textwrap.dedent(f'''
            [[model]]
            name = "Sleeper"
            builder = "sleeper:build"
            args = ["{marker}"]
        '''),
        name=f"interrupted-{signum.name}.toml",
    )
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "archreport", str(manifest), "-o", str(out), "--no-cache", "-j", "2"],
        env={**os.environ, TAG: tag}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: staging_folders(out), 60), "the run never created its staging folder"
        # Interrupt while the sleeping builder is running in a worker: the hard case.
        assert wait_for(marker.exists, 120), "the sleeping builder never started"
        worker_pid = int(marker.read_text())
        assert worker_pid in tagged_processes(tag), "the stray-process probe cannot see the worker"
        started = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # closes the pipes, or a later test's garbage collection warns about them
    assert proc.returncode == 130, stdout + stderr
    assert time.monotonic() - started < 15, "the run waited for the builder instead of stopping it"
    assert "interrupted; the previous report, if any, is unchanged" in stderr
    assert tree(out) == before, "the previous report changed"
    assert staging_folders(out) == []
    assert wait_for(lambda: not tagged_processes(tag), 5), f"stray processes: {tagged_processes(tag)}"


@pytest.mark.slow
def test_failed_render_keeps_the_previous_report(previous: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, out, before = previous
    from archreport.render.pdf import document as pdf

    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("the PDF renderer broke on purpose")

    monkeypatch.setattr(pdf, "assemble_pdf", broken)
    # Same manifest as the previous run: LeNet comes from the cache, so no worker starts here.
    with pytest.raises(
        RenderError, match="PDF report could not be rendered: RuntimeError: the PDF renderer broke on purpose"
    ):
        archreport.generate(folder / "manifest.toml", out, formats=["html", "pdf"])
    assert tree(out) == before, "the previous report changed"
    assert staging_folders(out) == []


def test_successful_run_replaces_the_report_whole(previous: tuple, tmp_path: Path) -> None:
    folder, _out, before = previous
    # A copy of the finished report; a new run into it swaps in a new folder (the old files go).
    target = tmp_path / "report"
    for name, data in before.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    # A model an earlier run wrote that the manifest no longer has: listed in the marker, so archreport's.
    (target / "models" / "gone").mkdir()
    (target / "models" / "gone" / "layers.csv").write_text("stale\n")
    marker = json.loads((target / ".archreport").read_text())
    marker["files"] += ["models/gone/", "models/gone/layers.csv"]
    (target / ".archreport").write_text(json.dumps(marker))
    report = archreport.generate(folder / "manifest.toml", target, formats=["html"])
    assert [m.cached for m in report.models] == [True]
    after = tree(target)
    assert "models/gone/layers.csv" not in after
    assert "report.html" in after
    assert after["models/lenet/diagram.svg"] == before["models/lenet/diagram.svg"]
    assert staging_folders(target) == []


# -- stopping never hangs ------------------------------------------------------------------------
# A pipeline that never reaches a checkpoint, nor unwinds if interrupted, in place of the real
# one (the real Ctrl-C and SIGTERM are tested above): the command must exit anyway, after its
# grace time or at a second signal.
STUCK = """
import sys, time
import archreport.__main__ as cli
import archreport.pipeline as pipeline

cli.STOP_GRACE = float(sys.argv[2])


def stuck(*args, **kwargs):
    print("building", flush=True)
    while True:
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            pass  # unwinding that never finishes


pipeline.generate = stuck
sys.exit(cli.main([sys.argv[1]]))
"""


@pytest.mark.parametrize(("grace", "signals"), [(1.0, 1), (60.0, 2)], ids=["grace-runs-out", "second-signal"])
def test_a_stop_that_hangs_still_exits(tmp_path: Path, grace: float, signals: int) -> None:
    manifest = write_manifest(tmp_path, '[[model]]\nname = "M"\napplication = "VGG16"\n')
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK, str(manifest), str(grace)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "building\n"
        started = time.monotonic()
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert time.monotonic() - started < grace + 5 if signals == 1 else time.monotonic() - started < 5
    why = "a second interrupt" if signals == 2 else "stopping took over 1 s"
    assert stderr == (
        f"archreport: interrupted; exiting at once after {why}. The previous report, if any, is unchanged; "
        "worker processes stop themselves.\n"
    )
