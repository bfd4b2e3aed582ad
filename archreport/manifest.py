"""Read and validate a TOML manifest (schema v1) into plain specs.

Every error names the file, the key path, the line where one can be found, the
bad value and what was expected. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import importlib.util
import keyword
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .dot import DiagramOptions
from .errors import ManifestError

MANIFEST_VERSION = 1
REPORT_FORMATS = ("html", "pdf")
DIAGRAM_FORMATS = ("svg", "png", "pdf")
PAGE_SIZES = ("A4", "Letter")
RANKDIRS = ("TB", "LR", "BT", "RL")
SPLINES = ("ortho", "spline", "polyline", "line", "curved")
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5", ".json")
DEFAULT_MODEL_TIMEOUT = 600.0

REPORT_KEYS = {"title", "output_dir", "formats", "page_size", "timeout"}
DIAGRAM_KEYS = {
    "show_shapes", "show_dtype", "show_layer_names", "show_layer_activations",
    "show_trainable", "expand_nested", "rankdir", "dpi", "splines", "timeout", "formats",
}  # fmt: skip
MODEL_KEYS = {
    "name", "builder", "application", "file", "args", "kwargs", "description",
    "diagram", "expect", "timeout", "trust",
}  # fmt: skip
SOURCE_KEYS = ("builder", "application", "file")
EXPECT_KEYS = {
    "params", "trainable_params", "non_trainable_params", "flops", "macs", "layers", "depth",
    "output_shape", "output_shapes", "input_shape", "input_shapes", "max_param_bytes",
    "max_flops", "max_activation_bytes",
}  # fmt: skip
# Totals that may be given with a tolerance table {value, rel_tol, abs_tol}; max_* are plain limits.
TOLERANCE_KEYS = {"params", "trainable_params", "non_trainable_params", "flops", "macs", "layers", "depth"}
TOP_KEYS = {"report", "diagram", "model"}

# Windows reserves these names whatever the extension; reports travel as CI artifacts.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """One ``[[model]]`` entry, validated."""

    name: str
    slug: str
    kind: str  # "builder" | "application" | "file"
    target: str  # "module:qualname", an application name, or the model file's path
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    diagram: DiagramOptions = field(default_factory=DiagramOptions)
    diagram_formats: tuple[str, ...] = ("svg",)
    expect: dict[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_MODEL_TIMEOUT
    trust: bool = False
    base_dir: str = "."  # the manifest's folder: builders are looked up here first

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

    def select(self, names: list[str]) -> Manifest:
        """Keep only the named models (``--only``)."""
        known = {m.name: m for m in self.models}
        for name in names:
            if name not in known:
                raise ManifestError(
                    f"--only {name!r}: no model of that name in {self.path}"
                    f"{_suggest(name, known)}. Models: {', '.join(known)}."
                )
        return replace(self, models=[m for m in self.models if m.name in names])


def load(path: str | Path) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises:
        ManifestError: the file is missing, unreadable, not TOML or not a valid manifest.
    """
    path = Path(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if found:
            reason = message[: found.start()]
            raise ManifestError(
                f"{path}, line {found[1]}: not valid TOML (column {found[2]}): {reason}. "
                "See https://toml.io for the syntax."
            ) from None
        raise ManifestError(
            f"{path}: not valid TOML: {message}. See https://toml.io for the syntax."
        ) from None
    except RecursionError:
        raise ManifestError(f"{path}: not valid TOML: arrays or tables are nested too deeply.") from None
    return _Validator(path, text).manifest(data)


def _read_text(path: Path) -> str:
    if "\0" in str(path):
        raise ManifestError(f"{str(path)!r}: a file name cannot contain a NUL character.")
    if path.is_dir():
        raise ManifestError(f"{path}: is a directory; expected a TOML manifest file.")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest file.") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror or exc}.") from None
    if not raw.strip():
        raise ManifestError(
            f"{path}: the manifest is empty; add at least one [[model]] table with a name and one of "
            "builder, application or file (see examples/manifest.toml)."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError(
            f"{path}, line {line}: the manifest is not UTF-8 (byte {raw[exc.start]:#04x} at "
            f"offset {exc.start}); TOML files must be UTF-8."
        ) from None


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


def _parse_key_path(key: str) -> list[str | int]:
    """``model[2].expect."odd key"`` -> ``["model", 1, "expect", "odd key"]`` (indexes from 0)."""
    out: list[str | int] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|([^."\[\]]+)|\[(\d+)\]', key):
        quoted, bare, index = match.groups()
        if index is not None:
            out.append(int(index) - 1)
        elif quoted is not None:
            out.append(quoted.replace('\\"', '"').replace("\\\\", "\\"))
        else:
            out.append(bare)
    return out


def _has_path(data: Any, path: list[str | int]) -> bool:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return False
        elif not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _key(name: str) -> str:
    """A key as TOML would write it: bare when it can be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _join(where: str, key: str) -> str:
    return f"{where}.{_key(key)}" if where else _key(key)


def _show(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened: a manifest value can be long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def _suggest(value: str, choices: Any) -> str:
    options = [str(c) for c in choices]
    same_case = [c for c in options if c.casefold() == str(value).casefold()]
    if same_case:  # 'a4' for 'A4', 'Title' for 'title'
        return f" (did you mean {same_case[0]!r}?)"
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a float", str: "a string",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)  # fmt: skip


class _Validator:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.lines = text.splitlines()

    # -- error reporting -------------------------------------------------
    def fail(self, key: str, message: str) -> ManifestError:
        line = self.locate(key)
        where = f"{self.path}, line {line}" if line else str(self.path)
        return ManifestError(f"{where}: {key}: {message}")

    def locate(self, key: str) -> int | None:
        """The line number of a key path such as ``model[2].kwargs``, or None.

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

    def _locate_by_parsing(self, key: str) -> int | None:
        path = _parse_key_path(key)
        if not path:
            return None
        last = next((p for p in reversed(path) if isinstance(p, str)), "")
        candidates = [i for i, text in enumerate(self.lines) if last and last in text]
        if not candidates or len(candidates) > 200 or len(self.lines) > 20000:
            return self._locate_by_pattern(key)
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
        return self._locate_by_pattern(key)

    def _locate_by_pattern(self, key: str) -> int | None:
        """Best-effort line number of a dotted key path, for ``[table]`` / ``key =`` layouts."""
        parts = re.findall(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?", key)
        start, table = 0, ""
        for name, idx in parts:
            if idx:
                count = -1
                header = re.compile(rf"^\s*\[\[\s*{re.escape(table + name)}\s*\]\]")
                for i, text in enumerate(self.lines):
                    if header.match(text):
                        count += 1
                        if count == int(idx) - 1:
                            start = i
                            break
                table += name + "."
                continue
            sub = re.compile(rf"^\s*\[\s*{re.escape(table + name)}\s*\]")
            assign = re.compile(rf"^\s*\"?{re.escape(name)}\"?\s*=")
            for i in range(start, len(self.lines)):
                if sub.match(self.lines[i]) or assign.match(self.lines[i]):
                    start = i
                    break
                if i > start and self.lines[i].lstrip().startswith("[") and table == "":
                    break
            else:
                return start + 1 if start else None
            table += name + "."
        return start + 1

    # -- typed getters ---------------------------------------------------
    def check_keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    _join(where, key),
                    f"unknown key{_suggest(key, allowed)}. Valid keys here: {', '.join(sorted(allowed))}.",
                )

    def get(
        self, table: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; TOML keeps them apart, and so do we.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            expected = " or ".join(_type_name(k()) for k in kinds)
            raise self.fail(
                _join(where, key), f"expected {expected}, got {_type_name(value)} {_show(value)}."
            )
        return value

    def choice(
        self, table: dict[str, Any], key: str, where: str, choices: tuple[str, ...], default: str
    ) -> str:
        value = self.get(table, key, where, str, default)
        if value not in choices:
            raise self.fail(
                _join(where, key),
                f"{_show(value)} is not one of {', '.join(choices)}{_suggest(value, choices)}.",
            )
        return value

    def positive(
        self, table: dict[str, Any], key: str, where: str, default: float, *, integer: bool = False
    ) -> Any:
        value = self.get(table, key, where, int if integer else (int, float), default)
        if not _finite(value) or value <= 0:
            raise self.fail(_join(where, key), f"expected a positive number, got {_show(value)}.")
        return value

    def formats(
        self, table: dict[str, Any], key: str, where: str, choices: tuple[str, ...], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = self.get(table, key, where, list, None)
        if value is None:
            return default
        for item in value:
            if not isinstance(item, str) or item not in choices:
                raise self.fail(
                    _join(where, key),
                    f"{_show(item)} is not one of {', '.join(choices)}{_suggest(str(item), choices)}.",
                )
        if not value and where == "report":
            raise self.fail(
                _join(where, key), f"expected at least one of {', '.join(choices)}, got an empty array."
            )
        return tuple(dict.fromkeys(value))

    # -- sections --------------------------------------------------------
    def manifest(self, data: dict[str, Any]) -> Manifest:
        self.check_keys(data, TOP_KEYS, "")
        report = self.get(data, "report", "", dict, {})
        self.check_keys(report, REPORT_KEYS, "report")
        title = self.get(report, "title", "report", str, "Architecture report")
        output_dir = self.get(report, "output_dir", "report", str, "reports")
        if not output_dir.strip() or "\0" in output_dir:
            raise self.fail(
                "report.output_dir",
                f'{_show(output_dir)} is not a usable folder name; expected a folder such as "reports".',
            )
        formats = self.formats(report, "formats", "report", REPORT_FORMATS, REPORT_FORMATS)
        page_size = self.choice(report, "page_size", "report", PAGE_SIZES, "A4")
        timeout = float(self.positive(report, "timeout", "report", DEFAULT_MODEL_TIMEOUT))

        diagram_table = self.get(data, "diagram", "", dict, {})
        defaults, default_formats = self.diagram(diagram_table, "diagram", DiagramOptions(), ("svg",))

        if isinstance(data.get("model"), dict):
            raise self.fail(
                "model",
                "expected an array of tables, got a single table: write [[model]] (two brackets) "
                "above each model, not [model].",
            )
        models = self.get(data, "model", "", list, None)
        if not models:
            raise self.fail(
                "model",
                "the manifest lists no models; add at least one [[model]] table with a name and "
                "one of builder, application or file.",
            )
        specs = [self.model(m, i + 1, defaults, default_formats, timeout) for i, m in enumerate(models)]
        seen: dict[str, int] = {}
        for i, spec in enumerate(specs, 1):
            if spec.name in seen:
                raise self.fail(
                    f"model[{i}].name",
                    f"duplicate model name {spec.name!r} (also model[{seen[spec.name]}]); names must be unique.",
                )
            seen[spec.name] = i
        slugs = unique_slugs([s.name for s in specs])
        specs = [replace(s, slug=slug) for s, slug in zip(specs, slugs, strict=True)]
        return Manifest(
            path=self.path,
            title=title,
            output_dir=(self.base / output_dir),
            formats=formats,
            page_size=page_size,
            models=specs,
        )

    def diagram(
        self, table: dict[str, Any], where: str, base: DiagramOptions, base_formats: tuple[str, ...]
    ) -> tuple[DiagramOptions, tuple[str, ...]]:
        self.check_keys(table, DIAGRAM_KEYS, where)
        flags = {
            key: self.get(table, key, where, bool, getattr(base, key))
            for key in ("show_shapes", "show_dtype", "show_layer_names", "show_layer_activations",
                        "show_trainable", "expand_nested")
        }  # fmt: skip
        options = replace(
            base,
            **flags,
            rankdir=self.choice(table, "rankdir", where, RANKDIRS, base.rankdir),
            splines=self.choice(table, "splines", where, SPLINES, base.splines),
            dpi=int(self.positive(table, "dpi", where, base.dpi, integer=True)),
            timeout=float(self.positive(table, "timeout", where, base.timeout)),
        )
        formats = self.formats(table, "formats", where, DIAGRAM_FORMATS, base_formats)
        # SVG (HTML) and PDF (the PDF report, LaTeX users) always; PNG on request.
        return options, tuple(dict.fromkeys(("svg", "pdf", *formats)))

    def model(
        self,
        table: Any,
        index: int,
        defaults: DiagramOptions,
        default_formats: tuple[str, ...],
        timeout: float,
    ) -> ModelSpec:
        where = f"model[{index}]"
        if not isinstance(table, dict):
            raise self.fail(where, f"expected a table ([[model]]), got {_type_name(table)} {_show(table)}.")
        self.check_keys(table, MODEL_KEYS, where)
        if "name" not in table:
            raise self.fail(where, "missing required key 'name'.")
        name = self.get(table, "name", where, str, "")
        if not name.strip():
            raise self.fail(f"{where}.name", "must not be empty.")
        sources = [k for k in SOURCE_KEYS if k in table]
        if len(sources) != 1:
            got = "none" if not sources else " and ".join(sources)
            raise self.fail(
                where, f"model {name!r} needs exactly one of builder, application or file; got {got}."
            )
        kind = sources[0]
        target = self.get(table, kind, where, str, "")
        if not target.strip():
            raise self.fail(f"{where}.{kind}", f"must not be empty; expected {_SOURCE_HELP[kind]}.")
        args = self.get(table, "args", where, list, [])
        kwargs = self.get(table, "kwargs", where, dict, {})
        self.check_plain(args, f"{where}.args")
        self.check_plain(kwargs, f"{where}.kwargs")
        description = self.get(table, "description", where, str, None)
        trust = self.get(table, "trust", where, bool, False)
        model_timeout = float(self.positive(table, "timeout", where, timeout))
        diagram, formats = self.diagram(
            self.get(table, "diagram", where, dict, {}), f"{where}.diagram", defaults, default_formats
        )
        expect = self.expect(self.get(table, "expect", where, dict, {}), f"{where}.expect")

        if kind == "builder":
            self.check_builder(target, f"{where}.builder")
        elif kind == "application":
            self.check_application(target, f"{where}.application")
            if args:
                raise self.fail(
                    f"{where}.args", "keras.applications models take keyword arguments only; use kwargs."
                )
        else:
            target = self.check_file(target, f"{where}.file")
            if args or kwargs:
                raise self.fail(
                    f"{where}.{'args' if args else 'kwargs'}",
                    "a model loaded from a file takes no args or kwargs.",
                )
        return ModelSpec(
            name=name, slug="", kind=kind, target=target, args=args, kwargs=kwargs,
            description=description, diagram=diagram, diagram_formats=formats, expect=expect,
            timeout=model_timeout, trust=trust, base_dir=str(self.base),
        )  # fmt: skip

    def check_plain(self, value: Any, key: str) -> None:
        """Builder arguments travel to a worker and into report.json: JSON values only."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(
                key,
                f"{value!r} cannot be passed to a builder (report.json cannot hold it); expected a finite number.",
            )
        if isinstance(value, dt.date | dt.time):
            raise self.fail(
                key, f"{_show(value)}: dates and times cannot be passed to a builder; write them as strings."
            )
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.check_plain(item, f"{key}[{i + 1}]")
        elif isinstance(value, dict):
            for name, item in value.items():
                self.check_plain(item, _join(key, name))

    def check_builder(self, target: str, key: str) -> None:
        module, sep, qualname = target.partition(":")
        if not (sep and _dotted_identifier(module) and _dotted_identifier(qualname)):
            raise self.fail(
                key,
                f"{_show(target)} is not 'module:qualname' with Python identifiers on both sides "
                "(for example 'lenet:LeNet.build').",
            )
        local = self.base / Path(*module.split("."))
        source: Path | None = None
        top = self.base / module.split(".")[0]
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
            raise self.fail(
                key,
                f"module {module!r} not found: the package {top.name!r} beside the manifest ({self.base}) has no "
                f"{local.relative_to(self.base).as_posix()}.py{_suggest(local.name, beside)}.",
            )
        elif importlib.util.find_spec(module.split(".")[0]) is None:
            beside = sorted(p.stem for p in self.base.glob("*.py"))
            raise self.fail(
                key,
                f"module {module!r} not found beside the manifest ({self.base}) or on the Python path"
                f"{_suggest(module, beside)}.",
            )
        if source is not None:
            self.check_qualname(source, module, qualname, key)

    def check_qualname(self, source: Path, module: str, qualname: str, key: str) -> None:
        """Look the builder up in the module's syntax tree, so that no user code runs here."""
        try:
            tree = ast.parse(source.read_bytes(), filename=str(source))
        except (SyntaxError, ValueError) as exc:
            raise self.fail(key, f"cannot parse {source}: {exc}.") from None
        scope: list[ast.stmt] = tree.body
        for part in qualname.split("."):
            names = _defined_names(scope)
            if part not in names:
                if _has_star(scope):
                    return  # a star import hides what is defined; the worker checks on import
                raise self.fail(
                    key,
                    f"{module!r} ({source.name}) defines no {part!r}{_suggest(part, names)}.",
                )
            node = names[part]
            literal = _literal_value(node, part)
            if literal is not None:
                raise self.fail(
                    key,
                    f"{module}:{qualname} is {literal} in {source.name}, not a function or class; a builder must be "
                    "a callable that returns a keras.Model.",
                )
            if not isinstance(node, ast.ClassDef):  # imported or assigned: resolved on import
                return
            scope = node.body

    def check_application(self, target: str, key: str) -> None:
        names = application_names()
        if names and target not in names:
            raise self.fail(key, f"{target!r} is not a keras.applications model{_suggest(target, names)}.")

    def check_file(self, target: str, key: str) -> str:
        if "\0" in target:
            raise self.fail(key, f"{_show(target)}: a file name cannot contain a NUL character.")
        path = (self.base / target).resolve()
        if path.is_dir():
            raise self.fail(
                key,
                f"{_show(target)} is a directory; expected a model file ({', '.join(MODEL_FILE_SUFFIXES)}).",
            )
        if path.suffix.lower() not in MODEL_FILE_SUFFIXES:
            raise self.fail(
                key,
                f"{target!r} has an unsupported extension {path.suffix or '(none)'!r}; "
                f"expected one of {', '.join(MODEL_FILE_SUFFIXES)}.",
            )
        if path.is_dir():
            raise self.fail(key, f"{target!r} is a directory; expected a model file.")
        if not path.is_file():
            raise self.fail(key, f"model file {target!r} not found (looked at {path}).")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise self.fail(key, f"cannot read model file {target!r}: {exc.strerror}.") from None
        return str(path)

    def expect(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        self.check_keys(table, EXPECT_KEYS, where)
        out: dict[str, Any] = {}
        for key, value in table.items():
            at = _join(where, key)
            if key in {"output_shape", "input_shape"}:
                out[key] = self.get(table, key, where, str, None)
            elif key in {"output_shapes", "input_shapes"}:
                shapes = self.get(table, key, where, list, None)
                if not all(isinstance(s, str) for s in shapes):
                    raise self.fail(
                        at, f'expected an array of strings such as ["(None, 10)"], got {_show(shapes)}.'
                    )
                out[key] = shapes
            elif isinstance(value, dict) and key in TOLERANCE_KEYS:
                self.check_keys(value, {"value", "rel_tol", "abs_tol"}, at)
                if "value" not in value:
                    raise self.fail(
                        at, "a tolerance table needs 'value', e.g. { value = 13.1e6, rel_tol = 0.02 }."
                    )
                for part in value:
                    number = self.get(value, part, at, (int, float), None)
                    if not _finite(number) or number < 0:
                        raise self.fail(
                            _join(at, part), f"expected a finite number, zero or more, got {_show(number)}."
                        )
                out[key] = dict(value)
            else:
                kinds: Any = (int, float) if key not in TOLERANCE_KEYS else (int, float, dict)
                number = self.get(table, key, where, kinds, None)
                if not _finite(number) or number < 0:
                    raise self.fail(at, f"expected a finite number, zero or more, got {_show(number)}.")
                out[key] = number
        return out


_SOURCE_HELP = {
    "builder": "'module:qualname', for example 'lenet:LeNet.build'",
    "application": "a keras.applications model name such as 'MobileNetV2'",
    "file": "a model file path (.keras, .h5, .hdf5 or .json) relative to the manifest",
}


def _finite(value: Any) -> bool:
    """A real number that fits a float (TOML integers can be arbitrarily long here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _dotted_identifier(text: str) -> bool:
    return bool(text) and all(part.isidentifier() and not keyword.iskeyword(part) for part in text.split("."))


def _literal_value(node: ast.stmt, name: str) -> str | None:
    """``"a string"`` if ``node`` binds ``name`` to a literal (never callable), else None."""
    value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
    if value is None:
        return None
    kinds = {
        ast.Constant: "a constant", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict",
        ast.Set: "a set", ast.JoinedStr: "a string", ast.ListComp: "a list", ast.DictComp: "a dict",
        ast.SetComp: "a set",
    }  # fmt: skip
    for kind, text in kinds.items():
        if isinstance(value, kind):
            if isinstance(value, ast.Constant):
                return f"{type(value.value).__name__} {_show(value.value, 40)}"
            return text
    return None


def _defined_names(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
        elif isinstance(node, ast.If | ast.Try):
            names.update(_defined_names(node.body))
    return names


def _has_star(body: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in body)
