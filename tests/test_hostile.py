"""A model whose names are hostile is shown as text in every format: JSON, CSV, Markdown, DOT, SVG, HTML, PDF."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from archreport import generate
from tests.helpers import check_pdf, run_cli, unpacked_html, write_manifest

NAMES = [
    "<img src=x onerror=alert(1)>",
    '"quoted" {x} |y|',
    "a&amp;b",
    "=cmd|' -C calc'!A0",
    "naïve 名前",
]
MODEL_NAME = '<script>alert("m")</script> ../../etc'

BUILDER = f"""
import keras
from keras import layers

def build():
    inputs = keras.Input((4,), name="in")
    x = inputs
    for i, name in enumerate({NAMES!r}):
        x = layers.Dense(4, name=name)(x)
    return keras.Model(inputs, x, name="hostile")
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "hostile.py").write_text(BUILDER, encoding="utf-8")
    # JSON string escapes are valid TOML basic-string escapes.
    write_manifest(folder, f'[[model]]\nname = {json.dumps(MODEL_NAME)}\nbuilder = "hostile:build"\n')
    generate(folder / "manifest.toml", folder / "out", use_cache=False)
    return folder / "out"


def model_dir(out: Path) -> Path:
    (folder,) = (out / "models").iterdir()
    return folder


def test_slug_stays_inside_the_output_folder(out: Path) -> None:
    folder = model_dir(out)
    assert folder.parent == out / "models"
    assert re.fullmatch(r"[a-z0-9_-]+", folder.name)


def test_json_keeps_names_exactly(out: Path) -> None:
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    (m,) = data["models"]
    assert m["name"] == MODEL_NAME and m["status"] == "ok"
    assert [r["name"] for r in m["layers"]][1:] == NAMES


def test_csv_has_no_formulas(out: Path) -> None:
    with (model_dir(out) / "layers.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = [r["name"] for r in rows][1:]
    assert names[3] == "'" + NAMES[3]  # shown as text, never run as a formula
    assert [n for i, n in enumerate(names) if i != 3] == [n for i, n in enumerate(NAMES) if i != 3]
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


def test_markdown_escapes_names(out: Path) -> None:
    text = (model_dir(out) / "layers.md").read_text(encoding="utf-8")
    assert "<img" not in text and "&lt;img src=x onerror=alert\\(1\\)&gt;" in text
    # Every table line has exactly the 8 pipes of its 7 columns: no name adds a column.
    for line in text.splitlines():
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) == 8, line


def test_dot_and_svg_show_names_as_text(out: Path) -> None:
    dot = (model_dir(out) / "diagram.dot").read_text(encoding="utf-8")
    assert "<img" not in dot and "&lt;img src=x onerror=alert(1)&gt;" in dot
    svg = ET.parse(model_dir(out) / "diagram.svg")
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for name in NAMES:
        assert name in texts, name


def test_html_escapes_names(out: Path) -> None:
    page = (out / "report.html").read_text(encoding="utf-8")
    for html in (page, unpacked_html(page)):  # as stored, and with its sections unpacked
        assert "<img src=x" not in html and '<script>alert("m")' not in html
        assert html.count("<script>") == 1  # only the viewer
    assert "&lt;img src=x onerror=alert(1)&gt;" in unpacked_html(page)


def test_pdf_shows_names_as_text(out: Path) -> None:
    from pypdf import PdfReader

    check_pdf(out / "report.pdf")
    reader = PdfReader(out / "report.pdf")
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))
    assert MODEL_NAME in text
    for name in NAMES:
        assert name in text, name
    # Top-level bookmarks; the list after the model's holds its own (diagram, layers).
    assert [o.title for o in reader.outline if not isinstance(o, list)] == ["Summary", MODEL_NAME]


@pytest.mark.slow
def test_terminal_escapes_in_a_model_name_do_not_reach_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(
        "import keras\n\ndef build():\n    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n",
        encoding="utf-8",
    )
    name = "\u001b[2J\u001b[31mred\nsecond line"  # clear the screen, red, a second line
    write_manifest(
        tmp_path,
        f'[report]\nformats = ["html"]\n[[model]]\nname = {json.dumps(name)}\nbuilder = "tiny:build"\n',
    )
    proc = run_cli(str(tmp_path / "manifest.toml"), "-o", str(tmp_path / "out"), "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("ok ")]
    assert line.startswith("ok      \\x1b[2J\\x1b[31mred second line: 8 params, 14 FLOPs, 1 layer, diagram:")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["models"][0]["name"] == name
