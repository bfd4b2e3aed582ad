"""The whole pipeline on the tutorial's LeNet and friends: every number checked against Keras."""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import unicodedata
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from archreport import generate, units
from archreport.__main__ import main
from tests.helpers import (
    EXAMPLES,
    LENET,
    check_golden,
    check_pdf,
    copy_example_builders,
    lenet_table,
    read_report_html,
    run_cli,
    unpacked_html,
    write_manifest,
)

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

MANIFEST = f"""
[report]
title = "Test report"
{lenet_table(more='description = "LeNet for MNIST"')}
[[model]]
name = "Broken"
builder = "broken:build"

[[model]]
name = "Residual block"
builder = "blocks:residual_block"
kwargs = {{ input_shape = [32, 32, 3], filters = 8 }}

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

    html = read_report_html(report_dir / "report.html")
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
    page = (report_dir / "report.html").read_text()
    for text in (page, unpacked_html(page)):  # as stored, and with its sections unpacked
        # Namespaces are names, not requests; nothing else may point outside the file.
        stripped = re.sub(r'xmlns(:\w+)?="[^"]*"|<!DOCTYPE[^>]*>', "", text)
        assert not re.search(r"https?://|//cdn|\bsrc=\"(?!data:)", stripped)
        for url in re.findall(r'(?:href|xlink:href)="([^"]*)"', stripped):
            assert url.startswith(("#", "models/")) or url == "report.pdf", url  # the PDF beside it
        assert "<script src" not in text and "<link" not in text


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
    ok = write_manifest(tmp_path, LENET, "ok.toml")
    proc = run_cli(str(ok), "-o", str(tmp_path / "out"), "--format", "html", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    assert "1 model: 1 ok, 0 failed, 0 expectation failures;" in proc.stdout
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
    # The inference peak by liveness, by hand: the first Conv2D holds its convolution's output and
    # the bias add's (28 x 28 x 20 float32 each) at once; nothing later holds more.
    conv = 28 * 28 * 20 * 4
    assert totals["peak_activation_bytes"] == 2 * conv and totals["peak_layer"] == "conv2d"
    weights, image = 1_256_080, 28 * 28 * 1 * 4
    assert totals["inference_by_precision"] == {
        "float32": 4 * weights + image + 2 * conv,
        "bfloat16": 2 * weights + image + conv,
        "int8 weights": weights + image + conv,
    }
    assert totals["inference_peak_bytes"] == totals["inference_by_precision"]["float32"]
    assert totals["flops_coverage"] == totals["layer_coverage"] == 1.0
    assert totals["active_flops"] is None and totals["active_params"] is None  # not a mixture of experts


# -- what the report shows beside the numbers (issues 11 and 12), read back from the HTML and the PDF --

SHOWN_BUILDERS = '''
import keras
from keras import layers, ops


def mixed():
    """Weights in three dtypes: a float32, a float16 and a bfloat16 Dense."""
    inputs = keras.Input((32,))
    x = layers.Dense(64, name="wide")(inputs)
    x = layers.Dense(64, dtype="float16", name="half")(x)
    return keras.Model(inputs, layers.Dense(8, dtype="bfloat16", name="brain")(x))


def frozen():
    """Keras leaf layers only, one with non-trainable weights (BatchNormalization's moving stats)."""
    return keras.Sequential(
        [keras.Input((6,)), layers.Dense(4, name="d1"), layers.BatchNormalization(name="bn"), layers.Dense(2, name="d2")]
    )


class Block(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(16, name="dense")
        self.spare = layers.Dense(16, name="spare")  # tracked, never called

    def call(self, x):
        return ops.add(x, self.dense(x))


def spare():
    inputs = keras.Input((8, 16))
    return keras.Model(inputs, Block(name="block")(inputs))


def open_size():
    # Any image size: FLOPs and memory are counted at 1x1, lower bounds of every real size.
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(inputs)))
'''

SHOWN_MANIFEST = f"""
[report]
title = "Shown"

[[model]]
name = "Mixed dtypes"
builder = "shown:mixed"

[[model]]
name = "Frozen stats at batch 1"
builder = "shown:frozen"

[model.expect]
max_activation_bytes = 100

[[model]]
name = "Frozen stats at batch 8"
builder = "shown:frozen"
batch_size = 8

[model.expect]
max_activation_bytes = 100
{lenet_table("Wrong pooling")}
[model.expect.layers]
max_pooling2d_1 = "(None, 14, 14, 50)"  # the tutorial's wrong assumption: it is (None, 7, 7, 50)
flatten = {{ output_shape = "(None, 2450)", params = 0 }}

[[model]]
name = "Spare layer"
builder = "shown:spare"

[[model]]
name = "Open size"
builder = "shown:open_size"
"""


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shown")
    copy_example_builders(folder)
    (folder / "shown.py").write_text(SHOWN_BUILDERS, encoding="utf-8")
    write_manifest(folder, SHOWN_MANIFEST)
    report = generate(folder / "manifest.toml", folder / "out", use_cache=False)
    assert all(m.ok for m in report.models), [m.error for m in report.models]
    check_pdf(folder / "out" / "report.pdf")
    return folder / "out"


def html_section(out: Path, slug: str) -> str:
    """One model's <section> of report.html, unpacked."""
    text = read_report_html(out / "report.html")
    start = text.index(f'<section class="model" id="model-{slug}">')
    return text[start : text.index("</section>", start)]


def html_totals(out: Path, slug: str) -> dict[str, str]:
    """A model's totals list in report.html as {label: the text a reader sees}."""
    section = html_section(out, slug)
    start = section.index('<dl class="totals">')
    totals = section[start : section.index("</dl>", start)]
    pairs = re.findall(r"<div><dt>(.*?)</dt><dd[^>]*>(.*?)</dd></div>", totals, flags=re.S)
    return {html.unescape(dt): html.unescape(re.sub(r"<[^>]+>", "", dd)) for dt, dd in pairs}


def pdf_header(out: Path, name: str) -> tuple[list[dict[str, Any]], str]:
    """The words (with their font size) and text of the PDF page that holds a model's header."""
    import pdfplumber

    with pdfplumber.open(out / "report.pdf") as document:
        for page in document.pages:
            text = " ".join((page.extract_text() or "").split())
            if f"{name} " in text and "PARAMS TRAINABLE" in text:
                return page.extract_words(extra_attrs=["size"]), text
    raise AssertionError(f"no page holds the header of {name!r}")


def pdf_totals(out: Path, name: str) -> dict[str, str]:
    """A model's totals list in the PDF as {LABEL: value}, paired by position as a reader pairs them.

    The list is inline blocks: each label (6.5 pt capitals) has its value (9 pt) on the
    next line, starting at the same x. Text extraction alone would read a line of labels,
    then a line of values.
    """
    words, _ = pdf_header(out, name)
    start = next(w["top"] for w in words if w["text"] == "PARAMS" and w["size"] < 7)
    words = sorted((w for w in words if w["top"] >= start - 1), key=lambda w: (round(w["top"]), w["x0"]))

    def runs(small: bool, gap: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for w in words:
            if (w["size"] < 7) != small:
                continue
            last = out[-1] if out else None
            if last and abs(last["top"] - w["top"]) < 1 and w["x0"] - last["x1"] < gap:
                last["text"] += " " + w["text"]
                last["x1"] = w["x1"]
            else:
                out.append({"text": w["text"], "x0": w["x0"], "x1": w["x1"], "top": w["top"]})
        return out

    # A space is 2 to 4 pt wide; the blocks are 14 pt apart.
    labels, values = runs(True, 8.0), runs(False, 8.0)
    found = {}
    for label in labels:
        below = [v for v in values if abs(v["x0"] - label["x0"]) < 1 and 0 < v["top"] - label["top"] < 15]
        if below:
            found[label["text"]] = below[0]["text"]
    return found


def pdf_page_text(out: Path, name: str) -> str:
    """A model's header page as one line of text (the PDF wraps where the HTML does not)."""
    return pdf_header(out, name)[1]


def shown_model(out: Path, name: str) -> dict[str, Any]:
    return model(json.loads((out / "report.json").read_text(encoding="utf-8")), name)


def test_parameter_memory_per_dtype_is_shown_in_html_and_pdf(shown: Path) -> None:
    totals = shown_model(shown, "Mixed dtypes")["totals"]
    by_dtype = totals["param_bytes_by_dtype"]
    # By hand: kernel + bias of each Dense, at 4 or 2 bytes a weight.
    assert by_dtype == {
        "float32": (32 * 64 + 64) * 4, "float16": (64 * 64 + 64) * 2, "bfloat16": (64 * 8 + 8) * 2,
    }  # fmt: skip
    assert totals["param_bytes"] == sum(by_dtype.values())
    parts = ", ".join(f"{d} {units.nbytes(by_dtype[d])}" for d in ("float32", "float16", "bfloat16"))
    expected = f"{units.nbytes(totals['param_bytes'])} ({parts})"  # largest first
    assert expected == "17.4 KiB (float32 8.25 KiB, float16 8.12 KiB, bfloat16 1.02 KiB)"
    assert html_totals(shown, "mixed-dtypes")["Param memory"] == expected
    assert pdf_totals(shown, "Mixed dtypes")["PARAM MEMORY"] == expected
    # One dtype: named, without repeating the size.
    single = shown_model(shown, "Frozen stats at batch 1")["totals"]
    assert html_totals(shown, "frozen-stats-at-batch-1")["Param memory"] == "216 B (float32)"
    assert pdf_totals(shown, "Frozen stats at batch 1")["PARAM MEMORY"] == "216 B (float32)"
    assert single["param_bytes"] == 216


def test_training_memory_by_hand_at_the_manifests_batch_size(shown: Path) -> None:
    """Dense(6->4), BatchNormalization(4), Dense(4->2), at batch 8 (README, "What the numbers mean")."""
    batch = 8
    trainable = (6 * 4 + 4) + (4 + 4) + (4 * 2 + 2)  # kernels and biases; BN's gamma and beta
    frozen = 4 + 4  # BN's moving mean and variance: kept once, no gradient, no Adam moments
    outputs = 4 + 4 + 2  # elements each layer outputs per example
    activations = outputs * 4 * batch  # float32
    at8 = shown_model(shown, "Frozen stats at batch 8")
    t = at8["totals"]
    assert (t["batch_size"], t["trainable_params"], t["non_trainable_params"]) == (batch, trainable, frozen)
    assert [r["activation_bytes"] for r in at8["layers"]] == [4 * 4 * batch, 4 * 4 * batch, 2 * 4 * batch]
    assert t["activation_bytes"] == activations == 320
    assert t["training_bytes"] == 16 * trainable + 4 * frozen + activations == 1088
    assert t["training_bytes_mixed"] == 16 * trainable + 4 * frozen + activations // 2 == 928
    at1 = shown_model(shown, "Frozen stats at batch 1")["totals"]
    assert at1["activation_bytes"] == outputs * 4
    assert at1["training_bytes"] == 16 * trainable + 4 * frozen + outputs * 4
    # The same limit holds at batch 1 and fails at batch 8: expectations read the model's batch size.
    [held] = shown_model(shown, "Frozen stats at batch 1")["expectations"]
    [violated] = at8["expectations"]
    assert (held["key"], held["status"], held["actual"]) == ("max_activation_bytes", "held", outputs * 4)
    assert (violated["status"], violated["actual"]) == ("violated", activations)
    assert violated["message"] == "max_activation_bytes: expected at most 100, got 320."
    # Shown as report.json says, in units.nbytes, in the HTML and the PDF.
    for name, totals in (("Frozen stats at batch 8", t), ("Frozen stats at batch 1", at1)):
        slug = name.lower().replace(" ", "-")
        in_html, in_pdf = html_totals(shown, slug), pdf_totals(shown, name)
        for label, key in (("Training, Adam (est.)", "training_bytes"), ("Training, mixed (est.)", "training_bytes_mixed"),
                           ("Activations, all kept", "activation_bytes")):  # fmt: skip
            assert in_html[label] == in_pdf[label.upper()] == units.nbytes(totals[key]), (name, label)
    assert html_totals(shown, "frozen-stats-at-batch-8")["FLOPs (batch 8)"] == units.flops(t["flops"])
    html_text = html_section(shown, "frozen-stats-at-batch-8")
    assert "max_activation_bytes: expected at most 100, got 320." in html_text
    assert "max_activation_bytes: expected at most 100, got 320." in pdf_page_text(
        shown, "Frozen stats at batch 8"
    )


def test_a_failed_layer_expectation_marks_its_row_and_its_diagram_node(shown: Path) -> None:
    lenet = shown_model(shown, "Wrong pooling")
    rows = {r["name"]: r for r in lenet["layers"]}
    failed = [e for e in lenet["expectations"] if not e["ok"]]
    assert [(e["layer"], e["expected"], e["actual"]) for e in failed] == [
        ("max_pooling2d_1", "(None, 14, 14, 50)", "(None, 7, 7, 50)")
    ]
    bad, good = rows["max_pooling2d_1"]["anchor"], rows["flatten"]["anchor"]
    assert failed[0]["anchor"] == bad
    page = (shown / "report.html").read_text(encoding="utf-8")
    style = page[page.index("<style>") : page.index("</style>")]
    # The row and the diagram node that links to it are marked; the layer that held is not.
    assert f"table.layers tr#{bad} td {{ background: #fde7e9; }}" in style
    assert f'svg a[*|href="#{bad}"] polygon' in style
    assert good not in style
    section = html_section(shown, "wrong-pooling")
    assert f'<tr id="{bad}"' in section and f'<a xlink:href="#{bad}"' in section
    # The expectations table links the failure to the row.
    assert f'<tr class="bad" data-layer="{bad}">' in section
    assert f'<tr class="ok" data-layer="{good}">' in section


def test_uncalled_sub_layers_are_greyed_in_html_and_marked_in_pdf(shown: Path) -> None:
    spare = {r["path"]: r for r in shown_model(shown, "Spare layer")["layers"]}["block/spare"]
    assert spare["called"] is False and spare["flops"] is None and spare["output_shape"] == ""
    section = html_section(shown, "spare-layer")
    row = re.search(rf'<tr id="{spare["anchor"]}"[^>]*>(.*?)</tr>', section, flags=re.S)
    assert row is not None
    assert 'class="depth-1 uncalled"' in row.group(0)
    assert 'title="Tracked by its parent but never called at these input shapes"' in row.group(0)
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]
    assert cells[1] == "spare" and cells[4] == "—" and cells[12] == "not called"
    # The layer that ran is not greyed.
    dense = {r["path"]: r for r in shown_model(shown, "Spare layer")["layers"]}["block/dense"]
    dense_row = re.search(rf'<tr id="{dense["anchor"]}"[^>]*class="([^"]*)"', section)
    assert dense_row is not None and "depth-1" in dense_row[1].split() and "uncalled" not in dense_row[1]
    # The PDF's table says so in words.
    import pdfplumber

    with pdfplumber.open(shown / "report.pdf") as pdf:
        lines = [line for p in pdf.pages for line in (p.extract_text() or "").splitlines()]
    [line] = [line for line in lines if " spare " in f" {line} "]
    assert "not called" in line


LLAMA_MANIFEST = """
[[model]]
name = "Llama"
builder = "tests.models:llama"

[model.inputs]
token_ids = [16]
padding_mask = [16]
"""

FALLBACK_MANIFEST = """
[[model]]
name = "Uses tf ops"
builder = "tfops:build"
"""


def report_from_cli(folder: Path, manifest: str) -> Path:
    """A report made by the command, as a user makes it (HTML and PDF), from the repository root so
    "tests.models" imports; builders written beside the manifest import too."""
    proc = run_cli(
        str(write_manifest(folder, manifest)), "-o", str(folder / "out"), "--no-cache", cwd=EXAMPLES.parent
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "out"


@pytest.fixture(scope="module")
def llama_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_from_cli(tmp_path_factory.mktemp("llama"), LLAMA_MANIFEST)


@pytest.fixture(scope="module")
def fallback_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_shape_only import TF_BUILDER  # a Lambda of tf.nn.relu: auto falls back to TensorFlow

    folder = tmp_path_factory.mktemp("fallback")
    (folder / "tfops.py").write_text(TF_BUILDER, encoding="utf-8")
    return report_from_cli(folder, FALLBACK_MANIFEST)


@pytest.mark.slow  # keras-hub imports TensorFlow
def test_flops_and_kv_cache_per_token_are_shown_in_html_and_pdf(llama_out: Path) -> None:
    from tests import models

    t = shown_model(llama_out, "Llama")["totals"]
    c = models.LLAMA
    # By hand: K and V of (hidden / query heads) dims per key/value head, float32, in each layer.
    kv = c["num_layers"] * 2 * c["num_key_value_heads"] * (c["hidden_dim"] // c["num_query_heads"]) * 4
    assert t["kv_cache_bytes_per_token"] == kv
    assert t["flops_per_token"] == t["flops"] / 16  # batch 1 x 16 tokens
    in_html, in_pdf = html_totals(llama_out, "llama"), pdf_totals(llama_out, "Llama")
    assert in_html["KV cache per token"] == in_pdf["KV CACHE PER TOKEN"] == units.nbytes(kv) == "1 KiB"
    assert in_html["FLOPs per token"] == in_pdf["FLOPS PER TOKEN"] == units.flops(t["flops_per_token"])
    assert (
        in_html["Training, Adam (est.)"]
        == in_pdf["TRAINING, ADAM (EST.)"]
        == units.nbytes(t["training_bytes"])
    )
    assert (
        in_html["Training, mixed (est.)"]
        == in_pdf["TRAINING, MIXED (EST.)"]
        == units.nbytes(t["training_bytes_mixed"])
    )
    assert in_html["Built"] == in_pdf["BUILT"] == "shape-only"  # not a fallback: no note
    assert "(fallback)" not in html_section(llama_out, "llama")


def poppler_text(pdf: Path) -> str:
    """The PDF's text as poppler's pdftotext reads it, on one line."""
    proc = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60
    )
    return " ".join(proc.stdout.split())


@pytest.mark.slow  # the fallback imports TensorFlow
def test_a_fallback_build_is_named_with_its_reason_in_html_and_pdf(fallback_out: Path) -> None:
    fallback = shown_model(fallback_out, "Uses tf ops")
    note = fallback["backend_note"]
    assert fallback["backend"] == "tensorflow"
    assert note.startswith("built with TensorFlow because building it shape-only raised")
    sentence = note[:1].upper() + note[1:]
    assert html_totals(fallback_out, "uses-tf-ops")["Built"] == "tensorflow (fallback)"
    section = html_section(fallback_out, "uses-tf-ops")
    # Without JavaScript the reader is sent to the PDF: that note is the page's, not the build's.
    shown = re.sub(r"<noscript>.*?</noscript>", "", section, flags=re.S)
    notes = re.findall(r'<p class="note">(.*?)</p>', shown, flags=re.S)
    assert [html.unescape(n) for n in notes] == [sentence]
    text = poppler_text(fallback_out / "report.pdf")
    assert "BUILT" in text and "tensorflow (fallback)" in text
    # The PDF wraps the note; read as one line it is the same sentence.
    assert "Built with TensorFlow because building it shape-only raised NotImplementedError" in text


@pytest.mark.slow
def test_pdfminer_reads_the_fallback_note(fallback_out: Path) -> None:
    # Keras colours its messages with terminal escapes: WeasyPrint has no glyph for ESC, so it
    # would re-encode DejaVu Sans with a custom CMap, and pdfminer would then read none of the
    # PDF's regular-weight text. Notes and errors carry plain text.
    assert "\x1b[" not in shown_model(fallback_out, "Uses tf ops")["backend_note"]
    assert pdf_totals(fallback_out, "Uses tf ops")["BUILT"] == "tensorflow (fallback)"


def test_lower_bounds_are_marked_in_the_html_and_the_pdf(shown: Path) -> None:
    model = shown_model(shown, "Open size")
    assert model["totals"]["flops_lower_bound"] and model["totals"]["memory_lower_bound"]
    exact = shown_model(shown, "Spare layer")["totals"]
    assert not exact["flops_lower_bound"] and not exact["memory_lower_bound"]
    t = model["totals"]
    marked = {
        "FLOPs": units.flops(t["flops"], True),
        "Activations, all kept": units.nbytes(t["activation_bytes"], True),
        "Inference peak": units.nbytes(t["inference_peak_bytes"], True),
        "Training, Adam (est.)": units.nbytes(t["training_bytes"], True),
        "Training, mixed (est.)": units.nbytes(t["training_bytes_mixed"], True),
    }
    assert all(value.startswith("≥ ") for value in marked.values())
    html_shown = html_totals(shown, "open-size")
    assert {k: html_shown[k] for k in marked} == marked
    assert html_totals(shown, "spare-layer")["Activations, all kept"] == units.nbytes(
        exact["activation_bytes"]
    )
    pdf_shown = pdf_totals(shown, "Open size")
    assert {k.upper(): pdf_shown[k.upper()] for k in marked} == {k.upper(): v for k, v in marked.items()}
