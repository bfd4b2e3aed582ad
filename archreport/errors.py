"""One exception family: the library raises, ``__main__`` reports and picks the exit code."""

from __future__ import annotations

import contextlib
import contextvars
import re
import signal
from collections.abc import Iterator
from pathlib import Path


class ArchreportError(Exception):
    """Base of every error archreport reports to the user."""

    exit_code = 1


class ManifestError(ArchreportError):
    """The manifest or the command line is invalid; nothing is built (exit 2)."""

    exit_code = 2


class UsageError(ManifestError):
    """A bad command-line value or environment variable, or an output folder archreport may not
    replace (exit 2); the folder is left untouched.

    The output folder is checked before anything is built, and again just before the report
    replaces it: a file added to it during the run is refused then, after building.
    """


class SystemDependencyError(ArchreportError):
    """A system dependency (Graphviz, WeasyPrint's libraries, ...) is missing (exit 3)."""

    exit_code = 3


class OutputError(ArchreportError):
    """The report could not be written (disk full, permissions); the previous report is kept (exit 3)."""

    exit_code = 3


class ModelError(ArchreportError):
    """One model could not be built or analysed; the rest of the report goes on."""


class DiagramError(ArchreportError):
    """Graphviz could not draw a diagram in any splines mode (exit 1).

    ``plot_model`` raises it; in a report, the model shows a note instead of its diagram.
    """


class RenderError(ArchreportError):
    """The report could not be rendered: a template or WeasyPrint failed (exit 1).

    A report that could not be written (disk full, permissions) is an :class:`OutputError`.
    """


class ArchreportWarning(UserWarning):
    """Something a user should know that does not stop the run, such as a cache that cannot be
    written; the command prints it as one ``WARNING`` line."""


# Terminal colour codes (Keras colours some of its messages) and other control characters. A
# message goes into HTML, a PDF and JSON, where they are junk: in a PDF, a glyph-less ESC even
# makes WeasyPrint re-encode the font, and pdfminer then reads none of that font's text.
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def plain(text: str) -> str:
    """``text`` without terminal escape codes and control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", text)


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 99`` for a number that names no signal (for failure messages)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# How a message names the output folder and the baseline: the command's options, or, while
# report() runs, its arguments (a library caller typed no -o). The messages are shared.
_COMMAND = ("with -o", "--compare {}")
_LIBRARY = ("as output_dir", "compare={}")
_NAMING: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "archreport_naming", default=_COMMAND
)


def with_output() -> str:
    """``with -o`` from the command; ``as output_dir`` inside :func:`library_arguments`."""
    return _NAMING.get()[0]


def compare_argument(path: Path | str) -> str:
    """``--compare PATH`` from the command; ``compare=PATH`` inside :func:`library_arguments`."""
    return _NAMING.get()[1].format(path)


@contextlib.contextmanager
def library_arguments() -> Iterator[None]:
    """Within this block, messages name report()'s arguments instead of the command's options."""
    token = _NAMING.set(_LIBRARY)
    try:
        yield
    finally:
        _NAMING.reset(token)
