"""Tests for archreport.diagram.dot: real Keras, real Graphviz, no mocks."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from archreport.diagram import layout as graphviz_layout
from archreport.diagram.dot import DiagramOptions, html_text
from archreport.diagram.layout import DiagramError, Layout, run_dot, with_splines
from archreport.diagram.svg import svg_for_inline
from archreport.model.graph import model_to_dot
from tests.helpers import check_pdf, pdf_pages_text

keras = pytest.importorskip("keras")
pydot = pytest.importorskip("pydot")

GOLDEN_DIR = Path(__file__).parent / "golden" / "diagram"
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_NS = "{http://www.w3.org/1999/xlink}"
MAIN = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# Models (explicit names everywhere: keras's auto-names depend on history)
# --------------------------------------------------------------------------


def sequential_model() -> Any:
    return keras.Sequential(
        [
            keras.Input((16,), name="seq_in"),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dropout(0.1, name="drop"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="seq",
    )


def residual_model() -> Any:
    inp = keras.Input((8, 8, 4), name="img")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inp)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU(name="relu_a")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_b")(x)
    x = keras.layers.Add(name="skip_add")([x, inp])
    out = keras.layers.Activation("relu", name="out_relu")(x)
    return keras.Model(inp, out, name="residual")


def multi_io_model() -> Any:
    a = keras.Input((4,), name="in_a")
    b = keras.Input((6,), name="in_b", dtype="float16")
    x = keras.layers.Concatenate(name="concat")([a, b])
    x = keras.layers.Dense(5, name="trunk")(x)
    head1 = keras.layers.Dense(1, name="head_reg")(x)
    head2 = keras.layers.Dense(3, activation="softmax", name="head_cls")(x)
    model = keras.Model({"a": a, "b": b}, [head1, head2], name="multi_io")
    model.get_layer("trunk").trainable = False
    return model


def shared_layer_model() -> Any:
    a = keras.Input((4,), name="left")
    b = keras.Input((4,), name="right")
    shared = keras.layers.Dense(4, name="shared_dense")
    merged = keras.layers.Subtract(name="diff")([shared(a), shared(b)])
    return keras.Model([a, b], merged, name="siamese")


def nested_sequential_model() -> Any:
    inner = keras.Sequential(
        [keras.layers.Dense(6, name="inner_d1"), keras.layers.Dense(6, name="inner_d2")],
        name="inner_seq",
    )
    inp = keras.Input((6,), name="outer_in")
    x = keras.layers.Dense(6, name="pre")(inp)
    y = inner(x)
    out = keras.layers.Add(name="post_add")([x, y])
    return keras.Model(inp, out, name="outer_seq_host")


def nested_functional_model() -> Any:
    i = keras.Input((5,), name="block_in")
    h = keras.layers.Dense(5, activation="tanh", name="block_dense")(i)
    block = keras.Model(i, keras.layers.Add(name="block_add")([i, h]), name="block")
    inp = keras.Input((5,), name="top_in")
    x = block(inp)
    x = keras.layers.Dense(2, name="top_out")(x)
    return keras.Model(inp, x, name="outer_func_host")


def sequential_in_sequential_model() -> Any:
    inner = keras.Sequential(
        [keras.layers.Dense(3, name="ss_inner_a"), keras.layers.Dense(3, name="ss_inner_b")],
        name="ss_inner",
    )
    return keras.Sequential(
        [
            keras.Input((3,), name="ss_in"),
            keras.layers.Dense(3, name="ss_first"),
            inner,
            keras.layers.Dense(1, name="ss_last"),
        ],
        name="ss_outer",
    )


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__(name="subclassed")
        self.d1 = keras.layers.Dense(4, name="sub_d1")
        self.d2 = keras.layers.Dense(2, name="sub_d2")

    def call(self, x: Any) -> Any:
        return self.d2(self.d1(x))


def subclassed_model() -> Any:
    model = Subclassed()
    model(keras.ops.zeros((1, 3)))
    return model


def lenet_model() -> Any:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            keras.layers.Conv2D(6, 5, activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(16, 5, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(120, activation="relu", name="fc1"),
            keras.layers.Dense(84, activation="relu", name="fc2"),
            keras.layers.Dense(10, activation="softmax", name="logits"),
        ],
        name="lenet",
    )


def build(factory: Callable[[], Any]) -> Any:
    keras.backend.clear_session()
    return factory()


# --------------------------------------------------------------------------
# A small reader for DOT produced by keras and by us (via pydot)
# --------------------------------------------------------------------------

Cells = tuple[tuple[str, ...], ...]


def label_cells(label: str) -> Cells:
    """Text of each cell, row by row, tags stripped and entities decoded."""
    rows = re.findall(r"<tr>(.*?)</tr>", label, re.S | re.I)
    return tuple(
        tuple(
            html.unescape(re.sub(r"<[^>]*>", "", td))
            for td in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S | re.I)
        )
        for row in rows
    )


def _graphs(graph: Any, parent: str) -> list[tuple[Any, str]]:
    out = [(graph, parent)]
    for sub in graph.get_subgraphs():
        out += _graphs(sub, _cluster_label(sub))
    return out


def _cluster_label(sub: Any) -> str:
    label = (sub.get_label() or "").strip('"')
    if label.startswith("<") and label.endswith(">"):  # HTML-like label
        label = label[1:-1]
    return html.unescape(re.sub(r"<[^>]*>", "", label)).strip()


def summarize(dot_source: str) -> dict[str, Any]:
    """Nodes, edges and clusters by label text, ignoring ids and styling."""
    (graph,) = pydot.graph_from_dot_data(dot_source)
    texts: dict[str, Cells] = {}
    membership: dict[str, str] = {}
    edge_pairs: list[tuple[str, str]] = []
    for sub, owner in _graphs(graph, ""):
        for node in sub.get_nodes():
            if node.get_name() in ("node", "edge", "graph"):
                continue
            label = node.get_label()
            if label is not None:
                texts[node.get_name()] = label_cells(label)
                membership.setdefault(node.get_name(), owner)
        edge_pairs += [(e.get_source(), e.get_destination()) for e in sub.get_edges()]
    return {
        "nodes": Counter(texts.values()),
        "edges": Counter((texts[s], texts[d]) for s, d in edge_pairs),
        "clusters": Counter((membership[n], texts[n]) for n in texts),
    }


def keras_dot(model: Any, options: DiagramOptions) -> str:
    return keras.utils.model_to_dot(
        model,
        show_shapes=options.show_shapes,
        show_dtype=options.show_dtype,
        show_layer_names=options.show_layer_names,
        show_layer_activations=options.show_layer_activations,
        show_trainable=options.show_trainable,
        expand_nested=options.expand_nested,
        rankdir=options.rankdir,
    ).to_string()


def svg_root(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def node_texts(svg: ET.Element) -> list[str]:
    """For every node group, the concatenation of its <text> elements."""
    return [
        "".join(t.text or "" for t in g.iter(f"{SVG_NS}text"))
        for g in svg.iter(f"{SVG_NS}g")
        if g.get("class") == "node"
    ]


# --------------------------------------------------------------------------
# Faithfulness to keras.utils.model_to_dot
# --------------------------------------------------------------------------

FACTORIES = [
    sequential_model,
    residual_model,
    multi_io_model,
    shared_layer_model,
    nested_sequential_model,
    nested_functional_model,
    sequential_in_sequential_model,
    subclassed_model,
]
OPTION_SETS = {
    "defaults": DiagramOptions(),
    "expanded": DiagramOptions(expand_nested=True),
    "everything": DiagramOptions(
        show_dtype=True,
        show_layer_activations=True,
        show_trainable=True,
        expand_nested=True,
    ),
    "bare": DiagramOptions(show_shapes=False, show_layer_names=False, rankdir="LR"),
}


@pytest.mark.parametrize(
    "options_name",
    # The fast tier compares with every option on; the rest of the grid runs in the slow tier.
    [
        name if name == "everything" else pytest.param(name, marks=pytest.mark.slow)
        for name in sorted(OPTION_SETS)
    ],
)
@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_same_graph_and_texts_as_keras(factory: Callable[[], Any], options_name: str) -> None:
    options = OPTION_SETS[options_name]
    model = build(factory)
    ours = summarize(model_to_dot(model, options, id_prefix="t-"))
    theirs = summarize(keras_dot(model, options))
    assert ours["nodes"] == theirs["nodes"]
    assert ours["edges"] == theirs["edges"]
    assert ours["clusters"] == theirs["clusters"]
    assert sum(ours["nodes"].values()) >= 1


def test_nested_models_become_clusters_only_when_expanded() -> None:
    model = build(nested_functional_model)
    collapsed = summarize(model_to_dot(model, DiagramOptions(), id_prefix=""))
    expanded = summarize(model_to_dot(model, DiagramOptions(expand_nested=True), id_prefix=""))
    assert {owner for owner, _ in collapsed["clusters"]} == {""}
    assert {owner for owner, _ in expanded["clusters"]} == {"", "block"}
    # The edge into the block lands on its InputLayer, as in keras.
    headers = {(s[0][0], d[0][0]) for s, d in expanded["edges"]}
    assert ("top_in (InputLayer)", "block_in (InputLayer)") in headers
    assert ("block_add (Add)", "top_out (Dense)") in headers


def test_shared_layer_is_one_node_with_two_inbound_edges() -> None:
    model = build(shared_layer_model)
    summary = summarize(model_to_dot(model, DiagramOptions(), id_prefix=""))
    shared = [cells for cells in summary["nodes"] if cells[0][0] == "shared_dense (Dense)"]
    assert len(shared) == 1
    assert summary["nodes"][shared[0]] == 1
    sources = sorted(s[0][0] for s, d in summary["edges"] if d == shared[0])
    assert sources == ["left (InputLayer)", "right (InputLayer)"]


def test_subclassed_model_is_a_single_node() -> None:
    model = build(subclassed_model)
    source = model_to_dot(model, DiagramOptions(), id_prefix="s-")
    summary = summarize(source)
    assert [cells[0][0] for cells in summary["nodes"]] == ["subclassed (Subclassed)"]
    assert not summary["edges"]


def test_unbuilt_model_is_rejected() -> None:
    keras.backend.clear_session()
    model = keras.Sequential([keras.layers.Dense(2, name="d")], name="unbuilt")
    with pytest.raises(ValueError, match="not yet been built"):
        model_to_dot(model, DiagramOptions(), id_prefix="")


def test_module_imports_without_tensorflow() -> None:
    code = "import sys, archreport.diagram.dot\nassert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=MAIN, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()


# --------------------------------------------------------------------------
# Ids, anchors, style
# --------------------------------------------------------------------------


def test_ids_are_prefixed_and_sequential(tmp_path: Path) -> None:
    model = build(nested_sequential_model)
    options = DiagramOptions(expand_nested=True)
    source = model_to_dot(model, options, id_prefix="m1-")
    assert re.findall(r"^\t+(n\d+) \[", source, re.M)[:3] == ["n0", "n1", "n2"]
    assert "subgraph cluster_0 {" in source
    assert not re.search(r"\b\d{9,}\b", source), "no id(layer)-style node names"
    ids = {}
    for prefix in ("m1-", "m2-"):
        out = tmp_path / prefix
        graphviz_layout.layout(model_to_dot(model, options, id_prefix=prefix), out, options=options)
        ids[prefix] = [el.get("id") for el in svg_root(out / "diagram.svg").iter() if el.get("id")]
        assert all(i.startswith(prefix) or i.startswith("a_" + prefix) for i in ids[prefix])
        kinds = {re.sub(r"\d+$", "", i.removeprefix(prefix)) for i in ids[prefix]}
        assert {"graph", "n", "e", "cluster_"} <= kinds
    assert not set(ids["m1-"]) & set(ids["m2-"])
    assert len(ids["m1-"]) == len(set(ids["m1-"]))


def test_invalid_id_prefix_and_options_are_rejected() -> None:
    model = build(sequential_model)
    with pytest.raises(ValueError, match="id_prefix must match"):
        model_to_dot(model, DiagramOptions(), id_prefix='x" onload="alert(1)')
    with pytest.raises(ValueError, match="rankdir must be one of"):
        DiagramOptions(rankdir="TB; node [image=x]")
    with pytest.raises(ValueError, match="splines must be one of"):
        DiagramOptions(splines="bogus")


def test_anchor_links_and_tooltips(tmp_path: Path) -> None:
    model = build(nested_sequential_model)
    options = DiagramOptions(expand_nested=True)
    paths: list[tuple[str, ...]] = []

    def anchor_for(path: tuple[str, ...]) -> str | None:
        paths.append(path)
        return None if path[-1] == "pre" else "layer-" + "/".join(path) + '"\\&<'

    graphviz_layout.layout(
        model_to_dot(model, options, id_prefix="a-", anchor_for=anchor_for),
        tmp_path,
        options=options,
    )
    assert ("inner_seq", "inner_d1") in paths
    assert ("outer_in",) in paths
    links = {
        a.get(f"{XLINK_NS}title"): a.get(f"{XLINK_NS}href")
        for a in svg_root(tmp_path / "diagram.svg").iter(f"{SVG_NS}a")
    }
    assert links["inner_d1"] == "#layer-inner_seq/inner_d1%22%5C%26%3C"
    assert "pre" not in links
    assert set(links) == {"outer_in", "inner_d1", "inner_d2", "post_add"}


def test_labels_are_compact_and_use_an_installed_font(tmp_path: Path) -> None:
    model = build(lenet_model)
    ours = model_to_dot(model, DiagramOptions(), id_prefix="")
    assert 'fontname="DejaVu Sans"' in ours
    assert "Helvetica" not in ours
    assert 'point-size="10"' in ours
    assert 'point-size="16"' not in ours
    fc = subprocess.run(["fc-list", ":family=DejaVu Sans"], capture_output=True, text=True, check=True)
    assert "DejaVu Sans" in fc.stdout
    mine = graphviz_layout.layout(ours, tmp_path / "ours", options=DiagramOptions())
    (tmp_path / "keras.dot").write_text(keras_dot(model, DiagramOptions()))
    subprocess.run(
        ["dot", "-Tsvg", "-o", str(tmp_path / "keras.svg"), str(tmp_path / "keras.dot")],
        check=True,
        timeout=60,
    )
    keras_root = svg_root(tmp_path / "keras.svg")
    keras_w, keras_h = (float(keras_root.get(a).removesuffix("pt")) for a in ("width", "height"))
    # Keras's DOT also carries dpi=200, which inflates its SVG further; compare
    # the drawing in points (viewBox) to be fair.
    vb = [float(v) for v in keras_root.get("viewBox").split()]
    assert mine.height_pt < 0.6 * vb[3]
    assert mine.width_pt < vb[2]
    assert keras_w > vb[2]
    assert keras_h > vb[3]


# --------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------


def _render_once(tmp: Path, factory: Callable[[], Any], options: DiagramOptions) -> tuple[str, bytes]:
    model = factory()
    source = model_to_dot(model, options, id_prefix="d-")
    graphviz_layout.layout(source, tmp, options=options)
    return source, (tmp / "diagram.svg").read_bytes()


@pytest.mark.slow  # LeNet's golden DOT pins the same in the fast tier
@pytest.mark.parametrize("factory", [residual_model, nested_functional_model], ids=lambda f: f.__name__)
def test_dot_and_svg_are_byte_identical_across_builds(tmp_path: Path, factory: Callable[[], Any]) -> None:
    options = DiagramOptions(expand_nested=True, show_dtype=True, show_trainable=True)
    keras.backend.clear_session()
    first = _render_once(tmp_path / "1", factory, options)
    keras.backend.clear_session()
    second = _render_once(tmp_path / "2", factory, options)
    # Unrelated models built in between (no clear_session) change keras's
    # counters and object ids, not our output.
    (
        sequential_model(),
        shared_layer_model(),
        keras.Sequential([keras.layers.Dense(3)]).build((None, 2)),
    )
    third = _render_once(tmp_path / "3", factory, options)
    assert first == second == third
    assert (tmp_path / "1" / "diagram.dot").read_bytes() == (tmp_path / "3" / "diagram.dot").read_bytes()


def test_svg_has_no_run_dependent_content(tmp_path: Path) -> None:
    model = build(sequential_model)
    source = model_to_dot(model, DiagramOptions(), id_prefix="d-")
    svg = _render_once(tmp_path, lambda: model, DiagramOptions())[1].decode()
    assert str(tmp_path) not in svg
    assert ".diagram-" not in svg
    assert str(os.getpid()) not in re.sub(r'"[^"]*"', "", svg)
    assert source == (tmp_path / "diagram.dot").read_text()


# --------------------------------------------------------------------------
# Hostile names
# --------------------------------------------------------------------------

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<TABLE>",
    '"quoted" {x} |y|',
    "a&amp;b",
    "line1\nline2",
    "back\\slash \\N",
    "naïve 名前 😀",
    "it's \\G \\L \\l \\\\ end",
    "ctrl\x01char",
]


def hostile_model() -> Any:
    inp = keras.Input((4,), name="in")
    x = inp
    for name in HOSTILE:
        x = keras.layers.Dense(4, name=name)(x)
    return keras.Model(inp, x, name='<b>model<b> & "co"')


@pytest.mark.parametrize("expand", [False, True])
def test_hostile_names_are_shown_literally(tmp_path: Path, expand: bool) -> None:
    keras.backend.clear_session()
    host_in = keras.Input((4,), name="host_in")
    inner = hostile_model()
    model = keras.Model(host_in, inner(host_in), name="host")
    options = DiagramOptions(expand_nested=expand, show_layer_activations=True)
    source = model_to_dot(model, options, id_prefix="h-", anchor_for=lambda p: "r-" + p[-1])
    assert "<img" not in source.lower()
    assert "<table>" not in source.lower()
    layout = graphviz_layout.layout(source, tmp_path, formats=("svg", "pdf"), options=options)
    assert layout.files == {"svg": "diagram.svg", "pdf": "diagram.pdf"}
    svg = svg_root(tmp_path / "diagram.svg")  # parses as XML
    assert not list(svg.iter(f"{SVG_NS}image"))
    texts = node_texts(svg)
    if expand:
        shown = {
            name: any(t.startswith(name.replace("\n", "") + " (Dense)Activation: linear") for t in texts)
            for name in HOSTILE
            if "\x01" not in name
        }
        assert all(shown.values()), shown
        assert any(t.startswith("ctrl\\x01char (Dense)") for t in texts)  # control chars get a visible escape
        titles = {a.get(f"{XLINK_NS}title") for a in svg.iter(f"{SVG_NS}a")}
        assert {n.replace("\n", " ") for n in HOSTILE if "\x01" not in n} <= titles
        clusters = [
            "".join(t.text or "" for t in g.iter(f"{SVG_NS}text"))
            for g in svg.iter(f"{SVG_NS}g")
            if g.get("class") == "cluster"
        ]
        assert clusters == ['<b>model<b> & "co"']
    else:
        assert any(t.startswith('<b>model<b> & "co" (Functional)') for t in texts)


def test_a_diagram_pdf_with_links_is_valid_and_keeps_its_links(tmp_path: Path) -> None:
    # A node with URL= (the report links each node to its layer's row) made Graphviz 2.43's
    # cairo write a PDF that qpdf calls damaged ("object 3 0 not found").
    model = build(residual_model)
    options = DiagramOptions()
    source = model_to_dot(model, options, id_prefix="p-", anchor_for=lambda p: "r-" + p[-1])
    layout = graphviz_layout.layout(source, tmp_path, formats=("svg", "pdf"), options=options)
    path = tmp_path / layout.files["pdf"]
    assert check_pdf(path) == 1
    data = path.read_bytes()
    assert b"/CreationDate" not in data and b"/ModDate" not in data, "the time of the run is in the PDF"
    (text,) = pdf_pages_text(data)
    assert {"conv_a", "skip_add", "out_relu"} <= set(text.split())
    with pikepdf.open(path) as pdf:
        links = {str(a.A.URI) for a in pdf.pages[0].Annots if a.Subtype == "/Link"}
    assert links == {"#r-" + layer.name for layer in model.layers}


def test_html_text_neutralises_markup_and_escstrings() -> None:
    assert html_text("<b>&\"'") == "&lt;b&gt;&amp;&quot;&#39;"
    assert html_text("a\\Nb") == "a\\\\Nb"
    assert html_text("x\ny") == "x<br/>y"
    assert html_text("\x00\ud800") == "\\\\x00\\\\ud800"


# --------------------------------------------------------------------------
# Rendering, fallback, timeouts
# --------------------------------------------------------------------------


def test_render_writes_all_formats_from_one_layout(tmp_path: Path) -> None:
    model = build(residual_model)
    options = DiagramOptions(dpi=192)
    source = model_to_dot(model, options, id_prefix="")
    layout = graphviz_layout.layout(source, tmp_path / "hi", formats=("svg", "pdf", "png"), options=options)
    low = graphviz_layout.layout(source, tmp_path / "lo", formats=("svg", "png"), options=DiagramOptions())
    assert isinstance(layout, Layout)
    assert layout.mode == "ortho"
    assert layout.attempts == []
    assert sorted(p.name for p in (tmp_path / "hi").iterdir()) == [
        "diagram.dot",
        "diagram.pdf",
        "diagram.png",
        "diagram.svg",
    ]
    assert (tmp_path / "hi" / "diagram.pdf").read_bytes().startswith(b"%PDF")
    # dpi changes the PNG only: the SVG is byte-identical and twice the pixels.
    assert (tmp_path / "hi" / "diagram.svg").read_bytes() == (tmp_path / "lo" / "diagram.svg").read_bytes()
    assert (layout.width_pt, layout.height_pt) == (low.width_pt, low.height_pt)

    def png_size(path: Path) -> tuple[int, int]:
        data = path.read_bytes()
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")

    hi_w, hi_h = png_size(tmp_path / "hi" / "diagram.png")
    lo_w, lo_h = png_size(tmp_path / "lo" / "diagram.png")
    assert abs(hi_h / lo_h - 2) < 0.05
    assert abs(hi_w / lo_w - 2) < 0.1
    assert abs(lo_h - layout.height_pt * 96 / 72) < 3


def test_layout_size_comes_from_svg(tmp_path: Path) -> None:
    model = build(sequential_model)
    layout = graphviz_layout.layout(
        model_to_dot(model, DiagramOptions(), id_prefix=""), tmp_path, options=DiagramOptions()
    )
    root = svg_root(tmp_path / "diagram.svg")
    assert f"{layout.width_pt:g}pt" == root.get("width")
    assert f"{layout.height_pt:g}pt" == root.get("height")
    wide = graphviz_layout.layout(
        model_to_dot(model, DiagramOptions(rankdir="LR"), id_prefix=""),
        tmp_path / "lr",
        options=DiagramOptions(rankdir="LR"),
    )
    # A chain of three nodes: LR makes it wider and lower than TB.
    assert wide.width_pt > layout.width_pt
    assert wide.height_pt < layout.height_pt


def test_with_splines_replaces_the_graph_attribute() -> None:
    model = build(sequential_model)
    source = model_to_dot(model, DiagramOptions(), id_prefix="")
    changed = with_splines(source, "polyline")
    assert changed.count('splines="polyline";') == 1
    assert 'splines="ortho"' not in changed
    assert with_splines("digraph { a -> b }", "line").startswith('digraph {\n\tsplines="line";')


@pytest.mark.parametrize("spare_core", [False, True])
def test_syntax_errors_fail_every_mode(tmp_path: Path, spare_core: bool) -> None:
    with pytest.raises(
        DiagramError,
        match=r"ortho: dot exited with status 1: .*syntax error.*"
        r"; spline: .*; polyline: .*; line: ",
    ):
        graphviz_layout.layout(
            "digraph G { a -> ; }", tmp_path, options=DiagramOptions(), spare_core=spare_core
        )
    assert not any(p.name.startswith("diagram") for p in tmp_path.iterdir())
    assert not list(tmp_path.iterdir()), "temporary attempt directories are removed"


@pytest.mark.parametrize("spare_core", [False, True])
def test_tiny_timeout_kills_dot_and_reports_every_mode(tmp_path: Path, spare_core: bool) -> None:
    model = build(residual_model)
    options = DiagramOptions(timeout=0.001)
    source = model_to_dot(model, options, id_prefix="")
    start = time.monotonic()
    with pytest.raises(
        DiagramError,
        match=r"^Graphviz could not lay out .*: ortho: timed out after "
        r"0.001 s; spline: timed out after 0.001 s; polyline: "
        r"timed out after 0.001 s; line: timed out after 0.001 s$",
    ):
        graphviz_layout.layout(source, tmp_path, options=options, spare_core=spare_core)
    assert time.monotonic() - start < 10
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    note = run_dot([sys.executable, "-c", script], timeout=2.0)
    assert note == "timed out after 2 s"
    assert time.monotonic() - start < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = Path(f"/proc/{child}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild `sleep` survived the timeout")


def test_ortho_abort_falls_back_to_spline(tmp_path: Path) -> None:
    # Xception builds in about 1 s and dot aborts within a second: not slow.
    keras.backend.clear_session()
    model = keras.applications.Xception(weights=None)
    options = DiagramOptions()
    source = model_to_dot(model, options, id_prefix="x-")
    layout = graphviz_layout.layout(source, tmp_path, formats=("svg", "pdf"), options=options)
    assert layout.mode == "spline"
    assert layout.attempts == ["ortho: dot aborted (signal 6: trapezoid-table overflow)"]
    written = (tmp_path / "diagram.dot").read_text()
    assert 'splines="spline";' in written
    assert 'splines="ortho"' not in written
    assert written == with_splines(source, "spline")
    svg = svg_root(tmp_path / "diagram.svg")
    assert len([g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "node"]) == len(model._operations)
    # With a core to spare, spline is laid out while ortho runs: the same result, the same files.
    beside = graphviz_layout.layout(
        source, tmp_path / "beside", formats=("svg", "pdf"), options=options, spare_core=True
    )
    assert beside == layout
    assert sorted(p.name for p in (tmp_path / "beside").iterdir()) == [
        "diagram.dot",
        "diagram.pdf",
        "diagram.svg",
    ]
    for name in ("diagram.dot", "diagram.pdf", "diagram.svg"):
        assert (tmp_path / "beside" / name).read_bytes() == (tmp_path / name).read_bytes()


def _dot_children() -> list[int]:
    """This process's children that are Graphviz, alive or not yet reaped."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid") == str(os.getpid()) and fields.get("Name") in ("dot", "neato"):
            found.append(int(status.parent.name))
    return found


def test_a_fallback_laid_out_beside_a_mode_that_succeeds_is_stopped(tmp_path: Path) -> None:
    model = build(residual_model)
    options = DiagramOptions()
    source = model_to_dot(model, options, id_prefix="")
    alone = graphviz_layout.layout(source, tmp_path / "alone", formats=("svg", "pdf"), options=options)
    beside = graphviz_layout.layout(
        source, tmp_path / "beside", formats=("svg", "pdf"), options=options, spare_core=True
    )
    assert beside == alone and beside.mode == "ortho"
    # Ortho's files, and nothing of the spline attempt: no folder, no process left.
    assert sorted(p.name for p in (tmp_path / "beside").iterdir()) == [
        "diagram.dot",
        "diagram.pdf",
        "diagram.svg",
    ]
    assert (tmp_path / "beside" / "diagram.dot").read_text() == with_splines(source, "ortho")
    assert _dot_children() == []


# --------------------------------------------------------------------------
# Inline SVG
# --------------------------------------------------------------------------


def test_svg_for_inline_strips_prolog_comments_and_graphviz_ids(tmp_path: Path) -> None:
    model = build(sequential_model)
    graphviz_layout.layout(
        model_to_dot(model, DiagramOptions(), id_prefix="i-"), tmp_path, options=DiagramOptions()
    )
    raw = (tmp_path / "diagram.svg").read_text()
    assert raw.startswith("<?xml")
    assert "<!DOCTYPE" in raw
    assert "<!--" in raw
    inline = svg_for_inline(raw)
    assert inline.startswith("<svg")
    assert inline.rstrip().endswith("</svg>")
    assert "<?xml" not in inline
    assert "<!DOCTYPE" not in inline
    assert "<!--" not in inline
    root = ET.fromstring(inline)
    assert root.get("viewBox")
    assert root.get("width").endswith("pt")
    # The same drawing, less Graphviz's <title> ids and the default text-anchor.
    expected = ET.fromstring(raw.encode())
    titles = 0
    for parent in list(expected.iter()):
        for child in list(parent):
            if child.tag == f"{SVG_NS}title":
                parent.remove(child)
                titles += 1
            elif child.get("text-anchor") == "start":
                del child.attrib["text-anchor"]
    assert titles > len(model.layers), "every node and edge had a <title>"
    assert ET.tostring(expected) == ET.tostring(root)
    assert len(inline) < 0.95 * len(raw)


# --------------------------------------------------------------------------
# Golden file
# --------------------------------------------------------------------------


def test_lenet_golden_dot(request: pytest.FixtureRequest) -> None:
    model = build(lenet_model)
    source = model_to_dot(
        model,
        DiagramOptions(show_layer_activations=True),
        id_prefix="lenet-",
        anchor_for=lambda path: "layer-" + "-".join(path),
    )
    golden = GOLDEN_DIR / "lenet.dot"
    try:
        update = request.config.getoption("--update-golden", default=False)
    except ValueError:
        update = False
    if update:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(source, encoding="utf-8")
    assert source == golden.read_text(encoding="utf-8")
    summary = summarize(source)
    headers = [cells[0][0] for cells in summary["nodes"]]
    assert len(headers) == 8
    assert "image (InputLayer)" not in headers
    chain = [
        "conv1 (Conv2D)",
        "pool1 (MaxPooling2D)",
        "conv2 (Conv2D)",
        "pool2 (MaxPooling2D)",
        "flatten (Flatten)",
        "fc1 (Dense)",
        "fc2 (Dense)",
        "logits (Dense)",
    ]
    assert sorted((s[0][0], d[0][0]) for s, d in summary["edges"]) == sorted(pairwise(chain))
    assert ("Input shape: (None, 28, 28, 1)", "Output shape: (None, 24, 24, 6)") in {
        cells[-1] for cells in summary["nodes"]
    }


# -- raster formats Graphviz cannot write ----------------------------------------------------------
def _chain(nodes: int) -> str:
    body = "".join(f'  n{i} [label="layer {i}", shape=box];\n' for i in range(nodes))
    edges = "".join(f"  n{i} -> n{i + 1};\n" for i in range(nodes - 1))
    return f"digraph G {{\n{body}{edges}}}\n"


def test_a_webp_too_large_for_webp_is_reported_and_the_other_files_kept(tmp_path: Path) -> None:
    from archreport.model.job import draw

    # 40 boxes, one above the other, at 600 dpi: about 23,000 pixels tall. libwebp stops at
    # 16,383 pixels a side, and Graphviz then writes an empty file.
    options = DiagramOptions(dpi=600)
    result = graphviz_layout.layout(
        _chain(40), tmp_path / "d", formats=("svg", "pdf", "webp"), options=options
    )
    height_px = round(result.height_pt * 600 / 72)
    assert height_px > graphviz_layout.WEBP_MAX_PIXELS
    assert sorted(result.files) == ["pdf", "svg"]
    assert not (tmp_path / "d" / "diagram.webp").exists()
    assert result.missing["webp"] == (
        f"Graphviz wrote an empty WEBP image of this {round(result.width_pt * 600 / 72)} x {height_px} "
        "pixel drawing (dpi 600); WebP images are at most 16383 pixels a side. Lower the dpi, or use png or svg."
    )
    # In a report, the model keeps its SVG and PDF and its note says why the WebP is missing.
    info = draw(_chain(40), tmp_path / "e", "models/m", ("svg", "pdf", "webp"), options)
    assert sorted(info.files) == ["pdf", "svg"]
    assert info.note == f"No diagram.webp: {result.missing['webp']}"
    # At a dpi that fits, the same drawing is a WebP.
    small = graphviz_layout.layout(
        _chain(40), tmp_path / "f", formats=("svg", "webp"), options=DiagramOptions(dpi=96)
    )
    assert (tmp_path / "f" / "diagram.webp").read_bytes().startswith(b"RIFF") and not small.missing
