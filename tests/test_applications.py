"""Ten keras.applications models in one manifest: every one gets a diagram, in HTML and PDF."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest

from archreport import generate
from tests.helpers import check_pdf, read_report_html, write_manifest

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
    html = read_report_html(tmp_path / "out" / "report.html")
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


# The MobileNetV3 models leave their input size open (minimalistic preprocessing aside, any
# size works); at an open size FLOPs can only be a lower bound, so they are given 224x224.
OPEN_INPUTS = {"MobileNetV3Small", "MobileNetV3Large"}


@pytest.mark.slow
def test_every_application_gets_a_diagram_in_html_and_pdf(tmp_path: Path) -> None:
    """Every model keras.applications has (weights=None, default input sizes): one report, all drawn,
    and every FLOPs total exact (no lower bound)."""
    from archreport.manifest import application_names

    names = application_names()
    assert len(names) >= 40
    assert set(names) >= OPEN_INPUTS
    manifest = "\n".join(
        f'[[model]]\nname = "{app}"\napplication = "{app}"\n'
        + ("kwargs = { input_shape = [224, 224, 3] }\n" if app in OPEN_INPUTS else "")
        for app in names
    )
    report = generate(write_manifest(tmp_path, manifest), tmp_path / "out", use_cache=False)
    html = read_report_html(tmp_path / "out" / "report.html")
    for m in report.models:
        assert m.ok, (m.name, m.error)
        assert m.diagram is not None and m.diagram.mode is not None, (m.name, m.diagram)
        assert f'id="{m.slug}-diagram"' in html
        assert m.totals is not None
        assert m.totals.flops is not None and not m.totals.flops_lower_bound, (m.name, m.warnings)
        assert all(row.flops is not None for row in m.layers if row.called), m.name
    check_pdf(tmp_path / "out" / "report.pdf")
    marks = bookmarks(tmp_path / "out" / "report.pdf")
    assert list(marks) == ["Summary", *names]
    drawn = {name for name in names if "Diagram" in marks[name]}
    assert drawn == set(names)
    # report.md for a change to every one of the 40 (issue 28), from this build's output: each
    # model compared with the next one's layers under its own name, so every layer of every model
    # is added or removed. It must still fit a pull-request comment.
    from archreport.checks.compare import compare
    from archreport.render.markdown import LIMIT, report_md

    current = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    shifted = [{**m, "name": current["models"][i - 1]["name"]} for i, m in enumerate(current["models"])]
    changes = compare({**current, "models": shifted}, current)
    assert len(changes["models_changed"]) == len(names)
    md = report_md({**current, "changes": changes})
    assert (tmp_path / "out" / "report.md").stat().st_size > 0 and len(md) < LIMIT
    assert md.count("#### `") == len(names) and "more entries were left out" in md


# ConvNeXt's 7x7 depthwise convolutions are Conv2D layers with groups = channels. Keras's
# TensorFlow backend runs a grouped convolution as an XLA-compiled function, which TensorFlow's
# profiler cannot see into: it counts their bias adds, not the convolutions. Per stage of
# ConvNeXtTiny: (blocks, height = width, channels).
CONVNEXT_TINY_STAGES = [(3, 56, 96), (3, 28, 192), (9, 14, 384), (3, 7, 768)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ConvNeXtTiny", "InceptionResNetV2"])
def test_layerscale_and_custom_scale_models_match_the_profiler(name: str) -> None:
    """The two families a layer-level counter missed (LayerScale, CustomScaleLayer), at their
    default input sizes, against TensorFlow's profiler on the same TensorFlow-built model."""
    import keras

    from archreport.model.analyse import analyse
    from tests.flops_reference import profiler_flops

    keras.backend.clear_session()
    model = getattr(keras.applications, name)(weights=None)
    result = analyse(model, "app")
    assert not result.totals.flops_lower_bound
    unseen = 0
    if name == "ConvNeXtTiny":
        outputs = [(blocks, size * size * channels) for blocks, size, channels in CONVNEXT_TINY_STAGES]
        unseen = sum(blocks * 2 * 7 * 7 * elements for blocks, elements in outputs)
        depthwise = [r for r in result.rows if r.class_name == "Conv2D" and "depthwise" in r.name]
        assert len(depthwise) == sum(blocks for blocks, _ in outputs)
        # Each: 2 per multiply-add of a 7x7 window per output element, plus its bias.
        assert sum(r.flops or 0 for r in depthwise) == unseen + sum(b * e for b, e in outputs)
        scales = [r for r in result.rows if r.class_name == "LayerScale"]
        assert sum(r.flops or 0 for r in scales) == sum(b * e for b, e in outputs)  # one multiply each
    assert result.totals.flops == profiler_flops(model) + unseen
