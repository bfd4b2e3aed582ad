"""The 10-model keras.applications zoo (issue 29): the compact PDF in at most 40 pages, and tile
pages whose text (as pdfium, Chrome's viewer, reads it) is only what they draw.

Slow tier: the zoo is built twice (about a minute each on 2 cores).
"""

from __future__ import annotations

import io
import re
from html import unescape
from pathlib import Path

import pypdfium2
import pytest
from pypdf import PdfReader

from archreport import generate
from archreport.data import Report
from archreport.diagram.pdfcrop import meets
from archreport.diagram.tiles import plan_tiles, tile_box
from archreport.render.pdf import document
from archreport.render.pdf import section as pdfsection
from archreport.render.templating import jinja_environment
from tests.helpers import check_pdf, pdf_outline, write_manifest

pytestmark = pytest.mark.slow

ZOO = [
    "MobileNetV2", "ResNet50", "DenseNet121", "EfficientNetB0", "InceptionV3", "NASNetMobile",
    "ConvNeXtTiny", "Xception", "VGG16", "MobileNetV3Small",
]  # fmt: skip


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("zoo")
    models = "".join(f'\n[[model]]\nname = "{name}"\napplication = "{name}"\n' for name in ZOO)
    manifest = write_manifest(folder, '[report]\ntitle = "Zoo"\nformats = ["pdf"]\n' + models)
    return manifest, folder


@pytest.fixture(scope="module")
def full(zoo: tuple[Path, Path]) -> tuple[Report, Path]:
    manifest, folder = zoo
    report = generate(manifest, folder / "full", use_cache=False)
    return report, folder / "full"


def test_the_compact_zoo_fits_in_40_pages(zoo: tuple[Path, Path]) -> None:
    manifest, folder = zoo
    report = generate(manifest, folder / "compact", use_cache=False, pdf="compact")
    path = folder / "compact" / "report.pdf"
    pages = check_pdf(path)
    assert pages <= 40
    # Per model: its header with the totals, its overview on one page, its top-level layers.
    outline = pdf_outline(path)
    assert [title for title, _, _ in outline] == ["Summary", *ZOO]
    assert all([child for child, _ in children] == ["Layers"] for _, _, children in outline[1:])
    reader = PdfReader(path)
    for m, (_, header, children) in zip(report.models, outline[1:], strict=True):
        assert m.totals is not None
        text = " ".join(reader.pages[header].extract_text().split())
        assert f"{m.totals.params:,}" in text, m.name
        assert re.search(r"(Overview of blocks|Diagram) · \d+ %", text), m.name  # the drawing, on one page
        first = reader.pages[children[0][1]].extract_text()
        assert "Layers (top level)" in first and m.layers[0].name in first, m.name


def node_names(svg: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Each node's layer name and the box of its name's row (its first polygon), pt from the top-left."""
    move = re.search(r'class="graph"[^>]*translate\(([-\d.]+)[ ,]([-\d.]+)\)', svg)
    tx, ty = (float(move[1]), float(move[2])) if move else (0.0, 0.0)
    out = []
    for block in re.findall(r'<g id="[^"]*" class="node">(.*?)</g>\n</g>', svg, flags=re.S):
        title = re.search(r'xlink:title="([^"]*)"', block)
        points = re.search(r'points="([^"]+)"', block)
        if title is None or points is None:
            continue
        xy = [tuple(map(float, pair.split(","))) for pair in points[1].split()]
        xs, ys = [x + tx for x, _ in xy], [y + ty for _, y in xy]
        out.append((unescape(title[1]), (min(xs), min(ys), max(xs), max(ys))))
    return out


def test_a_tile_pages_text_is_what_it_draws(full: tuple[Report, Path]) -> None:
    """pdfium (which reads clipped text too) finds a layer name on a tile page only where its row is drawn."""
    report, out = full
    path = out / "report.pdf"
    outline = {title: children for title, _, children in pdf_outline(path)}
    pdf = pypdfium2.PdfDocument(str(path))
    checked = 0
    try:
        for m in report.models:
            assert m.diagram is not None
            start = dict(outline[m.name]).get("Diagram")
            assert start is not None, m.name
            svg = (out / m.diagram.files["svg"]).read_text(encoding="utf-8")
            tiles = plan_tiles("diagram", svg, tile_box(report.page_size))
            names = [
                (name, box, re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])"))
                for name, box in node_names(svg)
            ]
            assert len(names) >= len([r for r in m.layers if r.depth == 0]) - 1, m.name
            for number, tile in enumerate(tiles):
                textpage = pdf[start + number].get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                window = (tile.x0, tile.y0, tile.x1, tile.y1)
                for name, box, pattern in names:
                    found = pattern.search(text) is not None
                    inside = (
                        window[0] <= box[0]
                        and box[2] <= window[2]
                        and window[1] <= box[1]
                        and box[3] <= window[3]
                    )
                    if found:
                        # A name may be on a page only where its row is drawn (cut by the edge, perhaps);
                        # another node of the same name would do (Keras names are unique, but be fair).
                        assert any(meets(b, window) for n, b, _ in names if n == name), (m.name, number, name)
                    elif inside:
                        pytest.fail(f"{m.name}, tile {number + 1}: {name} is drawn whole there, but not text")
                checked += 1
    finally:
        pdf.close()
    assert checked > 200  # every tile page of the zoo


def test_cropping_tiles_grows_the_pdf_by_at_most_a_fifth(
    full: tuple[Report, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same report with every tile drawing the whole diagram (as before issue 29) as the yardstick."""
    report, out = full
    env = jinja_environment()
    cropped = document.pdf_report(report, out, env)
    monkeypatch.setattr(
        pdfsection, "_tile_forms", lambda pdf, form, source, d, w, h: [[form] for _ in d.tiles]
    )
    whole = document.pdf_report(report, out, env)
    assert len(cropped) <= len(whole) * 1.2 and len(cropped) != len(whole)
    assert len(PdfReader(io.BytesIO(cropped)).pages) == len(PdfReader(out / "report.pdf").pages)
