"""A content-addressed cache of analysed models.

An entry holds a model's report data and its diagram files. Its key hashes
everything the result depends on: the spec (source, args, kwargs, diagram
options), the builder's source file and the local modules it imports, the
model file's bytes, and the versions of archreport, Keras, TensorFlow and
Graphviz. Looking an entry up imports no TensorFlow.
"""

from __future__ import annotations

import ast
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

CACHE_FORMAT = 1


def builder_sources(spec: ModelSpec) -> list[Path]:
    """The builder's module file and, transitively, the modules it imports from the manifest's folder.

    Follows ``import a.b`` (and the packages ``a`` on the way), ``from a import b``
    and relative imports (``from . import b``, ``from .b import c``) inside local packages.
    """
    if spec.kind != "builder":
        return []
    base = Path(spec.base_dir)
    module = spec.target.partition(":")[0]
    seen: dict[Path, None] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(base, name)
        if path is None or path in seen:
            continue
        seen[path] = None
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(_parents(name))
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(node, package)
                if target is None:
                    continue
                if target:
                    todo.append(target)
                todo.extend(f"{target}.{alias.name}".lstrip(".") for alias in node.names if alias.name != "*")
    return sorted(seen)


def _parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``: importing a submodule runs its packages' ``__init__``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module an ``ImportFrom`` reads from, or None if it climbs out of the local packages."""
    if not node.level:
        return node.module
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts) or not parts:
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _module_file(base: Path, name: str) -> Path | None:
    local = base.joinpath(*name.split("."))
    for candidate in (local.with_suffix(".py"), local / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def code_digest() -> str:
    """A hash of archreport's own source: an edited checkout must not reuse results of the old code."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(spec: ModelSpec, versions: dict[str, str]) -> str:
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
        },
        "files": {},
    }
    files = builder_sources(spec)
    if spec.kind == "file":
        files.append(Path(spec.target))
    for path in files:
        rel = Path(os.path.relpath(path, spec.base_dir)).as_posix()
        parts["files"][rel] = _digest_file(path)
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


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
