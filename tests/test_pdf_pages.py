"""No blank diagram pages (issue 10): a ~150-layer model and a 224x224 DenseNet121, read by strict readers.

Only the public ``generate`` is used, so the same file runs against older versions of the
package (it fails on 095fc42, which left blank tiles and wrote objects pdfminer rejects).
"""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from archreport import generate
from tests.helpers import EXAMPLES, check_pdf, pdf_outline, write_manifest


def diagram_pages(path: Path) -> dict[int, list[tuple[float, float, str]]]:
    """Pages captioned as a diagram or overview tile, with the words poppler finds on each (y0, y1, text).

    poppler reads the malformed PDFs of the old code too, so this check fails there for the right reason.
    """
    xhtml = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    caption = re.compile(
        r"(?i)(diagram|overview of blocks)( \d+/\d+)?( \(row \d+/\d+, column \d+/\d+\))? · \d+ %"
    )
    out = {}
    for number, page in enumerate(re.findall(r"<page [^>]*>(.*?)</page>", xhtml, flags=re.S)):
        words = [
            (float(y0), float(y1), text)
            for y0, y1, text in re.findall(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', page)
        ]  # fmt: skip
        if caption.search(" ".join(w for _, _, w in words)):
            out[number] = words
    return out


@pytest.mark.slow
def test_no_blank_diagram_pages_and_every_layer_name_is_text(tmp_path: Path) -> None:
    manifest = (EXAMPLES / "manifest.toml").read_text(encoding="utf-8")
    mobilenet = manifest[manifest.index('[[model]]\nname = "MobileNetV2') :]
    write_manifest(
        tmp_path,
        mobilenet
        + '\n[[model]]\nname = "DenseNet121"\napplication = "DenseNet121"\nkwargs = { input_shape = [224, 224, 3] }\n',
    )
    generate(tmp_path / "manifest.toml", tmp_path / "out", use_cache=False, formats=["pdf"])
    path = tmp_path / "out" / "report.pdf"
    pages = diagram_pages(path)
    assert len(pages) > 20
    # A tile's drawing lies below its caption (42 pt margin + 22 pt caption) and above the bottom margin.
    import pypdf

    box = pypdf.PdfReader(path).pages[0].mediabox
    width, height = float(box.width), float(box.height)
    blank = [
        n + 1 for n, words in pages.items() if not any(y0 > 60 and y1 < height - 40 for y0, y1, _ in words)
    ]
    assert blank == [], f"diagram pages without a node: {blank}"

    check_pdf(path)
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    model = data["models"][0]
    assert model["name"].startswith("MobileNetV2") and len(model["layers"]) >= 150
    marks = [page for _, page, _ in pdf_outline(path)]
    start, end = marks[1], marks[2]  # after the summary: MobileNetV2, then DenseNet121
    # pdfminer, cropped to the tiles: a page's form holds the whole drawing, clipped to the tile,
    # so only text inside the tile is text a reader sees there.
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        tiles = [
            pdf.pages[n].crop((28, 60, width - 28, height - 40)) for n in sorted(pages) if start <= n < end
        ]
        text = unicodedata.normalize("NFKC", "\n".join(tile.extract_text() for tile in tiles))
    missing = [row["name"] for row in model["layers"] if row["name"] not in text]
    assert missing == [], f"layer names pdfminer does not find on the diagram pages: {missing}"
