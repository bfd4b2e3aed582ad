"""Human units for the HTML and PDF (exact integers go to CSV and JSON), and names shown as they are."""

from __future__ import annotations

import re

# What a name can hide or disguise itself with: control characters (NUL, ESC: C0 and C1, but tab
# and newline), lone surrogates and non-characters (invalid XML), and the bidirectional controls
# of "Trojan Source" (CVE-2021-42574: U+202E makes "exe.txt" read "txt.exe"). issue 25, item 9.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def visible(text: str) -> str:
    """``text`` with every hidden or direction-changing character as a visible escape (``\\u202e``).

    The one escape for names wherever they are shown: the HTML and PDF (the templates' finalize),
    DOT and SVG, Markdown, CSV, the command's lines and the notebook's text. report.json keeps
    names exactly.
    """
    return _HIDDEN.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# Ascending; a value is shown in the largest unit it reaches *after rounding*, so
# 999_999 is "1 M", not "1e+03 k" (issue 10, item 7).
_SI = ((1, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"), (1e15, "P"), (1e18, "E"))
_IEC = ((1, "B"), (1024, "KiB"), (1024**2, "MiB"), (1024**3, "GiB"), (1024**4, "TiB"), (1024**5, "PiB"))


def _scaled(value: float, units: tuple[tuple[float, str], ...]) -> tuple[str, str]:
    """``value`` as 3 significant digits and its unit, the mantissa always below 1000 once rounded."""
    magnitude = abs(value)
    chosen = 0
    for i, (scale, _) in enumerate(units):
        if magnitude >= scale:
            chosen = i
    scale, unit = units[chosen]
    if chosen == 0:  # the plain unit shows whole numbers ("1,023 B", "999")
        if abs(round(value)) < units[1][0]:
            return f"{value:,.0f}", unit
        scale, unit = units[1]  # 999.6 rounds to 1,000: "1 k"
        return f"{value / scale:.3g}", unit
    text = f"{value / scale:.3g}"
    if abs(float(text)) >= 1000:
        if chosen + 1 < len(units):
            scale, unit = units[chosen + 1]
            text = f"{value / scale:.3g}"  # 1023.99 KiB -> "1 MiB", 1003 KiB -> "0.98 MiB"
        else:
            text = f"{value / scale:,.0f}"  # past the largest unit: "2,500 E", never "2.5e+03"
    return text, unit


def si(value: float | None, unit: str = "") -> str:
    """1256080 -> '1.26 M' (base 1000)."""
    if value is None:
        return "n/a"
    number, prefix = _scaled(value, _SI)
    return f"{number} {prefix}{unit}".rstrip()


def flops(value: int | None, lower_bound: bool = False) -> str:
    """13095520 -> '13.1 MFLOPs'; '≥ ' when some layers could not be counted."""
    if value is None:
        return "n/a"
    return ("≥ " if lower_bound else "") + si(value, "FLOPs")


def nbytes(value: int | None, lower_bound: bool = False) -> str:
    """5024320 -> '4.79 MiB' (base 1024); '≥ ' when part of it could not be counted."""
    if value is None:
        return "n/a"
    number, unit = _scaled(value, _IEC)
    return ("≥ " if lower_bound else "") + f"{number} {unit}"


def share(value: float | None) -> str:
    """0.9987 -> '99.9 %'; a share short of whole never reads as 100 %."""
    if value is None:
        return "n/a"
    text = f"{value * 100:.1f}"
    if value < 1 and text == "100.0":
        text = "99.9"
    return f"{text} %"


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def expected(value: object) -> str:
    """An expectation as the manifest wrote it: ``13095520 ± 2 %`` for a tolerance table."""
    if isinstance(value, dict):
        parts = [f"{value.get('value')}"]
        if value.get("rel_tol"):
            parts.append(f"± {value['rel_tol'] * 100:g} %")
        if value.get("abs_tol"):
            parts.append(f"± {value['abs_tol']:g}")
        return " ".join(parts)
    return str(value)
