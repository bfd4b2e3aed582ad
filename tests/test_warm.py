"""A warm re-run (every model from the cache) only writes files (issue 13).

It must not pay for what it does not use: WeasyPrint is checked without being
imported, and imported only when something is laid out. The assembled PDF is
cached before its time stamp, so a warm run lays nothing out, and writes the
same bytes a cold run does.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from archreport import environment
from archreport.errors import ArchreportWarning, SystemDependencyError
from archreport.store.cache import DOCUMENTS, KEEP_DOCUMENTS, Cache
from tests.helpers import LENET, copy_example_builders, run_cli, write_manifest

NOWHERE = (("libarchreport-no-such-library.so.0",),)


def test_the_dependency_check_does_not_import_weasyprint(tmp_path: Path) -> None:
    # In a fresh process: this one may have imported WeasyPrint for another test already.
    code = (
        "import sys; from pathlib import Path; from archreport import environment; "
        f"environment.check(('html', 'pdf'), Path({str(tmp_path)!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'weasyprint', 'cffi'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_a_library_not_found_under_weasyprints_names_is_confirmed_by_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The quick check only says "not sure": WeasyPrint itself decides, and here it imports fine.
    monkeypatch.setattr(environment, "WEASYPRINT_LIBRARIES", NOWHERE)
    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    environment.check(("pdf",), tmp_path)
    assert "weasyprint" in sys.modules


class _PangoMissing(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Fails ``import weasyprint`` the way WeasyPrint does without Pango: its ffi module's dlopen raises."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        return importlib.util.spec_from_loader(name, self) if name == "weasyprint" else None

    def exec_module(self, module: Any) -> None:
        raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file")


def test_a_missing_library_gives_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "WEASYPRINT_LIBRARIES", NOWHERE)
    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_PangoMissing(), *sys.meta_path])
    with pytest.raises(
        SystemDependencyError,
        match=r"WeasyPrint's system libraries are missing \(cannot load library 'libpango-1.0-0'.*apt-get install",
    ):
        environment.check(("pdf",), tmp_path)
    environment.check(("html",), tmp_path)  # an HTML-only run does not need WeasyPrint


# -- the cached document ---------------------------------------------------------------------
@pytest.mark.writes_invalid_pdf  # its cached documents are stand-ins, not PDFs
def test_only_the_newest_documents_are_kept(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    keys = [f"{i:064x}" for i in range(KEEP_DOCUMENTS + 2)]
    for age, key in enumerate(keys):
        cache.put_document(key, f"%PDF {key}".encode())
        stored = tmp_path / "cache" / DOCUMENTS / f"{key}.pdf"
        os.utime(stored, ns=(age * 10**9, age * 10**9))  # one second apart, oldest first
    assert [cache.get_document(k) is not None for k in keys] == [False, False, True, True, True]
    assert cache.get_document(keys[2]) == f"%PDF {keys[2]}".encode()  # used now: the newest again
    cache.put_document("f" * 64, b"%PDF newest")
    left = sorted(p.name for p in (tmp_path / "cache" / DOCUMENTS).iterdir())
    assert left == sorted(f"{k}.pdf" for k in (keys[2], keys[-1], "f" * 64))
    assert len(left) == KEEP_DOCUMENTS


def test_an_unwritable_cache_keeps_no_document_and_does_not_fail(tmp_path: Path) -> None:
    (tmp_path / "file-not-folder").write_text("")
    blocked = Cache(tmp_path / "file-not-folder")
    with pytest.warns(ArchreportWarning, match=r"^the cache .*file-not-folder cannot be written"):
        blocked.put_document("a" * 64, b"%PDF")  # a warning, never an error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blocked.put_document("b" * 64, b"%PDF")  # said once per run: no second warning
    assert blocked.get_document("a" * 64) is None


# Writes, at exit, which of the heavy modules the process imported (the command's process only).
SITECUSTOMIZE = """
import atexit, os, sys

def _log():
    if sys.argv and sys.argv[0].endswith(os.path.join("archreport", "__main__.py")):
        heavy = sorted(m for m in ("weasyprint", "pandas", "fontTools") if m in sys.modules)
        with open(os.environ["ARCHREPORT_TEST_IMPORT_LOG"], "a") as fh:
            fh.write(",".join(heavy) + "\\n")

if os.environ.get("ARCHREPORT_TEST_IMPORT_LOG"):
    atexit.register(_log)
"""
MANIFEST = f"""
[report]
title = "warm"
{LENET}
[[model]]
name = "Residual block"
builder = "blocks:residual_block"
kwargs = {{ input_shape = [32, 32, 3], filters = 8 }}
"""


@pytest.mark.slow
def test_a_warm_run_stamps_the_cached_pdf_and_writes_a_cold_runs_bytes(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    write_manifest(tmp_path, MANIFEST)
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "imports.log"
    path = os.pathsep.join(p for p in (str(tmp_path / "probe"), os.environ.get("PYTHONPATH", "")) if p)
    env = {"SOURCE_DATE_EPOCH": "1700000000", "PYTHONPATH": path, "ARCHREPORT_TEST_IMPORT_LOG": str(log)}

    def run(out: str, *extra: str) -> bytes:
        log.write_text("")
        proc = run_cli(
            str(tmp_path / "manifest.toml"), "-o", str(tmp_path / out), *extra, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return (tmp_path / out / "report.pdf").read_bytes()  # run_cli has checked it with strict readers

    cold = run("cold", "-j", "2")
    assert log.read_text().split() == ["fontTools,weasyprint"]  # laid out and assembled here
    documents = list((tmp_path / ".archreport-cache" / DOCUMENTS).glob("*.pdf"))
    assert len(documents) == 1
    warm = run("warm", "-j", "1")
    # A hit: nothing laid out, no font subset, no pandas; only pikepdf stamps the time.
    assert log.read_text() == "\n"  # the probe ran, and saw none of them
    assert warm == cold
    uncached = run("uncached", "--no-cache")
    assert uncached == cold
    assert b"Generated" not in documents[0].read_bytes()  # the cached document has no time stamp
