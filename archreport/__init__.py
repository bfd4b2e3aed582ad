"""archreport: see and check Keras architectures in one HTML and one PDF report.

    import archreport

    archreport.generate("manifest.toml")                 # the command's report, from a manifest
    archreport.plot_model(model, to_file="model.png")    # keras.utils.plot_model, drawn by archreport
    archreport.describe(model)                           # one model in memory; a notebook shows it
    archreport.report({"LeNet": model}, "reports/")      # the command's report, for models in memory

Importing archreport imports neither Keras nor TensorFlow: each name below loads its
module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archreport.errors import (
    ArchreportError,
    ArchreportWarning,
    DiagramError,
    ManifestError,
    ModelError,
    OutputError,
    RenderError,
    SystemDependencyError,
    UsageError,
)

if TYPE_CHECKING:  # the real signatures, for type checkers and editors
    from archreport.api import Description, describe, report
    from archreport.manifest import load as load_manifest
    from archreport.pipeline import generate
    from archreport.plot import plot_model

__all__ = [
    "ArchreportError", "ArchreportWarning", "Description", "DiagramError", "ManifestError", "ModelError", "OutputError", "RenderError",
    "SystemDependencyError", "UsageError", "describe", "generate", "load_manifest", "plot_model", "report",
]  # fmt: skip

_LAZY = {
    "Description": ("api", "Description"),
    "describe": ("api", "describe"),
    "report": ("api", "report"),
    "generate": ("pipeline", "generate"),
    "load_manifest": ("manifest", "load"),
    "plot_model": ("plot", "plot_model"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'archreport' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The lazy names too: a notebook's tab completion (archreport.desc<Tab>) lists what dir() gives.
    return sorted(set(globals()) | set(_LAZY))
