"""The output folder (issue 10): ownership, umask modes, write errors, and dead runs' staging folders.

- Item 3: only the ``.archreport`` marker proves ownership, and it lists what
  archreport wrote; anything else in the folder makes archreport refuse (exit 2)
  and leave it untouched.
- Item 4: report files and folders follow the umask (``mkstemp``/``mkdtemp``
  made them 0600/0700).
- Item 10: an OSError while writing (disk full) is one paragraph, exit 3, and the
  previous report is kept.
- Item 12: the staging folder of a run killed outright is removed by the next
  run; a live run's is not.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import archreport
from archreport.data import SECTIONS
from archreport.errors import OutputError, UsageError
from archreport.store.outputs import remove_dead_staging, staging
from tests.helpers import (
    TAG,
    run_cli,
    run_cli_bound_by_permissions,
    staging_folders,
    tagged_processes,
    wait_for,
    write_manifest,
)

TINY = """
import keras


def build():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")], name="tiny")
"""
SLEEPER = """
import os
import time
from pathlib import Path

import keras


def build(marker):
    Path(marker).write_text(str(os.getpid()))
    time.sleep(60)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
"""
MANIFEST = '[report]\nformats = ["html"]\n\n[[model]]\nname = "Tiny"\nbuilder = "tiny:build"\n'


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``: file bytes, None for a folder."""
    return {
        p.relative_to(folder).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest of one tiny model whose analysis is cached, so later runs start no worker."""
    folder = tmp_path_factory.mktemp("outputs")
    (folder / "tiny.py").write_text(TINY, encoding="utf-8")
    (folder / "sleeper.py").write_text(SLEEPER, encoding="utf-8")
    manifest = write_manifest(folder, MANIFEST)
    archreport.generate(manifest, folder / "first")
    return manifest


def report_in(project: Path, out: Path) -> dict[str, bytes | None]:
    archreport.generate(project, out)
    return snapshot(out)


# -- item 3: ownership ----------------------------------------------------------
def test_a_report_json_archreport_did_not_write_is_refused(project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "report.json").write_text('{"mine": true}\n', encoding="utf-8")
    (folder / "thesis.tex").write_text("\\documentclass{article}\n", encoding="utf-8")
    before = snapshot(folder)
    proc = run_cli(str(project), "-o", str(folder), timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "holds a report.json but no .archreport marker" in proc.stderr
    assert "It holds thesis.tex, which no archreport report has" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(folder) == before
    assert staging_folders(folder) == []


def test_a_file_added_to_an_archreport_folder_is_refused(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report_in(project, out)
    (out / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (out / "models" / "tiny" / "mine.csv").write_text("a,b\n", encoding="utf-8")
    (out / "drafts").mkdir()
    (out / "drafts" / "draft.md").write_text("draft\n", encoding="utf-8")
    before = snapshot(out)
    with pytest.raises(
        UsageError,
        match=r"output folder .*/out holds files archreport did not write: drafts/, models/tiny/mine\.csv, "
        r"notes\.txt\. archreport replaces its output folder whole, so it leaves this one untouched",
    ) as excinfo:
        archreport.generate(project, out)
    assert excinfo.value.exit_code == 2
    assert snapshot(out) == before
    assert staging_folders(out) == []
    # Once they are moved away, the folder is archreport's again.
    for name in ("notes.txt", "models/tiny/mine.csv", "drafts/draft.md"):
        (out / name).unlink()
    (out / "drafts").rmdir()
    archreport.generate(project, out)
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("legacy", ["old marker", "no marker"])
def test_a_folder_from_an_older_archreport_is_refused_with_the_command_that_clears_it(
    project: Path, tmp_path: Path, legacy: str
) -> None:
    out = tmp_path / "old report"  # a space: the command must quote it
    report_in(project, out)
    if legacy == "old marker":  # what archreport wrote before the marker listed files
        (out / ".archreport").write_text("archreport output folder: replaced whole on every run\n")
        why = "was written by an older archreport, whose .archreport marker does not list the files it wrote"
    else:
        (out / ".archreport").unlink()
        why = "holds a report.json but no .archreport marker"
    before = snapshot(out)
    with pytest.raises(UsageError, match=re.escape(why)) as excinfo:
        archreport.generate(project, out)
    assert snapshot(out) == before
    command = re.search(r"clear it with `([^`]+)`", str(excinfo.value))
    assert command, str(excinfo.value)
    assert command.group(1) == f"rm -r -- '{out}'"
    subprocess.run(command.group(1), shell=True, check=True)
    archreport.generate(project, out)
    assert json.loads((out / ".archreport").read_text(encoding="utf-8"))["files"]


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_an_empty_or_missing_folder_is_fine(project: Path, tmp_path: Path, state: str) -> None:
    out = tmp_path / "deep" / "out"
    if state == "empty":
        out.mkdir(parents=True)
    archreport.generate(project, out)
    assert (out / "report.html").is_file()


def test_the_marker_lists_every_entry_archreport_wrote(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report_in(project, out)
    listed = json.loads((out / ".archreport").read_text(encoding="utf-8"))["files"]
    on_disk = [
        p.relative_to(out).as_posix() + ("/" if p.is_dir() else "")
        for p in sorted(out.rglob("*"))
        if p.name != ".archreport"
    ]
    assert listed == on_disk
    assert {"report.html", "report.json", "models/", "models/tiny/", "models/tiny/diagram.svg"} <= set(listed)
    archreport.generate(project, out)  # and a folder that holds only those is replaced


# -- item 4: modes follow the umask ---------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_report_files_and_folders_follow_the_umask(project: Path, tmp_path: Path, umask: int) -> None:
    out = tmp_path / "out"
    # The cache was filled under another umask: its copies must not carry their modes over.
    proc = subprocess.run(
        [sys.executable, "-m", "archreport", str(project), "-o", str(out), "--format", "html,pdf"],
        umask=umask, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    paths = [out, *sorted(out.rglob("*"))]
    assert {"report.pdf", "report.html", ".archreport", "models/tiny/diagram.svg"} <= {
        p.relative_to(out).as_posix() for p in paths
    }
    wrong = {
        p.relative_to(out).as_posix() or ".": oct(stat.S_IMODE(p.stat().st_mode))
        for p in paths
        if stat.S_IMODE(p.stat().st_mode) != (0o777 if p.is_dir() else 0o666) & ~umask
    }
    assert wrong == {}, f"expected {oct(0o777 & ~umask)} folders and {oct(0o666 & ~umask)} files"


# -- item 10: write errors ----------------------------------------------------------
def test_disk_full_while_writing_is_an_output_error_and_keeps_the_report(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    before = report_in(project, out)
    real_open = os.open

    # A fault injected where the HTML report's file is created; the real disk is
    # filled in test_a_full_file_system_exits_3 below.
    def full_disk(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kwargs: object) -> int:
        if Path(path).name.startswith(".report.html.") and flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_open(path, flags, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", full_disk)
    with pytest.raises(
        OutputError,
        match=rf"^the report could not be written to {re.escape(str(out))} \(No space left on device: "
        rf"{re.escape(str(out / 'report.html'))}\): the disk is full; free some space, or choose another "
        r"folder with -o\. The previous report, if any, is unchanged\.$",
    ) as excinfo:
        archreport.generate(project, out)
    assert excinfo.value.exit_code == 3
    assert snapshot(out) == before
    assert staging_folders(out) == []


def test_a_file_that_cannot_be_read_while_rendering_is_an_output_error_not_a_render_error(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # render.write_all turned every exception into a RenderError (exit 1), this OSError too.
    out = tmp_path / "out"
    before = report_in(project, out)
    real_open = io.open

    # Injected where the HTML report reads the model's rendered section back from the staging
    # folder: permission denied, as a root-squashed network file system answers even root.
    def denied(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, os.PathLike) and Path(file).name == "section.html.gz":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", denied)
    with pytest.raises(
        OutputError,
        match=rf"^the report could not be written to {re.escape(str(out))} \(Permission denied: "
        rf"{re.escape(str(out / 'models' / 'tiny' / SECTIONS / 'section.html.gz'))}\): permission denied, or "
        r"choose another folder with -o\. The previous report, if any, is unchanged\.$",
    ) as excinfo:
        archreport.generate(project, out)
    assert excinfo.value.exit_code == 3
    assert snapshot(out) == before
    assert staging_folders(out) == []


def test_a_report_folder_in_a_read_only_parent_is_refused_naming_the_parent(
    project: Path, tmp_path: Path
) -> None:
    """The new report is staged beside the folder: a writable report folder whose parent is not
    failed only when the staging folder was made, with a message that blamed the report folder."""
    parent = tmp_path / "shared"
    out = parent / "out"
    archreport.generate(project, out)
    before = snapshot(parent)
    parent.chmod(0o555)
    try:
        proc = run_cli_bound_by_permissions(str(project), "-o", str(out))
    finally:
        parent.chmod(0o755)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (message,) = [line for line in proc.stderr.splitlines() if line.strip()]
    assert message == (
        f"ERROR output folder {out} cannot be replaced: archreport writes the new report beside it and "
        f"swaps it in, and {parent} is not writable. Make that folder writable, or choose another with -o."
    )
    assert snapshot(parent) == before


@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    """A 3 MiB tmpfs mounted for the test (needs root, as in CI)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_mount_point_is_refused_before_building_with_a_folder_inside_it_to_use(
    project: Path, small_disk: Path
) -> None:
    (small_disk / "notes.txt").write_text("mine", encoding="utf-8")
    proc = run_cli(str(project), "-o", str(small_disk), "--format", "html", timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"output folder {small_disk} is a mount point" in proc.stderr
    assert f"Use a folder inside it with -o, e.g. {small_disk / 'report'}." in proc.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["notes.txt"]
    assert not [p for p in small_disk.parent.iterdir() if ".staging-" in p.name]
    inside = run_cli(str(project), "-o", str(small_disk / "report"), "--format", "html", timeout=300)
    assert inside.returncode == 0, inside.stdout + inside.stderr


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until only ``leave`` bytes are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with (disk / "filler").open("wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


@pytest.mark.slow
@pytest.mark.parametrize("leave", [0, 64 * 1024], ids=["full", "room-for-diagrams"])
def test_a_full_file_system_exits_3_and_keeps_the_report(project: Path, small_disk: Path, leave: int) -> None:
    out = small_disk / "out"
    first = run_cli(str(project), "-o", str(out), "--format", "html,pdf", timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    before = snapshot(out)
    fill(small_disk, leave)
    proc = run_cli(str(project), "-o", str(out), "--format", "html,pdf", timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (message,) = [line for line in proc.stderr.splitlines() if line.strip()]
    # It names the file as the user knows it, inside the output folder (not the staging folder).
    assert message.startswith(
        f"ERROR the report could not be written to {out} (No space left on device: {out}/"
    )
    assert message.endswith("The previous report, if any, is unchanged.")
    assert snapshot(out) == before
    assert staging_folders(out) == []


# -- item 12: staging folders of dead runs ---------------------------------------
def start_sleeper(
    project: Path, out: Path, marker: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    manifest = write_manifest(
        project.parent,
        f'[[model]]\nname = "Sleeper"\nbuilder = "sleeper:build"\nargs = ["{marker}"]\n',
        name=f"{marker.name}.toml",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "archreport", str(manifest), "-o", str(out), "--no-cache", "--format", "html"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.slow
def test_a_killed_runs_workers_remove_their_temporary_files(project: Path, tmp_path: Path) -> None:
    # The parent's clean-up never runs after SIGKILL; each worker sees it is orphaned and cleans up.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    tag = uuid.uuid4().hex
    killed = start_sleeper(
        project, tmp_path / "out", tmp_path / "started", env={"TMPDIR": str(scratch), TAG: tag}
    )
    try:
        assert wait_for((tmp_path / "started").exists, 120), "the sleeping builder never started"
        assert any(scratch.rglob("sleeper.py")), "the worker should have its builder in its temporary folder"
        killed.kill()
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.communicate()  # closes the pipes
    assert wait_for(lambda: not tagged_processes(tag), 10), f"stray processes: {tagged_processes(tag)}"
    assert list(scratch.iterdir()) == []


@pytest.mark.slow
def test_the_next_run_removes_a_killed_runs_staging_folder_and_only_that(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    killed = start_sleeper(project, out, tmp_path / "killed-started")
    try:
        assert wait_for((tmp_path / "killed-started").exists, 120), "the sleeping builder never started"
        (stale,) = staging_folders(out)
        killed.kill()  # SIGKILL, like the OOM killer: no clean-up runs
        killed.communicate(timeout=30)
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.communicate()  # closes the pipes
    assert killed.returncode == -signal.SIGKILL
    assert stale.is_dir(), "the killed run's staging folder should be left behind"
    assert (stale / "models").is_dir()

    # The next run cleans up before it stages; it stays running, so a third run can check it is left alone.
    live = start_sleeper(project, out, tmp_path / "live-started")
    try:
        assert wait_for((tmp_path / "live-started").exists, 120), "the live run's builder never started"
        assert not stale.exists(), "the dead run's staging folder is still there"
        (live_staging,) = staging_folders(out)
        proc = run_cli(str(project), "-o", str(out), timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert live_staging.is_dir(), "the live run's staging folder was removed"
        assert staging_folders(out) == [live_staging]
        live.send_signal(signal.SIGINT)
        live.communicate(timeout=60)
    finally:
        if live.poll() is None:
            live.kill()
        live.communicate()  # closes the pipes
    assert live.returncode == 130
    assert staging_folders(out) == []
    assert (out / "report.html").is_file()


def test_only_staging_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    old = time.time() - 3600

    def folder(name: str, *, lock: bool = False, age: float = old) -> Path:
        path = tmp_path / f".out.staging-{name}"
        path.mkdir()
        (path / "partial.svg").write_text("<svg/>")
        if lock:  # a lock file nobody holds: its run died
            (path / ".archreport-staging.lock").write_text("")
        os.utime(path, (age, age))
        return path

    unlocked = folder("1.2-aaaaaaaa", lock=True)
    dead_pid = folder(f"{gone}.12345-bbbbbbbb")  # killed between mkdir and lock
    just_made = folder(f"{gone}.12345-cccccccc", age=time.time())  # too young to judge by pid
    older_version = folder("k2j3h4g5")  # mkdtemp's name: nothing says whose it is
    with staging(out) as mine:  # a new run cleans up first
        assert not unlocked.exists() and not dead_pid.exists()
        assert just_made.is_dir() and older_version.is_dir()
        # This run holds its lock: another run's clean-up leaves its folder alone.
        assert remove_dead_staging(out) == []
        assert mine.is_dir() and (mine / ".archreport-staging.lock").is_file()
    assert not mine.exists()


@pytest.mark.parametrize("name", ["[ab]", "*"])
def test_dead_staging_folders_are_found_for_a_name_with_glob_characters(tmp_path: Path, name: str) -> None:
    """The staging folders were looked up with the output folder's name as a glob pattern: "[ab]"
    never matched its own (left behind for good), and "*" matched every other output's."""
    own = tmp_path / f".{name}.staging-1.2-aaaaaaaa"
    other = tmp_path / ".b.staging-1.2-bbbbbbbb"
    for path in (own, other):
        path.mkdir()
        (path / ".archreport-staging.lock").write_text("")  # a lock nobody holds: a dead run's
    assert remove_dead_staging(tmp_path / name) == [own]
    assert not own.exists() and other.is_dir()


@pytest.mark.parametrize("target", ["loop", "loop/report"])
def test_an_output_path_through_a_symlink_loop_is_one_error_not_a_traceback(
    project: Path, tmp_path: Path, target: str
) -> None:
    """Path.resolve() raised RuntimeError("Symlink loop ...") out of the command: a traceback, exit 1."""
    (tmp_path / "loop").symlink_to(tmp_path / "other")
    (tmp_path / "other").symlink_to(tmp_path / "loop")
    proc = run_cli(str(project), "-o", str(tmp_path / target), timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (message,) = [line for line in proc.stderr.splitlines() if line.strip()]
    assert message.startswith(f"ERROR output folder {tmp_path / target} cannot be read (")
    assert message.endswith("); choose another with -o.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop", "other"]


@pytest.mark.slow
def test_a_closed_stdout_does_not_stop_the_report(project: Path, tmp_path: Path) -> None:
    """`archreport manifest.toml | head -1`: the first progress line after the reader left raised
    BrokenPipeError inside the pipeline, so no report was written (a traceback, exit 1)."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "archreport", str(project), "-o", str(out), "--no-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, stderr
    assert stderr == ""
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["models"][0]["status"] == "ok"
