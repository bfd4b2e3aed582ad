"""A warm re-run (every model from the cache) only writes files (issue 13).

It must not pay for what it does not use: WeasyPrint is checked without being
imported, and imported only when something is laid out.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archreport import environment
from archreport.errors import SystemDependencyError

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
    monkeypatch.setattr(environment, "_WEASYPRINT_LIBRARIES", NOWHERE)
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
    monkeypatch.setattr(environment, "_WEASYPRINT_LIBRARIES", NOWHERE)
    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_PangoMissing(), *sys.meta_path])
    with pytest.raises(
        SystemDependencyError,
        match=r"WeasyPrint's system libraries are missing \(cannot load library 'libpango-1.0-0'.*apt-get install",
    ):
        environment.check(("pdf",), tmp_path)
    environment.check(("html",), tmp_path)  # an HTML-only run does not need WeasyPrint
