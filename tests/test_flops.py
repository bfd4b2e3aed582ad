"""Tests for archreport.model.flops against TensorFlow's profiler and hand counts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import keras
import pytest
from keras import layers as L

from archreport.model.flops import (
    ACTIVATION_FLOPS_PER_ELEMENT,
    KNOWN_ZERO_COST,
    layer_flops,
    layer_rule,
)
from tests.flops_reference import archreport_flops, profiler_flops, profiler_op_flops

InputSpec = tuple[int, ...] | list[tuple[int, ...]]


def _model(shape: InputSpec, layer: keras.layers.Layer) -> keras.Model:
    if isinstance(shape, list):
        inputs: Any = [keras.Input(s) for s in shape]
    else:
        inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def _count(layer: keras.layers.Layer) -> int | None:
    """layer_flops for a layer's (single) call, shapes read from the model."""
    ins = [tuple(t.shape) for t in keras.tree.flatten(layer.input)]
    outs = [tuple(t.shape) for t in keras.tree.flatten(layer.output)]
    return layer_flops(layer, ins, outs)


# ---------------------------------------------------------------------------
# One-layer models: exactly the profiler's count
# ---------------------------------------------------------------------------

IMG = (8, 8, 4)
SEQ = (6, 4)
VOL = (4, 4, 4, 2)

PROFILER_CASES: list[tuple[str, InputSpec, Callable[[], keras.layers.Layer]]] = [
    ("dense", (4,), lambda: L.Dense(3)),
    ("dense_no_bias", (4,), lambda: L.Dense(3, use_bias=False)),
    ("dense_3d_input", SEQ, lambda: L.Dense(3)),
    ("dense_softmax", SEQ, lambda: L.Dense(3, activation="softmax")),
    ("dense_sigmoid", SEQ, lambda: L.Dense(3, activation="sigmoid")),
    ("dense_hard_swish", SEQ, lambda: L.Dense(3, activation="hard_swish")),
    ("einsum_dense", SEQ, lambda: L.EinsumDense("abc,cd->abd", (None, 3), bias_axes="d")),
    ("conv1d", SEQ, lambda: L.Conv1D(3, 3)),
    ("conv2d_valid", IMG, lambda: L.Conv2D(5, 3)),
    ("conv2d_same", IMG, lambda: L.Conv2D(5, 3, padding="same")),
    ("conv2d_strided", IMG, lambda: L.Conv2D(5, 3, strides=2, padding="same")),
    ("conv2d_no_bias", IMG, lambda: L.Conv2D(5, 3, use_bias=False)),
    ("conv2d_relu", IMG, lambda: L.Conv2D(5, 3, activation="relu")),
    ("conv2d_silu", IMG, lambda: L.Conv2D(5, 1, activation="swish")),
    ("conv3d", VOL, lambda: L.Conv3D(3, 3)),
    ("conv1d_transpose", SEQ, lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same")),
    ("conv2d_transpose_same", IMG, lambda: L.Conv2DTranspose(3, 3, strides=2, padding="same")),
    ("conv2d_transpose_valid", IMG, lambda: L.Conv2DTranspose(3, 3, strides=2)),
    # 2 * 289 * 9 / 4 = 1300.5: the profiler truncates.
    ("conv2d_transpose_fraction", (8, 8, 1), lambda: L.Conv2DTranspose(1, 3, strides=2)),
    ("depthwise_conv2d", IMG, lambda: L.DepthwiseConv2D(3, depth_multiplier=2)),
    ("depthwise_conv1d", SEQ, lambda: L.DepthwiseConv1D(3)),
    ("separable_conv2d", IMG, lambda: L.SeparableConv2D(5, 3, depth_multiplier=2)),
    ("separable_conv1d", SEQ, lambda: L.SeparableConv1D(5, 3)),
    ("max_pool1d", SEQ, lambda: L.MaxPooling1D(2)),
    ("max_pool2d", IMG, lambda: L.MaxPooling2D(2)),
    ("avg_pool1d", SEQ, lambda: L.AveragePooling1D(2)),
    ("avg_pool2d_overlap", IMG, lambda: L.AveragePooling2D(3, strides=1)),
    ("avg_pool2d_same", IMG, lambda: L.AveragePooling2D(3, strides=2, padding="same")),
    ("global_avg_pool1d", SEQ, L.GlobalAveragePooling1D),
    ("global_avg_pool2d", IMG, L.GlobalAveragePooling2D),
    ("global_avg_pool3d", VOL, L.GlobalAveragePooling3D),
    ("batch_norm_4d", IMG, L.BatchNormalization),
    ("batch_norm_3d", SEQ, L.BatchNormalization),
    ("batch_norm_no_scale", SEQ, lambda: L.BatchNormalization(scale=False)),
    ("batch_norm_no_center", SEQ, lambda: L.BatchNormalization(center=False)),
    ("layer_norm", IMG, L.LayerNormalization),
    ("layer_norm_no_scale", SEQ, lambda: L.LayerNormalization(scale=False)),
    ("layer_norm_no_center", SEQ, lambda: L.LayerNormalization(center=False)),
    ("layer_norm_bare", SEQ, lambda: L.LayerNormalization(scale=False, center=False)),
    ("group_norm", IMG, lambda: L.GroupNormalization(2)),
    ("group_norm_c6_g3", (8, 8, 6), lambda: L.GroupNormalization(3)),
    ("group_norm_no_scale", IMG, lambda: L.GroupNormalization(2, scale=False)),
    ("group_norm_no_center", IMG, lambda: L.GroupNormalization(2, center=False)),
    ("rms_norm", SEQ, L.RMSNormalization),
    ("unit_norm", SEQ, L.UnitNormalization),
    ("normalization", IMG, lambda: L.Normalization(mean=[0.5] * 4, variance=[2.0] * 4)),
    ("normalization_scalar", IMG, lambda: L.Normalization(axis=None, mean=0.5, variance=2.0)),
    ("rescaling", IMG, lambda: L.Rescaling(1 / 255.0)),
    ("rescaling_offset", IMG, lambda: L.Rescaling(1 / 127.5, offset=-1.0)),
    ("relu", IMG, L.ReLU),
    ("relu6", IMG, lambda: L.ReLU(max_value=6.0)),
    ("relu_threshold", IMG, lambda: L.ReLU(threshold=0.5)),
    ("leaky_relu", IMG, lambda: L.LeakyReLU(0.2)),
    ("prelu", IMG, L.PReLU),
    ("prelu_shared", IMG, lambda: L.PReLU(shared_axes=[1, 2])),
    ("elu", IMG, L.ELU),
    ("elu_alpha", IMG, lambda: L.ELU(alpha=0.5)),
    ("softmax", IMG, L.Softmax),
    ("add", [IMG, IMG], L.Add),
    ("add3", [IMG, IMG, IMG], L.Add),
    ("subtract", [IMG, IMG], L.Subtract),
    ("multiply", [IMG, IMG], L.Multiply),
    ("average", [IMG, IMG], L.Average),
    ("average3", [IMG, IMG, IMG], L.Average),
    ("maximum", [IMG, IMG], L.Maximum),
    ("minimum", [IMG, IMG], L.Minimum),
    ("concatenate", [IMG, IMG], L.Concatenate),
    ("dot", [SEQ, SEQ], lambda: L.Dot(axes=2)),
    ("dot_normalize", [(4,), (4,)], lambda: L.Dot(axes=1, normalize=True)),
    ("masking", IMG, L.Masking),
    ("dropout", IMG, lambda: L.Dropout(0.5)),
    ("spatial_dropout2d", IMG, lambda: L.SpatialDropout2D(0.5)),
    ("gaussian_noise", IMG, lambda: L.GaussianNoise(0.1)),
    ("gaussian_dropout", IMG, lambda: L.GaussianDropout(0.1)),
    ("alpha_dropout", IMG, lambda: L.AlphaDropout(0.1)),
    ("activity_regularization", IMG, L.ActivityRegularization),
    ("flatten", IMG, L.Flatten),
    ("reshape", IMG, lambda: L.Reshape((16, 16))),
    ("permute", IMG, lambda: L.Permute((3, 1, 2))),
    ("zero_padding2d", IMG, L.ZeroPadding2D),
    ("cropping2d", IMG, lambda: L.Cropping2D(1)),
    ("center_crop", IMG, lambda: L.CenterCrop(4, 4)),
    ("identity", IMG, L.Identity),
    ("simple_rnn_unrolled", SEQ, lambda: L.SimpleRNN(3, unroll=True)),
    ("lstm_unrolled", SEQ, lambda: L.LSTM(3, unroll=True)),
    ("lstm_unrolled_sequences", SEQ, lambda: L.LSTM(3, unroll=True, return_sequences=True)),
    ("gru_unrolled", SEQ, lambda: L.GRU(3, unroll=True)),
    ("gru_unrolled_reset_before", SEQ, lambda: L.GRU(3, unroll=True, reset_after=False)),
    ("gru_unrolled_no_bias", SEQ, lambda: L.GRU(3, unroll=True, use_bias=False)),
    ("bidirectional_concat", SEQ, lambda: L.Bidirectional(L.LSTM(3, unroll=True))),
    (
        "bidirectional_sum",
        SEQ,
        lambda: L.Bidirectional(L.SimpleRNN(3, unroll=True), merge_mode="sum"),
    ),
    (
        "bidirectional_ave",
        SEQ,
        lambda: L.Bidirectional(L.SimpleRNN(3, unroll=True, return_sequences=True), merge_mode="ave"),
    ),
    (
        "bidirectional_mul",
        SEQ,
        lambda: L.Bidirectional(L.GRU(3, unroll=True, return_sequences=True), merge_mode="mul"),
    ),
    ("time_distributed_dense", SEQ, lambda: L.TimeDistributed(L.Dense(3))),
    ("time_distributed_conv", (3, 6, 6, 2), lambda: L.TimeDistributed(L.Conv2D(3, 3))),
    ("conv_lstm1d", (3, 8, 2), lambda: L.ConvLSTM1D(4, 3, unroll=True)),
    (
        "conv_lstm2d_same_sequences",
        (3, 6, 6, 2),
        lambda: L.ConvLSTM2D(4, 3, padding="same", return_sequences=True, unroll=True),
    ),
    (
        "conv_lstm2d_strided_no_bias",
        (3, 7, 7, 2),
        lambda: L.ConvLSTM2D(3, 3, strides=2, use_bias=False, unroll=True),
    ),
    ("conv_lstm3d", (2, 4, 4, 4, 2), lambda: L.ConvLSTM3D(2, 3, unroll=True)),
]

# Activations the profiler counts at 0 are covered too: the test would fail if
# we charged anything for them.
PROFILER_CASES += [
    (f"activation_{name}", SEQ, lambda name=name: L.Activation(name))
    for name in sorted(ACTIVATION_FLOPS_PER_ELEMENT)
]


@pytest.mark.parametrize(
    ("shape", "make_layer"),
    [pytest.param(shape, make, id=name) for name, shape, make in PROFILER_CASES],
)
def test_layer_matches_profiler(shape: InputSpec, make_layer: Callable[[], Any]) -> None:
    layer = make_layer()
    model = _model(shape, layer)
    expected = profiler_flops(model)
    assert _count(layer) == expected, profiler_op_flops(model)


# Rules with terms that depend on the batch: an RNN (and ConvLSTM) step runs once per sample,
# TimeDistributed's slices keep the batch, GroupNormalization's statistics are per sample; and a
# few whose terms do not (BatchNormalization's per-channel constants) or simply scale.
BATCHED = {
    "dense", "conv2d_same", "batch_norm_4d", "layer_norm", "group_norm", "group_norm_no_scale",
    "simple_rnn_unrolled", "lstm_unrolled_sequences", "gru_unrolled", "gru_unrolled_reset_before",
    "bidirectional_sum", "bidirectional_ave", "time_distributed_dense", "time_distributed_conv",
    "conv_lstm1d", "conv_lstm2d_same_sequences",
}  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "make_layer"),
    [pytest.param(shape, make, id=name) for name, shape, make in PROFILER_CASES if name in BATCHED],
)
def test_layer_matches_profiler_at_batch_size_3(shape: InputSpec, make_layer: Callable[[], Any]) -> None:
    from archreport.model.analyse import analyse

    model = _model(shape, make_layer())
    expected = profiler_flops(model, [(3, *i.shape[1:]) for i in model.inputs])
    assert analyse(model, "m", batch_size=3).totals.flops == expected, profiler_op_flops(model)


# ---------------------------------------------------------------------------
# Hand counts where the profiler is blind
# ---------------------------------------------------------------------------


def _built(shape: InputSpec, layer: keras.layers.Layer) -> keras.layers.Layer:
    _model(shape, layer)
    return layer


def test_conv3d_hand_count() -> None:
    # (4,4,4,2) -> valid 3x3x3 -> (2,2,2,3): 24 outputs x 27 taps x 2 channels
    # x 2 FLOPs + 24 bias adds.
    layer = _built(VOL, L.Conv3D(3, 3))
    assert _count(layer) == 24 * 27 * 2 * 2 + 24 == 2616


def test_conv3d_transpose_hand_count() -> None:
    # Conv3DBackpropInputV2 is unregistered: Conv2DBackpropInput's formula
    # 2 * outputs * k^3 * C_in / prod(strides), plus the bias.
    layer = _built(VOL, L.Conv3DTranspose(3, 3, strides=2, padding="same"))
    outputs = 8 * 8 * 8 * 3
    assert _count(layer) == 2 * outputs * 27 * 2 // 8 + outputs == 22_272
    model = keras.Model(layer.input, layer.output)
    assert profiler_flops(model) == outputs  # only the BiasAdd is visible


def test_grouped_conv_hand_count() -> None:
    # groups=2 runs inside an XLA function the profiler skips: each output sees
    # C_in / groups = 2 channels.
    layer = _built(IMG, L.Conv2D(6, 3, groups=2))
    outputs = 6 * 6 * 6
    assert _count(layer) == 2 * outputs * 9 * 2 + outputs == 7992
    conv1d = _built(SEQ, L.Conv1D(6, 3, groups=2))
    assert _count(conv1d) == 2 * (4 * 6) * 3 * 2 + 4 * 6 == 312


def test_3d_and_global_max_pooling_hand_count() -> None:
    # MaxPool3D / AvgPool3D / Max reductions are unregistered; we keep the
    # pooling convention: pool volume per pooled output element.
    assert _count(_built(VOL, L.MaxPooling3D(2))) == 16 * 8
    assert _count(_built(VOL, L.AveragePooling3D(2))) == 16 * 8
    assert _count(_built(IMG, L.GlobalMaxPooling2D())) == 8 * 8 * 4
    assert _count(_built(VOL, L.GlobalMaxPooling3D())) == 4 * 4 * 4 * 2
    assert _count(_built(SEQ, L.GlobalMaxPooling1D())) == 24


def test_multi_head_attention_hand_count() -> None:
    # query (Tq=6, 4), value (Tk=5, 8); 2 heads, key_dim 3, value_dim 5, out 7.
    heads, key_dim, value_dim, tq, tk = 2, 3, 5, 6, 5
    layer = L.MultiHeadAttention(heads, key_dim, value_dim=value_dim, output_shape=7)
    query, value = keras.Input((tq, 4)), keras.Input((tk, 8))
    model = keras.Model([query, value], layer(query, value))
    q_proj = 2 * tq * 4 * heads * key_dim + tq * heads * key_dim  # 324
    k_proj = 2 * tk * 8 * heads * key_dim + tk * heads * key_dim  # 510
    v_proj = 2 * tk * 8 * heads * value_dim + tk * heads * value_dim  # 850
    o_proj = 2 * tq * heads * value_dim * 7 + tq * 7  # 882
    scores = heads * tq * tk  # 60
    scale = scores  # fused dot_product_attention scales the scores
    qk = 2 * scores * key_dim  # 360
    softmax = 5 * scores  # 300
    av = 2 * scores * value_dim  # 600
    expected = q_proj + k_proj + v_proj + o_proj + scale + qk + softmax + av
    assert expected == 3886
    assert _count(layer) == expected
    # The profiler sees everything but the two attention einsums.
    assert profiler_flops(model) == expected - qk - av
    # At batch size 3 every term is 3 times as large (the projections and the scores alike).
    batched = [(3, tq, 4), (3, tk, 8)]
    assert layer_flops(layer, batched, [(3, tq, 7)]) == 3 * expected
    assert profiler_flops(model, batched) == 3 * (expected - qk - av)


def test_self_attention_uses_value_as_key() -> None:
    layer = L.MultiHeadAttention(num_heads=4, key_dim=8)
    x = keras.Input((10, 16))
    keras.Model(x, layer(x, x))
    proj = 2 * 10 * 16 * 32 + 10 * 32  # each of Q, K, V, and O (32 -> 16 + 160 bias)
    o_proj = 2 * 10 * 32 * 16 + 10 * 16
    scores = 4 * 10 * 10
    expected = 3 * proj + o_proj + scores + 2 * scores * 8 * 2 + 5 * scores
    assert _count(layer) == expected == 57_280


def test_simple_rnn_hand_count() -> None:
    # T=6, I=4, H=3 per step: x@W 2*4*3 + h@U 2*3*3 + add 3 + bias 3; tanh 0.
    layer = _built(SEQ, L.SimpleRNN(3))
    assert _count(layer) == 6 * (24 + 18 + 3 + 3) == 288


def test_lstm_hand_count() -> None:
    # Per step: 2*(I+H)*4H = 3072 matmul, 4H add + 4H bias = 128, cell/hidden
    # update 3 Mul + 1 Add per unit = 64; sigmoid/tanh 0 (profiler).
    layer = _built((10, 8), L.LSTM(16))
    per_step = 2 * (8 + 16) * 64 + 64 + 64 + 4 * 16
    assert _count(layer) == 10 * per_step == 10 * 3264
    # return_sequences changes the output shape, not the work.
    seq = _built((10, 8), L.LSTM(16, return_sequences=True))
    assert _count(seq) == _count(layer)


def test_lstm_hard_sigmoid_gates_are_counted() -> None:
    base = _count(_built(SEQ, L.LSTM(3)))
    hard = _count(_built(SEQ, L.LSTM(3, recurrent_activation="hard_sigmoid")))
    assert base is not None
    assert hard == base + 6 * 3 * 3 * 2  # 3 gates x H units x 2 FLOPs, 6 steps


def test_gru_hand_count() -> None:
    # reset_after=True (default): 2*(I+H)*3H matmul + 3H input bias + 3H
    # recurrent bias + 8H elementwise per step.
    t, i, h = 6, 4, 3
    layer = _built(SEQ, L.GRU(h))
    assert _count(layer) == t * (2 * (i + h) * 3 * h + 3 * h + 3 * h + 8 * h) == 1008
    # reset_after=False: a single 3H bias.
    old = _built(SEQ, L.GRU(h, reset_after=False))
    assert _count(old) == t * (2 * (i + h) * 3 * h + 3 * h + 8 * h) == 954


def test_bidirectional_lstm_hand_count() -> None:
    # Two LSTMs (see test_lstm_hand_count) over the same input; concat is free.
    layer = _built((10, 8), L.Bidirectional(L.LSTM(16, return_sequences=True)))
    per_direction = 10 * (2 * (8 + 16) * 64 + 64 + 64 + 4 * 16)
    assert _count(layer) == 2 * per_direction
    summed = _built((10, 8), L.Bidirectional(L.LSTM(16), merge_mode="sum"))
    assert _count(summed) == 2 * per_direction + 16


def test_embedding_is_free() -> None:
    # A lookup: 0 FLOPs. The profiler counts 2 integer ops per index
    # (negative-index wrapping), which are not floating-point work.
    layer = L.Embedding(100, 8)
    model = _model((5,), layer)
    assert _count(layer) == 0
    assert profiler_flops(model) == 2 * 5


def test_upsampling_and_resizing() -> None:
    # Nearest is a copy; bilinear is 3 lerps (9 FLOPs) per output element by
    # our choice (ResizeBilinear is unregistered in the profiler).
    assert _count(_built(IMG, L.UpSampling2D())) == 0
    assert _count(_built((5, 4), L.UpSampling1D())) == 0
    assert _count(_built(VOL, L.UpSampling3D())) == 0
    assert _count(_built(IMG, L.UpSampling2D(interpolation="bilinear"))) == 9 * 16 * 16 * 4
    assert _count(_built(IMG, L.Resizing(4, 4))) == 9 * 4 * 4 * 4
    assert _count(_built(IMG, L.Resizing(16, 16, interpolation="nearest"))) == 0
    assert _count(_built(IMG, L.Resizing(4, 4, interpolation="bicubic"))) is None


def test_none_batch_dimension_is_one() -> None:
    layer = _built((4,), L.Dense(3))
    assert layer_flops(layer, [(None, 4)], [(None, 3)]) == 2 * 4 * 3 + 3
    assert layer_flops(layer, [(1, 4)], [(1, 3)]) == 27


# ---------------------------------------------------------------------------
# Unknown layers
# ---------------------------------------------------------------------------


class Doubler(keras.layers.Layer):
    def call(self, inputs: Any) -> Any:
        return inputs * 2.0


class Dense(keras.layers.Layer):  # a user class that only shares a Keras name
    def call(self, inputs: Any) -> Any:
        return inputs


def test_custom_layer_is_unknown() -> None:
    layer = _built(SEQ, Doubler())
    assert _count(layer) is None
    assert layer_rule(layer) is None
    impostor = _built(SEQ, Dense())
    assert _count(impostor) is None


def test_unknown_activation_makes_layer_unknown() -> None:
    layer = _built(SEQ, L.Dense(3, activation=lambda x: x * 2.0))
    assert _count(layer) is None
    assert layer_rule(layer) is not None


def test_zero_cost_layers_return_zero_not_none() -> None:
    for layer in (L.Dropout(0.1), L.Flatten(), L.RepeatVector(3)):
        shape = (4,) if isinstance(layer, L.RepeatVector) else SEQ
        assert _count(_built(shape, layer)) == 0
    assert "Dropout" in KNOWN_ZERO_COST


def test_module_does_not_import_tensorflow_or_keras() -> None:
    code = (
        "import sys, archreport.model.flops, archreport.model.keras_compat; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# Whole models
# ---------------------------------------------------------------------------


def _lenet() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(20, 5, padding="same"),
            L.Activation("relu"),
            L.MaxPooling2D(2),
            L.Conv2D(50, 5, padding="same"),
            L.ReLU(),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(500),
            L.ReLU(),
            L.Dense(10),
            L.Softmax(),
        ]
    )


def _mobilenet_style() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization()(x)
    x = L.ReLU(max_value=6.0)(x)
    for _ in range(2):
        shortcut = x
        y = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU(max_value=6.0)(y)
        y = L.Conv2D(16, 1, use_bias=False)(y)
        y = L.BatchNormalization()(y)
        x = L.Add()([shortcut, y])
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _resnet_style() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    for filters, strides in ((16, 1), (32, 2)):
        y = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU()(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = L.BatchNormalization()(y)
        if strides != 1 or x.shape[-1] != filters:
            x = L.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
            x = L.BatchNormalization()(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10)(x)
    return keras.Model(inputs, outputs)


def test_lenet_matches_profiler_exactly() -> None:
    model = _lenet()
    assert archreport_flops(model) == profiler_flops(model) == 13_095_520


@pytest.mark.parametrize("build", [_mobilenet_style, _resnet_style], ids=["mobilenet", "resnet"])
def test_small_models_match_profiler(build: Callable[[], keras.Model]) -> None:
    model = build()
    ours = archreport_flops(model)
    assert ours == profiler_flops(model)


def test_nested_model_is_summed_by_caller() -> None:
    inner = _lenet()
    outer = keras.Sequential([keras.Input((28, 28, 1)), inner, L.Dense(2)])
    assert archreport_flops(outer) == 13_095_520 + 2 * 10 * 2 + 2


@pytest.mark.slow
def test_mobilenet_v2_within_five_percent() -> None:
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    ours = archreport_flops(model)
    reference = profiler_flops(model)
    assert ours is not None
    assert abs(ours - reference) <= 0.05 * reference
    assert ours == reference  # in fact exact: every op is profiler-visible


def test_einsum_dense_with_ellipsis() -> None:
    # "...b,bc->...c" on (5, 7, 4) -> (5, 7, 6): 35 rows x 4 x 6 MACs + bias.
    layer = _built((5, 7, 4), L.EinsumDense("...b,bc->...c", output_shape=6, bias_axes="c"))
    assert _count(layer) == 2 * 35 * 4 * 6 + 35 * 6 == 1890
    # With an ellipsis TF keeps an Einsum op, which the profiler does not
    # register: it only sees the bias add.
    assert profiler_flops(keras.Model(layer.input, layer.output)) == 35 * 6


def test_bare_keras_ops_in_functional_models() -> None:
    # MobileNetV3's hard sigmoid: relu6(x + 3) * (1 / 6) as bare ops.
    inputs = keras.Input((4, 4, 8))
    x = L.GlobalAveragePooling2D(keepdims=True)(inputs)
    x = L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    model = keras.Model(inputs, L.Multiply()([inputs, x]))
    ops = [op for op in model.operations if not isinstance(op, keras.layers.Layer)]
    assert [type(op).__name__ for op in ops] == ["Add", "Multiply"]
    assert archreport_flops(model) == profiler_flops(model) == 128 + 8 + 8 + 128


@pytest.mark.slow
def test_mobilenet_v3_small_matches_profiler() -> None:
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(96, 96, 3))
    assert archreport_flops(model) == profiler_flops(model)
