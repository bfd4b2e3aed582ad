"""archreport.plot_model: a drop-in for keras.utils.plot_model, drawn by archreport."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import keras
import pikepdf
import pytest

import archreport
from archreport.diagram.layout import DiagramError, unsupported
from archreport.errors import OutputError
from tests.helpers import ROOT, check_pdf, pdf_pages_text
from tests.test_diagram import FACTORIES, build, lenet_model, node_texts, summarize, svg_root

MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff",
    "jpeg": b"\xff\xd8\xff",
    "gif": b"GIF8",
    "bmp": b"BM",
    "webp": b"RIFF",
    "pdf": b"%PDF-",
}


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def lenet() -> Any:
    return build(lenet_model)


@pytest.mark.parametrize("ext", ["png", "svg", "pdf", "dot", "jpg", "gif", "webp", "bmp"])
def test_every_extension_on_lenet(lenet: Any, ext: str, tmp_path: Path) -> None:
    target = tmp_path / f"lenet.{ext}"
    if unsupported([ext]):  # Debian's Graphviz 2.43 writes no bmp
        with pytest.raises(ValueError, match=rf"this machine's Graphviz does not write {ext} images"):
            archreport.plot_model(lenet, to_file=target, show_shapes=True)
        assert not target.exists()
        return
    result = archreport.plot_model(lenet, to_file=target, show_shapes=True)
    data = target.read_bytes()
    if ext == "svg":
        texts = "".join(node_texts(svg_root(target)))
        assert "(None, 24, 24, 6)" in texts
    elif ext == "dot":
        assert data.startswith(b"digraph G {") and b"(None, 24, 24, 6)" in data
    else:
        assert data.startswith(MAGIC[ext])
    if ext == "pdf":
        assert check_pdf(target) == 1
        assert "Conv2D" in pdf_pages_text(data)[0]
        # Rewritten by archreport (graphviz._repair_pdf), as the report's diagrams are: cairo
        # writes no /ID, qpdf a digest of the content.
        with pikepdf.open(target) as pdf:
            assert "/ID" in pdf.trailer
    # An image for each format a notebook shows inline, as Keras returns one (it fails on .svg and .dot).
    assert (result is not None) == (ext in ("png", "jpg", "gif", "webp"))
    if result is not None:
        assert result.data == data


def test_png_returns_an_ipython_image_at_the_requested_dpi(lenet: Any, tmp_path: Path) -> None:
    from IPython.display import Image

    low = archreport.plot_model(lenet, to_file=tmp_path / "low.png", dpi=50)
    high = archreport.plot_model(lenet, to_file=tmp_path / "high.png", dpi=200)
    assert isinstance(low, Image) and isinstance(high, Image)
    assert high.data == (tmp_path / "high.png").read_bytes()
    (lw, lh), (hw, hh) = _png_size(tmp_path / "low.png"), _png_size(tmp_path / "high.png")
    assert abs(hw / lw - 4) < 0.1 and abs(hh / lh - 4) < 0.1


def test_no_extension_writes_png_under_that_name_like_keras(lenet: Any, tmp_path: Path) -> None:
    archreport.plot_model(lenet, to_file=tmp_path / "model")
    assert (tmp_path / "model").read_bytes().startswith(MAGIC["png"])


@pytest.mark.slow
def test_without_ipython_a_png_returns_none(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules["IPython"] = None  # as if IPython were not installed
        import keras, archreport
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        result = archreport.plot_model(model, to_file={str(tmp_path / "m.png")!r})
        print("result:", result)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: None" in proc.stdout
    assert (tmp_path / "m.png").read_bytes().startswith(MAGIC["png"])


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["png", "svg", "pdf", "dot", "jpg", "gif", "webp", "bmp"])
def test_efficientnet_is_drawn_where_keras_crashes(ext: str, tmp_path: Path) -> None:
    model = keras.applications.EfficientNetB0(weights=None)
    if ext == "png":
        # Keras's own plot_model: Graphviz 2.43 aborts under splines="ortho" and pydot raises.
        with pytest.raises(AssertionError):
            keras.utils.plot_model(model, to_file=str(tmp_path / "keras.png"), show_shapes=True)
    if unsupported([ext]):
        with pytest.raises(ValueError, match=rf"does not write {ext} images"):
            archreport.plot_model(model, to_file=tmp_path / f"eff.{ext}", show_shapes=True)
        return
    if ext == "webp":
        # At plot_model's 200 dpi EfficientNetB0 is taller than a WebP image may be.
        with pytest.raises(
            DiagramError, match=r"eff\.webp: Graphviz wrote an empty WEBP image .* at most 16383"
        ):
            archreport.plot_model(model, to_file=tmp_path / "eff.webp", show_shapes=True)
        assert not (tmp_path / "eff.webp").exists()
        return
    archreport.plot_model(model, to_file=tmp_path / f"eff.{ext}", show_shapes=True)
    data = (tmp_path / f"eff.{ext}").read_bytes()
    assert data.startswith(b"digraph G {") if ext == "dot" else len(data) > 10_000
    if ext in MAGIC:
        assert data.startswith(MAGIC[ext])
    if ext == "dot":
        assert 'splines="ortho"' not in data.decode()  # the mode that worked is kept in the source


def test_arguments_keras_refuses_are_refused(lenet: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="`layer_range` is no longer supported"):
        archreport.plot_model(lenet, to_file=tmp_path / "a.png", layer_range=("a", "b"))
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        archreport.plot_model(lenet, to_file=tmp_path / "a.png", colour=True)
    with pytest.raises(ValueError, match=r"the extension '\.tex' is not one of \.svg, \.pdf, \.png"):
        archreport.plot_model(lenet, to_file=tmp_path / "a.tex")
    with pytest.raises(ValueError, match="has not yet been built"):
        archreport.plot_model(keras.Sequential([keras.layers.Dense(2)]), to_file=tmp_path / "a.png")
    assert not list(tmp_path.iterdir())


def test_dpi_none_draws_at_graphvizs_default_as_keras_does(lenet: Any, tmp_path: Path) -> None:
    archreport.plot_model(lenet, to_file=tmp_path / "none.png", dpi=None)
    archreport.plot_model(lenet, to_file=tmp_path / "96.png", dpi=96)
    assert _png_size(tmp_path / "none.png") == _png_size(tmp_path / "96.png")
    with pytest.raises(TypeError, match=r"dpi is '96': expected a number of dots per inch"):
        archreport.plot_model(lenet, to_file=tmp_path / "a.png", dpi="96")
    with pytest.raises(ValueError, match=r"dpi is 0: expected a positive number"):
        archreport.plot_model(lenet, to_file=tmp_path / "a.png", dpi=0)
    assert not (tmp_path / "a.png").exists()


def test_what_is_not_a_model_or_a_file_name_is_a_type_error(lenet: Any, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"plot_model draws a keras.Model; model is builtins.str"):
        archreport.plot_model("lenet", to_file=tmp_path / "a.png")
    with pytest.raises(TypeError, match=r"to_file is None: expected a file name"):
        archreport.plot_model(lenet, to_file=None)
    assert not list(tmp_path.iterdir())


def test_a_file_that_cannot_be_written_is_an_output_error(lenet: Any, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(OutputError, match=r"plot_model cannot write .*/taken\.png: Is a directory\.$"):
        archreport.plot_model(lenet, to_file=tmp_path / "taken.png")
    with pytest.raises(OutputError, match=r"plot_model cannot write .*/notes\.txt/a\.png: "):
        archreport.plot_model(lenet, to_file=tmp_path / "notes.txt" / "a.png")
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "taken.png"]  # no temporary file left


def test_a_tilde_is_the_home_folder(lenet: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing folders are created: unexpanded, "~/plots/a.svg" made a folder named "~" here."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    archreport.plot_model(lenet, to_file="~/plots/lenet.svg")
    assert (home / "plots" / "lenet.svg").is_file()
    assert list(work.iterdir()) == []


def _keras_texts(model: Any, **flags: Any) -> Counter[str]:
    """Each node's label text as Keras's own plot_model would draw it (its DOT, cells joined)."""
    # plot_model hides layer names by default; model_to_dot, which it calls, shows them.
    source = keras.utils.model_to_dot(model, **{"show_layer_names": False, **flags}).to_string()
    return Counter(
        "".join("".join(cells) for cells in node) for node in summarize(source)["nodes"].elements()
    )


def _our_texts(model: Any, tmp_path: Path, **flags: Any) -> Counter[str]:
    target = tmp_path / "ours.svg"
    archreport.plot_model(model, to_file=target, **flags)
    return Counter(node_texts(svg_root(target)))


def _squash(texts: Counter[str]) -> Counter[str]:
    return Counter({re.sub(r"\s+", "", t): n for t, n in texts.items()})


FLAGS = ("show_shapes", "show_dtype", "show_layer_names", "show_layer_activations", "show_trainable")


@pytest.mark.slow
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_every_option_combination_shows_every_label_text_keras_shows(factory: Any, tmp_path: Path) -> None:
    """Keras's plot_model test models (sequential, residual, split-and-merge, shared, nested,
    subclassed) under all 32 combinations of the show_* flags, each with and without
    expand_nested, and each rankdir with show_shapes, drawn by Graphviz (the full grid with
    every rankdir is checked in the DOT source below)."""
    model = build(factory)
    combos = [dict(zip(FLAGS, values, strict=True)) for values in itertools.product((False, True), repeat=5)]
    cases = [{**c, "expand_nested": e} for c in combos for e in (False, True)]
    cases += [{"show_shapes": True, "rankdir": r} for r in ("LR", "BT", "RL")]
    for flags in cases:
        assert _squash(_our_texts(model, tmp_path, **flags)) == _squash(_keras_texts(model, **flags)), flags


@pytest.mark.parametrize("factory", FACTORIES[:3], ids=lambda f: f.__name__)
def test_label_texts_match_keras_for_common_options(factory: Any, tmp_path: Path) -> None:
    model = build(factory)
    for flags in ({}, {"show_shapes": True, "show_layer_names": True}, dict.fromkeys(FLAGS, True)):
        assert _squash(_our_texts(model, tmp_path, **flags)) == _squash(_keras_texts(model, **flags)), flags


TUTORIAL = """
# The tutorial's script (LeNet, then plot_model), with one import changed.
from archreport import plot_model  # was: from tensorflow.keras.utils import plot_model
from tensorflow.keras import backend as K
from tensorflow.keras.layers import Activation, Conv2D, Dense, Flatten, MaxPooling2D
from tensorflow.keras.models import Sequential


class LeNet:
    @staticmethod
    def build(width, height, depth, classes):
        model = Sequential()
        inputShape = (height, width, depth)
        if K.image_data_format() == "channels_first":
            inputShape = (depth, height, width)
        model.add(Conv2D(20, (5, 5), padding="same", input_shape=inputShape))
        model.add(Activation("relu"))
        model.add(MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
        model.add(Conv2D(50, (5, 5), padding="same"))
        model.add(Activation("relu"))
        model.add(MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
        model.add(Flatten())
        model.add(Dense(500))
        model.add(Activation("relu"))
        model.add(Dense(classes))
        model.add(Activation("softmax"))
        return model


model = LeNet.build(28, 28, 1, 10)
plot_model(model, to_file="lenet.png", show_shapes=True)
"""


@pytest.mark.slow
def test_the_tutorial_script_runs_with_one_import_changed(tmp_path: Path) -> None:
    (tmp_path / "lenet_script.py").write_text(TUTORIAL)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "lenet_script.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = tmp_path / "lenet.png"
    assert png.read_bytes().startswith(MAGIC["png"])
    width, height = _png_size(png)
    assert height > width > 100  # a top-to-bottom chain of eleven boxes


def _our_dot_texts(model: Any, **flags: Any) -> Counter[str]:
    """Each node's label text in the DOT source plot_model lays out (its cells joined)."""
    from archreport.diagram.dot import DiagramOptions
    from archreport.model.graph import model_to_dot

    source = model_to_dot(model, DiagramOptions(**flags), id_prefix="")
    return Counter(
        "".join("".join(cells) for cells in node) for node in summarize(source)["nodes"].elements()
    )


@pytest.mark.slow
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_every_combination_with_every_rankdir_labels_as_keras_does(
    factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole grid: 32 show_* combinations x expand_nested, in the DOT source (the test above
    shows that Graphviz draws the source's label texts), and each of the 4 rankdirs."""
    from keras.src.utils import model_visualization

    # Keras runs `dot` on an empty graph before each model_to_dot, to see that Graphviz works;
    # 2,048 of those would be most of this test. Graphviz is known to work here.
    monkeypatch.setattr(model_visualization, "check_graphviz", lambda: True)
    model = build(factory)
    for values in itertools.product((False, True), repeat=5):
        for expand_nested in (False, True):
            flags = {**dict(zip(FLAGS, values, strict=True)), "expand_nested": expand_nested}
            assert _squash(_our_dot_texts(model, **flags)) == _squash(_keras_texts(model, **flags)), flags
    # rankdir is a graph attribute in both, never part of a label (the grid took four times as long
    # with each rankdir in it): each is set, with Keras's label texts, on the fullest combination.
    from archreport.diagram.dot import DiagramOptions
    from archreport.model.graph import model_to_dot

    full = {**dict.fromkeys(FLAGS, True), "expand_nested": True}
    for rankdir in ("TB", "LR", "BT", "RL"):
        flags = {**full, "rankdir": rankdir}
        assert _squash(_our_dot_texts(model, **flags)) == _squash(_keras_texts(model, **flags)), flags
        assert f'rankdir="{rankdir}";' in model_to_dot(model, DiagramOptions(**flags), id_prefix="")
