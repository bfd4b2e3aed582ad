"""msgspec Structs against pydantic v2 for the manifest's schema (issue 16). Not a test: it measures.

    python benchmarks/schema_libraries.py [--runs 300] [--json OUT.json]

archreport.manifest.schema declares the manifest with stdlib dataclasses that pydantic validates. Below is
the same schema as msgspec Structs (forbid_unknown_fields, the same types, enums, unions and
constraints, and __post_init__ where pydantic runs our validators). Both read every manifest of
tests/bad_inputs/ and examples/manifest.toml, in this process, and the script prints a table:

(a) exit-2 corpus errors caught at the schema level, and those left to manifest.py's later checks;
(b) whether the error carries the key path the locator needs (``model[1].expect.flops.rel_tol``);
(c) errors reported per broken manifest (pydantic collects all, msgspec stops at the first);
(d) validation time per manifest (median of --runs, in-process);
(e) import time (``-X importtime``) and import + schema build + first validation, in fresh
    interpreters (5 each, alternated; median and min);
(f) JSON Schema generation and the draft it emits.

What msgspec cannot say declaratively is marked "msgspec:" in the comments below. The top of this
file imports only the standard library and msgspec (archreport, pydantic and jsonschema are imported
where they are measured), so the fresh-interpreter timing of msgspec includes no pydantic. The
small helpers of archreport.manifest.schema that the Structs need (finite, JSON-only builder arguments) are
repeated here for that reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import keyword
import math
import re
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "bad_inputs"
EXAMPLE = ROOT / "examples" / "manifest.toml"
MAX = sys.float_info.max

# -- the manifest (schema v1) as msgspec Structs ------------------------------------------------
ReportFormat = Literal["html", "pdf"]
DiagramFormat = Literal["svg", "png", "pdf"]
PageSize = Literal["A4", "Letter"]
Rankdir = Literal["TB", "LR", "BT", "RL"]
Splines = Literal["ortho", "spline", "polyline", "line", "curved"]
Backend = Literal["auto", "shape-only", "tensorflow", "jax", "torch"]

# msgspec: Meta constraints take a single numeric type, so int | float is two constrained
# branches; integer bounds must fit int64, so "finite" (TOML integers are unbounded) for integers
# is a __post_init__ check (_finite_counts).
Count = Annotated[int, Meta(ge=0)] | Annotated[float, Meta(ge=0, le=MAX)]
# A float field accepts integers; one too large for a float is "Number out of range".
Seconds = Annotated[float, Meta(gt=0, le=MAX)]
PositiveInt = Annotated[int, Meta(ge=1)]
Name = Annotated[str, Meta(pattern=r"\S")]
FileName = Annotated[str, Meta(pattern=r"^(?=[^\x00]*\S)[^\x00]*$")]
Folder = Annotated[str, Meta(pattern=r"^(?=[^\x00]*\S)[^\x00]*$")]
Shape = str
# msgspec: a pattern, like the JSON Schema's; keywords and the port range are __post_init__ checks.
Builder = Annotated[str, Meta(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")]
Executor = Annotated[str, Meta(pattern=r"^(local|(dask|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$")]
Dims = tuple[Annotated[int, Meta(ge=1)], ...]
Inputs = Annotated[dict[str, Dims], Meta(min_length=1)]
_TOLERANCE_KEYS = {"value", "rel_tol", "abs_tol"}


def _finite_counts(obj: Struct) -> None:
    for name in obj.__struct_fields__:
        value = getattr(obj, name)
        if isinstance(value, int) and not isinstance(value, bool) and not _finite(value):
            raise ValueError(f"{name}: expected a finite number, zero or more, got {value!r}.")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _plain(value: Any) -> None:
    """Builder arguments must be JSON values (archreport.manifest.schema._plain)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be passed to a builder; expected a finite number.")
    if isinstance(value, dt.date | dt.time):
        raise ValueError(f"{value!r}: dates and times cannot be passed to a builder.")
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _plain(item)


class Table(Struct, forbid_unknown_fields=True, frozen=True):
    """Every table: unknown keys are errors."""


class Tolerance(Table, frozen=True):
    value: Count
    rel_tol: Count | None = None
    abs_tol: Count | None = None

    def __post_init__(self) -> None:
        _finite_counts(self)


# msgspec: a union may hold one dict-like type, so Count | Tolerance is fine...
Target = Count | Tolerance


class LayerExpect(Table, frozen=True):
    output_shape: Shape | None = None
    input_shape: Shape | None = None
    params: Target | None = None
    flops: Target | None = None


LayerCheck = Shape | LayerExpect
# ...but `layers` is a count, a tolerance table or a table of per-layer facts: two dict-like types.
# msgspec: one dict type holds both table forms; Expect.__post_init__ tells them apart, as
# archreport.manifest.schema's Discriminator does, and converts the tolerance form.
LayersTarget = Count | dict[str, Shape | LayerExpect | int | float]


class Expect(Table, frozen=True):
    params: Target | None = None
    trainable_params: Target | None = None
    non_trainable_params: Target | None = None
    flops: Target | None = None
    macs: Target | None = None
    layers: LayersTarget | None = None
    depth: Target | None = None
    output_shape: Shape | None = None
    output_shapes: tuple[Shape, ...] | None = None
    input_shape: Shape | None = None
    input_shapes: tuple[Shape, ...] | None = None
    max_param_bytes: Count | None = None
    max_flops: Count | None = None
    max_activation_bytes: Count | None = None
    accept_lower_bound: bool = False

    def __post_init__(self) -> None:
        _finite_counts(self)
        layers = self.layers
        if not isinstance(layers, dict):
            return
        if set(layers) <= _TOLERANCE_KEYS and not any(isinstance(v, str | Struct) for v in layers.values()):
            try:
                tolerance = msgspec.convert(layers, Tolerance)
            except msgspec.ValidationError as exc:  # a nested convert's error has no path: add ours
                raise ValueError(f"layers: {exc}") from None
            msgspec.structs.force_setattr(self, "layers", tolerance)
            return
        for name, entry in layers.items():
            if not isinstance(entry, str | LayerExpect):
                raise ValueError(f'layers.{name}: expected an output shape such as "(None, 10)", or a table.')


class DiagramOptions(Table, frozen=True):
    show_shapes: bool = True
    show_dtype: bool = False
    show_layer_names: bool = True
    show_layer_activations: bool = False
    show_trainable: bool = False
    expand_nested: bool = False
    rankdir: Rankdir = "TB"
    dpi: PositiveInt = 96
    splines: Splines = "ortho"
    timeout: Seconds = 60.0


class DiagramTable(DiagramOptions, frozen=True):
    formats: tuple[DiagramFormat, ...] = ()

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "formats", tuple(dict.fromkeys(self.formats)))


class ReportTable(Table, frozen=True):
    title: str = "Architecture report"
    output_dir: Folder = "reports"
    formats: Annotated[tuple[ReportFormat, ...], Meta(min_length=1)] = ("html", "pdf")
    page_size: PageSize = "A4"
    timeout: Seconds = 600.0
    backend: Backend = "auto"
    batch_size: PositiveInt = 1
    executor: Executor = "local"

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "formats", tuple(dict.fromkeys(self.formats)))
        port = re.search(r":(\d+)$", self.executor)
        if port and not 0 < int(port[1]) < 65536:
            raise ValueError(
                f'executor: {self.executor!r} is not "local", "dask://HOST:PORT" or "tls://HOST:PORT".'
            )


def _dotted(text: str) -> bool:
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in text.split("."))


class ModelTable(Table, frozen=True):
    name: Name
    builder: Builder | None = None
    application: Name | None = None
    file: FileName | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    timeout: Seconds | None = None
    trust: bool = False
    backend: Backend | None = None
    batch_size: PositiveInt | None = None
    inputs: Inputs | None = None
    input_shapes: Annotated[tuple[Dims, ...], Meta(min_length=1)] | None = None
    diagram: DiagramTable | None = None
    expect: Expect = field(default_factory=Expect)

    def __post_init__(self) -> None:
        # msgspec: cross-key rules and our validators are code, as in archreport.manifest.schema; the error's
        # path is then this table's (a ValueError carries no key below it).
        sources = [k for k in ("builder", "application", "file") if getattr(self, k) is not None]
        if len(sources) != 1:
            got = " and ".join(sources) or "none"
            raise ValueError(
                f"model {self.name!r} needs exactly one of builder, application or file; got {got}."
            )
        if self.builder is not None and not all(map(_dotted, self.builder.split(":"))):
            raise ValueError(f"builder: {self.builder!r} is not 'module:qualname'.")
        if self.inputs is not None and self.input_shapes is not None:
            raise ValueError("give inputs (by name) or input_shapes (by position), not both.")
        if self.application is not None and self.args:
            raise ValueError("keras.applications models take keyword arguments only; use kwargs.")
        if self.file is not None and (self.args or self.kwargs):
            raise ValueError("a model loaded from a file takes no args or kwargs.")
        _plain(self.args)
        _plain(self.kwargs)


class ManifestDoc(Table, frozen=True):
    report: ReportTable = field(default_factory=ReportTable)
    diagram: DiagramTable = field(default_factory=DiagramTable)
    # msgspec: no before-validator, so `[model]` (one table) is msgspec's "Expected `array`".
    model: tuple[ModelTable, ...] = ()

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("the manifest lists no models.")
        names = [m.name for m in self.model]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"model[{i + 1}].name: duplicate model name {name!r}.")


# -- running both on the corpus -----------------------------------------------------------------
KeyPath = tuple[str | int, ...]


def documents() -> dict[str, tuple[int, dict[str, Any]]]:
    """case name -> (expected exit code, parsed manifest), for every case whose manifest parses."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for folder in sorted(p for p in CORPUS.iterdir() if (p / "case.toml").is_file()):
        case = tomllib.loads((folder / "case.toml").read_text(encoding="utf-8"))
        if case.get("args") or case.get("env"):
            code = 0  # the manifest is fine; the command line or environment is not
        else:
            code = case["exit_code"]
        try:
            out[folder.name] = (code, tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # no document: neither library sees it
    return out


def msgspec_errors(data: dict[str, Any]) -> list[tuple[KeyPath, str]]:
    """[(key path, message)]: msgspec raises one error, the first."""
    try:
        msgspec.convert(data, ManifestDoc)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = re.search(r" - at `\$(.*)`$", text)
        path: list[str | int] = []
        for part in re.findall(r"\.(\w+)|\[(\d+|\.\.\.)\]", found[1] if found else ""):
            path.append(part[0] or (int(part[1]) if part[1].isdigit() else "[...]"))
        unknown = re.match(r"Object contains unknown field `(.*?)`", text)
        if unknown:
            path.append(unknown[1])
        return [(tuple(path), text)]
    return []


def pydantic_errors(data: dict[str, Any]) -> list[tuple[KeyPath, str]]:
    """[(key path, message)] for every error pydantic reports."""
    from pydantic import ValidationError

    from archreport.manifest import schema

    try:
        schema._adapter().validate_python(data)
    except ValidationError as exc:
        out = []
        for error in exc.errors(include_url=False):
            # Without archreport.manifest.schema's union tags ("table", "number", ...), as the loader does.
            out.append((schema._strip_tags(tuple(error["loc"])), error["msg"]))
        return out
    return []


def loader_key(data: dict[str, Any]) -> KeyPath | None:
    """The key path archreport's loader reports (lists from 0), or None when the schema accepts."""
    from archreport.manifest import schema

    try:
        schema.validate(data)
    except schema.SchemaError as exc:
        return exc.key
    return None


def path_quality(got: KeyPath, want: KeyPath) -> str:
    """How a library's path compares with the loader's key path (which drops a missing key: no line)."""
    if got == want:
        return "exact"
    if "[...]" in got:
        return "no dict key"
    if got[: len(want)] == want:
        return "the missing key"
    return "its table" if want[: len(got)] == got else "other"


def median_us(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _quiet(fn: Callable[[dict[str, Any]], object], data: dict[str, Any]) -> Callable[[], object]:
    def run() -> object:
        try:
            return fn(data)
        except ValueError:  # both libraries' errors are ValueErrors
            return None

    return run


def import_seconds(module: str) -> float:
    """The module's cumulative import time from ``python -X importtime`` (its own line is the last)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return int(out.stderr.strip().splitlines()[-1].split("|")[1]) / 1e6


# Import + schema build + first validation of the example, timed inside a fresh interpreter that
# has already imported the standard library this script uses (so only the library's side counts).
_CHILD = """import sys, time, tomllib, argparse, datetime, json, keyword, math, re, statistics, subprocess, typing
sys.path[:0] = [{root!r}, {root!r} + "/benchmarks"]
data = tomllib.loads(open({example!r}, encoding="utf-8").read())
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
_BODIES = {
    "pydantic": "from archreport.manifest import schema\nschema._adapter().validate_python(data)",
    "msgspec": "import schema_libraries as s\ns.msgspec.convert(data, s.ManifestDoc)",
}


def child_seconds(library: str) -> float:
    code = _CHILD.format(root=str(ROOT), example=str(EXAMPLE), body=_BODIES[library])
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout)


def fresh_interpreters(reps: int = 5) -> dict[str, dict[str, tuple[float, float]]]:
    """{measure: {library: (median, min) ms}}; the libraries alternate, so machine noise reaches both."""
    runs: dict[str, dict[str, list[float]]] = {"import": {}, "import + first validation": {}}
    for _ in range(reps):
        for lib in ("pydantic", "msgspec"):
            runs["import"].setdefault(lib, []).append(import_seconds(lib) * 1000)
            runs["import + first validation"].setdefault(lib, []).append(child_seconds(lib) * 1000)
    return {
        what: {lib: (round(statistics.median(t), 1), round(min(t), 1)) for lib, t in by_lib.items()}
        for what, by_lib in runs.items()
    }


def json_schemas(broken: list[str], docs: dict[str, tuple[int, dict[str, Any]]]) -> dict[str, dict[str, str]]:
    """Per library: the draft it emits, whether it is valid draft 4, and what of the corpus it rejects."""
    import jsonschema
    from pydantic import TypeAdapter

    from archreport.manifest import schema

    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    emitted = {
        "pydantic": TypeAdapter(schema.ManifestDoc).json_schema(),
        "msgspec": msgspec.json.schema(ManifestDoc),
        "archreport --schema": schema.json_schema(),
    }
    out = {}
    for name, document in emitted.items():
        cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft202012Validator)
        # Both libraries document 2020-12 and write no $schema; archreport's rewrite declares draft 4.
        draft = "draft 4" if cls is jsonschema.Draft4Validator else "2020-12"
        # Draft 4's meta-schema does not look under "$defs": check each definition as well.
        parts = [document, *document.get("$defs", {}).values(), *document.get("definitions", {}).values()]
        try:
            for part in parts:
                jsonschema.Draft4Validator.check_schema(part)
            draft4 = "valid draft 4"
        except jsonschema.SchemaError as exc:
            draft4 = f"not draft 4 ({exc.message})"
        validator = cls(document)
        caught = sum(bool(list(validator.iter_errors(docs[c][1]))) for c in broken)
        example_ok = not list(validator.iter_errors(example))
        out[name] = {
            "dialect": draft,
            "draft 4": draft4,
            "rejects": f"{caught}/{len(broken)} exit-2 manifests",
            "example": "accepted" if example_ok else "REJECTED",
        }
    return out


def measure(runs: int) -> dict[str, Any]:
    import pydantic

    docs = documents()
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    # The exit-2 manifest cases; exit 1/3 and command-line cases hold valid manifests.
    broken = [n for n, (code, _) in docs.items() if code == 2]
    valid = [n for n, (code, _) in docs.items() if code != 2]
    keys = {n: loader_key(docs[n][1]) for n in broken}
    schema_level = [n for n in broken if keys[n] is not None]
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "versions": {"pydantic": pydantic.VERSION, "msgspec": msgspec.__version__},
        "cases": {"exit-2 manifests": len(broken), "valid manifests": len(valid)},
    }
    for library, errors_of, convert in (
        ("pydantic", pydantic_errors, _pydantic_convert),
        ("msgspec", msgspec_errors, _msgspec_convert),
    ):
        found = {n: errors_of(docs[n][1]) for n in docs}
        caught = [n for n in broken if found[n]]
        counts = [len(found[n]) for n in caught]
        broken_us = [median_us(_quiet(convert, docs[n][1]), max(runs // 5, 20)) for n in broken]
        quality: dict[str, int] = {}
        for n in schema_level:
            if found[n]:
                # The error the loader reports: pydantic's nearest to the loader's key, msgspec's only one.
                want = keys[n] or ()
                best = min((path_quality(p, want) for p, _ in found[n]), key=_QUALITY.index)
                quality[best] = quality.get(best, 0) + 1
        results[library] = {
            "caught": len(caught),
            "missed": sorted(set(broken) - set(caught)),
            "caught but the loader's schema does not": sorted(set(caught) - set(schema_level)),
            "false rejections": sorted(n for n in valid if found[n])
            + ([] if not errors_of(example) else ["example"]),
            "paths": quality,
            "errors per case": {
                "mean": round(statistics.mean(counts), 2),
                "max": max(counts),
                "cases with >1": sum(c > 1 for c in counts),
            },
            "example us": round(median_us(_quiet(convert, example), runs), 1),
            "broken us": round(statistics.median(broken_us), 1),
        }
    results["fresh interpreter ms"] = fresh_interpreters()
    results["json schema"] = json_schemas(broken, docs)
    results["probe: bad per-layer entry"] = {
        "pydantic": pydantic_errors(_PROBE)[0][0], "msgspec": msgspec_errors(_PROBE)[0][0],
    }  # fmt: skip
    return results


# A per-layer fact in the `layers` dict: which key path does each library give?
_PROBE = {"model": [{"name": "a", "builder": "m:f", "expect": {"layers": {"pool": {"params": -1}}}}]}
_QUALITY = ["exact", "the missing key", "its table", "no dict key", "other"]


def _pydantic_convert(data: dict[str, Any]) -> object:
    from archreport.manifest import schema

    return schema._adapter().validate_python(data)


def _msgspec_convert(data: dict[str, Any]) -> object:
    return msgspec.convert(data, ManifestDoc)


def table(results: dict[str, Any]) -> str:
    p, m, imp, first = (
        results["pydantic"],
        results["msgspec"],
        results["fresh interpreter ms"]["import"],
        results["fresh interpreter ms"]["import + first validation"],
    )
    n = results["cases"]["exit-2 manifests"]
    js = results["json schema"]

    def ms(pair: tuple[float, float]) -> str:
        return f"{pair[0]:.0f} ({pair[1]:.0f})"

    def paths(r: dict[str, Any]) -> str:
        return ", ".join(
            f"{v} {k}" for k, v in sorted(r["paths"].items(), key=lambda kv: _QUALITY.index(kv[0]))
        )

    rows = [
        ("versions", results["versions"]["pydantic"], results["versions"]["msgspec"]),
        (f"(a) exit-2 manifests caught (of {n})", p["caught"], m["caught"]),
        ("    left to later checks", len(p["missed"]), len(m["missed"])),
        ("    valid manifests rejected", len(p["false rejections"]), len(m["false rejections"])),
        ("(b) key path vs the loader's", paths(p), paths(m)),
        ("    path form", "tuple (error['loc'])", "text ('- at `$.a[0].b`')"),
        ("(c) errors per caught case: mean / max", f"{p['errors per case']['mean']} / {p['errors per case']['max']}",
         f"{m['errors per case']['mean']} / {m['errors per case']['max']}"),
        ("(d) validate examples/manifest.toml, us", p["example us"], m["example us"]),
        ("    validate a broken manifest (median), us", p["broken us"], m["broken us"]),
        ("(e) import (-X importtime), ms: median (min)", ms(imp["pydantic"]), ms(imp["msgspec"])),
        ("    import + build + first validation, ms", ms(first["pydantic"]), ms(first["msgspec"])),
        *[(f"{'(f) JSON Schema' if i == 0 else ''}    {part}", js["pydantic"][part], js["msgspec"][part])
          for i, part in enumerate(js["pydantic"])],
        *[(f"    archreport --schema: {part}", value, "") for part, value in js["archreport --schema"].items()],
        ("probe: layers.pool.params = -1, path", "/".join(map(str, results["probe: bad per-layer entry"]["pydantic"])),
         "/".join(map(str, results["probe: bad per-layer entry"]["msgspec"]))),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  {'pydantic':<40}  msgspec", "-" * (width + 90)]
    lines += [f"{a:{width}}  {b!s:<40}  {c!s}" for a, b, c in rows]
    lines.append(f"left to manifest.py: pydantic {p['missed']}; msgspec {m['missed']}")
    extra = m["caught but the loader's schema does not"] + p["caught but the loader's schema does not"]
    if extra:
        lines.append(f"caught beyond archreport.manifest.schema: {extra}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=300, help="timed validations per manifest (default 300)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # this checkout's archreport, not an installed one
    results = measure(args.runs)
    print(f"{results['date']}, Python {results['python']}, {results['cases']}")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
