"""Read a TOML manifest (schema v1) into plain specs.

The schema itself is declared in :mod:`archreport.manifest.schema`; this module reads
the file, turns a schema error into one paragraph that names the file, the
line, the key path, the bad value and what was expected, and runs the checks
that need the file system (builder modules, model files, application names).
Nothing here imports TensorFlow or runs user code.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import re
import stat
import sys
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archreport.errors import ManifestError
from archreport.manifest import paths, schema
from archreport.manifest.schema import (
    DEFAULT_MODEL_TIMEOUT,
    MODEL_FILE_SUFFIXES,
    PDF_PROFILES,
    REPORT_FORMATS,
    SOURCE_KEYS,
    Accept,
    DiagramOptions,
    Expect,
    Gates,
    ManifestDoc,
    ModelTable,
    Sweep,
    TexTable,
    show,
    suggest,
)


def _keys(table: Any) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(table))


# The key sets, read off the schema (property tests draw keys from them).
TOP_KEYS, REPORT_KEYS, DIAGRAM_KEYS, MODEL_KEYS, EXPECT_KEYS = map(
    _keys, (ManifestDoc, schema.ReportTable, schema.DiagramTable, ModelTable, Expect)
)
__all__ = [
    "PDF_PROFILES",
    "REPORT_FORMATS",
    "Manifest",
    "ModelSpec",
    "TexTable",
    "load",
    "slugify",
    "unique_slugs",
]

# Windows reserves these names whatever the extension; reports travel as CI artifacts.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """One ``[[model]]`` entry, validated, with the manifest's defaults filled in.

    Plain and picklable: it travels to worker processes and to Dask workers.
    """

    name: str
    slug: str
    kind: str  # "builder" | "application" | "file"
    target: str  # "module:qualname", an application name, or the model file's path
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    diagram: DiagramOptions = field(default_factory=DiagramOptions)
    diagram_formats: tuple[str, ...] = ("svg",)
    expect: Expect = field(default_factory=Expect)
    timeout: float = DEFAULT_MODEL_TIMEOUT
    trust: bool = False
    base_dir: str = "."  # the manifest's folder: builders are looked up here first
    backend: str = "auto"
    batch_size: int = 1
    inputs: dict[str, tuple[int, ...]] | None = None  # input name -> shape without the batch
    input_shapes: tuple[tuple[int, ...], ...] | None = None  # the same, by position
    sweep: Sweep | None = None  # [model.sweep]: cost curves over sequence length and batch size
    input_values: dict[str, Any] | None = None  # inputs traced with these values, not as abstract arrays
    gates: Gates = field(default_factory=Gates)  # [report.gates]: against the --compare baseline
    own_gates: Gates = field(default_factory=Gates)  # [model.gates]: override [report.gates] and --gate
    accept: Accept | None = None  # [model.accept]: a change the gates let through, and why

    @property
    def source(self) -> dict[str, Any]:
        src: dict[str, Any] = {self.kind: self.target}
        if self.args:
            src["args"] = self.args
        if self.kwargs:
            src["kwargs"] = self.kwargs
        if self.trust:
            src["trust"] = True
        return src


@dataclass(frozen=True)
class Manifest:
    path: Path
    title: str
    output_dir: Path
    formats: tuple[str, ...]
    page_size: str
    models: list[ModelSpec]
    executor: str = "local"
    pdf: str = "full"  # report.pdf's profile: "full" or "compact"
    tex: TexTable = field(default_factory=TexTable)  # the LaTeX kit's options

    def select(self, names: list[str]) -> Manifest:
        """Keep only the named models (``--only``)."""
        known = {m.name: m for m in self.models}
        for name in names:
            if name not in known:
                raise ManifestError(
                    f"--only {name!r}: no model of that name in {self.path}"
                    f"{suggest(name, known)}. Models: {', '.join(known)}."
                )
        return replace(self, models=[m for m in self.models if m.name in names])


def _too_long_a_number(path: Path, text: str) -> str:
    limit = sys.get_int_max_str_digits()
    found = re.search(rf"[0-9_]{{{limit + 1},}}", text)
    line = text.count("\n", 0, found.start()) + 1 if found else None
    where = f", line {line}" if line else ""
    return f"{path}{where}: a number longer than {limit:,} digits; archreport reads no longer one."


def load(path: str | Path) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises:
        ManifestError: the file is missing, unreadable, not TOML or not a valid manifest.
    """
    path = paths.expand(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if found:
            raise ManifestError(
                f"{path}, line {found[1]}: not valid TOML (column {found[2]}): {message[: found.start()]}. "
                "See https://toml.io for the syntax."
            ) from None
        raise ManifestError(
            f"{path}: not valid TOML: {message}. See https://toml.io for the syntax."
        ) from None
    except RecursionError:
        raise ManifestError(f"{path}: not valid TOML: arrays or tables are nested too deeply.") from None
    except ValueError:  # Python reads an integer of at most 4,300 digits (sys.get_int_max_str_digits)
        raise ManifestError(_too_long_a_number(path, text)) from None
    where = _Locator(path, text)
    try:
        doc = schema.validate(data)
    except schema.SchemaError as exc:
        raise where.fail(exc.key, exc.message) from None
    base = path.resolve().parent
    output_dir = base / paths.expand(doc.report.output_dir)
    refused = paths.tilde_folder(output_dir, doc.report.output_dir)
    if refused is not None:
        raise where.fail(("report", "output_dir"), f"{refused}, or choose another folder.")
    specs = [_model(doc, data["model"][i], i, base, where) for i in range(len(doc.model))]
    slugs = unique_slugs([s.name for s in specs])
    return Manifest(
        path=path,
        title=doc.report.title,
        output_dir=output_dir,
        formats=doc.report.formats,
        page_size=doc.report.page_size,
        models=[replace(s, slug=slug) for s, slug in zip(specs, slugs, strict=True)],
        executor=doc.report.executor,
        pdf=doc.report.pdf,
        tex=doc.report.tex,
    )


def _model(doc: ManifestDoc, raw: dict[str, Any], index: int, base: Path, where: _Locator) -> ModelSpec:
    """A validated ``[[model]]`` table, checked against the file system, with the defaults filled in."""
    table = doc.model[index]
    kind = next(key for key in SOURCE_KEYS if getattr(table, key) is not None)
    target: str = getattr(table, kind)
    key = ("model", index, kind)
    try:
        if kind == "builder":
            _check_builder(target, base, key, where)
        elif kind == "application":
            names = application_names()
            if names and target not in names:
                raise where.fail(
                    key, f"{target!r} is not a keras.applications model{suggest(target, names)}."
                )
        else:
            target = _check_file(target, base, key, where)
    except OSError as exc:
        # Looking for the file can fail before it is read: a name over the file system's limit
        # (found by the fuzz target), a folder on the way that cannot be searched.
        raise where.fail(key, f"cannot look for {show(target)}: {exc.strerror or exc}.") from None
    # A model's [model.diagram] overrides only the keys it writes; the rest come from [diagram].
    given = raw.get("diagram", {})
    options = {f.name: getattr(doc.diagram, f.name) for f in dataclasses.fields(DiagramOptions)}
    options.update({k: getattr(table.diagram, k) for k in given if k in options})
    formats = table.diagram.formats if "formats" in given and table.diagram else doc.diagram.formats
    report = doc.report
    return ModelSpec(
        name=table.name, slug="", kind=kind, target=target, args=list(table.args), kwargs=dict(table.kwargs),
        description=table.description, diagram=DiagramOptions(**options),
        # SVG (HTML) and PDF (the PDF report, LaTeX users) always; PNG on request.
        diagram_formats=tuple(dict.fromkeys(("svg", "pdf", *formats))),
        expect=table.expect, timeout=table.timeout or report.timeout, trust=table.trust, base_dir=str(base),
        backend=table.backend or report.backend, batch_size=table.batch_size or report.batch_size,
        inputs=table.inputs, input_shapes=table.input_shapes, sweep=table.sweep, input_values=table.input_values,
        gates=report.gates, own_gates=table.gates or Gates(), accept=table.accept,
    )  # fmt: skip


# A manifest lists models: a few KB. The limit stops a wrong path (a log, a device) from filling memory.
MAX_MANIFEST_BYTES = 16 * 2**20
_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}  # fmt: skip


def _read_text(path: Path) -> str:
    if "\0" in str(path):
        raise ManifestError(f"{str(path)!r}: a file name cannot contain a NUL character.")
    try:
        # Non-blocking: opening a FIFO waits for a writer otherwise, forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest file.") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror or exc}.") from None
    try:
        raw = _read_bounded(fd, path)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    if not raw.strip():
        raise ManifestError(
            f"{path}: the manifest is empty; add at least one [[model]] table with a name and one of "
            "builder, application or file (see examples/manifest.toml)."
        )
    if raw.startswith(b"\xef\xbb\xbf"):  # Windows editors save one; tomllib said only "Invalid statement"
        raise ManifestError(
            f"{path}, line 1: the manifest starts with a UTF-8 byte-order mark (BOM), which TOML does not "
            "allow; save it as UTF-8 without BOM."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError(
            f"{path}, line {line}: the manifest is not UTF-8 (byte {raw[exc.start]:#04x} at "
            f"offset {exc.start}); TOML files must be UTF-8."
        ) from None


def _read_bounded(fd: int, path: Path) -> bytes:
    """A regular file's bytes, up to ``MAX_MANIFEST_BYTES``; anything else is refused before reading."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise ManifestError(f"{path}: is a directory; expected a TOML manifest file.")
    limit = f"a manifest is a TOML file of at most {MAX_MANIFEST_BYTES // 2**20} MiB"
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        raise ManifestError(f"{path}: is {kind}, not a regular file; {limit}.")
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_MANIFEST_BYTES and info.st_size <= MAX_MANIFEST_BYTES:  # it may grow while read
        chunk = os.read(fd, min(1 << 20, MAX_MANIFEST_BYTES + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise ManifestError(f"{path}: is {max(size, info.st_size):,} bytes; {limit} (is it the right file?).")


def slugify(name: str) -> str:
    """A file-system-safe folder name: ASCII letters, digits, '-' and '_' only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", ascii_name).strip("-_").lower()[:60].strip("-_")
    if not slug or slug in _RESERVED:
        slug = f"model-{slug}" if slug else "model"
    return slug


def unique_slugs(names: list[str]) -> list[str]:
    """Slugs for ``names``, made unique with -2, -3, ... suffixes."""
    seen: set[str] = set()
    out = []
    for name in names:
        base = slug = slugify(name)
        n = 2
        while slug in seen:
            slug = f"{base}-{n}"
            n += 1
        seen.add(slug)
        out.append(slug)
    return out


def application_names() -> list[str]:
    """The model names ``keras.applications`` exports, read from Keras's source without importing it."""
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    # Keras 3.0-3.x kept the public API in keras/api/; later releases generate it at the top level.
    for api in (root / "applications" / "__init__.py", root / "api" / "applications" / "__init__.py"):
        try:
            text = api.read_text(encoding="utf-8")
        except OSError:
            continue
        # Models are exported by class-like names (MobileNetV2); modules (mobilenet_v2) and helpers are not models.
        names = {n for n in re.findall(r"\b(\w+) as \1\b", text) if n[:1].isupper()}
        if names:
            return sorted(names)
    return []


# -- model files and builders -------------------------------------------------------------
def _check_file(target: str, base: Path, key: tuple[str | int, ...], where: _Locator) -> str:
    path = (base / paths.expand(target)).resolve()
    if path.is_dir():
        raise where.fail(
            key, f"{show(target)} is a directory; expected a model file ({', '.join(MODEL_FILE_SUFFIXES)})."
        )
    if path.suffix.lower() not in MODEL_FILE_SUFFIXES:
        raise where.fail(
            key,
            f"{target!r} has an unsupported extension {path.suffix or '(none)'!r}; "
            f"expected one of {', '.join(MODEL_FILE_SUFFIXES)}.",
        )
    if not path.is_file():
        raise where.fail(key, f"model file {target!r} not found (looked at {path}).")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise where.fail(key, f"cannot read model file {target!r}: {exc.strerror}.") from None
    return str(path)


def _check_builder(target: str, base: Path, key: tuple[str | int, ...], where: _Locator) -> None:
    """A missing module file is certain; a missing name only where reading the module proves it."""
    module, _, qualname = target.partition(":")
    local = base / Path(*module.split("."))
    top = base / module.split(".")[0]
    if local.with_suffix(".py").is_file():
        source = local.with_suffix(".py")
    elif (local / "__init__.py").is_file():
        source = local / "__init__.py"
    elif "." in module and (top / "__init__.py").is_file():
        # A package beside the manifest shadows any other of that name (the worker puts its folder first).
        parent = local.parent
        beside = (
            sorted(p.stem for p in parent.glob("*.py") if p.stem != "__init__") if parent.is_dir() else []
        )
        raise where.fail(
            key,
            f"module {module!r} not found: the package {top.name!r} beside the manifest ({base}) has no "
            f"{local.relative_to(base).as_posix()}.py{suggest(local.name, beside)}.",
        )
    elif importlib.util.find_spec(module.split(".")[0]) is None:
        beside = sorted(p.stem for p in base.glob("*.py"))
        raise where.fail(
            key,
            f"module {module!r} not found beside the manifest ({base}) or on the Python path"
            f"{suggest(module, beside)}.",
        )
    else:
        return  # an installed module: importing it is the worker's job
    try:
        data = source.read_bytes()
    except OSError as exc:  # unreadable (permissions): it was a PermissionError traceback
        raise where.fail(key, f"cannot read the builder's module {source}: {exc.strerror or exc}.") from None
    try:
        tree = ast.parse(data, filename=str(source))
    except (SyntaxError, ValueError):
        return  # that model fails, naming the line (sources.builder_files); the others are built
    missing = _missing_builder(tree, module, qualname, source.name)
    if missing is not None:
        raise where.fail(key, missing)


# Names that can bind a module attribute no assignment shows: exec("build = ..."), globals()["build"], ...
_DYNAMIC_NAMES = {"exec", "eval", "globals", "locals", "vars", "setattr", "__builtins__"}
_DYNAMIC_ATTRIBUTES = {"__dict__", "__setattr__", "modules"}  # sys.modules[__name__].build = ...


def _missing_builder(tree: ast.Module, module: str, qualname: str, source: str) -> str | None:
    """Why ``qualname`` cannot exist in the module, or None when only an import can tell (issue 10, item 5).

    It says no only when certain: the module has no ``__getattr__``, no star
    import and nothing that writes its namespace dynamically, and no statement
    at any depth (if, try, with, for, while, match, ...) binds the name.
    """
    first = qualname.split(".", maxsplit=1)[0]
    for node in ast.walk(tree):
        if (
            (isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMES)
            or (isinstance(node, ast.Attribute) and node.attr in _DYNAMIC_ATTRIBUTES)
            or (isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names))
            or (isinstance(node, ast.Global) and first in node.names)  # a function may bind it when called
            or (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _root(node) == first)
        ):
            return None
    scope: list[ast.stmt] = tree.body
    for part in qualname.split("."):
        bound = _bindings(scope)
        if "__getattr__" in bound and scope is tree.body:
            return None
        if part not in bound:
            return f"{module!r} ({source}) defines no {part!r}{suggest(part, bound)}."
        sites = bound[part]
        literal = _literal(sites[0])
        if len(sites) == 1 and literal is not None:
            return (
                f"{module}:{qualname} is {literal} in {source}, not a function or class; a builder must be "
                "a callable that returns a keras.Model."
            )
        node = sites[0]
        # Only a plain class's body shows all its attributes: bases, metaclasses and decorators add more.
        if len(sites) != 1 or not isinstance(node, ast.ClassDef) or node.decorator_list or node.keywords:
            return None
        if any(not (isinstance(b, ast.Name) and b.id == "object") for b in node.bases):
            return None
        scope = node.body
    return None


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _bindings(body: list[ast.stmt]) -> dict[str, list[ast.AST]]:
    """Every name a scope binds, at any depth of its compound statements, with the binding sites.

    Function and class bodies are scopes of their own and are not entered.
    Over-counting (a comprehension's variable) only makes the check defer to an import.
    """
    found: dict[str, list[ast.AST]] = {}
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop(0)
        names: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
            todo.extend(getattr(node, "decorator_list", []))
            if isinstance(node, ast.ClassDef):
                todo.extend([*node.bases, *node.keywords])
            else:
                todo.extend([*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)])
        elif isinstance(node, ast.Lambda):
            continue
        else:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append(node.id)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.extend((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
                names.append(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                names.append(node.rest)
            todo.extend(ast.iter_child_nodes(node))
        for name in names:
            found.setdefault(name, []).append(node)
    # An assignment's binding site is its statement, so a literal value can be recognised.
    for stmt in body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name) and len(found.get(target.id, [])) == 1:
                    found[target.id] = [stmt]
    return found


def _literal(node: ast.AST) -> str | None:
    """``"a list"``, ``"int 3"``, ... if ``node`` assigns a literal (never callable), else None."""
    value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
    if isinstance(value, ast.Constant):
        return f"{type(value.value).__name__} {show(value.value, 40)}"
    kinds = {
        ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
        ast.JoinedStr: "a string", ast.ListComp: "a list", ast.DictComp: "a dict", ast.SetComp: "a set",
    }  # fmt: skip
    return next((text for kind, text in kinds.items() if isinstance(value, kind)), None)


# -- where an error is ----------------------------------------------------------------------
def key_text(key: tuple[str | int, ...]) -> str:
    """``("model", 1, "expect", "odd key")`` -> ``model[2].expect."odd key"`` (indexes from 1)."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{_toml_key(part)}" if out else _toml_key(part)
    return out


def _toml_key(name: str) -> str:
    """A key as TOML would write it: bare when it can be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _has_path(data: Any, path: tuple[str | int, ...]) -> bool:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return False
        elif not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


class _Locator:
    """Turns a key path into ``FILE, line N: KEY: message``."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, key: tuple[str | int, ...], message: str) -> ManifestError:
        line = self.locate(key)
        where = f"{self.path}, line {line}" if line else str(self.path)
        return ManifestError(f"{where}: {key_text(key)}: {message}")

    def locate(self, key: tuple[str | int, ...]) -> int | None:
        """The line number of a key path such as ``("model", 1, "kwargs")``, or None.

        TOML writes one key in many ways (``[report]`` + ``title = ...``,
        ``report.title = ...``, ``"report".title``, inline tables, arrays of
        inline tables), so the line is found by parsing: the first prefix of the
        document that parses and holds the key path ends at its line.  Only the
        lines that mention the key's last name are tried.
        """
        try:
            return self._locate_by_parsing(key)
        except RecursionError:
            return self._locate_by_pattern(key)

    def _locate_by_parsing(self, path: tuple[str | int, ...]) -> int | None:
        if not path:
            return None
        last = next((p for p in reversed(path) if isinstance(p, str)), "")
        candidates = [i for i, text in enumerate(self.lines) if last and last in text]
        if not candidates or len(candidates) > 200 or len(self.lines) > 20000:
            return self._locate_by_pattern(path)
        if isinstance(path[-1], str):
            # The line that defines the key: renaming the key on it makes the path vanish.
            for i in candidates:
                lines = list(self.lines)
                lines[i] = lines[i].replace(last, last + "Zq9")
                try:
                    data = tomllib.loads("\n".join(lines))
                except tomllib.TOMLDecodeError:
                    continue
                if not _has_path(data, path):
                    return i + 1
        # An array element (``[[model]]`` number n): the first prefix of the document that holds it.
        for i in candidates:
            # A prefix may end inside a multi-line array or string: read on until it parses.
            for end in range(i + 1, min(len(self.lines), i + 200) + 1):
                try:
                    data = tomllib.loads("\n".join(self.lines[:end]))
                except tomllib.TOMLDecodeError:
                    continue
                if _has_path(data, path):
                    return i + 1
                break
        return self._locate_by_pattern(path)

    def _locate_by_pattern(self, path: tuple[str | int, ...]) -> int | None:
        """Best-effort line number of a key path, for ``[table]`` / ``key =`` layouts."""
        start, table = 0, ""
        for n, part in enumerate(path):
            if isinstance(part, int):
                continue  # read with the name before it
            if n + 1 < len(path) and isinstance(index := path[n + 1], int):
                header = re.compile(rf"^\s*\[\[\s*{re.escape(table + part)}\s*\]\]")
                headers = [i for i, text in enumerate(self.lines) if header.match(text)]
                start = headers[index] if index < len(headers) else start
                table += part + "."
                continue
            sub = re.compile(rf"^\s*\[\s*{re.escape(table + part)}\s*\]")
            assign = re.compile(rf"^\s*\"?{re.escape(part)}\"?\s*=")
            for i in range(start, len(self.lines)):
                if sub.match(self.lines[i]) or assign.match(self.lines[i]):
                    start = i
                    break
                if i > start and self.lines[i].lstrip().startswith("[") and table == "":
                    break
            else:
                return start + 1 if start else None
            table += part + "."
        return start + 1
