"""Human units for the HTML and PDF (exact integers go to CSV and JSON)."""

from __future__ import annotations

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_IEC = ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))


def si(value: float | None, unit: str = "") -> str:
    """1256080 -> '1.26 M' (base 1000)."""
    if value is None:
        return "n/a"
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}".rstrip()
    return f"{value:,.0f} {unit}".rstrip()


def flops(value: int | None, lower_bound: bool = False) -> str:
    """13095520 -> '13.1 MFLOPs'; '≥ ' when some layers could not be counted."""
    if value is None:
        return "n/a"
    return ("≥ " if lower_bound else "") + si(value, "FLOPs")


def nbytes(value: int | None) -> str:
    """5024320 -> '4.79 MiB' (base 1024)."""
    if value is None:
        return "n/a"
    for scale, unit in _IEC:
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:,} B"


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
