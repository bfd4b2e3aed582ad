"""What a result depends on besides its inputs: the versions of everything that computes or renders
it, and a digest of archreport's own source.

The cache keys entries by them (cache.py), report.json lists them, and a worker on another
machine reports them with its result, so that a worker with other versions is not trusted
(:func:`mismatch`). Nothing here imports Keras or WeasyPrint.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import shutil
import subprocess
from pathlib import Path

from archreport.environment import WEASYPRINT_LIBRARIES


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
    h = hashlib.sha256()
    # Asked all at once: one after another they were 20 ms of a warm re-run's 0.55 s (issue 26).
    asked: list[subprocess.Popen[str] | None] = []
    for family in REPORT_FONTS:
        try:
            proc = subprocess.Popen(
                ["fc-match", "--format=%{file}", family],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            asked.append(proc)
        except OSError:
            asked.append(None)
    for family, answering in zip(REPORT_FONTS, asked, strict=True):
        found = _answer(answering)
        path = Path(found)
        h.update(family.encode() + b"\0")
        h.update(_file_digest(path) if found and path.is_file() else b"missing")
    return h.hexdigest()


def _answer(proc: subprocess.Popen[str] | None) -> str:
    """What ``proc`` wrote, or "" when it could not start or did not answer within 30 s."""
    if proc is None:
        return ""
    try:
        return proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return ""


def _file_digest(path: Path) -> bytes:
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


@functools.cache
def text_libraries() -> dict[str, str]:
    """The versions of Pango and HarfBuzz, which lay out and subset the PDF's text: an upgrade of
    either can change a section's bytes, so they are part of its cache key. "unknown" when a
    library does not load (then WeasyPrint, which needs it, cannot run either)."""
    import ctypes

    out = {}
    for library, names, function in (
        ("pango", WEASYPRINT_LIBRARIES[1], "pango_version_string"),
        ("harfbuzz", WEASYPRINT_LIBRARIES[2], "hb_version_string"),
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


@functools.cache
def code_digest() -> str:
    """A hash of archreport's own source and templates: an edited checkout must not reuse old results."""
    import importlib.resources

    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent  # the archreport package
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    templates = importlib.resources.files("archreport.render.templates")
    for item in sorted(templates.iterdir(), key=lambda i: i.name):
        if item.is_file() and not item.name.endswith((".py", ".pyc")):
            h.update(item.name.encode() + b"\0" + item.read_bytes() + b"\0")
    return h.hexdigest()
