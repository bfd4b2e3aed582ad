"""Versions and system dependencies, checked before anything is built (no TensorFlow import)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

from archreport.errors import OutputError, SystemDependencyError, with_output

APT_HINT = "sudo apt-get install -y graphviz fonts-dejavu-core fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def graphviz_version() -> str:
    dot = shutil.which("dot")
    if dot is None:
        return "not installed"
    proc = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=30, check=False)
    text = (proc.stderr or proc.stdout).strip()
    return text.removeprefix("dot - graphviz version ").strip() or "unknown"


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    tf = _dist_version("tensorflow-cpu")
    if tf == "not installed":
        tf = _dist_version("tensorflow")
    return tuple(
        {
            "archreport": _dist_version("archreport"),
            "keras": _dist_version("keras"),
            "tensorflow": tf,
            "jax": _dist_version("jax"),  # Keras's numpy backend (shape-only builds) imports it
            "graphviz": graphviz_version(),
            "weasyprint": _dist_version("weasyprint"),
            "keras-hub": _dist_version("keras-hub"),  # its backbones' layers and their defaults
        }.items()
    )


def versions() -> dict[str, str]:
    """The versions that decide a model's result: they go into report.json and the cache key.

    Read once per process (each package's metadata lookup costs milliseconds); a fresh dict each call.
    """
    return dict(_versions())


# The fonts a report uses: PDF sections embed subsets of them, so their files decide its bytes.
REPORT_FONTS = ("DejaVu Sans", "DejaVu Sans Mono", "WenQuanYi Micro Hei")


@functools.cache
def fonts_digest() -> str:
    """A hash of the contents of the font files the report's fonts resolve to (``fc-match``).

    Contents, not paths or times: two machines with the same fonts installed in different
    places render the same bytes, and must agree.
    """
    import hashlib

    h = hashlib.sha256()
    for family in REPORT_FONTS:
        try:
            found = subprocess.run(
                ["fc-match", "--format=%{file}", family],
                capture_output=True, text=True, timeout=30, check=False,
            ).stdout  # fmt: skip
        except OSError:
            found = ""
        path = Path(found)
        h.update(family.encode() + b"\0")
        h.update(_file_digest(path) if found and path.is_file() else b"missing")
    return h.hexdigest()


def _file_digest(path: Path) -> bytes:
    import hashlib

    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").digest()


def rendering() -> dict[str, str]:
    """What renders a model's report sections besides WeasyPrint: PDF libraries, text libraries, fonts."""
    return dict(_rendering())


@functools.cache
def _rendering() -> tuple[tuple[str, str], ...]:
    found = {
        "pikepdf": _dist_version("pikepdf"),
        "fonttools": _dist_version("fonttools"),
        **text_libraries(),
        "fonts": fonts_digest()[:16],
    }
    return tuple(found.items())


def runtime() -> dict[str, str]:
    """What a task reports it ran with: :func:`versions` and :func:`rendering`, plus a digest of
    archreport's own source.

    The digest tells an edited checkout from the release of the same version number.
    """
    from archreport.store.cache import code_digest

    return {**versions(), **rendering(), "archreport source": code_digest()[:16]}


def mismatch(ours: dict[str, str], theirs: dict[str, str], where: str) -> str | None:
    """A message naming every version that differs between this machine and a worker, or None.

    A worker that reports no versions (``theirs`` empty) is not compared.
    """
    if not theirs:
        return None
    differ = [
        f"{name} {theirs.get(name, 'not reported')} (here: {ours[name]})"
        for name in ours
        if theirs.get(name) != ours[name]
    ]
    if not differ:
        return None
    return (
        f"{where} runs {', '.join(differ)}; its result could differ from a local run's, so it was not used. "
        "Install the same versions on the workers as on the machine that runs archreport."
    )


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
_WEASYPRINT_LIBRARIES = (
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
    for names in _WEASYPRINT_LIBRARIES:
        for name in names:
            try:
                ctypes.CDLL(name)
            except OSError:
                continue
            break
        else:
            return False
    return True


@functools.cache
def text_libraries() -> dict[str, str]:
    """The versions of Pango and HarfBuzz, which lay out and subset the PDF's text: an upgrade of
    either can change a section's bytes, so they are part of its cache key. "unknown" when a
    library does not load (then WeasyPrint, which needs it, cannot run either)."""
    import ctypes

    out = {}
    for library, names, function in (
        ("pango", _WEASYPRINT_LIBRARIES[1], "pango_version_string"),
        ("harfbuzz", _WEASYPRINT_LIBRARIES[2], "hb_version_string"),
    ):
        out[library] = "unknown"
        for name in names:
            try:
                version = getattr(ctypes.CDLL(name), function)
            except (OSError, AttributeError):
                continue
            version.restype = ctypes.c_char_p
            out[library] = version().decode("ascii", "replace")
            break
    return out


def _import_weasyprint() -> None:
    """Import WeasyPrint, turning its failure into the install command.

    Raises:
        SystemDependencyError: WeasyPrint or one of its system libraries is missing.
    """
    try:
        import weasyprint  # noqa: F401
    except ImportError as exc:
        raise SystemDependencyError(
            f"WeasyPrint cannot be imported ({exc}); the PDF report needs it and Pango. "
            f"Install them with: python -m pip install weasyprint && {APT_HINT}"
        ) from None
    except OSError as exc:
        raise SystemDependencyError(
            f"WeasyPrint's system libraries are missing ({exc}). Install them with: {APT_HINT}"
        ) from None
