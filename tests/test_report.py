"""The whole pipeline on the tutorial's LeNet and friends: every number checked against Keras."""

from __future__ import annotations

import io
import json
import re
import sys
import unicodedata
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from archreport import generate
from archreport.__main__ import main
from tests.helpers import EXAMPLES, check_golden, check_pdf, copy_example_builders, run_cli, write_manifest

LENET_SHAPES = [
    ("conv2d", "Conv2D", "(None, 28, 28, 20)", 520),
    ("activation", "Activation", "(None, 28, 28, 20)", 0),
    ("max_pooling2d", "MaxPooling2D", "(None, 14, 14, 20)", 0),
    ("conv2d_1", "Conv2D", "(None, 14, 14, 50)", 25050),
    ("activation_1", "Activation", "(None, 14, 14, 50)", 0),
    ("max_pooling2d_1", "MaxPooling2D", "(None, 7, 7, 50)", 0),
    ("flatten", "Flatten", "(None, 2450)", 0),
    ("dense", "Dense", "(None, 500)", 1225500),
    ("activation_2", "Activation", "(None, 500)", 0),
    ("dense_1", "Dense", "(None, 10)", 5010),
    ("activation_3", "Activation", "(None, 10)", 0),
]

GOLDEN = Path(__file__).parent / "golden"

MANIFEST = """
[report]
title = "Test report"

[[model]]
name = "LeNet"
builder = "lenet:LeNet.build"
args = [28, 28, 1, 10]
description = "LeNet for MNIST"

[[model]]
name = "Broken"
builder = "broken:build"

[[model]]
name = "Residual block"
builder = "blocks:residual_block"
kwargs = { input_shape = [32, 32, 3], filters = 8 }

[[model]]
name = "Nested classifier"
builder = "blocks:nested_classifier"

[model.diagram]
expand_nested = true
"""


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    copy_example_builders(folder)
    (folder / "broken.py").write_text(
        "def build():\n    raise ValueError('the builder is broken on purpose')\n"
    )
    write_manifest(folder, MANIFEST)
    generate(folder / "manifest.toml", folder / "out", use_cache=False)
    return folder / "out"


@pytest.fixture(scope="module")
def data(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text())


@pytest.fixture(scope="module")
def keras_lenet():
    import keras

    sys.path.insert(0, str(EXAMPLES))
    try:
        from lenet import LeNet
    finally:
        sys.path.remove(str(EXAMPLES))
    keras.backend.clear_session()
    return LeNet.build(28, 28, 1, 10)


def model(data: dict, name: str) -> dict:
    return next(m for m in data["models"] if m["name"] == name)


def test_outputs_are_written(report_dir: Path) -> None:
    for name in ("report.html", "report.pdf", "report.json"):
        assert (report_dir / name).stat().st_size > 1000, name
    for slug in ("lenet", "residual-block", "nested-classifier"):
        for name in ("diagram.svg", "diagram.dot", "diagram.pdf", "layers.csv", "layers.md"):
            assert (report_dir / "models" / slug / name).stat().st_size > 0, (slug, name)


def test_lenet_has_the_tutorials_shapes_and_params(data: dict) -> None:
    lenet = model(data, "LeNet")
    assert lenet["status"] == "ok"
    got = [(r["name"], r["class_name"], r["output_shape"], r["params"]) for r in lenet["layers"]]
    assert got == LENET_SHAPES
    assert lenet["totals"]["params"] == 1_256_080
    assert lenet["totals"]["trainable_params"] == 1_256_080
    assert lenet["totals"]["non_trainable_params"] == 0
    assert lenet["input_shapes"] == ["(None, 28, 28, 1)"]
    assert lenet["output_shapes"] == ["(None, 10)"]


def test_lenet_numbers_equal_keras_own(data: dict, keras_lenet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # Keras sizes the summary to the terminal
    lenet = model(data, "LeNet")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        keras_lenet.summary(line_length=200)
    summary = buffer.getvalue()
    assert lenet["totals"]["params"] == keras_lenet.count_params()
    total = re.search(r"Total params: ([\d,]+) \(([\d.]+) MB\)", summary)
    assert total is not None
    assert lenet["totals"]["params"] == int(total.group(1).replace(",", ""))
    assert round(lenet["totals"]["param_bytes"] / 2**20, 2) == float(total.group(2))
    for row, layer in zip(lenet["layers"], keras_lenet.layers, strict=True):
        assert row["params"] == layer.count_params()
        # The summary prints "name (Class)   (None, 28, 28, 20)   520" on one line.
        line = next(text for text in summary.splitlines() if f"{layer.name} (" in text)
        assert row["output_shape"] in line
        assert f"{row['params']:,}" in line


def test_lenet_numbers_are_in_html_and_pdf(report_dir: Path) -> None:
    from pypdf import PdfReader

    html = (report_dir / "report.html").read_text()
    reader = PdfReader(report_dir / "report.pdf")
    pdf_text = "\n".join(page.extract_text() for page in reader.pages)
    for text in (html, pdf_text):
        assert "1,256,080" in text
        for _, _, shape, _ in LENET_SHAPES:
            assert shape in text
        assert "13.1 MFLOPs" in text


def test_failing_model_is_reported_next_to_good_ones(data: dict, report_dir: Path) -> None:
    broken = model(data, "Broken")
    assert broken["status"] == "failed"
    assert "the builder is broken on purpose" in broken["error"]
    assert [m["status"] for m in data["models"]] == ["ok", "failed", "ok", "ok"]
    html = (report_dir / "report.html").read_text()
    assert "the builder is broken on purpose" in html
    from pypdf import PdfReader

    pdf_text = "\n".join(p.extract_text() for p in PdfReader(report_dir / "report.pdf").pages)
    assert "the builder is broken on purpose" in pdf_text


def test_report_json_contract(data: dict) -> None:
    assert isinstance(data["archreport_version"], str)
    assert set(data["timings"]) == {"render_html", "render_pdf"}  # per-stage times (issue 6)
    assert set(model(data, "LeNet")["timings"]) == {"build", "analyse", "layout", "render"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["generated"])
    for m in data["models"]:
        assert set(m) >= {"name", "status", "error", "totals", "layers"}
        assert m["status"] in {"ok", "failed"}
        if m["status"] == "ok":
            assert set(m["totals"]) >= {
                "params",
                "trainable_params",
                "non_trainable_params",
                "flops",
                "macs",
                "param_bytes",
                "activation_bytes",
            }
            for row in m["layers"]:
                assert isinstance(row["name"], str) and isinstance(row["params"], int)
                assert isinstance(row["trainable"], bool) and isinstance(row["output_shape"], str)


def test_pdf_has_title_toc_bookmarks_and_model_names(report_dir: Path) -> None:
    from pypdf import PdfReader

    check_pdf(report_dir / "report.pdf")
    reader = PdfReader(report_dir / "report.pdf")
    top = [item for item in reader.outline if not isinstance(item, list)]  # a list holds the children
    titles = [item.title for item in top]
    assert titles == ["Summary", "LeNet", "Broken — failed", "Residual block", "Nested classifier"]
    children = [[c.title for c in item] for item in reader.outline if isinstance(item, list)]
    assert children == [["Diagram", "Layers"]] * 3  # the ok models' own bookmarks
    assert len(reader.pages) >= 8
    assert "Test report" in reader.pages[0].extract_text()
    toc = reader.pages[1].extract_text()
    assert "Contents" in toc
    # The table of contents gives each model the page its bookmark points to.
    for item in top[1:]:
        page = reader.get_destination_page_number(item) + 1
        name = item.title.removesuffix(" — failed")
        assert re.search(rf"{re.escape(name)}( \(failed\))? \.+ +{page}\n", toc), (item.title, page, toc)
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=0.5)  # A4


def test_pdf_diagram_pages_hold_the_diagram(report_dir: Path) -> None:
    """The stamped vector diagram is on its page: its layer names are in that page's text."""
    from pypdf import PdfReader

    reader = PdfReader(report_dir / "report.pdf")
    # NFKC: Graphviz's text layout uses ligatures ("ﬂatten"); a reader's search folds them.
    pages = [unicodedata.normalize("NFKC", p.extract_text()) for p in reader.pages]
    # A tile's caption names it; the running header above it names the model.
    diagram_pages = [t for t in pages if re.search(r"Diagram( \d+/\d+)? ·", t) and "LeNet" in t]
    assert diagram_pages
    text = "\n".join(diagram_pages)
    for name, cls, _, _ in LENET_SHAPES:
        assert f"{name}" in text and cls in text


def test_html_is_self_contained(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    # Namespaces are names, not requests; nothing else may point outside the file.
    stripped = re.sub(r'xmlns(:\w+)?="[^"]*"|<!DOCTYPE[^>]*>', "", html)
    assert not re.search(r"https?://|//cdn|\bsrc=\"(?!data:)", stripped)
    for url in re.findall(r'(?:href|xlink:href)="([^"]*)"', stripped):
        assert url.startswith(("#", "models/")), url
    assert "<script src" not in html and "<link" not in html


def test_layers_md_golden(report_dir: Path, data: dict, update_golden: bool) -> None:
    text = (report_dir / "models" / "lenet" / "layers.md").read_text()
    check_golden(Path(__file__).parent / "golden" / "lenet_layers.md", text, update_golden)
    # Semantic check beside the golden file: the params column adds up to the total.
    params = [
        int(line.split("|")[5].strip().replace(",", ""))
        for line in text.splitlines()
        if re.match(r"\| \d+ \|", line)
    ]
    assert sum(params) == model(data, "LeNet")["totals"]["params"]


def test_layers_csv_has_every_column(report_dir: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(report_dir / "models" / "lenet" / "layers.csv")
    assert list(frame["output_shape"]) == [s for _, _, s, _ in LENET_SHAPES]
    assert frame["params"].sum() == 1_256_080
    assert frame["flops"].sum() == 13_095_520
    assert {
        "input_shapes",
        "kernel",
        "strides",
        "activation",
        "trainable_params",
        "param_percent",
        "activation_bytes",
        "dtype",
        "connected_to",
    } <= set(frame.columns)


def test_nested_model_rows_are_hierarchical(data: dict) -> None:
    nested = model(data, "Nested classifier")
    rows = {r["name"]: r for r in nested["layers"]}
    assert rows["features"]["depth"] == 0 and rows["features"]["class_name"] == "Sequential"
    assert rows["conv_a"]["depth"] == 1 and rows["conv_a"]["parent"] == "features"
    # Totals count each weight once: the nested rows are not added on top.
    assert nested["totals"]["params"] == sum(r["params"] for r in nested["layers"] if r["depth"] == 0)


@pytest.mark.slow
def test_exit_codes(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    ok = write_manifest(
        tmp_path,
        '[[model]]\nname = "LeNet"\nbuilder = "lenet:LeNet.build"\nargs = [28, 28, 1, 10]\n',
        "ok.toml",
    )
    proc = run_cli(str(ok), "-o", str(tmp_path / "out"), "--format", "html", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    assert "1 models: 1 ok, 0 failed" in proc.stdout
    (tmp_path / "bad.py").write_text("def build():\n    return 42\n")
    failing = write_manifest(tmp_path, '[[model]]\nname = "Bad"\nbuilder = "bad:build"\n', "failing.toml")
    proc = run_cli(str(failing), "-o", str(tmp_path / "out2"), "--format", "html", "--no-cache")
    assert proc.returncode == 1
    assert "returned builtins.int, not a keras.Model" in proc.stdout
    invalid = write_manifest(
        tmp_path, '[[model]]\nname = "X"\nbuildr = "lenet:LeNet.build"\n', "invalid.toml"
    )
    proc = run_cli(str(invalid), "-o", str(tmp_path / "out3"))
    assert proc.returncode == 2
    assert "invalid.toml, line 3: model[1].buildr: unknown key (did you mean 'builder'?)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out3").exists()
    proc = run_cli(str(ok), "-o", str(tmp_path / "out4"), env={"PATH": "/nonexistent"})
    assert proc.returncode == 3
    assert "apt-get install" in proc.stderr and "dot" in proc.stderr


def test_main_reports_usage_errors_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert "missing.toml: no such manifest file" in err and "Traceback" not in err


def test_no_diagram_page_is_blank(report_dir: Path, tmp_path: Path) -> None:
    """Render every page meant to hold a diagram with pdftoppm: each has ink below its caption."""
    import subprocess

    from PIL import Image
    from pypdf import PdfReader

    reader = PdfReader(report_dir / "report.pdf")
    pages = [
        i + 1 for i, p in enumerate(reader.pages) if re.search(r"Diagram( \d+/\d+)? ·", p.extract_text())
    ]
    assert len(pages) >= 3  # LeNet, the residual block, the nested classifier
    for number in pages:
        prefix = tmp_path / f"p{number}"
        subprocess.run(["pdftoppm", "-r", "30", "-gray", "-png", "-f", str(number), "-l", str(number), str(report_dir / "report.pdf"), str(prefix)], check=True)  # fmt: skip
        (image_path,) = tmp_path.glob(f"p{number}-*.png")
        image = Image.open(image_path)
        width, height = image.size
        body = image.crop((0, int(height * 0.12), width, int(height * 0.92)))
        dark = sum(body.histogram()[:160])  # grey levels 0..159 are ink
        assert dark > 0.01 * body.width * body.height, f"page {number} looks blank"


@pytest.mark.slow
def test_verbose_shows_the_workers_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def build():\n    raise ValueError('broken on purpose')\n")
    manifest = write_manifest(tmp_path, '[[model]]\nname = "Broken"\nbuilder = "broken:build"\n')
    quiet = run_cli(str(manifest), "-o", str(tmp_path / "a"), "--format", "html", "--no-cache")
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    loud = run_cli(str(manifest), "-o", str(tmp_path / "b"), "--format", "html", "--no-cache", "-v")
    assert loud.returncode == 1
    assert "--- Broken: worker traceback or output ---" in loud.stderr
    assert "Traceback" in loud.stderr and "raise ValueError('broken on purpose')" in loud.stderr
    data = json.loads((tmp_path / "b" / "report.json").read_text())
    assert "details" not in data["models"][0] and "Traceback" not in json.dumps(data)


def test_lenet_report_json_and_layers_csv_golden(report_dir: Path, data: dict, update_golden: bool) -> None:
    """The LeNet entry of report.json and its layers.csv, byte for byte (times left out)."""
    entry = {k: v for k, v in model(data, "LeNet").items() if k != "timings"}
    check_golden(
        GOLDEN / "lenet_report.json", json.dumps(entry, indent=1, sort_keys=True) + "\n", update_golden
    )
    csv_text = (report_dir / "models" / "lenet" / "layers.csv").read_text()
    check_golden(GOLDEN / "lenet_layers.csv", csv_text, update_golden)
    # Beside the golden files, what makes them right: the columns add up to the totals.
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_text)))
    totals = entry["totals"]
    top = [r for r in rows if r["depth"] == "0"]
    assert sum(int(r["params"]) for r in top) == totals["params"] == 1_256_080
    assert sum(int(r["trainable_params"]) for r in top) == totals["trainable_params"]
    assert sum(int(r["flops"]) for r in top) == totals["flops"] == 13_095_520
    assert sum(int(r["activation_bytes"]) for r in top) == totals["activation_bytes"]
    assert abs(sum(float(r["param_percent"]) for r in top) - 100.0) < 0.01
    assert totals["macs"] == totals["flops"] // 2
    assert (
        totals["inference_bytes"]
        == totals["param_bytes"] + totals["input_bytes"] + totals["activation_bytes"]
    )
    # Adam, by hand: 1,256,080 float32 weights x 16 bytes, no frozen weights, plus activations.
    assert totals["training_bytes"] == 1_256_080 * 16 + totals["activation_bytes"]
    assert totals["training_bytes_mixed"] == 1_256_080 * 16 + totals["activation_bytes"] // 2
