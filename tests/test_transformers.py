"""Transformers counted op by op: five keras-hub backbones at a declared sequence length.

Every number is checked against an analytic formula written here (2 FLOPs per
multiply-add of every projection, 2·s²·d for each of the QK^T and
attention-times-V products) and against TensorFlow's profiler on the same
model. The analyses run shape-only, as the product does by default, in a
process of Keras's numpy backend (tests/analyse_job.py).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests import models
from tests.helpers import analyse_in

# Builds five keras-hub backbones (keras-hub imports TensorFlow): the slow tier.
pytestmark = pytest.mark.slow

S = 32  # tokens
TOKENS = {"token_ids": [S], "padding_mask": [S]}
JOBS = [
    {"name": "llama", "builder": "tests.models:llama", "inputs": TOKENS},
    {"name": "gemma", "builder": "tests.models:gemma", "inputs": TOKENS},
    {"name": "bert", "builder": "tests.models:bert", "inputs": {**TOKENS, "segment_ids": [S]}},
    # GPT-2 by position: input_shapes follows the model's input order (padding_mask, token_ids).
    {"name": "gpt2", "builder": "tests.models:gpt2", "input_shapes": [[S], [S]]},
    {"name": "vit", "builder": "tests.models:vit"},
    {"name": "custom", "builder": "tests.models:custom_attention_model"},
    {"name": "kv_naming", "builder": "tests.models:kv_naming_model"},
]
BACKBONES = ["llama", "gemma", "bert", "gpt2", "vit"]


@pytest.fixture(scope="module")
def analyses() -> dict[str, Any]:
    return analyse_in("shape-only", JOBS)["results"]


def _rows(analysis: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in analysis["rows"]}


def _matmul(row: dict[str, Any]) -> int:
    """The FLOPs of a projection row's one matmul or einsum (its bias and activation aside)."""
    [op] = [op for op in row["ops"] if op["name"] in ("matmul", "einsum", "conv")]
    return int(op["flops"])


def _attention_products(row: dict[str, Any]) -> list[int]:
    """The attention layer's own einsums (QK^T and weights x V), in the order they ran."""
    return [op["flops"] for op in row["ops"] if op["name"] == "einsum"]


def _terms(name: str) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Analytic FLOPs: {projection row: 2 * tokens * d_in * d_out}, {attention row: [QK^T, AV]}."""
    proj: dict[str, int] = {}
    attention: dict[str, list[int]] = {}
    if name == "llama":
        c = models.LLAMA
        d, h, g, f = c["hidden_dim"], c["num_query_heads"], c["num_key_value_heads"], c["intermediate_dim"]
        hd = d // h
        for i in range(c["num_layers"]):
            p = f"transformer_layer_{i}"
            proj |= {
                f"{p}/self_attention/query": 2 * S * d * h * hd,
                f"{p}/self_attention/key": 2 * S * d * g * hd,  # grouped-query attention: fewer K/V heads
                f"{p}/self_attention/value": 2 * S * d * g * hd,
                f"{p}/self_attention/attention_output": 2 * S * h * hd * d,
                f"{p}/feedforward_gate_dense": 2 * S * d * f,
                f"{p}/feedforward_intermediate_dense": 2 * S * d * f,
                f"{p}/feedforward_output_dense": 2 * S * f * d,
            }
            attention[f"{p}/self_attention"] = [2 * S * S * h * hd] * 2
    elif name == "gemma":
        c = models.GEMMA
        d, h, g, hd, f = (
            c["hidden_dim"],
            c["num_query_heads"],
            c["num_key_value_heads"],
            c["head_dim"],
            c["intermediate_dim"],
        )
        for i in range(c["num_layers"]):
            p = f"decoder_block_{i}"
            proj |= {
                f"{p}/attention/query": 2 * S * d * h * hd,
                f"{p}/attention/key": 2 * S * d * g * hd,
                f"{p}/attention/value": 2 * S * d * g * hd,
                f"{p}/attention/attention_output": 2 * S * h * hd * d,
                # Gemma splits intermediate_dim between its two gating projections.
                f"{p}/ffw_gating": 2 * S * d * (f // 2),
                f"{p}/ffw_gating_2": 2 * S * d * (f // 2),
                f"{p}/ffw_linear": 2 * S * (f // 2) * d,
            }
            attention[f"{p}/attention"] = [2 * S * S * h * hd] * 2
    elif name in ("bert", "gpt2"):
        c = models.BERT if name == "bert" else models.GPT2
        d, f = c["hidden_dim"], c["intermediate_dim"]
        block = "self_attention_layer" if name == "bert" else "self_attention"
        for i in range(c["num_layers"]):
            p = f"transformer_layer_{i}"
            proj |= {f"{p}/{block}/{x}": 2 * S * d * d for x in ("query", "key", "value", "attention_output")}
            proj |= {
                f"{p}/feedforward_intermediate_dense": 2 * S * d * f,
                f"{p}/feedforward_output_dense": 2 * S * f * d,
            }
            attention[f"{p}/{block}"] = [2 * S * S * d] * 2
        if name == "bert":
            proj["pooled_dense"] = 2 * d * d  # the [CLS] token only
    else:
        c = models.VIT
        d, mlp, patch = c["hidden_dim"], c["mlp_dim"], c["patch_size"]
        patches = (c["image_shape"][0] // patch) * (c["image_shape"][1] // patch)
        t = patches + 1  # and the class token
        proj["vit_patching_and_embedding/patch_embedding"] = 2 * patches * patch * patch * 3 * d
        for i in range(1, c["num_layers"] + 1):
            p = f"vit_encoder/transformer_block_{i}"
            proj |= {f"{p}/mha/{x}": 2 * t * d * d for x in ("query", "key", "value", "attention_output")}
            proj |= {f"{p}/mlp/dense_1": 2 * t * d * mlp, f"{p}/mlp/dense_2": 2 * t * mlp * d}
            attention[f"{p}/mha"] = [2 * t * t * d] * 2
    return proj, attention


@pytest.mark.parametrize("name", BACKBONES)
def test_every_row_has_a_shape_and_flops_and_nothing_is_a_lower_bound(analyses: dict, name: str) -> None:
    analysis = analyses[name]
    assert not analysis["totals"]["flops_lower_bound"], analysis["warnings"]
    assert not any("lower bound" in w for w in analysis["warnings"])
    for row in analysis["rows"]:
        if row["called"]:
            assert row["output_shape"].startswith("("), row
            assert row["flops"] is not None, row
        else:  # tracked but never called at these shapes: no shape, no FLOPs, not a lower bound
            assert row["output_shape"] == "" and row["flops"] is None, row
    assert analysis["totals"]["params"] == analysis["count_params"]


@pytest.mark.parametrize("name", BACKBONES)
def test_matmul_and_attention_flops_equal_the_analytic_terms(analyses: dict, name: str) -> None:
    rows = _rows(analyses[name])
    proj, attention = _terms(name)
    for path, expected in proj.items():
        assert _matmul(rows[path]) == expected, path
    for path, expected in attention.items():
        row = rows[path]
        fused = [op for op in row["ops"] if op["name"] == "dot_product_attention"]
        if fused:
            # Keras's MultiHeadAttention without dropout, and keras-hub's Llama on JAX (shape-only
            # builds), call ops.dot_product_attention: QK^T and weights x V, one scale per score
            # and 5 per score for the softmax.
            [op] = fused
            config = {"vit": models.VIT, "llama": models.LLAMA}[name]
            heads = config["num_heads" if name == "vit" else "num_query_heads"]
            t = S if name != "vit" else math.isqrt(expected[0] // (2 * config["hidden_dim"]))
            assert op["flops"] == sum(expected) + 6 * heads * t * t, path
        else:
            assert _attention_products(row) == expected, path


@pytest.mark.parametrize("name", BACKBONES)
def test_totals_are_within_3_percent_of_the_analytic_terms(analyses: dict, name: str) -> None:
    proj, attention = _terms(name)
    analytic = sum(proj.values()) + sum(sum(v) for v in attention.values())
    total = analyses[name]["totals"]["flops"]
    assert analytic <= total <= 1.03 * analytic, (total, analytic, total / analytic)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKBONES)
def test_totals_agree_with_tensorflows_profiler(analyses: dict, name: str) -> None:
    """TensorFlow 2.21 lowers einsums to BatchMatMul, which its profiler counts, but it does not
    see into ops.dot_product_attention (Keras's fused attention, ViT here): those two products
    are added to its count. Elementwise details differ by a few hundredths of a percent."""
    from tests.flops_reference import profiler_flops

    model = getattr(models, name)()
    shapes = None if name == "vit" else [(1, S)] * len(model.inputs)
    reference = profiler_flops(model, shapes)
    ours = analyses[name]["totals"]["flops"]
    unseen = sum(v for row in _terms(name)[1].values() for v in row) if name == "vit" else 0
    assert abs(ours - (reference + unseen)) <= 2e-4 * reference, (ours, reference, unseen)


def test_a_layer_no_rule_knows_is_counted_row_by_row_as_a_hand_count(analyses: dict) -> None:
    rows = _rows(analyses["custom"])
    tokens, dim, heads = 12, 16, 2
    hd = dim // heads
    layer = rows["tiny_attention"]
    by_op = [(op["name"], op["flops"]) for op in layer["ops"] if op["flops"]]
    assert by_op == [
        ("einsum", 2 * tokens * heads * hd * hd),  # bthd,hde->bthe: a weight mixes each head
        ("einsum", 2 * tokens * tokens * heads * hd),  # QK^T
        ("softmax", 5 * heads * tokens * tokens),  # 5 per score, as the profiler counts it
        ("matmul", 2 * tokens * heads * tokens * hd),  # scores x V
    ]
    proj = rows["tiny_attention/proj"]
    assert proj["flops"] == 2 * tokens * dim * dim + tokens * dim  # the nested Dense: matmul and bias
    assert layer["flops"] == proj["flops"] + sum(f for _, f in by_op)
    assert analyses["custom"]["totals"]["flops"] == layer["flops"]


def test_uncalled_sub_layers_are_marked_and_not_counted(analyses: dict) -> None:
    rows = _rows(analyses["vit"])
    # Without dropout, MultiHeadAttention calls ops.dot_product_attention and skips its softmax layer.
    softmax = rows["vit_encoder/transformer_block_1/mha/softmax"]
    assert softmax["called"] is False and softmax["flops"] is None and softmax["output_shape"] == ""
    assert not analyses["vit"]["totals"]["flops_lower_bound"]


def test_kv_cache_and_flops_per_token(analyses: dict) -> None:
    c = models.LLAMA
    llama = analyses["llama"]
    per_layer = (
        2 * c["num_key_value_heads"] * (c["hidden_dim"] // c["num_query_heads"]) * 4
    )  # K and V, float32
    attention = [r for r in llama["rows"] if r["kv_cache_bytes_per_token"]]
    assert [r["name"] for r in attention] == ["self_attention"] * c["num_layers"]
    assert all(r["kv_cache_bytes_per_token"] == per_layer for r in attention)
    assert llama["totals"]["kv_cache_bytes_per_token"] == per_layer * c["num_layers"]
    assert llama["totals"]["flops_per_token"] == llama["totals"]["flops"] / S


def test_a_kv_cache_is_kept_only_where_a_softmax_attends_over_the_keys(analyses: dict) -> None:
    rows = _rows(analyses["kv_naming"])
    dim = 16
    # T5's key_projector and value_projector: a key and a value of width 16 per token, float32.
    assert rows["attention"]["kv_cache_bytes_per_token"] == 2 * dim * 4
    # RWKV's channel mixing has a key and a value too, but carries a fixed-size state.
    assert rows["channel_mix"]["kv_cache_bytes_per_token"] is None
    assert analyses["kv_naming"]["totals"]["kv_cache_bytes_per_token"] == 2 * dim * 4
