"""Papers and reviews (issue 29), end to end: the LaTeX kit compiled by real pdflatex, its figures
read back from the PDF, check-numbers on a changed model, and both PDF profiles' fonts.

Slow tier: three models built through the command, and pdflatex runs.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pdfplumber
import pytest
from pypdf import PdfReader

from archreport.manifest.schema import length_pt
from tests.helpers import copy_example_builders, exempt_pdfs_in, run_cli, write_manifest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (./dev installs texlive)"),
]

HOSTILE_NAMES = [
    "under_score", "per%cent", "amp&and", "hash#tag", "back\\slash", "{braces}", "tilde~", "caret^",
    "dollar$", "naïve 名前 😀",
]  # fmt: skip
BUILDERS = f'''
import keras
from keras import layers


def hostile():
    inputs = keras.Input((4,), name="in")
    x = inputs
    for name in {HOSTILE_NAMES!r}:
        x = layers.Dense(4, name=name)(x)
    return keras.Model(inputs, x, name="hostile")


class Block(layers.Layer):
    """A pre-norm residual MLP block: three sub-layers, so a run of them folds into one row."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.LayerNormalization(name="norm")
        self.up = layers.Dense(dim * 2, activation="relu", name="up")
        self.down = layers.Dense(dim, name="down")

    def call(self, x):
        return x + self.down(self.up(self.norm(x)))

    def compute_output_shape(self, shape):
        return shape


def transformer(blocks=32, dim=16, tokens=8):
    inputs = keras.Input((tokens, dim), name="tokens")
    x = inputs
    for i in range(blocks):
        x = Block(dim, name=f"block_{{i}}")(x)
    return keras.Model(inputs, x, name="tiny_transformer")
'''
MANIFEST = """
[report]
title = "Paper kit"
formats = ["pdf", "tex"]

[report.tex]
width = "3.25in"

[[model]]
name = "LeNet"
builder = "lenet:LeNet.build"
args = [28, 28, 1, 10]

[[model]]
name = "Hostile_%&#{}~^\\\\ model é"
builder = "papermodels:hostile"

[[model]]
name = "Transformer-32"
builder = "papermodels:transformer"
"""


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("papers")
    copy_example_builders(folder)
    (folder / "papermodels.py").write_text(BUILDERS, encoding="utf-8")
    manifest = write_manifest(folder, MANIFEST)
    proc = run_cli(str(manifest), "-o", str(folder / "out"), "--no-cache", cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "out"


def pdflatex(folder: Path, name: str) -> subprocess.CompletedProcess[str]:
    """pdflatex twice (longtable settles its column widths on the second run)."""
    for _ in range(2):
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", name],
            cwd=folder, capture_output=True, text=True, errors="replace", timeout=300, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            break
    return proc


def test_a_paper_inputs_every_table_and_number_and_includes_every_figure(kit: Path) -> None:
    folder = kit.parent / "paper"
    shutil.copytree(kit / "tex", folder / "tex")
    tex = folder / "tex"
    figures = sorted(tex.glob("*-figure.pdf"))
    layers = sorted(tex.glob("*-layers.tex"))
    assert len(figures) == len(layers) == 3
    includes = [
        f"\\includegraphics[page={page}]{{tex/{figure.name}}}\\par"
        for figure in figures
        for page in range(1, len(PdfReader(figure).pages) + 1)
    ]
    paper = "\n".join(
        [
            "\\documentclass{article}",
            "\\usepackage{booktabs,longtable,graphicx}",
            "\\input{tex/numbers.tex}",
            "\\begin{document}",
            "LeNet has \\arLeNetParams{} parameters ($\\arLeNetParams$) and takes \\arLeNetFlopsShort{}FLOPs.",
            "\\begin{table}\\centering\\input{tex/summary.tex}\\end{table}",
            *(f"\\input{{tex/{path.name}}}" for path in layers),
            *includes,
            "\\end{document}",
        ]
    )
    (folder / "paper.tex").write_text(paper + "\n", encoding="utf-8")
    proc = pdflatex(folder, "paper.tex")
    assert proc.returncode == 0, proc.stdout[-4000:]
    text = subprocess.run(
        ["pdftotext", str(folder / "paper.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    # pdflatex sets é as an e and an accent: poppler reads é, pdfium the two. This PDF is
    # pdflatex's, not archreport's, so the strict-reader check does not apply to it.
    exempt_pdfs_in(folder)
    data = json.loads((kit / "report.json").read_text(encoding="utf-8"))
    lenet, hostile, transformer = data["models"]
    words = set(re.findall(r"\S+", text))
    missing = [row["name"] for row in lenet["layers"] if row["name"] not in words]
    assert missing == [], f"LeNet layers not in the compiled paper's text: {missing}"
    assert "LeNet has 1,256,080 parameters (1,256,080) and takes 13.1 MFLOPs." in " ".join(text.split())
    # Every hostile name shows as itself where Computer Modern has its characters; the rest as [U+...].
    for name in HOSTILE_NAMES[:-1]:
        assert name in words, name
    assert re.search(r"na\S{1,3}ve \[U\+540D\]\[U\+524D\] \[U\+1F600\]", text)  # ï composed by pdflatex
    # The 32 blocks are one row with their count, not 32 rows.
    assert transformer["repeated_blocks"][0]["names"][-1] == "block_31"
    layer_rows = (tex / "transformer-32-layers.tex").read_text(encoding="utf-8")
    assert "($\\times$32)" in layer_rows and "block\\char95{}5}" not in layer_rows
    assert re.search(r"block_0\s*[–-]+\s*block_31 \(×32\)", text), "the folded row is not in the paper"
    assert hostile["name"].startswith("Hostile")


def fonts(path: Path) -> list[tuple[str, str, bool]]:
    """pdffonts' rows: (name, type, embedded)."""
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    start = lines[0].index("type")
    embedded = lines[0].index("emb")
    return [
        (line.split()[0], line[start:embedded].split("  ")[0].strip(), line[embedded:].split()[0] == "yes")
        for line in lines[2:]
        if line.strip()
    ]


def test_figures_are_vector_at_the_column_width_with_text_no_smaller_than_6_pt(kit: Path) -> None:
    width = length_pt("3.25in")
    for figure in sorted((kit / "tex").glob("*-figure.pdf")):
        found = fonts(figure)
        assert found and all(emb and kind != "Type 3" for _, kind, emb in found), (figure.name, found)
        if not figure.name.startswith("hostile"):  # DejaVu draws every character: its TrueType subsets
            assert {kind for _, kind, _ in found} <= {"TrueType", "CID TrueType"}, (figure.name, found)
        smallest = math.inf
        with pdfplumber.open(figure) as pdf:
            for page in pdf.pages:
                assert page.width <= width + 0.01 and page.height <= length_pt("8in") + 0.01
                assert page.chars, f"{figure.name}: a page without text"
                # A glyph's box spans its font size: its height upright, its width turned a quarter.
                sizes = [c["height"] if c["upright"] else c["width"] for c in page.chars if c["text"].strip()]
                smallest = min(smallest, *sizes)
        assert smallest >= 6.0 - 0.01, f"{figure.name}: text of {smallest:.2f} pt"


def test_lenet_figure_is_one_page_with_every_layer(kit: Path) -> None:
    figure = kit / "tex" / "lenet-figure.pdf"
    assert len(PdfReader(figure).pages) == 1
    text = subprocess.run(["pdftotext", str(figure), "-"], capture_output=True, text=True, check=True).stdout
    data = json.loads((kit / "report.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in data["models"][0]["layers"] if r["name"] not in text] == []


def test_both_pdf_profiles_embed_no_type_3_font(kit: Path, tmp_path: Path) -> None:
    compact = tmp_path / "compact"
    manifest = kit.parent / "manifest.toml"
    proc = run_cli(str(manifest), "-o", str(compact), "--pdf", "compact", "--format", "pdf", cwd=kit.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for report in (kit / "report.pdf", compact / "report.pdf"):
        found = fonts(report)
        assert found and all(emb and kind != "Type 3" for _, kind, emb in found), (report, found)
    full_pages, compact_pages = (
        len(PdfReader(kit / "report.pdf").pages),
        len(PdfReader(compact / "report.pdf").pages),
    )
    assert compact_pages < full_pages
    text = subprocess.run(
        ["pdftotext", str(compact / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Layers (top level)" in text and "block_0 … block_31 ×32" in text


def test_check_numbers_fails_on_a_changed_model_and_passes_on_an_unchanged_one(
    kit: Path, tmp_path: Path
) -> None:
    paper = tmp_path / "paper"
    paper.mkdir()
    shutil.copy(kit / "tex" / "numbers.tex", paper / "numbers.tex")
    same = run_cli("check-numbers", str(paper / "numbers.tex"), str(kit / "report.json"))
    assert same.returncode == 0, same.stdout + same.stderr
    folder = tmp_path / "changed"
    folder.mkdir()
    copy_example_builders(folder)
    manifest = write_manifest(
        folder,
        '[report]\nformats = ["tex"]\n[[model]]\nname = "LeNet"\nbuilder = "lenet:LeNet.build"\nargs = [28, 28, 1, 12]\n',
    )
    built = run_cli(str(manifest), "-o", str(folder / "out"), "--no-cache", cwd=folder)
    assert built.returncode == 0, built.stderr[-3000:]
    changed = run_cli("check-numbers", str(paper / "numbers.tex"), str(folder / "out" / "report.json"))
    assert changed.returncode == 1
    # 12 classes instead of 10: the last Dense has 500 * 2 + 2 more weights.
    assert "\\arLeNetParams: " in changed.stdout and "1{,}257{,}082" in changed.stdout
    assert "\\arLeNetLayers" not in changed.stdout  # still 11 layers
    assert "\\arHostile" in changed.stdout  # the other models are not in this report
