"""System dependencies and the output folder, checked before anything is built (no TensorFlow import).

The versions that decide a result are in store/fingerprint.py."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from archreport.errors import OutputError, SystemDependencyError, with_output

APT_HINT = "sudo apt-get install -y graphviz fonts-dejavu-core fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"


def check_dependencies(formats: tuple[str, ...]) -> None:
    """Check the system dependencies: Graphviz, and WeasyPrint for a PDF.

    The library's ``describe`` and ``to_pdf`` write no report folder, so they check only these.

    Raises:
        SystemDependencyError: Graphviz, or WeasyPrint (for a PDF), is missing.
    """
    if shutil.which("dot") is None:
        raise SystemDependencyError(
            f"Graphviz's `dot` is not on PATH; archreport draws diagrams with it. Install it with: {APT_HINT}"
        )
    if "pdf" in formats and not _weasyprint_loadable():
        _import_weasyprint()


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: the folder a write there depends on
    (the missing folders are created in it)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check(formats: tuple[str, ...], output_dir: Path) -> None:
    """Check the system dependencies and the output folder before anything is built.

    Raises:
        SystemDependencyError: Graphviz, or WeasyPrint (for a PDF), is missing.
        OutputError: the output folder cannot be written.
    """
    check_dependencies(formats)
    parent = nearest_existing(output_dir)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"output folder {output_dir} is not writable (checked {parent}). Choose another {with_output()}."
        )
    # The new report is staged beside an existing folder and swapped in there: a writable
    # report folder in a read-only parent failed later, blaming the report folder itself.
    if parent == output_dir and not os.access(output_dir.parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"output folder {output_dir} cannot be replaced: archreport writes the new report beside it "
            f"and swaps it in, and {output_dir.parent} is not writable. Make that folder writable, or "
            f"choose another {with_output()}."
        )


# The system libraries WeasyPrint's text/ffi.py loads when it is imported, each under the names
# it tries (weasyprint 62-70); the optional HarfBuzz subset and vector libraries are left out.
WEASYPRINT_LIBRARIES = (
    ("libgobject-2.0-0", "gobject-2.0-0", "gobject-2.0", "libgobject-2.0.so.0", "libgobject-2.0.0.dylib",
     "libgobject-2.0-0.dll"),
    ("libpango-1.0-0", "pango-1.0-0", "pango-1.0", "libpango-1.0.so.0", "libpango-1.0.dylib",
     "libpango-1.0-0.dll"),
    ("libharfbuzz-0", "harfbuzz", "harfbuzz-0.0", "libharfbuzz.so.0", "libharfbuzz.0.dylib",
     "libharfbuzz-0.dll"),
    ("libfontconfig-1", "fontconfig-1", "fontconfig", "libfontconfig.so.1", "libfontconfig.1.dylib",
     "libfontconfig-1.dll"),
    ("libpangoft2-1.0-0", "pangoft2-1.0-0", "pangoft2-1.0", "libpangoft2-1.0.so.0", "libpangoft2-1.0.dylib",
     "libpangoft2-1.0-0.dll"),
)  # fmt: skip


def _weasyprint_loadable() -> bool:
    """Whether WeasyPrint is installed and its libraries load, without importing it.

    Importing WeasyPrint costs 0.3 to 0.5 s (its ffi module declares all of Pango), a third of
    a warm re-run that takes the whole PDF from the cache and never needs it (issue 13). Loading
    the libraries under the names WeasyPrint tries takes milliseconds. False only means
    "not sure": the caller then imports WeasyPrint to know, and to say why.
    """
    import ctypes
    import importlib.util

    try:
        if importlib.util.find_spec("weasyprint") is None:
            return False
    except (ImportError, ValueError):  # a broken or half-imported installation
        return False
    for names in WEASYPRINT_LIBRARIES:
        for name in names:
            try:
                ctypes.CDLL(name)
            except OSError:
                continue
            break
        else:
            return False
    return True


def import_weasyprint() -> Any:
    """``weasyprint``, imported without ctypes' library search for the names it tries in vain.

    WeasyPrint loads each system library under the names of every platform; cffi hands each
    name that does not load to ``ctypes.util.find_library``, which on Linux runs ldconfig, gcc
    and ld: 24 searches, about 0.15 s of every process that renders (issue 26). The name that
    loads on Linux is the soname itself (``libpango-1.0.so.0``), which needs no search; if the
    import fails without it, it is tried again with it, so nothing is found that was not before.

    Raises:
        ImportError, OSError: as ``import weasyprint`` does.
    """
    if "weasyprint" in sys.modules or sys.platform != "linux":
        import weasyprint

        return weasyprint
    import ctypes.util

    # One thread at a time: a second one would take the stand-in for the search it must put back.
    with _IMPORTING:
        search = ctypes.util.find_library
        ctypes.util.find_library = _not_searched
        try:
            import weasyprint

            return weasyprint
        except OSError:
            pass
        finally:
            ctypes.util.find_library = search
        import weasyprint

        return weasyprint


_IMPORTING = threading.Lock()


def _not_searched(name: str) -> None:
    return None


def _import_weasyprint() -> None:
    """Import WeasyPrint, turning its failure into the install command.

    Raises:
        SystemDependencyError: WeasyPrint or one of its system libraries is missing.
    """
    try:
        import_weasyprint()
    except ImportError as exc:
        raise SystemDependencyError(
            f"WeasyPrint cannot be imported ({exc}); the PDF report needs it and Pango. "
            f"Install them with: python -m pip install weasyprint && {APT_HINT}"
        ) from None
    except OSError as exc:
        raise SystemDependencyError(
            f"WeasyPrint's system libraries are missing ({exc}). Install them with: {APT_HINT}"
        ) from None
