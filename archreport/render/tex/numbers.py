"""numbers.tex: one LaTeX macro per headline number, and the check that a paper's copy is still true.

A paper writes ``\\arLeNetParams`` where it would have typed 1,256,080, and its CI runs
``python -m archreport check-numbers paper/numbers.tex report.json``: when the model
changes, the check lists each macro whose value no longer matches (issue 29).

Macro names are ``\\ar`` + the model's stem + the quantity (:data:`QUANTITIES`).
LaTeX command names are letters only, so the stem is the model name's ASCII letters
and digits, each word capitalised, each digit spelt out ("ResNet-50" -> ``ResNetFiveZero``,
"MobileNetV2" -> ``MobileNetVTwo``); accents are dropped ("Ü-Net" -> ``UNet``); a name with
neither letters nor digits is ``Model``. When a model's macros would repeat an earlier
model's (a collision: "ResNet50" and "ResNet-50"), its stem gets ``No`` and its position in
the report spelt out (``ResNetFiveZeroNoTwo``), then ``X`` until no name repeats.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from archreport import units
from archreport.data import ModelReport
from archreport.errors import UsageError

DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
MAX_BYTES = {"numbers": 4 * 1024**2, "report": 512 * 1024**2}  # what check-numbers reads, at most


def _exact(value: Any) -> str:
    """1256080 -> ``1{,}256{,}080``: the braces keep math mode from spacing the commas."""
    return f"{int(value):,}".replace(",", "{,}")


def _with_unit(text: str) -> str:
    """``13.1 M`` -> ``13.1\\,\\mbox{M}``: the unit upright in math mode too."""
    number, _, unit = text.partition(" ")
    return f"{number}\\,\\mbox{{{unit}}}" if unit else number


def _si(value: Any) -> str:
    return _with_unit(units.si(value))


def _bytes(value: Any) -> str:
    return _with_unit(units.nbytes(int(value)))


# Each macro's suffix, the totals field it shows, how, and which lower-bound flag applies.
QUANTITIES: tuple[tuple[str, str, Callable[[Any], str], str | None], ...] = (
    ("Params", "params", _exact, None),
    ("ParamsShort", "params", _si, None),
    ("TrainableParams", "trainable_params", _exact, None),
    ("NonTrainableParams", "non_trainable_params", _exact, None),
    ("Flops", "flops", _exact, "flops_lower_bound"),
    ("FlopsShort", "flops", _si, "flops_lower_bound"),
    ("Macs", "macs", _exact, "flops_lower_bound"),
    ("FlopsPerToken", "flops_per_token", _si, "flops_lower_bound"),
    ("ParamMemory", "param_bytes", _bytes, None),
    ("ActivationMemory", "activation_bytes", _bytes, "memory_lower_bound"),
    ("InferenceMemory", "inference_bytes", _bytes, "memory_lower_bound"),
    ("InferencePeak", "inference_peak_bytes", _bytes, "memory_lower_bound"),
    ("ActiveFlops", "active_flops", _si, "flops_lower_bound"),
    ("ActiveParams", "active_params", _exact, None),
    ("ActiveParamsShort", "active_params", _si, None),
    ("Layers", "layers", _exact, None),
    ("Depth", "depth", _exact, None),
)


def stem(name: str) -> str:
    """The letters-only part of a model's macro names (see the module's docstring)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    out = []
    for word in re.findall(r"[A-Za-z0-9]+", plain):
        spelt = re.sub(r"[0-9]", lambda d: DIGITS[int(d[0])], word)
        out.append(spelt[:1].upper() + spelt[1:])
    return "".join(out) or "Model"


def _spelt(number: int) -> str:
    return "".join(DIGITS[int(d)] for d in str(number))


def macros(models: Iterable[tuple[str, Mapping[str, Any] | None]]) -> dict[str, str]:
    """Every macro's name (without the backslash) and its LaTeX value, in the report's order.

    ``models`` are (name, totals) pairs, totals as report.json holds them (None: the model failed).
    """
    return {macro: value for _, own in by_model(models) for macro, value in own.items()}


def by_model(models: Iterable[tuple[str, Mapping[str, Any] | None]]) -> list[tuple[str, dict[str, str]]]:
    """Each analysed model's name and its macros (name without the backslash -> value)."""
    taken: set[str] = set()
    out = []
    for position, (name, totals) in enumerate(models, start=1):
        if totals is None:
            continue
        values = {
            suffix: ("\\ensuremath{\\geq}\\," if bound and totals.get(bound) else "") + show(value)
            for suffix, field, show, bound in QUANTITIES
            if (value := totals.get(field)) is not None
        }
        base = stem(name)
        candidate = base
        if any(f"ar{candidate}{suffix}" in taken for suffix in values):
            candidate = f"{base}No{_spelt(position)}"
        while any(f"ar{candidate}{suffix}" in taken for suffix in values):
            candidate += "X"
        own = {f"ar{candidate}{suffix}": value for suffix, value in values.items()}
        taken.update(own)
        out.append((name, own))
    return out


def numbers_tex(models: list[ModelReport], version: str = "") -> str:
    """numbers.tex: ``\\newcommand`` per headline number of every model that was analysed."""
    pairs = [(m.name, dataclasses.asdict(m.totals) if m.ok and m.totals else None) for m in models]
    made = f" by archreport {version}" if version else ""
    lines = [
        f"% Headline numbers of each model, written{made}. Do not edit: rerun archreport, and keep",
        "% a copy in the paper checked with: python -m archreport check-numbers numbers.tex report.json",
        "% Names: \\ar + the model name's letters and digits (digits spelt out) + the quantity.",
    ]
    for name, own in by_model(pairs):
        lines.append(f"% {' '.join(name.split())}")
        lines += [f"\\newcommand{{\\{macro}}}{{{value}}}" for macro, value in own.items()]
    for name, totals in pairs:
        if totals is None:
            lines.append(f"% {' '.join(name.split())}: failed, no numbers")
    return "\n".join(lines) + "\n"


# -- check-numbers ------------------------------------------------------------------------------
_DEFINITION = re.compile(
    r"\\(?:newcommand|renewcommand|providecommand)\*?\s*(?:\{\s*\\([A-Za-z]+)\s*\}|\\([A-Za-z]+))\s*\{"
)


def read_macros(text: str) -> dict[str, str]:
    """Each ``\\newcommand{\\name}{value}`` (or ``\\renewcommand``, ``\\providecommand``) in a file."""
    out: dict[str, str] = {}
    for found in _DEFINITION.finditer(text):
        depth, at = 1, found.end()
        while at < len(text) and depth:
            if text[at] == "\\":
                at += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[at], 0)
            at += 1
        if depth == 0:
            out[found[1] or found[2]] = text[found.end() : at - 1].strip()
    return out


def _read(path: Path, what: str, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"check-numbers: cannot read {what} {path}: {exc.strerror or exc}.") from None
    if len(data) > limit:
        raise UsageError(f"check-numbers: {path} is larger than {limit // 1024**2} MiB; is it {what}?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"check-numbers: {path} is not UTF-8 text; expected {what}.") from None


def check_numbers(numbers: Path, report: Path) -> list[str]:
    """Each macro of ``numbers`` (a paper's numbers.tex) whose value ``report`` (report.json) no longer gives.

    Returns:
        One line per mismatch; empty when every ``\\ar...`` macro matches.

    Raises:
        UsageError: a file cannot be read, report.json is not archreport's, or the .tex file
            defines no ``\\ar...`` macro.
    """
    import json

    if report.is_dir():
        report = report / "report.json"
    paper = {
        k: v
        for k, v in read_macros(_read(numbers, "a numbers.tex", MAX_BYTES["numbers"])).items()
        if re.fullmatch(r"ar[A-Z][A-Za-z]*", k)
    }
    if not paper:
        raise UsageError(
            f"check-numbers: {numbers} defines no \\ar... macro; expected the numbers.tex archreport writes "
            'into the report folder\'s tex/ (formats = [..., "tex"]).'
        )
    try:
        data = json.loads(_read(report, "a report.json", MAX_BYTES["report"]))
    except ValueError as exc:  # not JSON, or a number longer than Python reads
        raise UsageError(
            f"check-numbers: {report} is not JSON ({exc}); expected archreport's report.json."
        ) from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list) or not all(
        isinstance(m, dict) and isinstance(m.get("name"), str) for m in models
    ):
        raise UsageError(
            f"check-numbers: {report} is not an archreport report.json (no 'models' list with names)."
        )
    pairs = [
        (m["name"], m["totals"] if m.get("status") == "ok" and isinstance(m.get("totals"), dict) else None)
        for m in models
    ]
    current = macros(pairs)
    problems = []
    for name, value in paper.items():
        if name not in current:
            problems.append(
                f"\\{name}: {numbers} has {value}; {report} has no such number (a model renamed, removed or failed?)"
            )
        elif shown(current[name]) != shown(value):
            problems.append(f"\\{name}: {numbers} has {value}, {report} has {current[name]}")
    return problems


def shown(value: str) -> str:
    """A macro's value as a reader sees it: ``1{,}256{,}080`` and ``1,256,080`` are the same number.

    So a numbers.tex that another archreport version wrote (or a hand-tidied one) is compared
    by what it says, not by its markup.
    """
    text = re.sub(r"\\(?:mbox|text|textrm|ensuremath)\{([^{}]*)\}", r"\1", value)
    for markup, plain in (("{,}", ","), ("\\geq", "≥"), ("\\,", " "), ("~", " "), ("{", ""), ("}", "")):
        text = text.replace(markup, plain)
    return " ".join(text.replace("$", "").split())
