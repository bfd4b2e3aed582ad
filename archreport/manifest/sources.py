"""What a task carries of a model's sources: its builder modules' contents, or a model file's architecture.

A task runs wherever a runner sends it (a local worker process, a Dask worker
on another machine), so it never reads the manifest's folder there. The
parent reads what the model needs once, hashes it (the cache key is built
from the same digests), and the worker writes it into a folder of its own.

* A builder ships as its module file plus, transitively, the Python files
  beside the manifest that it imports (``import a.b``, ``from a import b``,
  relative imports, and the packages on the way), up to ``MAX_SOURCE_BYTES``.
  Data files a builder opens are not shipped.
* A model file ships as its architecture only, never its weights: the
  ``config.json`` of a ``.keras`` archive, the ``model_config`` attribute of a
  legacy ``.h5`` file, or a ``.json`` file itself. A 2 GB model file costs a
  few kilobytes.

Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from archreport.errors import ModelError
from archreport.manifest import ModelSpec, untrusted

MAX_SOURCE_BYTES = 16 * 1024 * 1024  # builder modules shipped with one task, in all
# A model file's architecture (its config JSON): NASNetLarge's is 1 MB. Parsed, 16 MiB of JSON
# can take 250 MB; the parent parses it to refuse a broken file before any worker starts.
MAX_ARCHITECTURE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the manifest's folder, with "/" separators
    data: bytes
    sha256: str


@dataclass(frozen=True)
class Architecture:
    fmt: str  # "keras" | "h5" | "json"
    text: str  # the model's config as JSON
    sha256: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def builder_modules(spec: ModelSpec) -> list[Path]:
    """The builder's module file and, transitively, the modules it imports from the manifest's folder.

    Raises:
        ModelError: the builder's own module cannot be parsed; only that model fails (issue 25,
            item 5). A module it imports is the worker's to import, and to fail on.
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
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError) as exc:
            if name == module:
                raise ModelError(f"builder {spec.target!r}: cannot parse {path}{_where(exc)}.") from None
            continue
        except OSError:
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


def _where(exc: SyntaxError | ValueError) -> str:
    """``, line 3: invalid syntax`` for a SyntaxError; ``: <why>`` for a ValueError (a NUL byte)."""
    if isinstance(exc, SyntaxError):
        return f", line {exc.lineno}: {exc.msg}"
    return f": {exc}"


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


def builder_files(spec: ModelSpec) -> tuple[SourceFile, ...]:
    """The builder modules a task ships, read and hashed.

    Raises:
        ModelError: they are larger than ``MAX_SOURCE_BYTES`` together, or cannot be read.
    """
    base = Path(spec.base_dir).resolve()
    files = []
    total = 0
    for path in builder_modules(spec):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"builder {spec.target!r}: cannot read {path}: {exc.strerror or exc}.") from None
        total += len(data)
        if total > MAX_SOURCE_BYTES:
            raise ModelError(
                f"builder {spec.target!r}: the Python files it imports from {base} are larger than "
                f"{MAX_SOURCE_BYTES // 2**20} MiB together; archreport ships them with each task."
            )
        files.append(SourceFile(path.relative_to(base).as_posix(), data, _digest(data)))
    return tuple(files)


def architecture(path: Path) -> Architecture:
    """A model file's architecture (its config JSON), read without its weights, in bounded memory.

    The file is untrusted: every read is bounded before it allocates (manifest/untrusted.py).

    Raises:
        ModelError: the file holds no readable architecture, or breaks a bound; one line.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            fmt, text = "keras", untrusted.zip_member(path, "config.json", MAX_ARCHITECTURE_BYTES).decode()
        elif suffix in (".h5", ".hdf5"):
            fmt, found = "h5", untrusted.h5_attribute(path, "model_config", MAX_ARCHITECTURE_BYTES)
            if found is None:
                raise untrusted.Refused("no model config in the file (weights only?)")
            text = found
        else:
            fmt, text = "json", untrusted.read_file(path, MAX_ARCHITECTURE_BYTES).decode()
        untrusted.check_json(text)
        json.loads(text)
    # The zip, HDF5 and JSON parsers raise many kinds of errors on a file made to break them
    # (zlib.error, EOFError, RuntimeError, struct.error, ...): each is this model's failure.
    except Exception as exc:
        raise ModelError(f"cannot read the architecture of {path.name}: {_reason(exc)}.") from None
    return Architecture(fmt, text, _digest(f"{fmt}\0{text}".encode()))


def _reason(exc: Exception) -> str:
    """One line saying why: the message of a refusal or an OSError, else the error's type and first line."""
    if isinstance(exc, untrusted.Refused):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    text = " ".join(lines[0].split())[:200] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read(spec: ModelSpec) -> tuple[tuple[SourceFile, ...], Architecture | None]:
    """What a task for ``spec`` carries: its builder modules, or its model file's architecture.

    Raises:
        ModelError: they cannot be read (or are too large to ship).
    """
    if spec.kind == "builder":
        return builder_files(spec), None
    if spec.kind == "file":
        return (), architecture(Path(spec.target))
    return (), None
