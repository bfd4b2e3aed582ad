"""The block overview from plain data: its plan, its DOT, its drawing by real dot.

Runs of identical blocks fold into one box marked ×N with the first block expanded below it
(issue 12), on the report.json fixtures of a 32-layer transformer (a run at the top level) and
of three blocks inside a layer (a run hung below its owner). The overview's splines fallback
(issue 10, item 6): it used to set ``splines=spline`` inside ``graph [...]``, a form that
``with_splines`` does not replace, so every fallback reran ``spline`` and the report named a
mode that was never used. Real ``dot`` says which mode ran.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from archreport.data import BlockNode, LayerRow, ModelReport, RepeatedBlock
from archreport.diagram.dot import DiagramOptions
from archreport.diagram.layout import FALLBACK_SPLINES, layout, run_dot, with_splines
from archreport.diagram.overview import Box, emit, overview_dot, plan
from archreport.render.html_report import render_section_html
from archreport.render.templating import jinja_environment
from tests.helpers import check_folded, check_golden, overview_of
from tests.unit import reports

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None or shutil.which("gvpr") is None, reason="needs Graphviz (dot, gvpr)"
)
GOLDEN = Path(__file__).parent.parent / "golden"
LLAMA_STEPS = ["self_attention_layernorm (LlamaLayerNorm)", "self_attention (LlamaAttention)",
               "feedforward_gate_dense (Dense)", "silu", "multiply", "add"]  # fmt: skip


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


# -- the plan: boxes and links as data ---------------------------------------------------
def test_the_plan_of_a_32_layer_transformer() -> None:
    model = reports.model("transformer")
    decided = plan(model.layers, model.repeated_blocks)
    assert decided is not None
    [run] = model.repeated_blocks
    assert (run.parent, run.count) == (None, 32)
    assert [(b.title, b.mark) for b in decided.boxes] == [
        ("token_ids (InputLayer)", ""),
        ("token_embedding (ReversibleEmbedding)", ""),
        ("padding_mask (InputLayer)", ""),
        ("transformer_layer_0 … transformer_layer_31 (LlamaTransformerDecoder)", "×32"),
        ("sequence_output_layernorm (LlamaLayerNorm)", ""),
    ]
    # Embedding and mask both feed the run; the run feeds the final norm.
    assert decided.edges == [(0, 1), (1, 3), (2, 3), (3, 4)]
    assert decided.hung == {} and decided.expands == {0: 3} and decided.runs == [run]
    rows = {r.name: r for r in model.layers}
    assert decided.boxes[3].anchor == rows["transformer_layer_0"].anchor == run.anchor
    # By hand: every box's params, each of the 32 layers counted once, add up to the model's.
    assert model.totals is not None
    each = rows["transformer_layer_0"].params
    assert all(rows[f"transformer_layer_{i}"].params == each == run.params_each for i in range(32))
    others = ["token_embedding", "sequence_output_layernorm", "token_ids", "padding_mask"]
    assert 32 * each + sum(rows[name].params for name in others) == model.totals.params


def test_the_plan_of_blocks_nested_in_a_layer() -> None:
    model = reports.model("stacked-blocks")
    decided = plan(model.layers, model.repeated_blocks)
    assert decided is not None
    assert decided.boxes == [
        Box("input_layer (InputLayer)", "", "0 params · 0 FLOPs · out (None, 8, 16)", "stacked-blocks-r0"),
        Box("stack (Stack)", "", "944 params · 17.8 kFLOPs · out (None, 8, 16)", "stacked-blocks-r1"),
        Box("head (Dense)", "", "68 params · 1.06 kFLOPs · out (None, 8, 4)", "stacked-blocks-r15"),
        Box("block_0 … block_2 (Block)", "×3", "304 params · 5.54 kFLOPs each · out (None, 8, 16)", "stacked-blocks-r2"),
    ]  # fmt: skip
    # The run's box is not in the data flow: it hangs below "stack", and its expansion below it.
    assert decided.edges == [(0, 1), (1, 2)] and decided.hung == {3: 1} and decided.expands == {0: 3}
    rows = {r.path: r for r in model.layers}
    assert 3 * rows["stack/block_0"].params + rows["stack/final"].params == rows["stack"].params == 944


def test_small_models_without_runs_get_no_plan() -> None:
    for slug in ("lenet", "tricky"):
        model = reports.model(slug)
        assert plan(model.layers, model.repeated_blocks) is None and model.overview is None, slug


# -- the DOT: a golden file, and the pipeline's own ------------------------------------------
def test_transformer_overview_golden(update_golden: bool) -> None:
    model = reports.model("transformer")
    dot = overview_dot(model.layers, id_prefix="transformer-ov-", repeated=model.repeated_blocks)
    assert dot is not None
    check_golden(GOLDEN / "transformer_overview.dot", dot, update_golden)
    # Beside the golden file, what makes it right: five boxes in a chain, one of them x32 ...
    boxes = re.findall(r'^  (o\d+) \[id="transformer-ov-o\d+", URL="#([^"]+)"', dot, flags=re.MULTILINE)
    assert [b for b, _ in boxes] == ["o0", "o1", "o2", "o3", "o4"]
    assert dot.count("<b>×32</b>") == 1 and "<b>transformer_layer_0 … transformer_layer_31" in dot
    # ... each box linked to a row of the table, the run's to its first block's ...
    anchors = {r.anchor for r in model.layers}
    assert {a for _, a in boxes} <= anchors
    # ... and the first block expanded below the x32 box, its steps linked to that block's rows.
    assert '  o3 -> r0n0 [id="transformer-ov-rx0", style=dashed, arrowhead=none];' in dot
    first = {r.anchor for r in model.layers if r.path.startswith("transformer_layer_0/")}
    linked = set(
        re.findall(r'^    r0n\d+ \[id="transformer-ov-r0n\d+", URL="#([^"]+)"', dot, flags=re.MULTILINE)
    )
    assert linked and linked <= first
    assert len(re.findall(r"^    r0n\d+ \[", dot, flags=re.MULTILINE)) == len(model.repeated_blocks[0].nodes)


@pytest.mark.parametrize("slug", ["transformer", "stacked-blocks"])
def test_the_dot_is_the_pipelines(slug: str) -> None:
    """The overview's DOT from the fixture's data is the DOT the pipeline wrote when it made the fixture."""
    model = reports.model(slug)
    assert model.overview is not None and model.overview.mode is not None
    dot = overview_dot(model.layers, id_prefix=f"{slug}-ov-", repeated=model.repeated_blocks)
    assert dot is not None
    written = (reports.FIXTURES / slug / "models" / slug / "overview" / "diagram.dot").read_text(
        encoding="utf-8"
    )
    assert with_splines(dot, model.overview.mode) == written


def test_emit_writes_only_what_the_plan_holds() -> None:
    model = reports.model("stacked-blocks")
    decided = plan(model.layers, model.repeated_blocks)
    assert decided is not None
    renamed = replace(decided, boxes=[replace(b, title=f"box {i}") for i, b in enumerate(decided.boxes)])
    dot = emit(renamed, id_prefix="x-", rankdir="LR")
    assert [f"box {i}" in dot for i in range(4)] == [True] * 4 and "stack (Stack)" not in dot
    assert "rankdir=LR" in dot and 'id="x-graph"' in dot


# -- the drawing: the xN box in the SVG and the HTML -----------------------------------------
def section_of(models: dict[str, ModelReport], report_dir: Path, slug: str) -> str:
    return render_section_html(models[slug], report_dir, jinja_environment())


def test_a_32_layer_run_folds_into_one_box(models: dict[str, ModelReport], report_dir: Path) -> None:
    check_folded(
        models["transformer"].to_dict(), report_dir / "models" / "transformer" / "overview",
        section_of(models, report_dir, "transformer"), parent=None,
        box="transformer_layer_0 … transformer_layer_31", count=32, steps=LLAMA_STEPS,
        parts=["self_attention", "self_attention/query", "feedforward_gate_dense", "feedforward_output_dense"],
    )  # fmt: skip


def test_blocks_nested_in_a_layer_fold_too(models: dict[str, ModelReport], report_dir: Path) -> None:
    """Blocks inside a layer (ViT's case) used to get the expanded block but no xN box."""
    section = section_of(models, report_dir, "stacked-blocks")
    check_folded(
        models["stacked-blocks"].to_dict(), report_dir / "models" / "stacked-blocks" / "overview", section,
        parent="stack", box="block_0 … block_2",
        count=3, steps=["input", "norm (LayerNormalization)", "dense (Dense)", "add", "output"],
        parts=["norm", "dense", "spare"],
    )  # fmt: skip
    dot, drawn = overview_of(report_dir / "models" / "stacked-blocks" / "overview")
    # The box hangs below its owner's box ("holds", dashed); the owner stays in the data flow.
    [owner] = [i.rsplit("-", 1)[1] for i, d in drawn.items() if d.texts and d.texts[0] == "stack (Stack)"]
    [box] = [i.rsplit("-", 1)[1] for i, d in drawn.items() if "×3" in d.texts]
    assert drawn[f"stacked-blocks-ov-ox{box[1:]}"].dashed
    assert f'  {owner} -> {box} [id="stacked-blocks-ov-ox{box[1:]}", style=dashed, arrowhead=none];' in dot
    # The overview is in the HTML, with the caption that explains the box.
    overview = section[section.index('id="stacked-blocks-overview"') :]
    assert "block_0 … block_2 (Block)</text>" in overview and ">×3</text>" in overview
    assert "inside stack: block_0 (Block), one of 3" in overview
    assert "A run of N identical blocks is one box marked ×N" in overview


def test_a_run_deep_inside_a_nested_layer_hangs_below_its_top_level_box() -> None:
    """Plain data: blocks two levels down (``model/encoder``) hang below the top-level ``model`` box;
    a run whose rows are not in the table gets no box and no link, and draws nothing it cannot name."""

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
