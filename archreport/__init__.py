"""archreport: see and check Keras architectures in one HTML and one PDF report.

Importing archreport does not import TensorFlow; only the worker processes do.
"""

from __future__ import annotations

from typing import Any

from .errors import ArchreportError, ManifestError, ModelError, RenderError, SystemDependencyError

__all__ = [
    "ArchreportError", "ManifestError", "ModelError", "RenderError", "SystemDependencyError",
    "generate", "load_manifest",
]  # fmt: skip


def generate(*args: Any, **kwargs: Any) -> Any:
    """Build the report for a manifest; see :func:`archreport.pipeline.generate`."""
    from .pipeline import generate as run

    return run(*args, **kwargs)


def load_manifest(path: Any) -> Any:
    """Read and validate a manifest; see :func:`archreport.manifest.load`."""
    from .manifest import load

    return load(path)
