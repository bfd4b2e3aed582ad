"""Ten keras.applications models in one manifest: every one gets a diagram, in HTML and PDF."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest

from archreport import generate
from tests.helpers import check_pdf, write_manifest

APPS = [
    "MobileNetV2", "ResNet50", "DenseNet121", "EfficientNetB0", "InceptionV3",
    "NASNetMobile", "ConvNeXtTiny", "Xception", "VGG16", "MobileNetV3Small",
]  # fmt: skip


def bookmarks(path: Path) -> dict[str, list[str]]:
    """Each top-level bookmark's title with its children's titles (a model's: overview, diagram, layers)."""
    from pypdf import PdfReader

    out: dict[str, list[str]] = {}
    last = ""
    for item in PdfReader(path).outline:
        if isinstance(item, list):
            out[last] = [child.title for child in item]
        else:
            last = item.title
            out[last] = []
    return out


def pdftotext(path: Path) -> str:
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    )
    # NFKC: Graphviz's text layout uses ligatures ("ﬂatten").
    return unicodedata.normalize("NFKC", out.stdout)


@pytest.mark.slow
def test_ten_applications_all_get_a_diagram(tmp_path: Path) -> None:
    import keras

    manifest = "\n".join(f'[[model]]\nname = "{app}"\napplication = "{app}"\n' for app in APPS)
    path = write_manifest(tmp_path, manifest)
    report = generate(path, tmp_path / "out", use_cache=False)
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    html = (tmp_path / "out" / "report.html").read_text()
    for m in data["models"]:
        assert m["status"] == "ok", (m["name"], m["error"])
        assert m["diagram"]["mode"] is not None, m["name"]
        svg = tmp_path / "out" / m["diagram"]["files"]["svg"]
        assert svg.stat().st_size > 10_000
        assert f'id="{m["slug"]}-diagram"' in html
        keras.backend.clear_session()
        model = getattr(keras.applications, m["name"])(weights=None)
        assert m["totals"]["params"] == model.count_params(), m["name"]
        assert len(m["layers"]) >= len(model.layers)
    modes = {m["name"]: m["diagram"]["mode"] for m in data["models"]}
    # Graphviz 2.43 aborts on these under Keras's default ortho splines; we fall back.
    assert modes["EfficientNetB0"] != "ortho" and modes["Xception"] != "ortho"
    # Large models also get a one-page overview of their blocks, in HTML and PDF.
    nasnet = next(m for m in data["models"] if m["name"] == "NASNetMobile")
    assert (tmp_path / "out" / nasnet["overview"]["files"]["svg"]).stat().st_size > 1000
    assert 'id="nasnetmobile-overview"' in html
    check_pdf(tmp_path / "out" / "report.pdf")
    marks = bookmarks(tmp_path / "out" / "report.pdf")
    assert list(marks) == ["Summary", *APPS]
    assert marks["NASNetMobile"] == ["Overview of blocks", "Diagram", "Layers"]
    assert all("Diagram" in marks[app] for app in APPS)
    pdf_text = pdftotext(tmp_path / "out" / "report.pdf")
    # Every layer name of a stamped diagram is somewhere in the PDF's text: nothing is clipped.
    vgg = next(m for m in data["models"] if m["name"] == "VGG16")
    for layer in vgg["layers"]:
        assert layer["name"] in pdf_text, layer["name"]
    assert len(report.models) == 10


@pytest.mark.slow
def test_every_application_gets_a_diagram_in_html_and_pdf(tmp_path: Path) -> None:
    """Every model keras.applications has (weights=None, default input sizes): one report, all drawn."""
    from archreport.manifest import application_names

    names = application_names()
    assert len(names) >= 30
    manifest = "\n".join(f'[[model]]\nname = "{app}"\napplication = "{app}"\n' for app in names)
    report = generate(write_manifest(tmp_path, manifest), tmp_path / "out", use_cache=False)
    html = (tmp_path / "out" / "report.html").read_text()
    for m in report.models:
        assert m.ok, (m.name, m.error)
        assert m.diagram is not None and m.diagram.mode is not None, (m.name, m.diagram)
        assert f'id="{m.slug}-diagram"' in html
    check_pdf(tmp_path / "out" / "report.pdf")
    marks = bookmarks(tmp_path / "out" / "report.pdf")
    assert list(marks) == ["Summary", *names]
    drawn = {name for name in names if "Diagram" in marks[name]}
    assert drawn == set(names)
