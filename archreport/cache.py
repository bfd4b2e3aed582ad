"""A content-addressed cache of analysed models.

An entry holds a model's report data and its diagram files. Its key hashes
everything the result depends on: the spec (source, args, kwargs, diagram
options, backend, batch size and declared input shapes), the contents of the
builder modules a task ships or the model file's architecture (sources.py),
and the versions of archreport, Keras, TensorFlow and Graphviz. Looking an
entry up imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .data import ModelReport
from .manifest import ModelSpec
from .sources import Architecture, SourceFile

CACHE_FORMAT = 1


@functools.cache
def code_digest() -> str:
    """A hash of archreport's own source: an edited checkout must not reuse results of the old code."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(
    spec: ModelSpec,
    versions: dict[str, str],
    files: tuple[SourceFile, ...] = (),
    architecture: Architecture | None = None,
) -> str:
    """The entry's address: a hash of everything that could change the model's result."""
    parts: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "versions": versions,
        "code": code_digest(),
        "spec": {
            "kind": spec.kind,
            "target": _portable(spec),
            "args": spec.args,
            "kwargs": spec.kwargs,
            "trust": spec.trust,
            "slug": spec.slug,
            "diagram": asdict(spec.diagram),
            "diagram_formats": list(spec.diagram_formats),
            **{key: _plain(getattr(spec, key, None)) for key in _SHAPE_KEYS},
        },
        "files": {f.path: f.sha256 for f in files},
        "architecture": architecture.sha256 if architecture is not None else None,
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


# What changes the analysis besides the source: the backend that builds it and the shapes it is traced at.
_SHAPE_KEYS = ("backend", "batch_size", "inputs", "input_shapes")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _portable(spec: ModelSpec) -> str:
    """A model file's path relative to the manifest, so moving the project keeps its cache valid."""
    if spec.kind == "file":
        return Path(os.path.relpath(spec.target, spec.base_dir)).as_posix()
    return spec.target


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str, model_dir: Path) -> ModelReport | None:
        """Copy a cached entry's files into ``model_dir`` and return its report, or None."""
        entry = self.root / key[:2] / key
        try:
            data = json.loads((entry / "report.json").read_text(encoding="utf-8"))
            report = ModelReport.from_dict(data)
        except (OSError, ValueError, TypeError, KeyError):
            return None
        files = entry / "files"
        if files.is_dir():
            shutil.copytree(files, model_dir, dirs_exist_ok=True)
        report.cached = True
        return report

    def put(self, key: str, report: ModelReport, model_dir: Path) -> None:
        """Store an entry atomically; a cache that cannot be written is skipped, not fatal."""
        final = self.root / key[:2] / key
        if final.exists():
            return
        with contextlib.suppress(OSError):
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
            try:
                if model_dir.is_dir():
                    shutil.copytree(model_dir, tmp / "files")
                data = report.to_dict()
                data["cached"] = False
                (tmp / "report.json").write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
