"""Trust boundaries (issue 25): what a manifest, a model file, a worker or a cluster may do, and nothing more.

One section per item of the issue. Each test failed on main before the change it covers;
the slow ones run the real command (as two real users for the shared cache). Tests that
change file groups or switch users need root (as CI runs) and are skipped otherwise.
"""

from __future__ import annotations

import contextlib
import grp
import gzip
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archreport import manifest
from archreport.__main__ import _model_line, main
from archreport.checks.compare import load_baseline
from archreport.data import SECTION_FILES, SECTIONS, DiagramInfo, ModelReport, Report
from archreport.errors import ArchreportWarning, ManifestError, ModelError, UsageError
from archreport.manifest import sources
from archreport.pipeline import generate_specs
from archreport.render.exports import layers_csv, layers_md, report_dict
from archreport.render.markdown import report_md
from archreport.render.notebook import summary_text
from archreport.store import fingerprint, outputs
from archreport.store.cache import Cache
from archreport.task import Task, TaskResult
from archreport.units import visible
from tests.helpers import ROOT, endless_h5_heap, pdf_pages_text, run_cli, write_manifest

TINY = """
import keras


def build(units=2):
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(units, name="dense")], name="tiny")
"""
GOLDEN = ROOT / "tests" / "golden" / "lenet_report.json"
GROUP, OTHER_GROUP, USERS = "artrust", "arother", ("artrust1", "artrust2")
HTML = f"{SECTIONS}/{SECTION_FILES['html']}"  # a model's packed HTML section


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def _project(folder: Path, models: str = '[[model]]\nname = "m"\nbuilder = "tiny:build"\n') -> Path:
    (folder / "tiny.py").write_text(TINY, encoding="utf-8")
    return write_manifest(folder, models)


# -- real groups and users (root only) ---------------------------------------------
def _root() -> None:
    if os.geteuid() != 0 or shutil.which("groupadd") is None or shutil.which("setpriv") is None:
        pytest.skip("needs root, groupadd and setpriv to make real groups and switch users")


def _others_can_run_python() -> None:
    path = Path(os.path.realpath(sys.executable))
    if any(not p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents)):
        pytest.skip(f"other users cannot run {path} (a folder on its way is private)")


@pytest.fixture(scope="session")
def team() -> int:
    """The gid of a real group with two real users in it, and a second group neither is in."""
    _root()
    for group in (GROUP, OTHER_GROUP):
        subprocess.run(["groupadd", "-f", group], check=True)
    for user in USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            continue
        subprocess.run(["useradd", "-M", "-N", "-g", GROUP, "-s", "/usr/sbin/nologin", user], check=True)
    return grp.getgrnam(GROUP).gr_gid


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder other users can reach (pytest's tmp_path is 0700), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="archreport-trust-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _as(
    user: str, *args: str, cwd: Path, umask: int = 0o002, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` run as ``user`` (primary group GROUP), with a home folder of its own."""
    home = cwd.parent / f"home-{user}"  # beside the working folder: root's tmp_path is 0700
    home.mkdir(exist_ok=True)
    shutil.chown(home, user, GROUP)
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={GROUP}", "--init-groups", sys.executable, *args],
        cwd=cwd, env=env, umask=umask, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


# -- item 1: the report folder keeps its mode, group, setgid bit and ACLs ---------------------
def _publish(out: Path) -> None:
    """Stage a small report and swap it in, as a run does."""
    with outputs.staging(out) as folder:
        outputs.atomic_write(folder / "report.json", "{}\n")
        outputs.atomic_write(folder / "models" / "m" / "diagram.svg", "<svg/>")
        outputs.publish(folder, out)


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o2775, 0o1777], ids=oct)
def test_the_report_folder_keeps_its_mode_group_and_setgid_bit(tmp_path: Path, team: int, mode: int) -> None:
    """An empty -o folder made 0700, 0750, 2775 or 1777 was 0755 after the run, in the user's group."""
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, -1, team)
    out.chmod(mode)
    for _ in range(2):  # the new folder, then a re-run over the report folder
        _publish(out)
        assert (_mode(out), out.stat().st_gid) == (oct(mode), team)
    inside = out / "models" / "m" / "diagram.svg"
    assert _mode(inside) == oct(0o666 & ~outputs.current_umask())
    if mode & stat.S_ISGID:  # what a new file in a setgid folder gets: its group, and setgid folders
        assert inside.stat().st_gid == team and (out / "models").stat().st_mode & stat.S_ISGID


def test_a_new_report_folder_follows_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "new"
    _publish(out)
    assert _mode(out) == oct(0o777 & ~outputs.current_umask())


def _acl(path: Path) -> list[str]:
    proc = subprocess.run(
        ["getfacl", "--omit-header", "--absolute-names", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.split()


def test_the_report_folder_keeps_its_acls(tmp_path: Path) -> None:
    if shutil.which("setfacl") is None:
        pytest.skip("setfacl (Debian package acl) is not installed")
    out = tmp_path / "out"
    out.mkdir()
    command = ["setfacl", "-m", "u:nobody:rwx", "-d", "-m", "u:nobody:r-x", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"this file system has no ACLs: {proc.stderr.strip()}")
    before = _acl(out)
    assert "user:nobody:rwx" in before and "default:user:nobody:r-x" in before
    _publish(out)
    assert _acl(out) == before
    # A file of the new report is what a new file in the folder gets: the default ACL's entry.
    assert "user:nobody:r-x" in _acl(out / "report.json")


def test_a_group_the_user_is_not_in_is_refused_before_building(team: int, shared: Path) -> None:
    """The new folder would have been in the user's own group: open to other people than before."""
    work = shared / "work"
    work.mkdir()
    shutil.chown(work, USERS[0], GROUP)
    out = work / "out"
    out.mkdir()
    shutil.chown(out, USERS[0], OTHER_GROUP)
    out.chmod(0o750)
    code = "from pathlib import Path; from archreport.store import outputs; outputs.staging(Path('out')).__enter__()"
    proc = _as(USERS[0], "-c", code, cwd=work)
    assert re.search(
        rf"UsageError: output folder out belongs to group '{OTHER_GROUP}', which you are not in: the new "
        r"report would not keep that group",
        proc.stderr,
    ), proc.stderr
    assert [p.name for p in work.iterdir()] == ["out"], "a staging folder was left"


@pytest.mark.slow
def test_rerunning_over_a_private_report_keeps_it_private(tmp_path: Path) -> None:
    """The issue's case, end to end: a 0700 report folder was 0755 after the next run."""
    path = _project(tmp_path)
    out = tmp_path / "out"
    out.mkdir(0o700)
    out.chmod(0o700)
    for _ in range(2):
        proc = run_cli(str(path), "-o", str(out), "--format", "html")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert _mode(out) == "0o700"


# -- item 2: a worker's result is checked before the parent writes any of it ----------------
def _golden_report(spec: manifest.ModelSpec) -> ModelReport:
    """A real analysed model's report (LeNet's, from the golden file), made out for ``spec``."""
    data = json.loads(GOLDEN.read_text(encoding="utf-8"))
    report = ModelReport.from_dict(data)
    return replace(report, name=spec.name, slug=spec.slug, source=spec.source, diagram=None, overview=None)


class StandIn:
    """A runner whose worker answers with whatever ``forge`` makes: a compromised or broken worker."""

    name = "stand-in"

    def __init__(self, forge: Callable[[Task], TaskResult]) -> None:
        self.forge = forge
        self.submitted: list[str] = []

    def submit(self, task: Task) -> Future[TaskResult]:
        self.submitted.append(task.spec.name)
        future: Future[TaskResult] = Future()
        future.set_result(self.forge(task))
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
        pass


def _result(task: Task, files: dict[str, bytes] | None = None, **changes: Any) -> TaskResult:
    report = replace(_golden_report(task.spec), **changes)
    return TaskResult(report=report, files=files or {}, versions=fingerprint.runtime(), ran_on="a stand-in")


def _run(tmp_path: Path, runner: StandIn, cache: bool = False) -> dict[str, ModelReport]:
    path = _project(
        tmp_path,
        '[[model]]\nname = "bad"\nbuilder = "tiny:build"\n[[model]]\nname = "good"\nbuilder = "tiny:build"\n',
    )
    specs = manifest.load(path).models
    report = generate_specs(
        specs, tmp_path / "out", title="t", formats=("html",), executor=runner,
        cache_dir=tmp_path / "cache" if cache else None,
    )  # fmt: skip
    return {m.name: m for m in report.models}


@pytest.mark.parametrize(
    "name",
    ["../../escaped.txt", "ABSOLUTE", "models/../../escaped.txt", "diagram.svg/../../../escaped.txt", "",
     "diagram.exe", f"{SECTIONS}/../../escaped.txt", "overview/../../escaped.txt"],
)  # fmt: skip
def test_a_file_name_the_parent_does_not_expect_fails_that_model_and_writes_nothing(
    tmp_path: Path, name: str
) -> None:
    """The parent wrote every name a worker returned under models/<slug>/: ``../../x`` and absolute
    names landed outside the output folder."""
    name = str(tmp_path / "escaped.txt") if name == "ABSOLUTE" else name

    def forge(task: Task) -> TaskResult:
        files = {name: b"written by the worker"} if task.spec.name == "bad" else {}
        return _result(task, files)

    models = _run(tmp_path, StandIn(forge))
    assert models["good"].ok
    assert models["bad"].error == (
        f"archreport refused the worker's result: it holds a file named {name!r}, which is not one archreport "
        "writes for a model (expected .sections/section.html.gz, .sections/section.pdf, diagram.dot, diagram.pdf, "
        "diagram.svg, overview/diagram.dot, overview/diagram.pdf, overview/diagram.svg); nothing of it was written."
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"written by the worker"]
    assert written == []
    assert sorted(p.name for p in (tmp_path / "out" / "models").iterdir()) == ["bad", "good"]


@pytest.mark.parametrize(
    ("files", "changes", "reason"),
    [
        ({HTML: b"<p>not packed</p>"}, {}, "its .sections/section.html.gz is not gzip"),
        ({HTML: gzip.compress(b"\xff\xfe<p>")}, {}, "its .sections/section.html.gz is not UTF-8 text"),
        (
            {HTML: gzip.compress(b"<p>")[:-9]},
            {},
            "its .sections/section.html.gz is not one whole gzip member",
        ),
        ({HTML: gzip.compress(b"<p>") * 2}, {}, "its .sections/section.html.gz is not one whole gzip member"),
        ({f"{SECTIONS}/section.pdf": b"<html>"}, {}, "its .sections/section.pdf is not a PDF"),
        ({}, {"slug": "../../elsewhere"}, "its report is for the model folder '../../elsewhere', not 'bad'"),
        (
            {"diagram.svg": b"<svg/>"},
            {"diagram": DiagramInfo("dot", [], 1, 1, {"svg": "/etc/passwd"})},
            "its diagram's svg file is '/etc/passwd', not one of the files it holds",
        ),
        (
            {},
            {"overview": DiagramInfo("dot", [], 1, 1, {"pdf": "models/bad/overview/diagram.pdf"})},
            "its diagram's pdf file is 'models/bad/overview/diagram.pdf', not one of the files it holds",
        ),
        ({}, {"layers": "not rows"}, "its report cannot be read (ValidationError: "),
    ],
)
def test_a_result_the_parent_cannot_use_fails_that_model(
    tmp_path: Path, files: dict[str, bytes], changes: dict[str, Any], reason: str
) -> None:
    def forge(task: Task) -> TaskResult:
        return _result(task, files, **changes) if task.spec.name == "bad" else _result(task)

    models = _run(tmp_path, StandIn(forge))
    assert models["good"].ok
    assert (models["bad"].error or "").startswith(f"archreport refused the worker's result: {reason}")
    assert list((tmp_path / "out" / "models" / "bad").iterdir()) == []


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (
            {"diagram.svg": b" " * (2**20 + 1)},
            "its file diagram.svg is 1,048,577 bytes, over the limit of 1 MiB",
        ),
        ({HTML: gzip.compress(b" " * (3 * 2**20))}, "its .sections/section.html.gz inflates to over 1 MiB"),
    ],
)
def test_a_file_over_the_size_limit_fails_that_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], reason: str
) -> None:
    """The packed HTML section too: the page's script inflates it, a gzip bomb in the reader's browser."""
    from archreport.store import results

    monkeypatch.setattr(results, "MAX_FILE_BYTES", 2**20)
    models = _run(tmp_path, StandIn(lambda task: _result(task, files)))
    assert (
        models["bad"].error == f"archreport refused the worker's result: {reason}; nothing of it was written."
    )


def test_a_cache_entry_that_fails_the_checks_is_a_miss(tmp_path: Path) -> None:
    """A poisoned entry was served as it was to every later run, a local one too."""
    section = gzip.compress(b"<section>the worker's own section</section>")
    runner = StandIn(lambda task: _result(task, {HTML: section}))
    assert all(m.ok for m in _run(tmp_path, runner, cache=True).values())
    assert runner.submitted == ["bad", "good"]
    entries = sorted((tmp_path / "cache").glob("??/*/files"))
    assert len(entries) == 2
    for files in entries:  # an extra file, with a digest that matches: only the name is wrong
        (files / "evil.js").write_bytes(b"alert(1)")
        digests = json.loads((files.parent / "files.sha256.json").read_text(encoding="utf-8"))
        digests["evil.js"] = hashlib.sha256(b"alert(1)").hexdigest()
        (files.parent / "files.sha256.json").write_text(json.dumps(digests), encoding="utf-8")
    shutil.rmtree(tmp_path / "out")

    models = _run(tmp_path, runner, cache=True)
    assert runner.submitted == ["bad", "good", "bad", "good"], "a poisoned entry was used"
    assert not any(m.cached for m in models.values())
    assert not list((tmp_path / "out").rglob("evil.js"))
    assert all(m.cached for m in _run(tmp_path, runner, cache=True).values()), "the rebuilt entries are hits"


# -- item 3: a manifest is a regular file of at most 16 MiB -----------------------------
LOAD = """
import sys, time
from archreport import manifest
started = time.perf_counter()
try:
    manifest.load(sys.argv[1])
except Exception as exc:
    print(f"{time.perf_counter() - started:.3f} {type(exc).__name__}: {exc}")
"""


# On main, /dev/zero took 23 GB. The child limits itself: a preexec_fn would fork this test
# process, whose JAX threads (imported by earlier tests) make the fork unsafe.
TWO_GIB = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))\n"


@pytest.mark.parametrize(("kind", "what"), [("fifo", "a named pipe (FIFO)"), ("zero", "a character device")])
def test_a_manifest_that_is_not_a_regular_file_is_refused_within_a_second(
    tmp_path: Path, kind: str, what: str
) -> None:
    """A FIFO blocked forever; /dev/zero grew the process until the kernel killed it."""
    path = tmp_path / "manifest.toml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    proc = subprocess.run(
        [sys.executable, "-c", TWO_GIB + LOAD, str(path)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    seconds, _, message = proc.stdout.strip().partition(" ")
    assert message == (
        f"ManifestError: {path}: is {what}, not a regular file; a manifest is a TOML file of at most 16 MiB."
    ), proc.stdout + proc.stderr
    assert float(seconds) < 1.0


def test_a_manifest_over_16_mib_is_refused(tmp_path: Path) -> None:
    """A 200 MB file of comments was read and parsed whole."""
    path = tmp_path / "manifest.toml"
    path.write_text("# a comment\n" * (16 * 2**20 // 12 + 1), encoding="utf-8")
    with pytest.raises(
        ManifestError,
        match=rf"^{re.escape(str(path))}: is 16,777,224 bytes; a manifest is a TOML file of at most 16 MiB "
        r"\(is it the right file\?\)\.$",
    ):
        manifest.load(path)


# -- item 4: untrusted model files are read in bounded memory ---------------------------
# The peak from /proc (VmHWM, KiB): ru_maxrss starts from the parent's peak, carried over exec.
PROBE = """
import sys
from pathlib import Path
import h5py, zipfile  # imported before the baseline: their own size is not the file's doing
from archreport.errors import ModelError
from archreport.manifest import sources
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
before = peak()
try:
    sources.architecture(Path(sys.argv[1]))
    print("read")
except ModelError as exc:
    print(exc)
print(peak() - before)
"""


def _zip_bomb(path: Path, inflated: int, declared: int = 6000) -> None:
    """A .keras whose config.json inflates to ``inflated`` bytes while its headers say ``declared``."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    # A full flush ends each block on a byte and forgets the history: the same bytes can repeat.
    block = squeeze.compress(b" " * 2**20) + squeeze.flush(zlib.Z_FULL_FLUSH)
    data = block * (inflated // 2**20) + b"\x03\x00"  # an empty final block
    name = b"config.json"
    sizes = (0, len(data), declared, len(name), 0)  # crc, compressed, declared, name length, extra length
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, *sizes) + name
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)


@pytest.fixture(scope="module")
def model_bombs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import h5py
    import numpy as np

    folder = tmp_path_factory.mktemp("bombs")
    _zip_bomb(folder / "bomb.keras", 384 * 2**20)
    with h5py.File(folder / "attribute.h5", "w", libver="latest") as f:  # dense storage: a large attribute
        f.attrs["model_config"] = np.bytes_(b"{" + b" " * (200 * 2**20) + b"}")
    with h5py.File(folder / "variable.h5", "w", libver="latest") as f:
        f.attrs.create("model_config", "{" + " " * (100 * 2**20) + "}", dtype=h5py.string_dtype())
    with zipfile.ZipFile(folder / "deep.keras", "w") as archive:  # 633 bytes, as in the issue
        archive.writestr("config.json", '{"a":' * 100 + "[" * 10_000 + "]" * 10_000 + "}" * 100)
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (folder / "wide.json").write_text("[" + "[]," * 1_200_000 + "[]]", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bomb.keras", "BadZipFile: Bad CRC-32 for file 'config.json'"),
        ("attribute.h5", "its attributes take 209,7\\d\\d,\\d\\d\\d bytes, over the limit of 16 MiB"),
        ("variable.h5", "its model_config is a variable-length string in a file over 16 MiB"),
        ("deep.keras", "its config nests deeper than 256 levels"),
        ("deep.json", "its config nests deeper than 256 levels"),
        ("wide.json", "its config holds 1,200,002 objects and arrays, over the limit of 1,000,000"),
    ],
)
def test_an_untrusted_model_file_fails_that_model_in_bounded_memory(
    model_bombs: Path, name: str, reason: str
) -> None:
    """The zip bomb took the parent to 2.1 GB, the large attribute to 1.75 GB; deep JSON was a traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", TWO_GIB + PROBE, str(model_bombs / name)], capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    message, grew = proc.stdout.strip().splitlines()
    assert re.fullmatch(rf"cannot read the architecture of {re.escape(name)}: {reason}\.", message), message
    assert int(grew) < 300 * 1024, f"the read grew the process by {int(grew) // 1024} MB"


def test_an_h5_file_that_makes_libhdf5_loop_is_refused_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the fuzz target: a global heap with no free space made libhdf5 loop for ever, in the parent."""
    import h5py

    from archreport.manifest import untrusted

    monkeypatch.setattr(untrusted, "H5_SECONDS", 1.0)
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs.create("model_config", '{"class_name": "Sequential"}', dtype=h5py.string_dtype())
    path.write_bytes(endless_h5_heap(path.read_bytes()))
    started = time.perf_counter()
    with pytest.raises(
        ModelError, match=r"^cannot read the architecture of model\.h5: libhdf5 did not read it within 1 s\.$"
    ):
        sources.architecture(path)
    assert time.perf_counter() - started < 3


# -- item 5: a builder module that cannot be parsed fails its model only --------------------
def test_a_builder_module_with_a_syntax_error_fails_that_model_only(tmp_path: Path) -> None:
    """It failed the manifest (exit 2): no model was built, even with --only naming another."""
    path = _project(
        tmp_path,
        '[[model]]\nname = "ok"\nbuilder = "tiny:build"\n[[model]]\nname = "broken"\nbuilder = "broken:build"\n',
    )
    (tmp_path / "broken.py").write_text("import keras\n\n\ndef build(:\n    pass\n", encoding="utf-8")
    ok, broken = manifest.load(path).models
    assert sources.read(ok)[0]
    with pytest.raises(
        ModelError,
        match=rf"^builder 'broken:build': cannot parse {re.escape(str(tmp_path / 'broken.py'))}, line 4: invalid syntax\.$",
    ):
        sources.read(broken)


# -- item 6: `~` is the home folder wherever a path is read -------------------------------
@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def test_the_manifest_expands_tilde(home: Path) -> None:
    """output_dir = "~/x" made a folder literally named ~ beside the manifest."""
    (home / "models").mkdir()
    (home / "models" / "m.json").write_text('{"class_name": "Sequential"}', encoding="utf-8")
    write_manifest(
        home, '[report]\noutput_dir = "~/reports"\n[[model]]\nname = "m"\nfile = "~/models/m.json"\n'
    )
    loaded = manifest.load("~/manifest.toml")
    assert loaded.output_dir == home / "reports"
    assert loaded.models[0].target == str(home / "models" / "m.json")


def test_the_command_expands_tilde(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o '~/x' (quoted, or through a variable) was a folder named ~ in the working folder."""
    _project(home)
    taken = home / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["~/manifest.toml", "-o", "~/taken", "--no-cache"]) == 2
    assert f"output folder {taken} holds files archreport did not write: notes.txt" in capsys.readouterr().err
    (home / "baseline.json").write_text('{"schema_version": 99, "models": []}', encoding="utf-8")
    assert main(["~/manifest.toml", "-o", "~/out", "--compare", "~/baseline.json", "--no-cache"]) == 2
    assert (
        f"--compare {home / 'baseline.json'}: {home / 'baseline.json'} has schema_version 99"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize("output", ["reports/~", "~nosuchuser-archreport/reports", "~/reports/~x"])
def test_a_literal_tilde_folder_is_never_made(home: Path, tmp_path: Path, output: str) -> None:
    """A folder named ~ is a trap: `rm -rf ~` to clean it up deletes the home folder."""
    _project(tmp_path)
    with pytest.raises(
        UsageError, match=rf"^output folder '{re.escape(output)}' would make a folder named '~"
    ):
        generate_specs(manifest.load(tmp_path / "manifest.toml").models, output, title="t", formats=("html",))
    assert not list(tmp_path.rglob("~*"))


# -- item 7: a cache shared by a group -----------------------------------------------------
def test_the_cache_follows_the_umask_and_the_folder_s_group(tmp_path: Path, team: int) -> None:
    """Entries were 0700/0600 whatever the umask: nobody else in a group ever got a hit."""
    root = tmp_path / ".archreport-cache"
    root.mkdir()
    os.chown(root, -1, team)
    root.chmod(0o2775)
    model_dir = tmp_path / "model"
    (model_dir / SECTIONS).mkdir(parents=True)
    (model_dir / SECTIONS / "section.html").write_text("<p>section</p>", encoding="utf-8")
    report = ModelReport(name="m", slug="m", source={}, description=None, status="ok")
    previous = os.umask(0o002)
    try:
        Cache(root).put("ab" + "0" * 62, report, model_dir)
        Cache(root).put_document("cd" * 32, b"%PDF-1.7")
    finally:
        os.umask(previous)
    paths = [p for p in root.rglob("*") if not p.is_symlink()]
    assert len(paths) >= 8
    wrong = {
        p.relative_to(root).as_posix(): (_mode(p), p.stat().st_gid)
        for p in paths
        if (_mode(p), p.stat().st_gid) != (oct(0o2775 if p.is_dir() else 0o664), team)
    }
    assert wrong == {}
    assert not [p for p in paths if p.name.startswith(".tmp-")]


def test_a_cache_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    """It was a silent miss: every run rebuilt every model."""
    (tmp_path / "cache").write_text("a file where the cache folder should be", encoding="utf-8")
    report = ModelReport(name="m", slug="m", source={}, description=None, status="ok")
    cache = Cache(tmp_path / "cache")
    with pytest.warns(
        ArchreportWarning, match=r"^the cache .*/cache cannot be written \(Not a directory: .*"
    ):
        cache.put("ab" + "0" * 62, report, tmp_path)
    cache.put("cd" + "0" * 62, report, tmp_path)  # once per run: no second warning (an error under pytest)


@pytest.mark.slow
def test_a_group_shared_cache_is_hit_by_every_user_of_the_group(team: int, shared: Path) -> None:
    """A second user never got a hit, rebuilt silently every time and left a 0700 .tmp-* folder."""
    _others_can_run_python()  # the workers: setpriv itself starts as root
    project = shared / "project"
    project.mkdir()
    os.chown(project, -1, team)
    project.chmod(0o2775)
    path = _project(project)
    command = ["-m", "archreport", str(path), "--format", "html"]

    first = _as(USERS[0], *command, "-o", "out1", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"^ok +m: .*diagram: \w+$", first.stdout, re.M), first.stdout
    second = _as(USERS[1], *command, "-o", "out2", cwd=project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"^ok +m: .*\(cached\)$", second.stdout, re.M), second.stdout
    cache = project / ".archreport-cache"
    entries = [p for p in cache.rglob("*") if not p.is_symlink()]
    assert not [p for p in entries if p.name.startswith(".tmp-")]
    assert {p.stat().st_gid for p in entries} == {team}
    assert {_mode(p) for p in entries if p.is_dir()} == {"0o2775"}

    # A cache the second user cannot write: one warning line, and the run goes on.
    subprocess.run(["chmod", "-R", "g-w", str(cache)], check=True)
    (project / "manifest.toml").write_text(
        '[[model]]\nname = "m"\nbuilder = "tiny:build"\nkwargs = { units = 3 }\n', encoding="utf-8"
    )
    third = _as(USERS[1], *command, "-o", "out2", cwd=project)
    assert third.returncode == 0, third.stdout + third.stderr
    (warning,) = [line for line in third.stderr.splitlines() if line.startswith("WARNING ")]
    assert warning.startswith(f"WARNING the cache {cache} cannot be written (Permission denied: "), (
        third.stderr
    )


# -- item 8: --compare reads the baseline schemas it knows ---------------------------------
@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (99, "has schema_version 99, from a newer archreport; this one reads schema 1. Upgrade archreport"),
        (0, "has schema_version 0; every report.json archreport wrote has schema_version 1 (a whole number)"),
        ('"1"', "has schema_version '1'; every report.json archreport wrote has schema_version 1"),
        ("true", "has schema_version True; every report.json archreport wrote has schema_version 1"),
        (None, "has no schema_version; every report.json archreport wrote has schema_version 1"),
    ],
)
def test_a_baseline_of_another_schema_is_refused_naming_both_versions(
    tmp_path: Path, version: Any, reason: str
) -> None:
    """99, 0, "1", true or none were compared silently."""
    field = "" if version is None else f'"schema_version": {version}, '
    (tmp_path / "report.json").write_text(f'{{{field}"models": []}}', encoding="utf-8")
    with pytest.raises(
        UsageError, match=rf"^--compare {tmp_path}: {tmp_path / 'report.json'} {re.escape(reason)}"
    ):
        load_baseline(tmp_path)


def test_a_baseline_of_schema_1_is_read(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text('{"schema_version": 1, "models": []}', encoding="utf-8")
    assert load_baseline(tmp_path)["models"] == []


# -- item 9: names that would display as something else ------------------------------------
SPOOFS = {
    "\u202etxt.exe": "\\u202etxt.exe",  # RIGHT-TO-LEFT OVERRIDE: displays as "exe.txt"
    "a\u2066b\u2069c": "a\\u2066b\\u2069c",  # LEFT-TO-RIGHT ISOLATE, POP DIRECTIONAL ISOLATE
    "nul\x00name": "nul\\x00name",
    "mark\u200f\u200e\u061c": "mark\\u200f\\u200e\\u061c",
    "esc\x1b[31m": "esc\\x1b[31m",
}


@pytest.mark.parametrize(("name", "shown"), SPOOFS.items())
def test_visible_escapes_hidden_and_bidirectional_controls(name: str, shown: str) -> None:
    assert visible(name) == shown
    assert visible("naïve 名前 עברית\ttab\nline") == "naïve 名前 עברית\ttab\nline"


def _spoofing_report() -> ModelReport:
    report = ModelReport.from_dict(json.loads(GOLDEN.read_text(encoding="utf-8")))
    names = list(SPOOFS)
    layers = [replace(row, name=names[i % len(names)]) for i, row in enumerate(report.layers)]
    return replace(report, name="model \u202eevil", layers=layers, diagram=None, overview=None)


def test_every_text_output_shows_names_escaped(tmp_path: Path) -> None:
    """NUL and the bidirectional controls reached the HTML, the PDF and the tables unchanged."""
    from archreport.render import html_report
    from archreport.render.pdf import document
    from archreport.render.templating import jinja_environment

    report = _spoofing_report()
    env = jinja_environment()
    fragment = html_report.render_section_html(report, tmp_path, env)
    whole = Report("title \u2067", "2026-12-07T00:00:00Z", fingerprint.versions(), [report])
    texts = {
        "html": fragment,
        "page": html_report.assemble_html(whole, {report.slug: html_report.pack(fragment)}, env),
        "csv": layers_csv(report),
        "md": layers_md(report),
        "notebook": summary_text(report),
        "command": _model_line(report),
        "report.md": report_md(report_dict(whole)),
    }
    pdf = document.render_section_pdf(report, tmp_path, page_size="A4", env=env)
    texts["pdf"] = "\n".join(pdf_pages_text(pdf))
    hidden = re.compile("[\x00\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x1b]")
    for kind, text in texts.items():
        assert not hidden.search(text), f"{kind}: a hidden character reached it"
    assert "model \\u202eevil" in texts["page"] and "model \\u202eevil" in texts["command"]
    assert "title \\u2067" in texts["page"]
    for shown in SPOOFS.values():
        for kind in ("html", "csv", "notebook"):
            assert shown in texts[kind], f"{kind} does not show {shown}"
    assert "\\\\u202etxt.exe" in texts["md"]  # Markdown escapes the backslash itself
    assert "`model \\u202eevil`" in texts["report.md"]
    assert "u202etxt.exe" in texts["pdf"].replace("\n", "")


def test_the_latex_kit_shows_bidirectional_controls_as_codes() -> None:
    from archreport.render.tex import escape

    assert escape.text("\u202etxt.exe") == "\\texttt{[U+202E]}txt.exe"
    assert escape.mono("a\u2066b") == "\\texttt{a\\texttt{[U+2066]}b}"


def test_the_diagram_shows_names_escaped() -> None:
    from archreport.diagram.dot import html_text

    assert html_text("\u202etxt.exe") == "\\\\u202etxt.exe"  # Graphviz reads a backslash as an escape


# -- item 10: a long -o folder name --------------------------------------------------------
@pytest.mark.parametrize("name", ["r" * 250, "é" * 127], ids=["250 ASCII", "254 bytes of UTF-8"])
def test_an_output_folder_name_of_250_characters_is_written(tmp_path: Path, name: str) -> None:
    """It failed with exit 3, "File name too long", because of the .NAME.staging-* sibling."""
    out = tmp_path / name
    for _ in range(2):
        _publish(out)
        assert (out / "report.json").is_file()
        assert [p.name for p in tmp_path.iterdir()] == [name], "no staging folder left beside it"
    assert len(os.fsencode(outputs.sibling_prefix(name, "staging-"))) + 40 <= 255
    assert outputs.sibling_prefix("out", "staging-") == ".out.staging-"  # short names as before
