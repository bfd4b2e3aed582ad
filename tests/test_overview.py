"""The block overview: its splines fallback (issue 10, item 6) and its repeated blocks (issue 12).

The overview used to set ``splines=spline`` inside ``graph [...]``, a form that
``graphviz.with_splines`` does not replace: every fallback reran ``spline`` and
the report named a mode that was never used. Real ``dot`` says which mode ran.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree

import keras
import pytest

import archreport
from archreport import generate, units
from archreport.data import LayerRow
from archreport.diagram.dot import DiagramOptions
from archreport.diagram.layout import FALLBACK_SPLINES, layout, run_dot, with_splines
from archreport.diagram.overview import overview_dot
from tests import models
from tests.helpers import ROOT, run_cli, write_manifest
from tests.test_report import LLAMA_MANIFEST, html_section, shown_model

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None or shutil.which("gvpr") is None, reason="needs Graphviz (dot, gvpr)"
)

# 40 blocks of three layers, with these (from block, to block) skip connections (-1 is
# the input). Graphviz 2.43 aborts on the overview of this graph under splines=ortho
# ("newtrap: Trapezoid-table overflow"), like it does on EfficientNetB0's diagram.
BLOCKS = 40
SKIPS = [(-1, 1), (-1, 2), (0, 3), (0, 4), (0, 5), (0, 37), (1, 12), (1, 13), (1, 16), (1, 31), (2, 4),
         (2, 30), (3, 9), (3, 31), (4, 9), (4, 20), (4, 30), (4, 34), (5, 7), (5, 9), (5, 20), (5, 27),
         (5, 35), (6, 11), (6, 13), (7, 24), (8, 12), (9, 19), (9, 24), (9, 25), (10, 13), (10, 33),
         (11, 22), (11, 25), (13, 16), (14, 36), (15, 17), (15, 39), (16, 29), (17, 23), (17, 26),
         (20, 29), (20, 35), (22, 37), (22, 38), (23, 31), (27, 38), (29, 36)]  # fmt: skip


def row(i: int, name: str, cls: str, src: list[str]) -> LayerRow:
    return LayerRow(
        index=i, name=name, class_name=cls, depth=0, parent=None, input_shapes=[], output_shape=f"(None, {i})",
        params=10, trainable_params=10, non_trainable_params=0, trainable=True, dtype="float32",
        flops=100, connected_to=src, anchor=f"m-r{i}",
    )  # fmt: skip


def overview_source() -> str:
    extra: dict[int, list[str]] = {}
    for a, b in SKIPS:
        extra.setdefault(b, []).append("input_layer" if a < 0 else f"block{a}_c")
    rows = [row(0, "input_layer", "InputLayer", [])]
    prev = "input_layer"
    for b in range(BLOCKS):
        for part in ("a", "b", "c"):
            name = f"block{b}_{part}"
            rows.append(row(len(rows), name, "Conv2D", [prev] + (extra.get(b, []) if part == "a" else [])))
            prev = name
    source = overview_dot(rows, id_prefix="m-ov-")
    assert source is not None
    return source


def splines_dot_uses(source: str) -> str:
    """The graph's ``splines`` as Graphviz's own parser resolves it (the last assignment wins)."""
    proc = subprocess.run(
        ["gvpr", "BEG_G { print($G.splines); }"],
        input=source, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return proc.stdout.strip()


@pytest.mark.parametrize("mode", ["ortho", *FALLBACK_SPLINES])
def test_each_mode_reaches_graphviz(mode: str) -> None:
    assert splines_dot_uses(with_splines(overview_source(), mode)) == mode


def test_a_mode_that_fails_falls_back_and_the_report_names_the_mode_used(tmp_path: Path) -> None:
    source = overview_source()
    # The graph under ortho, set without with_splines: a last graph attribute wins.
    ortho = tmp_path / "ortho.dot"
    ortho.write_text(source.rstrip().removesuffix("}") + '\tsplines="ortho";\n}\n', encoding="utf-8")
    assert splines_dot_uses(ortho.read_text(encoding="utf-8")) == "ortho"
    note = run_dot(["dot", str(ortho), "-Tsvg", "-o", str(tmp_path / "ortho.svg")], timeout=60)
    if note is None:
        pytest.skip("this Graphviz lays the graph out under ortho; 2.43 (Debian 12) aborts")
    result = layout(source, tmp_path / "out", formats=("svg",), options=DiagramOptions(splines="ortho"))
    assert result.mode == "spline"
    assert len(result.attempts) == 1 and result.attempts[0].startswith("ortho: dot aborted"), result.attempts
    # diagram.dot is the source that was laid out: Graphviz reads the mode the report names.
    assert splines_dot_uses((tmp_path / "out" / "diagram.dot").read_text(encoding="utf-8")) == "spline"


# -- repeated blocks (issue 12): one box marked xN, the first block expanded, every block in the table --

BLOCKS_BUILDER = '''
import keras
from keras import layers, ops


class Block(keras.layers.Layer):
    """A residual block of built-in layers; each copy has the same class, shapes, params and FLOPs."""

    def __init__(self, dim=16, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.LayerNormalization(name="norm")
        self.dense = layers.Dense(dim, activation="relu", name="dense")
        self.spare = layers.Dense(dim, name="spare")  # tracked, never called

    def call(self, x):
        return ops.add(x, self.dense(self.norm(x)))


class Stack(keras.layers.Layer):
    """Blocks inside a layer, as ViT's sit inside its ViTEncoder."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [Block(name=f"block_{i}") for i in range(n)]
        self.final = layers.LayerNormalization(name="final")

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return self.final(x)


def top(n=3):
    inputs = keras.Input((8, 16))
    x = inputs
    for i in range(n):
        x = Block(name=f"block_{i}")(x)
    return keras.Model(inputs, layers.Dense(4, name="head")(x))


def nested(n=3):
    inputs = keras.Input((8, 16))
    return keras.Model(inputs, layers.Dense(4, name="head")(Stack(n, name="stack")(inputs)))
'''

BLOCKS_MANIFEST = """
[[model]]
name = "Blocks"
builder = "blockmodels:top"

[[model]]
name = "Stacked blocks"
builder = "blockmodels:nested"
"""

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


@dataclass
class Drawn:
    """A node or edge of a Graphviz SVG: its link, its texts, and whether it is drawn dashed."""

    href: str | None
    texts: list[str]
    dashed: bool


def svg_elements(svg: str) -> dict[str, Drawn]:
    """Every node and edge group of a Graphviz SVG, by its id (the DOT's id attribute)."""
    root = ElementTree.fromstring(svg)
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") not in ("node", "edge"):
            continue
        links = [a.get(XLINK) for a in g.iter(f"{SVG}a")]
        texts = ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
        dashed = any(p.get("stroke-dasharray") for p in g.iter(f"{SVG}path"))
        out[g.get("id", "")] = Drawn(links[0] if links else None, texts, dashed)
    return out


def overview_of(out: Path, slug: str) -> tuple[str, dict[str, Drawn]]:
    folder = out / "models" / slug / "overview"
    return (folder / "diagram.dot").read_text(encoding="utf-8"), svg_elements(
        (folder / "diagram.svg").read_text(encoding="utf-8")
    )


def check_folded(
    out: Path,
    name: str,
    slug: str,
    *,
    parent: str | None,
    box: str,
    count: int,
    steps: list[str],
    parts: list[str],
) -> None:
    """The overview draws the run as one box ``box ×count``, the first block expanded below it
    (its ``steps``, linked to the first block's rows), and the layer table keeps every block
    and each block's sub-layers ``parts``."""
    model = shown_model(out, name)
    rows = {r["path"]: r for r in model["layers"]}
    [run] = model["repeated_blocks"]
    assert run["parent"] == parent and len(run["names"]) == count
    prefix = f"{parent}/" if parent else ""
    first = rows[prefix + run["names"][0]]
    dot, drawn = overview_of(out, slug)
    svg = (out / "models" / slug / "overview" / "diagram.svg").read_text(encoding="utf-8")
    assert set(re.findall(r'font-family="([^"]*)"', svg)) == {"DejaVu Sans"}  # the cluster's label too
    boxes = {i: d for i, d in drawn.items() if f"×{count}" in d.texts}
    assert len(boxes) == 1, dot
    [(box_id, folded)] = boxes.items()
    assert folded.texts[:2] == [f"{box} ({run['class_name']})", f"×{count}"]
    assert folded.href == f"#{first['anchor']}"  # a click opens the first block's row
    assert f"{units.si(first['params'])} params · {units.flops(first['flops'])} each" in folded.texts[2]
    # The expanded first block hangs below the box by a dashed link, and its steps link to its own rows.
    expansion = drawn[f"{slug}-ov-rx0"]
    assert expansion.dashed
    assert f"o{box_id.rsplit('-o', 1)[1]} -> r0n0 " in dot
    inside = [d for i, d in drawn.items() if i.startswith(f"{slug}-ov-r0n")]
    titles = [d.texts[0] for d in inside if d.texts]
    assert all(any(t.startswith(step) for t in titles) for step in steps), titles
    linked = {d.href for d in inside if d.href}
    sub_rows = {f"#{r['anchor']}" for r in model["layers"] if r["path"].startswith(first["path"] + "/")}
    assert linked and linked <= sub_rows
    # The table keeps every block and every block's sub-layers: in report.json and in the HTML.
    section = html_section(out, slug)
    for block in run["names"]:
        for path in [prefix + block] + [f"{prefix}{block}/{part}" for part in parts]:
            assert path in rows, path
            assert f'<tr id="{rows[path]["anchor"]}"' in section, path


@pytest.fixture(scope="module")
def blocks_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("blocks")
    (folder / "blockmodels.py").write_text(BLOCKS_BUILDER, encoding="utf-8")
    manifest = write_manifest(folder, BLOCKS_MANIFEST)
    report = generate(manifest, folder / "out", formats=["html"], use_cache=False)
    assert [(m.name, m.status) for m in report.models] == [("Blocks", "ok"), ("Stacked blocks", "ok")]
    return folder / "out"


def test_identical_custom_blocks_fold_into_one_box(blocks_out: Path) -> None:
    check_folded(
        blocks_out, "Blocks", "blocks", parent=None, box="block_0 … block_2", count=3,
        steps=["input", "norm (LayerNormalization)", "dense (Dense)", "add", "output"],
        parts=["norm", "dense", "spare"],
    )  # fmt: skip


def test_blocks_nested_in_a_layer_fold_too(blocks_out: Path) -> None:
    """Blocks inside a layer (ViT's case) used to get the expanded block but no xN box."""
    check_folded(
        blocks_out, "Stacked blocks", "stacked-blocks", parent="stack", box="block_0 … block_2",
        count=3, steps=["input", "norm (LayerNormalization)", "dense (Dense)", "add", "output"],
        parts=["norm", "dense", "spare"],
    )  # fmt: skip
    dot, drawn = overview_of(blocks_out, "stacked-blocks")
    # The box hangs below its owner's box ("holds", dashed); the owner stays in the data flow.
    [owner] = [i.rsplit("-", 1)[1] for i, d in drawn.items() if d.texts and d.texts[0] == "stack (Stack)"]
    [box] = [i.rsplit("-", 1)[1] for i, d in drawn.items() if "×3" in d.texts]
    assert drawn[f"stacked-blocks-ov-ox{box[1:]}"].dashed
    assert f'  {owner} -> {box} [id="stacked-blocks-ov-ox{box[1:]}", style=dashed, arrowhead=none];' in dot
    # The overview is in the HTML, with the caption that explains the box.
    section = html_section(blocks_out, "stacked-blocks")
    overview = section[section.index('id="stacked-blocks-overview"') :]
    assert "block_0 … block_2 (Block)</text>" in overview and ">×3</text>" in overview
    assert "inside stack: block_0 (Block), one of 3" in overview
    assert "A run of N identical blocks is one box marked ×N" in overview


HUB_MANIFEST = (
    LLAMA_MANIFEST  # Llama at 16 tokens
    + """
[[model]]
name = "ViT"
builder = "tests.models:vit"
"""
)


@pytest.mark.slow  # keras-hub imports TensorFlow
def test_llama_and_vit_blocks_fold_into_one_box(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, HUB_MANIFEST)
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--format", "html", "--no-cache", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    layers = models.LLAMA["num_layers"]
    check_folded(
        tmp_path / "out", "Llama", "llama", parent=None,
        box=f"transformer_layer_0 … transformer_layer_{layers - 1}", count=layers,
        steps=["self_attention_layernorm (LlamaLayerNorm)", "self_attention (LlamaAttention)",
               "feedforward_gate_dense (Dense)", "silu", "multiply", "add"],
        parts=["self_attention", "self_attention/query", "feedforward_gate_dense", "feedforward_output_dense"],
    )  # fmt: skip
    blocks = models.VIT["num_layers"]
    # keras-hub numbers ViT's blocks from 1, inside its "vit_encoder" layer.
    check_folded(
        tmp_path / "out", "ViT", "vit", parent="vit_encoder",
        box=f"transformer_block_1 … transformer_block_{blocks}", count=blocks,
        steps=["ln_1 (LayerNormalization)", "mha (MultiHeadAttention)", "mlp (MLP)", "add"],
        parts=["ln_1", "mha", "mha/query", "mha/attention_output", "mlp", "mlp/dense_1"],
    )  # fmt: skip


def test_a_run_deep_inside_a_nested_layer_hangs_below_its_top_level_box() -> None:
    """Plain data: blocks two levels down (``model/encoder``) hang below the top-level ``model`` box;
    a run whose rows are not in the table gets no box and no link, and draws nothing it cannot name."""
    from archreport.data import BlockNode, RepeatedBlock

    def nested(i: int, name: str, parent: str, depth: int, path: str) -> LayerRow:
        return replace(row(i, name, "Block", []), depth=depth, parent=parent, path=path)

    rows = [
        row(0, "input_layer", "InputLayer", []),
        replace(row(1, "model", "Functional", ["input_layer"]), has_children=True, path="model"),
        nested(2, "encoder", "model", 1, "model/encoder"),
        nested(3, "block_a", "encoder", 2, "model/encoder/block_a"),
        nested(4, "block_b", "encoder", 2, "model/encoder/block_b"),
        row(5, "head", "Dense", ["model"]),
    ]
    nodes = [
        BlockNode("input", "input", "", "(None, 4)", 0),
        BlockNode("output", "output", "", "(None, 4)", 0),
    ]
    run = RepeatedBlock("model/encoder", ["block_a", "block_b"], "Block", 10, 100, "m-r3", nodes, [(0, 1)])
    gone = RepeatedBlock("model/missing", ["x_1", "x_2"], "Block", 10, 100, "m-r99", nodes, [(0, 1)])
    dot = overview_dot(rows, id_prefix="m-ov-", repeated=[run, gone])
    assert dot is not None
    # Boxes o0..o2 are the flow; o3 is the run, linked from "model" (o1) and to its expanded block.
    assert "<b>block_a … block_b (Block)</b>" in dot and "<b>×2</b>" in dot
    assert 'o3 [id="m-ov-o3", URL="#m-r3"' in dot
    assert '  o1 -> o3 [id="m-ov-ox3", style=dashed, arrowhead=none];' in dot
    assert '  o3 -> r0n0 [id="m-ov-rx0", style=dashed, arrowhead=none];' in dot
    assert "o4" not in dot and "rx1" not in dot  # no box and no link for the run without rows
    assert 'label=<<font point-size="13">inside model/missing: x_1 (Block), one of 2</font>>' in dot
    assert re.findall(r"o\d -> o\d(?= \[id=\"m-ov-oe)", dot) == [
        "o0 -> o1",
        "o1 -> o2",
    ]  # the data flow is unchanged
    # Graphviz lays it out.
    proc = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True, timeout=60)
    assert "×2" in proc.stdout


def test_blocks_with_nothing_traced_inside_are_not_folded() -> None:
    """A Bidirectional's forward and backward GRU are two identical composite layers, but their
    cells run in a backend loop that leaves no step to draw: they used to fold into a "×2" box
    whose expanded block was an empty frame, and that alone gave a 6-layer model an overview."""
    keras.backend.clear_session()
    inputs = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(10, 4)(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(2))(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    described = archreport.describe(model)
    paths = [row.path for row in described.layers]
    assert "bidirectional/forward_gru" in paths and "bidirectional/backward_gru" in paths
    assert described.report.repeated_blocks == [] and described.report.overview is None
