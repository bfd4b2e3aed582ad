"""The model cache (``.archreport-cache/`` beside the manifest).

A re-run with nothing changed rebuilds nothing and starts no TensorFlow at
all; each input a model's result depends on invalidates that model's entry,
and only that one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from archreport import manifest as manifest_mod
from archreport.errors import ArchreportWarning
from archreport.manifest import sources as sources_mod
from archreport.store import cache as cache_module
from archreport.store.cache import TIMES, Cache, cache_key
from tests.helpers import run_cli, write_manifest

VERSIONS = {"archreport": "0.1.0", "keras": "3.12.0", "tensorflow": "2.20.0", "graphviz": "2.43.0"}

HELPERS = "WIDTH = 3\n"
NET = """
import keras

from helpers import WIDTH


def tiny(inputs, units=2):
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(WIDTH), keras.layers.Dense(units)])
"""
OTHER = """
import keras


def build():
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
"""
MAKE_SAVED = """
import sys

import keras

units = int(sys.argv[2])
keras.Sequential([keras.Input((6,)), keras.layers.Dense(units)]).save(sys.argv[1])
"""
MANIFEST = """
[report]
title = "cache"
formats = ["html"]

[[model]]
name = "Tiny"
builder = "net:tiny"
args = [4]
kwargs = { units = 2 }

[[model]]
name = "Other"
builder = "other:build"

[[model]]
name = "Saved"
file = "saved.keras"
"""
# Every Python process a run starts logs its command line here (see `probe_env`).
SITECUSTOMIZE = """
import os
log = os.environ.get("ARCHREPORT_TEST_PROCESS_LOG")
if log:
    with open(log, "ab") as fh:
        fh.write(open("/proc/self/cmdline", "rb").read().replace(b"\\0", b" ") + b"\\n")
"""


def save_model(path: Path, units: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", MAKE_SAVED, str(path), str(units)],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def statuses(stdout: str) -> dict[str, str]:
    """Model name -> "cached" or "built", from the one line per model the command prints."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith(("ok ", "FAILED", "EXPECT")):
            name = line.split(None, 1)[1].split(":", 1)[0]
            out[name] = "cached" if line.endswith("(cached)") else "built"
    return out


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return folder


def probe_env(probe: Path, log: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(probe), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "ARCHREPORT_TEST_PROCESS_LOG": str(log)}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, probe: Path) -> tuple[Path, str]:
    """A project after one cold run: its report and a filled cache."""
    folder = tmp_path_factory.mktemp("cache-template")
    (folder / "helpers.py").write_text(HELPERS, encoding="utf-8")
    (folder / "net.py").write_text(NET, encoding="utf-8")
    (folder / "other.py").write_text(OTHER, encoding="utf-8")
    save_model(folder / "saved.keras", 3)
    write_manifest(folder, MANIFEST)
    log = folder.parent / "cold.log"
    proc = run_cli(
        str(folder / "manifest.toml"), "-o", str(folder / "out"), env=probe_env(probe, log), timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder, proc.stdout + "\n--processes--\n" + log.read_text()


@pytest.fixture
def project(template: tuple[Path, str], tmp_path: Path) -> Path:
    """A fresh copy of the cold-run project (cache included) for one test to change."""
    folder = tmp_path / "project"
    shutil.copytree(template[0], folder)
    return folder


def rerun(project: Path, *extra: str) -> dict[str, str]:
    proc = run_cli(str(project / "manifest.toml"), "-o", str(project / "out"), *extra, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = statuses(proc.stdout)
    assert set(result) == {"Tiny", "Other", "Saved"}, proc.stdout
    return result


# -- end to end -----------------------------------------------------------------
@pytest.mark.slow
def test_cold_run_builds_every_model_in_workers(template: tuple[Path, str]) -> None:
    folder, output = template
    stdout, processes = output.split("\n--processes--\n")
    assert statuses(stdout) == {"Tiny": "built", "Other": "built", "Saved": "built"}
    assert "archreport.runners.worker" in processes, "the process probe must see the workers of a cold run"
    assert any(folder.joinpath(".archreport-cache").iterdir())


@pytest.mark.slow
def test_unchanged_rerun_builds_nothing_and_imports_no_tensorflow(
    project: Path, probe: Path, tmp_path: Path
) -> None:
    log = tmp_path / "processes.log"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "archreport", str(project / "manifest.toml"), "-o", str(project / "out")],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **probe_env(probe, log)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses(proc.stdout) == {"Tiny": "cached", "Other": "cached", "Saved": "cached"}
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "archreport.pipeline" in imported, "-X importtime did not report the parent's imports"
    heavy = [m for m in imported if m.split(".")[0] in {"tensorflow", "keras", "tf_keras", "jax"}]
    assert heavy == [], f"a cached run imported {heavy[:5]}"
    processes = log.read_text()
    assert "archreport" in processes, "the process probe did not run"
    assert "archreport.runners.worker" not in processes, "a cached run started a worker process"
    report = json.loads((project / "out" / "report.json").read_text())
    assert [m["status"] for m in report["models"]] == ["ok", "ok", "ok"]
    assert [m["totals"]["params"] for m in report["models"]] == [4 * 3 + 3 + 3 * 2 + 2, 5 * 4 + 4, 6 * 3 + 3]


def _edit_builder(project: Path) -> None:
    with (project / "net.py").open("a") as fh:
        fh.write("\n# edited\n")


def _edit_local_module(project: Path) -> None:
    (project / "helpers.py").write_text("WIDTH = 5\n")


def _edit_args(project: Path) -> None:
    _replace(project / "manifest.toml", "args = [4]", "args = [7]")


def _edit_kwargs(project: Path) -> None:
    _replace(project / "manifest.toml", "kwargs = { units = 2 }", "kwargs = { units = 1 }")


def _edit_diagram(project: Path) -> None:
    _replace(
        project / "manifest.toml",
        'builder = "other:build"',
        'builder = "other:build"\ndiagram = { rankdir = "LR" }',
    )


def _rewrite_model_file(project: Path) -> None:
    save_model(project / "saved.keras", 5)


def _set(project: Path, model: str, line: str) -> None:
    _replace(project / "manifest.toml", f'name = "{model}"', f'name = "{model}"\n{line}')


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "rebuilt"),
    [
        (_edit_builder, "Tiny"),
        (_edit_local_module, "Tiny"),
        (_edit_args, "Tiny"),
        (_edit_kwargs, "Tiny"),
        (_edit_diagram, "Other"),
        (_rewrite_model_file, "Saved"),
    ],
    ids=["builder-source", "local-module", "args", "kwargs", "diagram-options", "model-file"],
)
def test_a_change_rebuilds_only_its_model(project: Path, change, rebuilt: str) -> None:  # type: ignore[no-untyped-def]
    change(project)
    expected = dict.fromkeys(("Tiny", "Other", "Saved"), "cached")
    expected[rebuilt] = "built"
    assert rerun(project) == expected
    assert rerun(project) == dict.fromkeys(expected, "cached"), "the rebuilt model was not cached again"


@pytest.mark.slow
def test_no_cache_rebuilds_everything(project: Path) -> None:
    assert rerun(project, "--no-cache") == {"Tiny": "built", "Other": "built", "Saved": "built"}


@pytest.mark.slow
def test_a_run_with_one_format_reuses_a_full_runs_entries(project: Path) -> None:
    built = dict.fromkeys(("Tiny", "Other", "Saved"), "built")
    cached = dict.fromkeys(built, "cached")
    # The template's entries hold HTML fragments only: a PDF needs sections they do not have.
    assert rerun(project, "--format", "html,pdf") == built
    assert rerun(project, "--format", "pdf") == cached
    assert rerun(project, "--format", "html") == cached
    assert not list((project / "out" / "models").glob("*/.sections")), "sections are not report files"


# -- the key, one input at a time -------------------------------------------------
def _key(spec: manifest_mod.ModelSpec, versions: dict[str, str] = VERSIONS) -> str:
    return cache_key(spec, versions, *sources_mod.read(spec))


def _keys(folder: Path, versions: dict[str, str] = VERSIONS) -> dict[str, str]:
    return {s.name: _key(s, versions) for s in manifest_mod.load(folder / "manifest.toml").models}


def _keras_archive(path: Path, config: dict) -> None:
    """A .keras archive holding only its architecture (all the cache key reads of it)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """The project's files without a run (the key needs no model built), model file included."""
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "other.py").write_text(OTHER)
    _keras_archive(tmp_path / "saved.keras", {"class_name": "Sequential", "config": {"name": "a"}})
    write_manifest(tmp_path, MANIFEST)
    return tmp_path


def test_key_is_stable(sources: Path) -> None:
    assert _keys(sources) == _keys(sources)
    assert len(set(_keys(sources).values())) == 3


@pytest.mark.parametrize(
    ("change", "invalidated"),
    [
        (_edit_builder, "Tiny"),
        (_edit_local_module, "Tiny"),
        (_edit_args, "Tiny"),
        (_edit_kwargs, "Tiny"),
        (_edit_diagram, "Other"),
        (
            lambda p: _keras_archive(
                p / "saved.keras", {"class_name": "Sequential", "config": {"name": "b"}}
            ),
            "Saved",
        ),
        # What a model is built and traced at: the backend, the batch and declared input shapes.
        (lambda p: _set(p, "Other", 'backend = "tensorflow"'), "Other"),
        (lambda p: _set(p, "Other", "batch_size = 8"), "Other"),
        (lambda p: _set(p, "Tiny", "inputs = { x = [7] }"), "Tiny"),
        (lambda p: _set(p, "Tiny", "input_shapes = [[7]]"), "Tiny"),
    ],
    ids=[
        "builder-source",
        "local-module",
        "args",
        "kwargs",
        "diagram-options",
        "model-file",
        "backend",
        "batch-size",
        "inputs",
        "input-shapes",
    ],
)
def test_each_input_changes_its_models_key_only(sources: Path, change, invalidated: str) -> None:  # type: ignore[no-untyped-def]
    before = _keys(sources)
    change(sources)
    after = _keys(sources)
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == [invalidated]


def test_description_and_expectations_do_not_invalidate(sources: Path) -> None:
    before = _keys(sources)
    _replace(
        sources / "manifest.toml",
        'name = "Other"',
        'name = "Other"\ndescription = "new words"\nexpect = { params = 24 }',
    )
    assert _keys(sources) == before


@pytest.mark.parametrize("component", sorted(VERSIONS))
def test_each_version_invalidates(sources: Path, component: str) -> None:
    before = _keys(sources)
    after = _keys(sources, {**VERSIONS, component: VERSIONS[component] + ".post1"})
    assert all(before[name] != after[name] for name in before), component


def test_local_imports_are_followed_including_packages(tmp_path: Path) -> None:
    pkg = tmp_path / "zoo"
    (pkg / "blocks").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(
        "from .blocks import conv\nfrom . import shared\nimport keras\n\n\ndef build():\n    pass\n"
    )
    (pkg / "blocks" / "__init__.py").write_text("")
    (pkg / "blocks" / "conv.py").write_text("from ..shared import SIZE\n")
    (pkg / "shared.py").write_text("SIZE = 3\n")
    (tmp_path / "unused.py").write_text("")
    write_manifest(tmp_path, '[[model]]\nname = "M"\nbuilder = "zoo.models:build"\n')
    spec = manifest_mod.load(tmp_path / "manifest.toml").models[0]
    found = {p.relative_to(tmp_path).as_posix() for p in sources_mod.builder_modules(spec)}
    assert found == {
        "zoo/__init__.py",
        "zoo/models.py",
        "zoo/blocks/__init__.py",
        "zoo/blocks/conv.py",
        "zoo/shared.py",
    }
    before = _key(spec)
    (pkg / "shared.py").write_text("SIZE = 4\n")
    assert _key(spec) != before


def test_an_unreadable_entry_is_a_miss_and_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    from archreport.data import ModelReport

    cache = Cache(tmp_path / "cache")
    key = "ab" + "0" * 62
    assert cache.get(key, tmp_path / "m") is None
    (tmp_path / "cache" / "ab" / key).mkdir(parents=True)
    (tmp_path / "cache" / "ab" / key / "report.json").write_text("{not json")
    assert cache.get(key, tmp_path / "m") is None
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "diagram.svg").write_text("<svg/>")
    report = ModelReport(name="M", slug="m", source={}, description=None, status="ok")
    fresh = "cd" + "1" * 62
    cache.put(fresh, report, model_dir)
    target = tmp_path / "restored"
    target.mkdir()
    hit = cache.get(fresh, target)
    assert hit is not None and hit.cached and hit.name == "M"
    assert (target / "diagram.svg").read_text() == "<svg/>"
    blocked = Cache(tmp_path / "file-not-folder")
    (tmp_path / "file-not-folder").write_text("")
    with pytest.warns(ArchreportWarning, match=r"file-not-folder cannot be written \(Not a directory"):
        blocked.put(fresh, report, model_dir)  # a warning, not an error
    assert (tmp_path / "file-not-folder").is_file()


def test_moved_project_keeps_its_cache(sources: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(sources, moved, ignore=shutil.ignore_patterns("elsewhere"))
    assert _keys(moved) == _keys(sources)


def test_pango_and_harfbuzz_versions_are_the_ones_weasyprint_runs_and_invalidate_sections(
    sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A system upgrade of Pango or HarfBuzz can change a rendered section: its key names them."""
    from weasyprint.text.ffi import harfbuzz, pango

    from archreport.store import cache as cache_mod
    from archreport.store.fingerprint import text_libraries
    from archreport.task import Render

    # Checked through WeasyPrint's own bindings: the libraries it loads are the ones named.
    major, minor, micro = (int(part) for part in text_libraries()["pango"].split("."))
    assert pango.pango_version() == major * 10000 + minor * 100 + micro
    major, minor, micro = (int(part) for part in text_libraries()["harfbuzz"].split("."))
    assert harfbuzz.hb_version_atleast(major, minor, micro)
    assert not harfbuzz.hb_version_atleast(major, minor, micro + 1)
    spec = manifest_mod.load(sources / "manifest.toml").models[0]
    render = Render(page_size="A4", html=True, pdf=True)
    before = cache_key(spec, VERSIONS, *sources_mod.read(spec), render)
    from archreport.store.fingerprint import rendering

    monkeypatch.setattr(cache_mod, "rendering", lambda: {**rendering(), "pango": "9.99"})
    assert cache_key(spec, VERSIONS, *sources_mod.read(spec), render) != before
    assert cache_key(spec, VERSIONS, *sources_mod.read(spec)) == _key(spec)  # no sections, no libraries


def test_entries_unused_for_30_days_are_pruned_and_nothing_else(tmp_path: Path) -> None:
    from archreport.data import ModelReport

    cache = Cache(tmp_path / ".archreport-cache")
    report = ModelReport(name="m", slug="m", source={}, description="", status="ok")
    old, used, fresh = "a" * 64, "b" * 64, "c" * 64
    for key in (old, used, fresh):
        cache.put(key, report, tmp_path / "no-files")
    day = 86400.0
    for key in (old, used):
        entry = tmp_path / ".archreport-cache" / key[:2] / key
        os.utime(entry, (time.time() - 31 * day, time.time() - 31 * day))
    foreign = tmp_path / ".archreport-cache" / "aa" / "notes"  # not an entry's shape: never touched
    foreign.mkdir()
    os.utime(foreign, (0, 0))
    # put()'s temporary folders: a killed run's (two days old) goes, a running one's (an hour) stays.
    abandoned, writing = (Path(tempfile.mkdtemp(dir=foreign.parent, prefix=".tmp-")) for _ in range(2))
    os.utime(abandoned, (time.time() - 2 * day, time.time() - 2 * day))
    os.utime(writing, (time.time() - 3600, time.time() - 3600))
    assert cache.get(used, tmp_path / "out") is not None  # a hit marks the entry as used

    assert cache.prune() == [old]
    assert cache.get(old, tmp_path / "out") is None
    assert cache.get(used, tmp_path / "out") is not None and cache.get(fresh, tmp_path / "out") is not None
    assert foreign.is_dir()
    assert not abandoned.exists() and writing.is_dir()
    assert cache.prune(now=time.time() + 31 * day) == sorted([used, fresh])


def _stored(tmp_path: Path, key: str) -> tuple[Cache, Path]:
    """A cache holding one entry with a diagram and a report section, and the entry's folder."""
    from archreport.data import ModelReport

    cache = Cache(tmp_path / "cache")
    model_dir = tmp_path / "model"
    (model_dir / ".sections").mkdir(parents=True)
    (model_dir / "diagram.svg").write_text("<svg>whole</svg>")
    (model_dir / ".sections" / "section.pdf").write_bytes(b"%PDF-1.7 whole section")
    cache.put(key, ModelReport(name="M", slug="m", source={}, description=None, status="ok"), model_dir)
    return cache, tmp_path / "cache" / key[:2] / key


@pytest.mark.parametrize("damage", ["truncate", "delete", "digests"])
def test_a_damaged_entry_is_a_miss_and_the_next_put_replaces_it(tmp_path: Path, damage: str) -> None:
    """A cached file cut short (a full disk, a killed copy, a user's editor) never reaches a report:
    the old cache copied it as it was, and a truncated section.pdf failed every later run (exit 1)."""
    key = "ab" + "2" * 62
    cache, entry = _stored(tmp_path, key)
    section = entry / "files" / ".sections" / "section.pdf"
    if damage == "truncate":
        section.write_bytes(section.read_bytes()[:5])
    elif damage == "delete":
        section.unlink()
    else:
        (entry / "files.sha256.json").write_text('{"../../etc/passwd": "0"}')
    restored = tmp_path / "restored"
    assert cache.get(key, restored) is None
    assert not restored.exists(), "a miss must write nothing"

    from archreport.data import ModelReport

    fresh = tmp_path / "fresh"
    (fresh / ".sections").mkdir(parents=True)
    (fresh / ".sections" / "section.pdf").write_bytes(b"%PDF-1.7 rebuilt")
    cache.put(key, ModelReport(name="M", slug="m", source={}, description=None, status="ok"), fresh)
    hit = cache.get(key, restored)
    assert hit is not None and hit.cached
    assert (restored / ".sections" / "section.pdf").read_bytes() == b"%PDF-1.7 rebuilt"
    assert [p.name for p in entry.parent.iterdir()] == [key], "the damaged entry was not cleared away"


def test_an_intact_entry_is_kept_by_put_and_restored_whole(tmp_path: Path) -> None:
    key = "cd" + "3" * 62
    cache, _entry = _stored(tmp_path, key)
    from archreport.data import ModelReport

    other = tmp_path / "other"
    other.mkdir()
    (other / "diagram.svg").write_text("<svg>other</svg>")
    cache.put(key, ModelReport(name="M", slug="m", source={}, description=None, status="ok"), other)
    restored = tmp_path / "restored"
    assert cache.get(key, restored) is not None
    assert (restored / "diagram.svg").read_text() == "<svg>whole</svg>"
    assert (restored / ".sections" / "section.pdf").read_bytes() == b"%PDF-1.7 whole section"


def test_prune_and_put_skip_a_shard_that_is_not_a_folder(tmp_path: Path) -> None:
    """A stray file named like a shard made prune() raise NotADirectoryError: a traceback, exit 1."""
    from archreport.data import ModelReport

    cache = Cache(tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "ef").write_text("not a shard")
    assert cache.prune(now=time.time() + 365 * 86400) == []
    key = "ef" + "4" * 62
    with pytest.warns(ArchreportWarning, match=r"cache cannot be written \(File exists"):
        cache.put(key, ModelReport(name="M", slug="m", source={}, description=None, status="ok"), tmp_path)
    assert cache.get(key, tmp_path / "restored") is None
    assert (tmp_path / "cache" / "ef").read_text() == "not a shard"


TINY = """
import keras


def build(units=2):
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(units, name="dense")])
"""


@pytest.mark.slow
def test_a_truncated_cached_section_is_rebuilt_not_a_failed_run(tmp_path: Path) -> None:
    """The real command: a cached PDF section cut short made every later run fail to render the
    PDF (exit 1, "PdfError: stream <_io.BytesIO ...>") until the cache was deleted by hand."""
    (tmp_path / "tiny.py").write_text(TINY, encoding="utf-8")
    write_manifest(
        tmp_path, '[report]\nformats = ["html", "pdf"]\n[[model]]\nname = "T"\nbuilder = "tiny:build"\n'
    )
    args = (str(tmp_path / "manifest.toml"), "-o", str(tmp_path / "out"))
    first = run_cli(*args, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    (section,) = (tmp_path / ".archreport-cache").glob("??/*/files/.sections/section.pdf")
    section.write_bytes(section.read_bytes()[:200])

    second = run_cli(*args, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert statuses(second.stdout) == {"T": "built"}
    third = run_cli(*args, timeout=300)
    assert third.returncode == 0, third.stdout + third.stderr
    assert statuses(third.stdout) == {"T": "cached"}, "the rebuilt entry did not replace the damaged one"


def test_model_times_are_a_hint_that_survives_damage_and_keeps_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the schedule orders models by (issue 26): never a reason to fail, never read unbounded.
    cache = Cache(tmp_path)
    assert cache.times() == {}
    (tmp_path / TIMES).write_text("{not json", encoding="utf-8")
    assert cache.times() == {}
    cache.note_times({"a": 1.23456, "b": 2.0})
    assert cache.times() == {"a": 1.235, "b": 2.0}
    (tmp_path / TIMES).write_text(
        json.dumps({"a": 1, "b": "slow", "c": -1, "d": 3.5, "e": True}), encoding="utf-8"
    )
    assert cache.times() == {"a": 1.0, "d": 3.5}
    monkeypatch.setattr(cache_module, "KEEP_TIMES", 2)
    cache.note_times({"f": 4.0})
    assert cache.times() == {"d": 3.5, "f": 4.0}
    (tmp_path / TIMES).write_bytes(b'{"a": 1' + b" " * (2 << 20) + b"}")  # past the 1 MiB read
    assert cache.times() == {}
