"""Lay DOT source out with Graphviz: one ``dot`` run per attempt writes every format.

Graphviz 2.43 aborts on ``splines=ortho`` for some graphs (``trapezoid.c:
newtrap`` on EfficientNetB0 / Xception), so :func:`layout` falls back to other
``splines`` modes on a crash or a timeout, killing the whole process group of
an attempt that runs too long.

SVG prolog: :func:`layout` writes Graphviz's SVG unchanged (XML declaration,
DOCTYPE and comments included) so the file is a standalone SVG document;
callers that inline it into HTML use :func:`archreport.diagram.svg.svg_for_inline`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from archreport.diagram.dot import SPLINES_MODES, DiagramOptions
from archreport.diagram.svg import svg_geometry
from archreport.errors import DiagramError, signal_name

__all__ = ["DiagramError", "Layout", "layout", "run_dot", "with_splines"]

FALLBACK_SPLINES = ("spline", "polyline", "line")
# Raster formats take the dpi; Graphviz 2.43 (Debian 12) writes every one of these.
RASTER_FORMATS = ("png", "jpg", "jpeg", "gif", "bmp", "webp")
FORMATS = ("svg", "pdf", *RASTER_FORMATS)
# Graphviz rasterises PNG at 96 dpi unless told otherwise.
GRAPHVIZ_DEFAULT_DPI = 96
_SPLINES_LINE_RE = re.compile(r'^\tsplines="[a-z]*";$', re.MULTILINE)


@dataclass(frozen=True)
class Layout:
    """Result of :func:`layout`."""

    mode: str  # the splines mode that succeeded
    attempts: list[str]  # notes on failed attempts, in order
    width_pt: float
    height_pt: float
    files: dict[str, str] = field(default_factory=dict)  # format -> file name
    missing: dict[str, str] = field(default_factory=dict)  # raster format Graphviz wrote empty -> why


def with_splines(dot_source: str, mode: str) -> str:
    """`dot_source` with its graph-level ``splines`` set to `mode`."""
    if mode not in SPLINES_MODES:
        raise ValueError(f"unknown splines mode {mode!r}")
    line = f'\tsplines="{mode}";'
    if _SPLINES_LINE_RE.search(dot_source):
        return _SPLINES_LINE_RE.sub(line, dot_source, count=1)
    # Foreign DOT: a statement right after the opening brace is a graph
    # attribute of the root graph.
    head, brace, tail = dot_source.partition("{")
    if not brace:
        raise ValueError("dot_source has no graph body")
    return f"{head}{{\n{line}{tail}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run_dot(
    args: list[str], timeout: float, started: Callable[[subprocess.Popen[bytes]], None] | None = None
) -> str | None:
    """Run a Graphviz command; None on success, else a note on the failure.

    The command runs in its own session so a timeout kills its whole process
    group (dot may spawn plugins) and never leaves it running. ``started`` is
    told of the process as soon as it runs (so another thread can stop it).
    """
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if started is not None:
        started(proc)
    try:
        _, err_bytes = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"timed out after {timeout:g} s"
    err = err_bytes.decode("utf-8", "replace")
    if proc.returncode < 0:
        sig = -proc.returncode
        if "trapezoid-table overflow" in err.lower():
            detail = "trapezoid-table overflow"
        else:
            detail = _last_line(err) or signal_name(sig)
        return f"dot aborted (signal {sig}: {detail})"
    if proc.returncode != 0:
        return f"dot exited with status {proc.returncode}: {_last_line(err) or 'no message'}"
    return None


def _check_formats(formats: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats!r}")
    return wanted


def _dot_args(dot: str, src: Path, tmp: Path, wanted: list[str], dpi: int) -> tuple[list[str], list[str]]:
    """One dot command writing every format, and the raster formats that need a second pass.

    ``-Gdpi`` also scales SVG and PDF in Graphviz 2.43, so a non-default dpi is
    applied to raster formats alone by re-rendering dot's positioned output with
    ``neato -n2`` (no new layout).
    """
    args = [dot, str(src), "-Tsvg", "-o", str(tmp / "diagram.svg")]
    if "pdf" in wanted:
        args += ["-Tpdf", "-o", str(tmp / "diagram.pdf")]
    rasters = [f for f in wanted if f in RASTER_FORMATS]
    second_pass = rasters if dpi != GRAPHVIZ_DEFAULT_DPI else []
    for fmt in rasters:
        if fmt not in second_pass:
            args += [f"-T{fmt}", "-o", str(tmp / f"diagram.{fmt}")]
    if second_pass:
        args += ["-Tdot", "-o", str(tmp / "layout.gv")]
    return args, second_pass


def _attempt(
    dot: str,
    source: str,
    tmp: Path,
    wanted: list[str],
    options: DiagramOptions,
    started: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> str | None:
    src = tmp / "diagram.dot"
    src.write_text(source, encoding="utf-8")
    args, second_pass = _dot_args(dot, src, tmp, wanted, options.dpi)
    note = run_dot(args, options.timeout, started)
    neato = shutil.which("neato") or "neato"
    for fmt in second_pass:
        if note is not None:
            break
        command = [
            neato,
            "-n2",
            f"-Gdpi={options.dpi}",
            str(tmp / "layout.gv"),
            f"-T{fmt}",
            "-o",
            str(tmp / f"diagram.{fmt}"),
        ]
        failed = run_dot(command, options.timeout, started)
        note = None if failed is None else f"{fmt} pass: {failed}"
    if note is None and not (tmp / "diagram.svg").stat().st_size:
        note = "dot wrote an empty SVG"
    if note is None and "pdf" in wanted:
        note = _repair_pdf(tmp / "diagram.pdf")
    return note


class _Ahead:
    """The next splines mode laid out in a thread of its own, beside the first mode's attempt.

    On a machine with a core that nothing else uses (a run of one model), the fallback's
    ``dot`` runs there: when ortho aborts, as it does on most of keras.applications, the
    fallback is half done or done instead of starting then (NASNetLarge: ortho aborts after
    0.45 s, spline takes 0.66 s; issue 26). When the first mode succeeds, the fallback's
    process group is killed and its files are never used.
    """

    def __init__(self, dot: str, source: str, tmp: Path, wanted: list[str], options: DiagramOptions) -> None:
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stopped = False
        self._note: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(dot, source, tmp, wanted, options),
            name="archreport-dot-ahead",
            daemon=True,
        )
        self._thread.start()

    def _run(self, dot: str, source: str, tmp: Path, wanted: list[str], options: DiagramOptions) -> None:
        try:
            self._note = _attempt(dot, source, tmp, wanted, options, self._started)
        except BaseException as exc:  # raised by result(), where the attempt in turn would have raised it
            self._error = exc

    def _started(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.append(proc)
            if self._stopped:
                _kill(proc)

    def result(self) -> str | None:
        """The attempt's note (None: it succeeded), once it has ended.

        Raises:
            Exception: what the attempt raised.
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._note

    def stop(self) -> None:
        """Kill the attempt's processes and wait for its thread: its folder may then be removed."""
        with self._lock:
            self._stopped = True
            for proc in self._procs:
                _kill(proc)
        self._thread.join()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc``'s process group, unless it has ended and been reaped: its id may be another's by now."""
    if proc.poll() is None:  # not reaped: a zombie still holds the id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def layout(
    dot_source: str,
    out_dir: Path,
    *,
    formats: Sequence[str] = ("svg",),
    options: DiagramOptions,
    spare_core: bool = False,
) -> Layout:
    """Write ``diagram.dot`` and the requested formats into `out_dir`.

    Lays out once per attempt: a single ``dot`` run writes every format.
    Tries ``options.splines`` first, then ``spline``, ``polyline``, ``line``;
    a crash, a non-zero exit or a timeout moves on to the next mode.
    ``diagram.dot`` is the source with the mode that succeeded.  Files of a
    failed attempt never reach `out_dir`.  The SVG is always produced (for the
    size) but only written when requested. ``spare_core``: a core would sit
    idle meanwhile, so the second mode is laid out beside the first (:class:`_Ahead`);
    the result is the same as one attempt after the other.
    """
    wanted = _check_formats(formats)
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError("Graphviz `dot` was not found on PATH")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    modes = [options.splines] + [m for m in FALLBACK_SPLINES if m != options.splines]
    attempts: list[str] = []
    with contextlib.ExitStack() as folders:

        def folder() -> Path:
            return Path(folders.enter_context(tempfile.TemporaryDirectory(dir=out_dir, prefix=".diagram-")))

        ahead = None
        if spare_core and len(modes) > 1:
            ahead_dir = folder()
            ahead = _Ahead(dot, with_splines(dot_source, modes[1]), ahead_dir, wanted, options)
            folders.callback(ahead.stop)  # before its folder is removed: callbacks run last first
        for index, mode in enumerate(modes):
            if index == 1 and ahead is not None:
                tmp, note = ahead_dir, ahead.result()
            else:
                tmp = folder()
                note = _attempt(dot, with_splines(dot_source, mode), tmp, wanted, options)
            if note is not None:
                attempts.append(f"{mode}: {note}")
                continue
            return _keep(tmp, out_dir, mode, attempts, wanted, options.dpi)
    raise DiagramError("Graphviz could not lay out the diagram in any splines mode: " + "; ".join(attempts))


def _keep(tmp: Path, out_dir: Path, mode: str, attempts: list[str], wanted: list[str], dpi: int) -> Layout:
    """The successful attempt's files moved from ``tmp`` into ``out_dir``, and what it drew."""
    geometry = svg_geometry((tmp / "diagram.svg").read_text("utf-8"))
    width, height = geometry.width, geometry.height
    files, missing = {}, {}
    for fmt in wanted:
        produced = tmp / f"diagram.{fmt}"
        if fmt in RASTER_FORMATS and not (produced.is_file() and produced.stat().st_size):
            # Not a layout failure, so no other mode would help: the image is too large.
            missing[fmt] = _empty_raster(fmt, width, height, dpi)
            continue
        produced.replace(out_dir / f"diagram.{fmt}")
        files[fmt] = f"diagram.{fmt}"
    (tmp / "diagram.dot").replace(out_dir / "diagram.dot")
    return Layout(mode, attempts, width, height, files, missing)


# libwebp's limit on either side of an image; Graphviz writes an empty file past it.
WEBP_MAX_PIXELS = 16383


def _empty_raster(fmt: str, width_pt: float, height_pt: float, dpi: int) -> str:
    width, height = round(width_pt * dpi / 72), round(height_pt * dpi / 72)
    why = f"; WebP images are at most {WEBP_MAX_PIXELS} pixels a side" if fmt == "webp" else ""
    return (
        f"Graphviz wrote an empty {fmt.upper()} image of this {width} x {height} pixel drawing "
        f"(dpi {dpi}){why}. Lower the dpi, or use png or svg."
    )


@functools.cache
def output_formats() -> frozenset[str]:
    """The output formats this machine's ``dot`` writes (``dot -T?`` lists them); empty without dot."""
    dot = shutil.which("dot")
    if dot is None:
        return frozenset()
    proc = subprocess.run([dot, "-T?"], capture_output=True, text=True, timeout=30, check=False)
    listed = (proc.stderr or proc.stdout).partition("Use one of:")[2]
    return frozenset(name.partition(":")[0] for name in listed.split())


def unsupported(formats: Sequence[str]) -> list[str]:
    """Those of ``formats`` that this machine's Graphviz cannot write (some builds lack bmp)."""
    known = output_formats()
    return [f for f in formats if f in RASTER_FORMATS and known and f not in known]


def _repair_pdf(path: Path) -> str | None:
    """Rewrite cairo's PDF so strict readers accept it and the same diagram gives the same bytes.

    Graphviz 2.43's cairo (1.16) writes a node's link (``URL``, the report's anchors) with a
    structure parent tree that refers to an object it never writes, and a cross-reference
    entry for it that points into the header: ``qpdf --check`` reports the file as damaged
    ("object 3 0 not found"), and readers must repair it before reading it.
    qpdf (pikepdf) reads it by reconstructing the cross-references; the missing object becomes
    null, and saving writes a consistent file. Cairo's /CreationDate and /ModDate (the time of
    the run) are dropped, and the /ID is a digest of the content (``save_pdf``), so two runs
    write the same bytes.

    Returns None, or a note on why qpdf could not read the file (the attempt then failed).
    """
    import pikepdf  # only a PDF needs it: an SVG-only layout (the HTML report) never loads it

    from archreport.diagram.pdfsave import save_pdf

    try:
        with pikepdf.open(path) as pdf:
            info = pdf.trailer.get("/Info")
            if isinstance(info, pikepdf.Dictionary):
                for key in ("/CreationDate", "/ModDate"):
                    if key in info:
                        del info[key]
            data = save_pdf(pdf, final=True)
    except pikepdf.PdfError as exc:
        return f"dot wrote a PDF qpdf cannot read: {exc}"
    path.write_bytes(data)
    return None
