"""Property tests: no input makes the manifest loader or the escaping helpers misbehave."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from archreport import manifest
from archreport.diagram.dot import DiagramOptions, _visible, html_text
from archreport.errors import ManifestError
from archreport.model.graph import model_to_dot
from archreport.render.exports import _FORMULA_START, _cell, md_escape
from archreport.units import visible

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

# -- (a) arbitrary TOML documents and bytes -> Manifest or ManifestError ------------
KNOWN_KEYS = sorted(
    manifest.TOP_KEYS | manifest.REPORT_KEYS | manifest.DIAGRAM_KEYS | manifest.MODEL_KEYS
    | manifest.EXPECT_KEYS | {"value", "rel_tol", "abs_tol"}
)  # fmt: skip
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
strings = st.one_of(
    st.sampled_from([
        "tiny:build", "tiny:biuld", "tiny:SIZE", "tiny:Nets.small", "nope:x", "tiny.py", "m.keras", "m.txt",
        "MobileNetV2", "MobileNetV5", "LR", "lr", "html", "pdf", "svg", "A4", "", "..", "/", "(None, 4)",
    ]),
    st.text(max_size=12),
)  # fmt: skip
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    strings,
    st.dates(min_value=dt.date(1, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
model_tables = st.dictionaries(keys, values, max_size=6).map(
    lambda d: {"name": "m", "builder": "tiny:build", **d} if len(d) % 2 else d
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "report": st.dictionaries(st.sampled_from(sorted(manifest.REPORT_KEYS)) | keys, values, max_size=4),
        "diagram": st.dictionaries(st.sampled_from(sorted(manifest.DIAGRAM_KEYS)) | keys, values, max_size=4),
        "model": st.lists(model_tables, max_size=3),
    },
).flatmap(lambda d: st.dictionaries(keys, values, max_size=2).map(lambda extra: {**extra, **d}))
# Mostly valid manifests too, so that the success path (slugs, defaults) is exercised.
plausible_models = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=12), "builder": st.sampled_from(["tiny:build", "tiny:Nets.small"])},
    optional={
        "description": st.text(max_size=10),
        "kwargs": st.dictionaries(st.text(max_size=5), st.one_of(st.integers(-5, 5), st.text(max_size=5), st.booleans()), max_size=2),
        "timeout": st.one_of(st.integers(-1, 100), st.floats(allow_nan=True, allow_infinity=True)),
        "diagram": st.fixed_dictionaries({}, optional={"rankdir": st.sampled_from(["TB", "LR", "lr"]), "dpi": st.integers(-2, 300)}),
        "expect": st.fixed_dictionaries({}, optional={"params": st.integers(-2, 99), "flops": st.fixed_dictionaries({"value": st.integers(0, 9)}, optional={"rel_tol": st.floats(-1, 1)})}),
    },
)  # fmt: skip
plausible = st.fixed_dictionaries(
    {"model": st.lists(plausible_models, min_size=1, max_size=4, unique_by=lambda m: m["name"])},
    optional={
        "report": st.fixed_dictionaries(
            {}, optional={"title": st.text(max_size=10), "page_size": st.sampled_from(["A4", "Letter", "a4"])}
        )
    },
)
documents = st.one_of(documents, plausible)


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04x}" if not 0xD800 <= ord(ch) <= 0xDFFF else "\\ufffd")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then tables as [headers], arrays of tables as [[headers]]."""
    lines = [
        f"{toml_key(k)} = {toml_value(v)}"
        for k, v in doc.items()
        if not isinstance(v, dict) and not _tables(v)
    ]
    for key, value in doc.items():
        rows = [value] if isinstance(value, dict) else value if _tables(value) else []
        for row in rows:
            lines.append(f"\n[{toml_key(key)}]" if isinstance(value, dict) else f"\n[[{toml_key(key)}]]")
            lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in row.items())
    return "\n".join(lines) + "\n"


def _tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manifests")
    (path / "tiny.py").write_text(
        "def build(units=4):\n    return units\n\n\nSIZE = 3\n\n\nclass Nets:\n    def small(self):\n        pass\n",
        encoding="utf-8",
    )
    (path / "m.keras").write_bytes(b"PK")
    return path


def _load(path: Path) -> manifest.Manifest | None:
    try:
        return manifest.load(path)
    except ManifestError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "Traceback" not in message
        return None


@SETTINGS
@given(doc=documents)
def test_any_toml_document_loads_or_fails_cleanly(folder: Path, doc: dict[str, Any]) -> None:
    import tomllib

    text = toml_document(doc)
    assert isinstance(tomllib.loads(text), dict)  # the serialiser itself writes valid TOML
    path = folder / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    result = _load(path)
    if result is not None:
        assert result.models and all(m.name.strip() for m in result.models)
        assert len({m.name for m in result.models}) == len(result.models)
        slugs = [m.slug for m in result.models]
        assert len(set(slugs)) == len(slugs)
        assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", s) for s in slugs)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_any_bytes_load_or_fail_cleanly(folder: Path, raw: bytes) -> None:
    path = folder / "bytes.toml"
    path.write_bytes(raw)
    _load(path)


@SETTINGS
@given(prefix=st.binary(max_size=40), suffix=st.binary(max_size=40))
def test_corrupted_example_loads_or_fails_cleanly(folder: Path, prefix: bytes, suffix: bytes) -> None:
    path = folder / "corrupt.toml"
    path.write_bytes(prefix + b'[[model]]\nname = "m"\nbuilder = "tiny:build"\n' + suffix)
    _load(path)


@SETTINGS
@given(names=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=8))
def test_unique_slugs_are_safe_and_distinct(names: list[str]) -> None:
    slugs = manifest.unique_slugs(names)
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", slug), slug
        assert slug not in {"con", "prn", "aux", "nul"} and not re.fullmatch(r"(com|lpt)\d", slug)
        assert len(slug) <= 70


# -- (b) layer names through the escaping helpers ------------------------------------
@SETTINGS
@given(text=st.text())
def test_html_text_is_well_formed_xml_with_the_same_text(text: str) -> None:
    escaped = html_text(text)
    assert not re.search(r"[<>\"']", escaped.replace("<br/>", ""))
    root = ET.fromstring(f"<t>{escaped}</t>")
    shown = (root.text or "") + "".join("\n" + (br.tail or "") for br in root)
    assert all(child.tag == "br" for child in root)
    assert shown.replace("\\\\", "\\") == _visible(text)


@SETTINGS
@given(text=st.text())
def test_md_escape_round_trips_and_cannot_break_a_table(text: str) -> None:
    escaped = md_escape(text)
    assert "\n" not in escaped and "<" not in escaped
    assert not re.search(r"(?<!\\)(?:\\\\)*\|", escaped)  # every pipe is escaped
    assert html.unescape(re.sub(r"\\(.)", r"\1", escaped)) == visible(text).replace("\n", " ")


@SETTINGS
@given(value=st.one_of(st.text(), st.lists(st.text(), max_size=3), st.integers(), st.none()))
def test_csv_cells_never_start_a_formula(value: Any) -> None:
    cell = _cell(value)
    if isinstance(cell, str):
        assert not cell.startswith(_FORMULA_START)
        original = visible("; ".join(value) if isinstance(value, list) else value)
        assert cell in (original, "'" + original)
    else:
        assert cell == value


# -- (b') a real tiny model whose layer is named anything -> valid DOT -> SVG ------------
keras = pytest.importorskip("keras")


@settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(min_size=1, max_size=24))
@example(name="]")  # Graphviz 2.43 refused a label text starting with "]" (found by this test)
@example(name="\t")  # and a text of tabs alone (found by this test too)
def test_any_layer_name_gives_valid_dot_and_svg(name: str) -> None:
    assume("/" not in name)
    try:
        inputs = keras.Input((3,), name="inp")
        model = keras.Model(inputs, keras.layers.Dense(2, name=name)(inputs))
    except ValueError:
        assume(False)  # a name Keras itself refuses
    dot = model_to_dot(model, DiagramOptions(), id_prefix="p-")
    proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    svg = ET.fromstring(proc.stdout)
    texts = "".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    # Graphviz writes runs of spaces as no-break spaces and splits lines into separate <text> elements.
    squash = lambda s: re.sub(r"\s", "", s.replace("\xa0", " "))  # noqa: E731
    assert squash(_visible(model.layers[1].name)) in squash(texts)
