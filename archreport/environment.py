"""Versions and system dependencies, checked before anything is built (no TensorFlow import)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

from .errors import OutputError, SystemDependencyError

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


def versions() -> dict[str, str]:
    tf = _dist_version("tensorflow-cpu")
    if tf == "not installed":
        tf = _dist_version("tensorflow")
    return {
        "archreport": _dist_version("archreport"),
        "keras": _dist_version("keras"),
        "tensorflow": tf,
        "graphviz": graphviz_version(),
    }


def check(formats: tuple[str, ...], output_dir: Path) -> None:
    """Check the system dependencies and the output folder before anything is built.

    Raises:
        SystemDependencyError: Graphviz, or WeasyPrint (for a PDF), is missing.
        OutputError: the output folder cannot be written.
    """
    if shutil.which("dot") is None:
        raise SystemDependencyError(
            f"Graphviz's `dot` is not on PATH; archreport draws diagrams with it. Install it with: {APT_HINT}"
        )
    if "pdf" in formats:
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
    parent = output_dir
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"output folder {output_dir} is not writable (checked {parent}). Choose another with -o."
        )
