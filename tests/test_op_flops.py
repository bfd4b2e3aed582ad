"""FLOPs of keras.ops operations, as the tracer counts them inside any layer's call.

Each rule is checked against TensorFlow's profiler on a model that applies the op
to its input, or against a hand count where the profiler cannot see the op. Layer
rules and op-level counts must agree on every layer class they both cover.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import pytest
from keras import ops

from archreport.model import flops
from archreport.model.analyse import analyse
from archreport.model.trace import Call, trace_model
from tests.flops_reference import profiler_flops
from tests.test_flops import PROFILER_CASES, _model

A = (6, 8)
N = 48  # elements of A at batch 1

PROFILED: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("add", lambda x: ops.add(x, x), [A]),
    ("add_scalar", lambda x: x + 2.0, [A]),
    ("subtract", lambda x: x - 1.0, [A]),
    ("multiply", lambda x: x * x, [A]),
    ("divide", lambda x: x / 3.0, [A]),
    ("true_divide", lambda x: ops.true_divide(x, 3.0), [A]),
    ("floor_divide", lambda x: ops.floor_divide(x, 3.0), [A]),
    ("power", lambda x: ops.power(x, 3.0), [A]),
    ("square", ops.square, [A]),
    ("sqrt", ops.sqrt, [A]),
    ("rsqrt", ops.rsqrt, [A]),
    ("exp", ops.exp, [A]),
    ("log", ops.log, [A]),
    ("negative", lambda x: -x, [A]),
    ("abs", ops.abs, [A]),
    ("reciprocal", ops.reciprocal, [A]),
    ("maximum", lambda x: ops.maximum(x, 0.0), [A]),
    ("minimum", lambda x: ops.minimum(x, 0.0), [A]),
    ("greater", lambda x: ops.cast(ops.greater(x, 0.0), "float32"), [A]),
    ("where", lambda x: ops.where(x > 0, x, 0.0), [A]),
    ("clip", lambda x: ops.clip(x, -1.0, 1.0), [A]),
    ("mean", lambda x: ops.mean(x, axis=-1), [A]),
    ("sum", lambda x: ops.sum(x, axis=-1), [A]),
    ("max", lambda x: ops.max(x, axis=-1), [A]),
    ("var", lambda x: ops.var(x, axis=-1), [A]),
    ("matmul", lambda x: ops.matmul(x, ops.transpose(x, (0, 2, 1))), [A]),
    ("matmul_two_inputs", ops.matmul, [A, (8, 5)]),
    ("einsum", lambda x: ops.einsum("bij,bkj->bik", x, x), [A]),
    ("tanh", ops.tanh, [A]),
    ("sigmoid", ops.sigmoid, [A]),
    ("erf", ops.erf, [A]),
    ("sin_cos", lambda x: ops.sin(x) + ops.cos(x), [A]),
    ("relu", ops.relu, [A]),
    ("silu", ops.silu, [A]),
    ("gelu", lambda x: ops.gelu(x, approximate=False), [A]),
    ("gelu_tanh", lambda x: ops.gelu(x, approximate=True), [A]),
    ("softmax", lambda x: ops.softmax(x, axis=-1), [A]),
    ("log_softmax", lambda x: ops.log_softmax(x, axis=-1), [A]),
    ("hard_sigmoid", ops.hard_sigmoid, [A]),
    ("hard_silu", ops.hard_silu, [A]),
    ("leaky_relu", ops.leaky_relu, [A]),
    ("elu", ops.elu, [A]),
    ("logsumexp", lambda x: ops.logsumexp(x, axis=-1), [A]),
    ("layer_normalization", lambda x: ops.layer_normalization(x, axis=-1), [A]),
    ("rms_normalization", lambda x: ops.rms_normalization(x, axis=-1), [A]),
    ("moments", lambda x: ops.moments(x, axes=[-1])[0], [A]),
    ("normalize", lambda x: ops.normalize(x, axis=-1), [A]),
    ("reshape_transpose", lambda x: ops.transpose(ops.reshape(x, (-1, 8, 6)), (0, 2, 1)), [A]),
    ("concatenate_split", lambda x: ops.concatenate(ops.split(x, 2, axis=-1), axis=1), [A]),
    ("conv", lambda x: ops.conv(x, ops.ones((3, 3, 4, 5))), [(8, 8, 4)]),
    ("depthwise_conv", lambda x: ops.depthwise_conv(x, ops.ones((3, 3, 4, 2))), [(8, 8, 4)]),
    ("max_pool", lambda x: ops.max_pool(x, 2), [(8, 8, 4)]),
    ("average_pool", lambda x: ops.average_pool(x, 3, strides=1), [(8, 8, 4)]),
]


def _functional(fn: Callable[..., Any], shapes: list[tuple[int, ...]]) -> keras.Model:
    inputs = [keras.Input(s) for s in shapes]
    return keras.Model(inputs, fn(*inputs))


@pytest.mark.parametrize(("name", "fn", "shapes"), PROFILED, ids=[c[0] for c in PROFILED])
def test_op_rule_matches_the_profiler(
    name: str, fn: Callable[..., Any], shapes: list[tuple[int, ...]]
) -> None:
    model = _functional(fn, shapes)
    result = analyse(model, "m")
    assert not result.totals.flops_lower_bound, result.warnings
    if name == "einsum":
        # The profiler has no Einsum statistic when it stays an einsum; counted as BatchMatMul: 2 per MAC.
        assert result.totals.flops == 2 * 6 * 6 * 8
    else:
        assert result.totals.flops == profiler_flops(model), name


def test_dot_product_attention_is_counted_by_hand() -> None:
    # QK^T and weights x V: 2 * T * S * H per head each; the scale and the softmax: 1 + 5 per score.
    b, t, s, heads, h = 1, 5, 7, 2, 4
    q, k = keras.Input((t, heads, h)), keras.Input((s, heads, h))
    model = keras.Model([q, k], ops.dot_product_attention(q, k, k))
    scores = b * heads * t * s
    assert analyse(model, "m").totals.flops == 2 * scores * h * 2 + 6 * scores


def test_dot_product_attention_with_a_smaller_value_head() -> None:
    # Weights x V has the value's head size (3), not the query's (4): its product is 2 * T * S * 3
    # per head, and its output (batch, T, heads, 3), whatever Keras's own shape inference says.
    t, s, heads, h, hv = 5, 7, 2, 4, 3
    q, k, v = keras.Input((t, heads, h)), keras.Input((s, heads, h)), keras.Input((s, heads, hv))
    model = keras.Model([q, k, v], ops.dot_product_attention(q, k, v))
    result = analyse(model, "m")
    scores = heads * t * s
    assert result.totals.flops == 2 * scores * h + 6 * scores + 2 * scores * hv == 1400
    assert result.output_shapes == ["(None, 5, 2, 3)"]


def test_einsum_macs_line_up_broadcast_dimensions_from_the_right() -> None:
    assert flops.einsum_macs("...ij,jk->...ik", [(2, 3, 4, 5), (5, 6)]) == 2 * 3 * 4 * 5 * 6
    assert flops.einsum_macs("...ij,...jk->...ik", [(3, 4, 5), (2, 3, 5, 6)]) == 2 * 3 * 4 * 5 * 6
    assert flops.einsum_macs("bthd,hde->bthe", [(1, 12, 2, 8), (2, 8, 8)]) == 12 * 2 * 8 * 8


def test_an_op_without_a_rule_is_unknown_never_zero() -> None:
    model = _functional(lambda x: ops.logaddexp(x, x), [A])
    result = analyse(model, "m")
    assert result.totals.flops_lower_bound
    assert result.totals.flops == 0
    assert any("no FLOPs rule for keras.ops.logaddexp" in w for w in result.warnings)


def _op_level(call: Call) -> int | None:
    """A call's FLOPs from its ops alone, ignoring every layer rule."""
    if call.kind == "op":
        return flops.op_flops(call.obj, call.operands, call.outputs)
    if call.error is not None:
        return None
    total = 0
    for child in call.children:
        part = _op_level(child)
        if part is None:
            return None
        total += part
    return total


def _attention_model(shapes: list[tuple[int, ...]], layer: keras.layers.Layer) -> keras.Model:
    inputs = [keras.Input(s) for s in shapes]
    return keras.Model(inputs, layer(inputs[0], inputs[-1]))  # (query, value); one input attends to itself


# MultiHeadAttention, whose attention einsums the profiler cannot see (tests/test_flops.py counts it
# by hand): (name, query and value shapes, layer).
ATTENTION_CASES: list[tuple[str, list[tuple[int, ...]], Callable[[], keras.layers.Layer]]] = [
    ("mha_self", [(10, 16)], lambda: keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)),
    ("mha_cross", [(6, 4), (5, 8)], lambda: keras.layers.MultiHeadAttention(2, 8)),
    ("mha_output_shape", [(6, 4), (5, 8)], lambda: keras.layers.MultiHeadAttention(2, 8, output_shape=7)),
    ("mha_value_dim", [(6, 4), (5, 8)], lambda: keras.layers.MultiHeadAttention(2, 8, value_dim=5)),
    (
        "mha_value_dim_output_shape",
        [(6, 4), (5, 8)],
        lambda: keras.layers.MultiHeadAttention(2, 8, value_dim=5, output_shape=7),
    ),
]


def test_layer_rules_and_op_level_counts_agree() -> None:
    """Every Keras layer with an exact rule whose call traces symbolically counts the same op by op."""
    compared = []
    counted: dict[str, int] = {}
    cases: list[tuple[str, Any, Callable[[], keras.layers.Layer], Callable[..., keras.Model]]] = [
        (name, shape, make, _model) for name, shape, make in PROFILER_CASES
    ]
    cases += [(name, shapes, make, _attention_model) for name, shapes, make in ATTENTION_CASES]
    for name, shape, make, build in cases:
        layer = make()
        model = build(shape, layer)
        shapes = [(1, *t.shape[1:]) for t in model.inputs]
        root = trace_model(model, shapes, ["float32"] * len(shapes)).call
        [call] = [c for c in root.walk() if c.obj is layer]
        by_ops = _op_level(call)
        if by_ops is None:
            continue  # its call runs backend code directly (RNN loops, preprocessing): the rule alone counts it
        assert flops.layer_flops(layer, call.inputs, call.outputs) == by_ops, name
        compared.append(name)
        counted[name] = by_ops
    # Most classes trace: the comparison covers them, not a handful.
    assert len(compared) >= 85, len(compared)
    assert {"dense", "conv2d_same", "separable_conv2d", "batch_norm_4d", "layer_norm", "prelu", "dot"} <= set(
        compared
    )
    assert {name for name, _, _ in ATTENTION_CASES} <= set(compared)
    # By hand: query (6, 4), value (5, 8), 2 heads, key_dim 8, value_dim 5, output 7.
    q_proj = 2 * 6 * 4 * 16 + 6 * 16  # 864: 2 per multiply-add, then the bias
    k_proj = 2 * 5 * 8 * 16 + 5 * 16  # 1,360
    v_proj = 2 * 5 * 8 * 10 + 5 * 10  # 850: value_dim 5 per head
    o_proj = 2 * 6 * 10 * 7 + 6 * 7  # 882: from 2 heads x 5, not 2 x 8
    scores = 2 * 6 * 5  # 60
    attention = scores + 2 * scores * 8 + 5 * scores + 2 * scores * 5  # scale, QK^T, softmax, x V
    assert counted["mha_value_dim_output_shape"] == q_proj + k_proj + v_proj + o_proj + attention == 5876
