"""The block overview of models that Keras builds: repeated blocks found by the analysis (issue 12).

What the overview draws from the analysis (its plan, DOT, the fold into a "×N" box, the splines
fallback) is tested from plain data in tests/unit/test_overview.py; here, real models show that
the analysis finds the runs the overview folds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import keras
import pytest

import archreport
from tests import models
from tests.helpers import ROOT, check_folded, run_cli, write_manifest
from tests.test_report import LLAMA_MANIFEST, html_section, shown_model

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None or shutil.which("gvpr") is None, reason="needs Graphviz (dot, gvpr)"
)

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


def check_run(out: Path, name: str, slug: str, **expected: Any) -> None:
    """:func:`tests.helpers.check_folded` on a model of the report in ``out``."""
    section = html_section(out, slug)
    check_folded(shown_model(out, name), out / "models" / slug / "overview", section, **expected)


@pytest.mark.parametrize(("builder", "parent"), [("top", None), ("nested", "stack")])
def test_identical_custom_blocks_are_one_run(builder: str, parent: str | None) -> None:
    """Three identical blocks, at the top or inside a layer (ViT's case), are one run of three, whose
    first block's steps are its sub-layers and ops in the order they ran; its tracked, never called
    sub-layer stays in the table. (tests/unit/fixtures/stacked-blocks is the nested model's report.)"""
    namespace: dict[str, Any] = {}
    exec(compile(BLOCKS_BUILDER, "blockmodels.py", "exec"), namespace)
    keras.backend.clear_session()
    report = archreport.describe(namespace[builder]()).report
    [run] = report.repeated_blocks
    assert (run.parent, run.names, run.class_name) == (parent, ["block_0", "block_1", "block_2"], "Block")
    assert [n.name for n in run.nodes] == ["input", "norm", "dense", "add", "output"]
    prefix = f"{parent}/" if parent else ""
    rows = {r.path: r for r in report.layers}
    assert run.anchor == rows[f"{prefix}block_0"].anchor
    assert run.params_each == rows[f"{prefix}block_0"].params == rows[f"{prefix}block_2"].params
    for block in run.names:
        assert not rows[f"{prefix}{block}/spare"].called and rows[f"{prefix}{block}/dense"].called
    assert report.overview is not None and report.overview.mode is not None


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
    check_run(
        tmp_path / "out", "Llama", "llama", parent=None,
        box=f"transformer_layer_0 … transformer_layer_{layers - 1}", count=layers,
        steps=["self_attention_layernorm (LlamaLayerNorm)", "self_attention (LlamaAttention)",
               "feedforward_gate_dense (Dense)", "silu", "multiply", "add"],
        parts=["self_attention", "self_attention/query", "feedforward_gate_dense", "feedforward_output_dense"],
    )  # fmt: skip
    blocks = models.VIT["num_layers"]
    # keras-hub numbers ViT's blocks from 1, inside its "vit_encoder" layer.
    check_run(
        tmp_path / "out", "ViT", "vit", parent="vit_encoder",
        box=f"transformer_block_1 … transformer_block_{blocks}", count=blocks,
        steps=["ln_1 (LayerNormalization)", "mha (MultiHeadAttention)", "mlp (MLP)", "add"],
        parts=["ln_1", "mha", "mha/query", "mha/attention_output", "mlp", "mlp/dense_1"],
    )  # fmt: skip


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
