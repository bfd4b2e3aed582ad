"""The manifest's schema (v1), declared once.

Every table of the manifest is a frozen dataclass here, and pydantic validates
the parsed TOML against them (issue 16). The same declarations give the typed
values the rest of archreport reads (``Expect``, ``DiagramOptions``), the key
sets and choices for messages and did-you-mean, and the JSON Schema that
editors use (``python -m archreport --schema``).

The classes are stdlib dataclasses, not pydantic models, so they stay plain:
they pickle into worker processes and ``dataclasses.asdict`` works on them.
pydantic reads ``__pydantic_config__`` and the ``Annotated`` metadata only when
it validates. Scalars are strict (TOML keeps ``true`` and ``"yes"`` apart, and
so do we); a few validators below raise :class:`Problem` with the exact
sentence a user sees. ``manifest.py`` adds the file, the line and the checks
that need the file system.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import functools
import keyword
import math
import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    PlainValidator,
    StrictBool,
    StrictStr,
    Tag,
    WithJsonSchema,
)

# -- closed choices: each exists here only ---------------------------------------------
ReportFormat = Literal["html", "pdf", "tex"]
DiagramFormat = Literal["svg", "png", "pdf"]
PageSize = Literal["A4", "Letter"]
Rankdir = Literal["TB", "LR", "BT", "RL"]
Splines = Literal["ortho", "spline", "polyline", "line", "curved"]
Backend = Literal["auto", "shape-only", "tensorflow", "jax", "torch"]

REPORT_FORMATS: tuple[str, ...] = get_args(ReportFormat)
DIAGRAM_FORMATS: tuple[str, ...] = get_args(DiagramFormat)
PAGE_SIZES: tuple[str, ...] = get_args(PageSize)
RANKDIRS: tuple[str, ...] = get_args(Rankdir)
SPLINES_MODES: tuple[str, ...] = get_args(Splines)
BACKENDS: tuple[str, ...] = get_args(Backend)
SOURCE_KEYS = ("builder", "application", "file")
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5", ".json")
DEFAULT_MODEL_TIMEOUT = 600.0


# -- how values are shown in messages ------------------------------------------------------
def show(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened: a manifest value can be long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def type_name(value: Any) -> str:
    """TOML's name for a value's type: "a boolean", "a table", ..."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}  # fmt: skip
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return "a date or time"
    return names.get(type(value), type(value).__name__)


def suggest(value: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ""."""
    options = [str(c) for c in choices]
    same_case = [c for c in options if c.casefold() == str(value).casefold()]
    if same_case:  # 'a4' for 'A4', 'Title' for 'title'
        return f" (did you mean {same_case[0]!r}?)"
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def finite(value: Any) -> bool:
    """A real number that fits a float (TOML integers can be arbitrarily long)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


class Problem(ValueError):
    """A value is wrong: ``message`` is the sentence shown; ``key`` extends the key path below it."""

    def __init__(self, message: str, key: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


# -- scalar types -----------------------------------------------------------------------------
def _number(value: Any, expected: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Problem(f"expected {expected}, got {type_name(value)} {show(value)}.")
    return value


def _count(value: Any) -> int | float:
    number = _number(value, "an integer or a float")
    if not finite(number) or number < 0:
        raise Problem(f"expected a finite number, zero or more, got {show(value)}.")
    return number


def _seconds(value: Any) -> float:
    if not finite(_number(value, "a positive number")) or value <= 0:
        raise Problem(f"expected a positive number, got {show(value)}.")
    return float(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Problem(f"expected an integer, got {type_name(value)} {show(value)}.")
    if value <= 0:
        raise Problem(f"expected a positive integer, got {show(value)}.")
    return value


def _nonblank(value: str) -> str:
    if not value.strip():
        raise Problem("must not be empty.")
    return value


def _file_name(value: str) -> str:
    if "\0" in _nonblank(value):
        raise Problem(f"{show(value)}: a file name cannot contain a NUL character.")
    return value


def _folder(value: str) -> str:
    if not value.strip() or "\0" in value:
        raise Problem(f'{show(value)} is not a usable folder name; expected a folder such as "reports".')
    return value


def _dotted(text: str) -> bool:
    return bool(text) and all(p.isidentifier() and not keyword.iskeyword(p) for p in text.split("."))


def _builder(value: str) -> str:
    if not value.strip():
        raise Problem("must not be empty; expected 'module:qualname', for example 'lenet:LeNet.build'.")
    module, sep, qualname = value.partition(":")
    if not (sep and _dotted(module) and _dotted(qualname)):
        raise Problem(
            f"{show(value)} is not 'module:qualname' with Python identifiers on both sides "
            "(for example 'lenet:LeNet.build')."
        )
    return value


_EXECUTOR = re.compile(
    r"(?:dask|tls)://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})"
)


def check_executor(value: str) -> str:
    """``value`` if it names an executor ("local", "dask://HOST:PORT", "tls://HOST:PORT"); else Problem."""
    found = _EXECUTOR.fullmatch(value)
    if value != "local" and not (found and 0 < int(found[1]) < 65536):
        raise Problem(f'{show(value)} is not "local", "dask://HOST:PORT" or "tls://HOST:PORT".')
    return value


def _plain(value: Any, key: tuple[str | int, ...] = ()) -> Any:
    """Builder arguments travel to a worker and into report.json: JSON values only."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Problem(
            f"{value!r} cannot be passed to a builder (report.json cannot hold it); expected a finite number.",
            key,
        )
    if isinstance(value, dt.date | dt.time):
        raise Problem(
            f"{show(value)}: dates and times cannot be passed to a builder; write them as strings.", key
        )
    if isinstance(value, list):
        for i, item in enumerate(value):
            _plain(item, (*key, i))
    elif isinstance(value, dict):
        for name, item in value.items():
            _plain(item, (*key, name))
    return value


def _of_type(kind: type, what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise Problem(f"expected {what}, got {type_name(value)} {show(value)}.")
        return _plain(value)

    return check


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _some_formats(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise Problem(f"expected at least one of {', '.join(REPORT_FORMATS)}, got an empty array.")
    return _unique(values)


# JSON Schema draft 4 (what taplo reads) can say most of what the validators check. "Finite" is
# a maximum: TOML integers are unbounded, and one past the largest float is as wrong as inf.
_NUMBER = {"type": "number", "minimum": 0, "maximum": sys.float_info.max}
_NOT_BLANK = {"type": "string", "pattern": r"\S"}


def _any_case(suffix: str) -> str:
    """The regex of a suffix in any case (taplo's regexes take no flags): ".h5" -> "\\.[Hh]5"."""
    return r"\." + "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in suffix[1:])


# The loader checks Path(file).suffix: a suffix needs a name before its dot (".keras" has none).
_MODEL_FILE = rf"[^/]({'|'.join(map(_any_case, MODEL_FILE_SUFFIXES))})/*$"
Count = Annotated[int | float, PlainValidator(_count), WithJsonSchema(_NUMBER)]
Seconds = Annotated[
    float,
    PlainValidator(_seconds),
    WithJsonSchema({**_NUMBER, "exclusiveMinimum": True}),
]
PositiveInt = Annotated[int, PlainValidator(_positive_int), WithJsonSchema({"type": "integer", "minimum": 1})]


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise Problem(
            f"expected a share between 0 and 1 (0.99 is 99 %), got {type_name(value)} {show(value)}."
        )
    return float(value)


Share = Annotated[
    float, PlainValidator(_share), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})
]
# A cost curve's points: each traced apart, so a long list is a long run.
MAX_SWEEP_POINTS = 64
Name = Annotated[StrictStr, AfterValidator(_nonblank), WithJsonSchema(_NOT_BLANK)]
FileName = Annotated[
    StrictStr,
    AfterValidator(_file_name),
    WithJsonSchema({"type": "string", "pattern": _MODEL_FILE}),
]
Shape = Annotated[
    StrictStr, WithJsonSchema({"type": "string", "description": 'as Keras writes it: "(None, 10)"'})
]
Builder = Annotated[
    StrictStr,
    AfterValidator(_builder),
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"}),
]
Executor = Annotated[
    StrictStr,
    AfterValidator(check_executor),
    WithJsonSchema({"type": "string", "pattern": r"^(local|(dask|tls)://[^\s:/]+:[0-9]{1,5})$"}),
]
Args = Annotated[list[Any], PlainValidator(_of_type(list, "an array")), WithJsonSchema({"type": "array"})]
Kwargs = Annotated[
    dict[str, Any], PlainValidator(_of_type(dict, "a table")), WithJsonSchema({"type": "object"})
]
Dims = tuple[PositiveInt, ...]
_DIMS = {"type": "array", "items": {"type": "integer", "minimum": 1}}


def _input_value(value: Any) -> Any:
    """A number, or nested arrays of numbers: one sample's value of an input."""
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise Problem(f"expected a number or an array of numbers, got {type_name(value)} {show(value)}.")
    if isinstance(value, list):
        for item in value:
            _input_value(item)
    elif not math.isfinite(value):
        raise Problem(f"{value!r} is not a finite number.")
    return value


InputValue = Annotated[Any, PlainValidator(_input_value), WithJsonSchema({"type": ["number", "array"]})]
Inputs = Annotated[dict[str, Dims], WithJsonSchema({"type": "object", "minProperties": 1, "additionalProperties": _DIMS})]  # fmt: skip
_INPUT_SHAPES = {"type": "array", "minItems": 1, "items": _DIMS}


# The error type of a union that fits none of its members; its message says what was expected.
_WRONG_TYPE = "archreport_wrong_type"


def _tolerance_or_number(value: Any) -> str:
    return "table" if isinstance(value, dict) else "number"


# Every table: unknown keys are errors. Attribute docstrings become the JSON Schema's
# descriptions, read only when --schema asks for them (_described): reading them costs pydantic
# 50 ms, a tenth of a warm re-run (issue 13).
TABLE = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Tolerance:
    """An expected value with a tolerance: `{ value = 13.1e6, rel_tol = 0.02 }`."""

    __pydantic_config__ = TABLE
    missing_hint: ClassVar[str] = "a tolerance table needs 'value', e.g. { value = 13.1e6, rel_tol = 0.02 }."

    value: Count
    """The expected value."""
    rel_tol: Count | None = None
    """Relative tolerance: 0.02 accepts 2 % either way."""
    abs_tol: Count | None = None
    """Absolute tolerance."""


# A declared total: a number, or { value, rel_tol, abs_tol }.
Target = Annotated[
    Annotated[Count, Tag("number")] | Annotated[Tolerance, Tag("table")],
    Discriminator(_tolerance_or_number),
]


# -- gates against the --compare baseline --------------------------------------------------
# The totals a gate can hold, and how their amounts may be written.
GATE_FIGURES = (
    "params", "trainable_params", "flops", "macs", "param_bytes", "activation_bytes", "inference_bytes",
)  # fmt: skip
_COUNT_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BYTE_UNITS = {
    "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
    "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
}  # fmt: skip
_GATE = re.compile(r"\s*([+±])\s*([0-9]+(?:\.[0-9]+)?)\s*(%|[A-Za-z]*)\s*")


@dataclass(frozen=True)
class Gate:
    """How much a total may change against the baseline: ``"+1%"``, ``"+10 MiB"``, ``"±0"``."""

    text: str  # as written
    amount: str  # the number as written, read exactly (decimal) when checked
    unit: str  # "%", a count prefix ("", "k", "M", "G", "T") or a byte unit ("MiB", "MB", ...)
    either_way: bool  # "±": a decrease beyond the amount breaks it too

    @property
    def relative(self) -> bool:
        return self.unit == "%"

    @property
    def scale(self) -> int:
        """What one unit of the amount is, in the figure's own units (1 for a percentage)."""
        return {**_COUNT_UNITS, **_BYTE_UNITS}.get(self.unit, 1)


def parse_gate(value: Any) -> Gate:
    """A gate's text as a :class:`Gate`; Problem when it is not one."""
    if not isinstance(value, str):
        raise Problem(f'expected a change such as "+1%" or "+10 MiB", got {type_name(value)} {show(value)}.')
    found = _GATE.fullmatch(value)
    if found is None or (found[3] not in ("%", *_COUNT_UNITS, *_BYTE_UNITS)):
        raise Problem(
            f'{show(value)} is not a change: expected "+" (growth at most) or "±" (either way), a number '
            'and "%", a count unit (k, M, G, T) or a byte unit (KiB, MiB, GiB, MB, GB), e.g. "+1%" or "+10 MiB".'
        )
    return Gate(text=value.strip(), amount=found[2], unit=found[3], either_way=found[1] == "±")


GateValue = Annotated[
    Gate,
    PlainValidator(parse_gate),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*[+±]\s*[0-9]+(\.[0-9]+)?\s*(%|k|M|G|T|B|KiB|MiB|GiB|TiB|kB|MB|GB|TB)?\s*$",
            "description": 'The largest change against the baseline: "+1%", "+5 %", "+10 MiB", "±0".',
        }
    ),
]


@dataclass(frozen=True)
class Gates:
    """How much each total may grow against the --compare baseline; a change beyond it fails (exit 1)."""

    __pydantic_config__ = TABLE

    params: GateValue | None = None
    """Total parameters: "+1%", "+100k"."""
    trainable_params: GateValue | None = None
    flops: GateValue | None = None
    """Forward FLOPs: "+5%", "+1G"."""
    macs: GateValue | None = None
    param_bytes: GateValue | None = None
    """Parameter memory: "+10 MiB", "+2%"."""
    activation_bytes: GateValue | None = None
    inference_bytes: GateValue | None = None

    def __post_init__(self) -> None:
        for name in GATE_FIGURES:
            gate = getattr(self, name)
            if gate is None or gate.relative:
                continue
            in_bytes = name.endswith("_bytes")
            if in_bytes and gate.unit in _COUNT_UNITS and gate.unit != "":
                iec = {"k": "KiB"}.get(gate.unit, f"{gate.unit}iB")
                raise Problem(
                    f'{name} is in bytes: write "+{gate.amount} {iec}" or a percentage, not {show(gate.text)}.',
                    (name,),
                )
            if not in_bytes and gate.unit in _BYTE_UNITS:
                raise Problem(
                    f"{name} is a count, not bytes: write a number with k, M, G or T, or a percentage, not {show(gate.text)}.",
                    (name,),
                )

    def given(self) -> dict[str, Gate]:
        """The gates this table sets, by figure."""
        return {name: gate for name in GATE_FIGURES if (gate := getattr(self, name)) is not None}


@dataclass(frozen=True)
class Accept:
    """A change a gate would stop, accepted in review: the new values and why (`[model.accept]`)."""

    __pydantic_config__ = TABLE
    missing_hint: ClassVar[str] = (
        'an accepted change needs its reason, e.g. reason = "a wider head for the new classes (PR #42)".'
    )

    reason: Name
    """Why the change is intended; shown beside the gate it lets through."""
    params: Target | None = None
    """The new total this change brings (the number report.md shows); a gate on it passes at this value only."""
    trainable_params: Target | None = None
    flops: Target | None = None
    macs: Target | None = None
    param_bytes: Target | None = None
    activation_bytes: Target | None = None
    inference_bytes: Target | None = None

    def __post_init__(self) -> None:
        if not any(getattr(self, name) is not None for name in GATE_FIGURES):
            raise Problem(
                "name the new value of each figure this change accepts, e.g. params = 26_145_000 (the value "
                "report.md shows); an accept with a reason alone would let every later change through."
            )


@dataclass(frozen=True)
class LayerExpect:
    """Declared facts about one layer, found by name or by path ("outer/inner")."""

    __pydantic_config__ = TABLE

    output_shape: Shape | None = None
    """The layer's output shape, e.g. "(None, 14, 14, 50)"."""
    input_shape: Shape | None = None
    """The layer's input shape; several inputs as one string: "[(None, 3), (None, 4)]"."""
    params: Target | None = None
    """The layer's parameter count."""
    flops: Target | None = None
    """The layer's forward FLOPs."""


def _layer_entry(value: Any) -> str | None:
    return "string" if isinstance(value, str) else "table" if isinstance(value, dict) else None


# A layer's entry: its output shape as a string, or a table of facts.
LayerCheck = Annotated[
    Annotated[Shape, Tag("string")] | Annotated[LayerExpect, Tag("table")],
    Discriminator(
        _layer_entry,
        custom_error_type=_WRONG_TYPE,
        custom_error_message='an output shape such as "(None, 10)", or a table',
    ),
]


def _layers_entry(value: Any) -> str:
    # `layers = 11` and `layers = { value = 11, rel_tol = 0.1 }` count layers; any other table
    # declares per-layer facts (a layer may well be called "value": its entry is then a string or table).
    if not isinstance(value, dict):
        return "number"
    if set(value) <= {"value", "rel_tol", "abs_tol"} and not any(
        isinstance(v, str | dict) for v in value.values()
    ):
        return "table"
    return "layers"


LayersTarget = Annotated[
    Annotated[Count, Tag("number")]
    | Annotated[Tolerance, Tag("table")]
    | Annotated[dict[str, LayerCheck], Tag("layers")],
    Discriminator(_layers_entry),
]


@dataclass(frozen=True)
class Expect:
    """A model's declared assumptions (`[model.expect]`); a violation exits 1."""

    __pydantic_config__ = TABLE

    params: Target | None = None
    """Total parameters."""
    trainable_params: Target | None = None
    non_trainable_params: Target | None = None
    flops: Target | None = None
    """Forward FLOPs (2 per multiply-add) at the model's batch size."""
    macs: Target | None = None
    layers: LayersTarget | None = None
    """The number of top-level layers, or a table of per-layer facts keyed by layer name or path."""
    depth: Target | None = None
    output_shape: Shape | None = None
    output_shapes: tuple[Shape, ...] | None = None
    input_shape: Shape | None = None
    input_shapes: tuple[Shape, ...] | None = None
    max_param_bytes: Count | None = None
    max_flops: Count | None = None
    max_activation_bytes: Count | None = None
    active_flops: Target | None = None
    """A mixture-of-experts model's FLOPs with each token's top-k experts only (a dense model: its FLOPs)."""
    active_params: Target | None = None
    """A mixture-of-experts model's parameters a top-k inference uses (a dense model: all of them)."""
    max_active_flops: Count | None = None
    max_inference_peak_bytes: Count | None = None
    """At most this much memory for inference: parameters + inputs + the activation peak by liveness."""
    min_coverage: Share | None = None
    """At least this share of the FLOPs counted exactly by a rule (1.0 when nothing is a lower bound)."""
    min_layer_coverage: Share | None = None
    """At least this share of the called layers counted exactly."""
    accept_lower_bound: StrictBool = False
    """Let a check that a lower bound (FLOPs or memory) or an unknown count cannot decide pass (still reported "unknown")."""


@dataclass(frozen=True)
class DiagramOptions:
    """`plot_model`'s options: the `[diagram]` table, and each model's overrides."""

    __pydantic_config__ = TABLE

    show_shapes: StrictBool = True
    show_dtype: StrictBool = False
    show_layer_names: StrictBool = True
    show_layer_activations: StrictBool = False
    show_trainable: StrictBool = False
    expand_nested: StrictBool = False
    rankdir: Rankdir = "TB"
    dpi: PositiveInt = 96
    """Raster output (diagram.png) only."""
    splines: Splines = "ortho"
    """The first mode tried; fallbacks follow."""
    timeout: Seconds = 60.0
    """Seconds per Graphviz attempt."""

    def __post_init__(self) -> None:
        # Options built in code skip the schema; these values end up in the DOT source.
        if self.rankdir not in RANKDIRS:
            raise ValueError(f"rankdir must be one of {RANKDIRS}, got {self.rankdir!r}")
        if self.splines not in SPLINES_MODES:
            raise ValueError(f"splines must be one of {SPLINES_MODES}, got {self.splines!r}")
        if self.dpi <= 0:
            raise ValueError(f"dpi must be positive, got {self.dpi!r}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout!r}")


@dataclass(frozen=True)
class DiagramTable(DiagramOptions):
    """A `[diagram]` table: the options plus extra diagram files."""

    formats: Annotated[tuple[DiagramFormat, ...], AfterValidator(_unique)] = ()
    """Extra diagram files; svg and pdf are always written."""


# -- the LaTeX kit and the PDF's profile (issue 29) ------------------------------------------
PdfProfile = Literal["full", "compact"]
TexLayers = Literal["top", "nested"]
PDF_PROFILES: tuple[str, ...] = get_args(PdfProfile)
# Widths of common venues, by name: a two-column paper's column and its full text width (ICML,
# NeurIPS, IEEE: about 3.25 in and 6.75 in), and an A4 article's text width.
NAMED_WIDTHS = {"column": "3.25in", "page": "6.75in", "a4-article": "6.3in"}
# PDF points (TeX's bp) per unit; TeX's pt is 1/72.27 in.
_PER_UNIT = {"in": 72.0, "cm": 72 / 2.54, "mm": 72 / 25.4, "pt": 72 / 72.27, "bp": 1.0}
_LENGTH = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(in|cm|mm|pt|bp)")


def length_pt(value: str) -> float:
    """A length as the manifest writes it ("3.25in", "84mm", "column") in PDF points."""
    found = _LENGTH.fullmatch(NAMED_WIDTHS.get(value, value).strip())
    if found is None:
        raise ValueError(f"not a length: {value!r}")
    return float(found[1]) * _PER_UNIT[found[2]]


def _length(value: str) -> str:
    try:
        points = length_pt(value)
    except ValueError:
        names = ", ".join(f'"{n}" ({w})' for n, w in NAMED_WIDTHS.items())
        raise Problem(
            f'{show(value)} is not a length; expected a number and a unit (in, cm, mm, pt, bp), e.g. "3.25in", '
            f"or one of {names}."
        ) from None
    if not 36 <= points <= 72 * 100:
        raise Problem(f"{show(value)} is {points / 72:.2f} in; expected between 0.5 in and 100 in.")
    return value


def _text_size(value: Any) -> float:
    size = _count(value)
    if not 1 <= size <= 72:
        raise Problem(f"expected a font size in pt between 1 and 72, got {show(value)}.")
    return float(size)


Length = Annotated[
    StrictStr,
    AfterValidator(_length),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(column|page|a4-article|\s*(\d+(\.\d*)?|\.\d+)\s*(in|cm|mm|pt|bp)\s*)$",
        }
    ),
]
TextSize = Annotated[
    float, PlainValidator(_text_size), WithJsonSchema({"type": "number", "minimum": 1, "maximum": 72})
]


@dataclass(frozen=True)
class TexTable:
    """The `[report.tex]` table: the LaTeX kit that `formats = [..., "tex"]` writes into tex/."""

    __pydantic_config__ = TABLE

    width: Length = "3.25in"
    """The figures' width: "3.25in", "84mm", "240pt", or "column" (3.25 in), "page" (6.75 in), "a4-article" (6.3 in)."""
    max_height: Length = "8in"
    """The tallest a figure (or each part of a split one) may be."""
    min_text_pt: TextSize = 6.0
    """The smallest text a figure may have, in pt: past it, the figure turns or splits instead of shrinking."""
    layers: TexLayers = "top"
    """The layer tables: top-level layers ("top") or every layer, nested ("nested")."""


@dataclass(frozen=True)
class ReportTable:
    """The `[report]` table."""

    __pydantic_config__ = TABLE

    title: StrictStr = "Architecture report"
    output_dir: Annotated[StrictStr, AfterValidator(_folder), WithJsonSchema(_NOT_BLANK)] = "reports"
    """Relative to the manifest's folder."""
    formats: Annotated[
        tuple[ReportFormat, ...],
        AfterValidator(_some_formats),
        WithJsonSchema({"type": "array", "items": {"enum": list(REPORT_FORMATS)}, "minItems": 1}),
    ] = ("html", "pdf")
    """report.json is always written."""
    page_size: PageSize = "A4"
    timeout: Seconds = DEFAULT_MODEL_TIMEOUT
    """Default per-model time limit, seconds."""
    backend: Backend = "auto"
    """How models are built: "auto" tries a shape-only build first."""
    batch_size: PositiveInt = 1
    """The batch size of FLOPs, activation memory and the values [model.expect] checks."""
    executor: Executor = "local"
    """Where models are built: "local", or a Dask scheduler "dask://HOST:PORT" / "tls://HOST:PORT"."""
    gates: Gates = field(default_factory=Gates)
    """How much each model's totals may grow against the --compare baseline (every model)."""
    # -- papers and reviews (issue 29) --
    pdf: PdfProfile = "full"
    """report.pdf: "full" (every diagram tile and layer) or "compact" (totals, overview, top-level table)."""
    tex: TexTable = field(default_factory=TexTable)
    """The LaTeX kit (formats = [..., "tex"])."""


@dataclass(frozen=True)
class Sweep:
    """`[model.sweep]`: the model's cost at several sequence lengths and/or batch sizes (every pair)."""

    __pydantic_config__ = TABLE

    sequence_length: tuple[PositiveInt, ...] = ()
    """Sequence lengths: each input whose length the model leaves open is traced at each."""
    batch_size: tuple[PositiveInt, ...] = ()
    """Batch sizes (default: the model's batch_size)."""

    def __post_init__(self) -> None:
        if not self.sequence_length and not self.batch_size:
            raise Problem(
                "expected sequence_length = [...] and/or batch_size = [...], e.g. sequence_length = [512, 2048]."
            )
        points = max(1, len(self.sequence_length)) * max(1, len(self.batch_size))
        if points > MAX_SWEEP_POINTS:
            raise Problem(f"{points} points is more than {MAX_SWEEP_POINTS}; each is traced apart.")

    def points(self, batch_size: int) -> list[tuple[int, int | None]]:
        """Every (batch size, sequence length) of the sweep, in order."""
        lengths: tuple[int | None, ...] = self.sequence_length or (None,)
        return [(b, n) for b in (self.batch_size or (batch_size,)) for n in lengths]


@dataclass(frozen=True)
class ModelTable:
    """One `[[model]]` table."""

    # What __post_init__ checks, in draft 4 (no if/then): exactly one source; with a source,
    # the keys it cannot take stay empty ("dependencies": when the key is there, the schema applies).
    __pydantic_config__ = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": [key]} for key in SOURCE_KEYS],
            "not": {"required": ["inputs", "input_shapes"]},
            "dependencies": {
                "application": {"properties": {"args": {"maxItems": 0}}},
                "file": {"properties": {"args": {"maxItems": 0}, "kwargs": {"maxProperties": 0}}},
            },
        },
    )
    what: ClassVar[str] = "a table ([[model]])"

    name: Name
    """Shown in the report; unique within the manifest."""
    builder: Builder | None = None
    """"module:qualname"; the module is looked up beside the manifest first."""
    application: Name | None = None
    """A keras.applications model name; weights=None unless kwargs set it."""
    file: FileName | None = None
    """A .keras, .h5 or .json model file, relative to the manifest."""
    args: Args = field(default_factory=list)
    kwargs: Kwargs = field(default_factory=dict)
    description: StrictStr | None = None
    timeout: Seconds | None = None
    """This model's time limit (default: [report] timeout)."""
    trust: StrictBool = False
    """Let this model's Lambda layers load (turns Keras's safe mode off for this model only)."""
    backend: Backend | None = None
    """Overrides [report] backend."""
    batch_size: PositiveInt | None = None
    """Overrides [report] batch_size."""
    inputs: Inputs | None = None
    """Each input's shape without the batch dimension, by input name: token_ids = [128]."""
    input_shapes: Annotated[tuple[Dims, ...], WithJsonSchema(_INPUT_SHAPES)] | None = None
    """The same by position: [[128], [128]]."""
    input_values: dict[str, InputValue] | None = None
    """Inputs whose values the model needs, not only their shapes (a number of steps, an image's
    patch grid): one sample's value by input name, the same for every sample."""
    diagram: DiagramTable | None = None
    expect: Expect = field(default_factory=Expect)
    sweep: Sweep | None = None
    """Cost curves: FLOPs and memory at several sequence lengths and batch sizes."""
    gates: Gates | None = None
    """This model's gates; each figure it sets overrides [report.gates] and --gate."""
    accept: Accept | None = None

    def __post_init__(self) -> None:
        sources = [key for key in SOURCE_KEYS if getattr(self, key) is not None]
        if len(sources) != 1:
            got = " and ".join(sources) if sources else "none"
            raise Problem(
                f"model {self.name!r} needs exactly one of builder, application or file; got {got}."
            )
        if self.inputs is not None and self.input_shapes is not None:
            raise Problem("give inputs (by name) or input_shapes (by position), not both.", ("input_shapes",))
        if self.inputs is not None and not self.inputs:
            raise Problem("expected at least one input: name = [dimensions without the batch].", ("inputs",))
        if self.input_shapes is not None and not self.input_shapes:
            raise Problem("expected at least one input shape, e.g. [[128]].", ("input_shapes",))
        if self.application is not None and self.args:
            raise Problem("keras.applications models take keyword arguments only; use kwargs.", ("args",))
        if self.file is not None and (self.args or self.kwargs):
            key = "args" if self.args else "kwargs"
            raise Problem("a model loaded from a file takes no args or kwargs.", (key,))


def _array_of_tables(value: Any) -> Any:
    if isinstance(value, dict):
        raise Problem(
            "expected an array of tables, got a single table: write [[model]] (two brackets) above each "
            "model, not [model]."
        )
    return value


def _some_models(models: tuple[ModelTable, ...]) -> tuple[ModelTable, ...]:
    if not models:
        raise Problem(
            "the manifest lists no models; add at least one [[model]] table with a name and one of "
            "builder, application or file."
        )
    return models


def _require_models(schema: dict[str, Any]) -> None:
    schema["required"] = ["model"]
    del schema["properties"]["model"]["default"]
    schema["properties"]["model"]["minItems"] = 1


@dataclass(frozen=True)
class ManifestDoc:
    """An archreport manifest (schema v1); see the README's manifest reference."""

    # The field's default () lets _some_models say what is missing; editors need the key itself.
    __pydantic_config__ = ConfigDict(extra="forbid", validate_default=True, json_schema_extra=_require_models)

    report: ReportTable = field(default_factory=ReportTable)
    diagram: DiagramTable = field(default_factory=DiagramTable)
    """Defaults for every model's diagram."""
    model: Annotated[
        tuple[ModelTable, ...], BeforeValidator(_array_of_tables), AfterValidator(_some_models)
    ] = ()
    """The models: one [[model]] table each."""

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for i, spec in enumerate(self.model):
            if spec.name in seen:
                raise Problem(
                    f"duplicate model name {spec.name!r} (also model[{seen[spec.name] + 1}]); names must be unique.",
                    ("model", i, "name"),
                )
            seen[spec.name] = i


# -- validation and its messages ---------------------------------------------------------
class SchemaError(Exception):
    """The document does not fit the schema: ``key`` is its key path (list indexes from 0)."""

    def __init__(self, key: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@functools.cache
def _adapter() -> Any:
    """Built once per process: pydantic compiles the whole schema here (about 40 ms)."""
    from pydantic import TypeAdapter

    return TypeAdapter(ManifestDoc)


def validate(data: dict[str, Any]) -> ManifestDoc:
    """The validated manifest; raises SchemaError for the first error in the document's order."""
    from pydantic import ValidationError

    try:
        doc: ManifestDoc = _adapter().validate_python(data)
    except ValidationError as exc:
        errors = [_explain(error) for error in exc.errors(include_url=False)]
        raise min(errors, key=lambda e: _order(data, e)) from None
    return doc


_TYPE_ERRORS = {
    "bool_type": "a boolean", "string_type": "a string", "int_type": "an integer",
    "float_type": "a float", "list_type": "an array", "tuple_type": "an array",
    "dict_type": "a table", "dataclass_type": "a table", "dataclass_exact_type": "a table",
}  # fmt: skip
_TAGS = {"number", "table", "string", "layers"}


def _explain(error: Any) -> SchemaError:
    """One pydantic error as our sentence, at the key path a user wrote."""
    loc = tuple(error["loc"])
    kind, value = error["type"], error.get("input")
    owner = _unwrap(_type_at(loc[:-1])) if loc else None
    path = _strip_tags(loc)
    if kind == "value_error" and isinstance(error["ctx"]["error"], Problem):
        problem = error["ctx"]["error"]
        return SchemaError((*path, *problem.key), problem.message)
    if kind == "unexpected_keyword_argument":
        keys = [f.name for f in dataclasses.fields(owner)] if dataclasses.is_dataclass(owner) else []
        name = str(loc[-1])
        return SchemaError(
            path, f"unknown key{suggest(name, keys)}. Valid keys here: {', '.join(sorted(keys))}."
        )
    if kind in ("missing", "missing_argument"):
        hint = getattr(owner, "missing_hint", None)
        return SchemaError(_strip_tags(loc[:-1]), hint or f"missing required key {loc[-1]!r}.")
    if kind == "literal_error":
        choices = get_args(_unwrap(_type_at(loc)))
        return SchemaError(
            path, f"{show(value)} is not one of {', '.join(choices)}{suggest(str(value), choices)}."
        )
    if kind == _WRONG_TYPE:
        return SchemaError(path, f"expected {error['msg']}, got {type_name(value)} {show(value)}.")
    if kind in _TYPE_ERRORS:
        what = getattr(_unwrap(_type_at(loc)), "what", _TYPE_ERRORS[kind])
        return SchemaError(path, f"expected {what}, got {type_name(value)} {show(value)}.")
    return SchemaError(path, f"{error['msg']}, got {type_name(value)} {show(value)}.")


def _strip_tags(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """The key path without the union tags pydantic puts in it ('number', 'table', ...)."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if part in _TAGS and _is_union(_unwrap(_type_at(loc[:i]))):
            continue
        out.append(part)
    return tuple(out)


def _order(data: Any, error: SchemaError) -> tuple[Any, ...]:
    """Sort key: unknown keys first (a misspelt key explains a missing one), then document order."""
    position: list[int] = []
    for part in error.key:
        if isinstance(part, int):
            position.append(part)
            data = data[part] if isinstance(data, list) and part < len(data) else None
        else:
            keys = list(data) if isinstance(data, dict) else []
            position.append(keys.index(part) if part in keys else len(keys))
            data = data.get(part) if isinstance(data, dict) else None
    return (not error.message.startswith("unknown key"), position)


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and type(None) in get_args(tp):
            rest = [a for a in get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
        else:
            return tp


def _is_union(tp: Any) -> bool:
    return get_origin(_annotated_base(tp)) in (Union, types.UnionType)


def _annotated_base(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _type_at(loc: tuple[Any, ...]) -> Any:
    """The declared type at a pydantic error location (None where the schema holds no type)."""
    tp: Any = ManifestDoc
    for part in loc:
        tp = _unwrap(tp)
        if dataclasses.is_dataclass(tp) and isinstance(part, str):
            tp = get_type_hints(tp, include_extras=True).get(part)
        elif get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif _is_union(tp):
            tagged = [a for a in get_args(tp) if Tag(part) in getattr(a, "__metadata__", ())]
            tp = tagged[0] if tagged else None
        else:
            return None
    return tp


# -- JSON Schema for editors ----------------------------------------------------------------
def validate_sweep(data: dict[str, Any]) -> Sweep:
    """A ``[model.sweep]`` table given in code (the library's ``describe``), checked as the manifest's is.

    Raises:
        SchemaError: what is wrong, in one sentence.
    """
    doc = validate({"model": [{"name": "sweep", "application": "sweep", "sweep": data}]})
    found = doc.model[0].sweep
    assert found is not None
    return found


def json_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, in draft 4 (taplo, and so VS Code's Even Better TOML, read draft 4)."""
    from pydantic import TypeAdapter

    # Draft 4 keeps subschemas under "definitions": its meta-schema checks nothing under "$defs".
    with _described():
        schema = TypeAdapter(ManifestDoc).json_schema(mode="validation", ref_template="#/definitions/{model}")
    schema["definitions"] = schema.pop("$defs")
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "archreport manifest (schema v1)",
        **_for_toml(schema),
    }


@contextlib.contextmanager
def _described() -> Iterator[None]:
    """Every table's config reads attribute docstrings, for the JSON Schema's descriptions."""
    tables = [
        Tolerance,
        LayerExpect,
        Expect,
        Gates,
        Accept,
        DiagramOptions,
        DiagramTable,
        TexTable,
        ReportTable,
        ModelTable,
        ManifestDoc,
    ]
    saved = {cls: cls.__dict__.get("__pydantic_config__") for cls in tables}
    try:
        for cls, config in saved.items():
            cls.__pydantic_config__ = ConfigDict(**(config or TABLE), use_attribute_docstrings=True)  # type: ignore[attr-defined]
        yield
    finally:
        for cls, config in saved.items():
            if config is None:
                del cls.__pydantic_config__  # type: ignore[attr-defined]
            else:
                cls.__pydantic_config__ = config  # type: ignore[attr-defined]


def _for_toml(node: Any) -> Any:
    """TOML has no null: drop the ``None`` defaults and branches pydantic writes for optional keys."""
    if isinstance(node, list):
        return [_for_toml(n) for n in node]
    if not isinstance(node, dict):
        return node
    # A "title" that is a string is pydantic's label; one whose value is a schema is the [report] key.
    out = {
        k: _for_toml(v)
        for k, v in node.items()
        if not (k == "default" and v is None) and not (k == "title" and isinstance(v, str))
    }
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        out.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    return out
