"""What a worker and the parent do before their first section, made cheaper for issue 26 with the same result.

Each shortcut is compared with the long way it replaces: the font subsets byte for byte,
WeasyPrint's import by the module it yields, and its fall-back by a package that only
imports through ctypes' library search.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archreport.render.pdf import text


@pytest.mark.parametrize("face", sorted(text.FACES))
def test_a_subset_is_the_same_bytes_as_when_fonttools_read_the_layout_tables_first(face: str) -> None:
    from fontTools import subset

    fast = text.subset_font(text.open_font(face), text.CHARS, retain_gids=True)

    # The long way: every table left in the font for fontTools to read, then drop.
    font = text.open_font(face)
    assert {"GSUB", "GPOS", "GDEF"} & set(font.keys()), "the test needs a font with layout tables"
    subsetter = subset.Subsetter(text.subset_options(retain_gids=True))
    subsetter.populate(text=text.CHARS)
    subsetter.subset(font)
    slow = io.BytesIO()
    font.save(slow)
    assert fast == slow.getvalue()


def _run(code: str, *path: Path) -> str:
    env_path = ":".join(str(p) for p in path)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, check=False, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": env_path} if path else None,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="the library search is skipped on Linux only")
def test_weasyprint_imports_without_the_library_search_and_the_search_is_put_back() -> None:
    out = _run(
        """
        import ctypes.util
        searched = []
        def counting(name):
            searched.append(name)
            return None
        ctypes.util.find_library = counting
        from archreport.environment import import_weasyprint
        module = import_weasyprint()
        import weasyprint
        assert module is weasyprint and hasattr(weasyprint, "HTML")
        assert ctypes.util.find_library is counting
        print(len(searched))
        """
    )
    assert out == "0"


def test_a_library_found_only_by_the_search_is_still_found(tmp_path: Path) -> None:
    # A stand-in for a WeasyPrint whose libraries load only under a name the search resolves.
    package = tmp_path / "weasyprint"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import ctypes, ctypes.util\n"
        "found = ctypes.util.find_library('c')\n"
        "if found is None:\n"
        "    raise OSError('cannot load library c')\n"
        "ctypes.CDLL(found)\n"
        "HTML = found\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = _run(
        """
        from archreport.environment import import_weasyprint
        print(import_weasyprint().HTML)
        """,
        tmp_path,
        root,
    )
    assert out.startswith("libc.so")


def test_the_fonts_digest_is_the_digest_of_the_files_fc_match_names_one_by_one() -> None:
    import hashlib
    import shutil

    from archreport.store import fingerprint

    if shutil.which("fc-match") is None:
        pytest.skip("fontconfig's fc-match is not installed")
    expected = hashlib.sha256()
    for family in fingerprint.REPORT_FONTS:
        found = subprocess.run(
            ["fc-match", "--format=%{file}", family], capture_output=True, text=True, check=True
        )
        expected.update(family.encode() + b"\0")
        expected.update(hashlib.sha256(Path(found.stdout).read_bytes()).digest())
    fingerprint.fonts_digest.cache_clear()
    assert fingerprint.fonts_digest() == expected.hexdigest()


@pytest.mark.skipif(sys.platform != "linux", reason="the library search is skipped on Linux only")
def test_two_threads_importing_weasyprint_put_the_search_back() -> None:
    out = _run(
        """
        import ctypes.util, threading
        search = ctypes.util.find_library
        from archreport.environment import import_weasyprint
        start = threading.Barrier(2)
        def both():
            start.wait()
            import_weasyprint()
        threads = [threading.Thread(target=both) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(ctypes.util.find_library is search, ctypes.util.find_library("c"))
        """
    )
    assert out.startswith("True libc.so")
