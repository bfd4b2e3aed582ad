"""Per-layer forward-pass FLOPs at the batch size of the shapes given (an unknown batch counts as 1).

Convention: TensorFlow's graph profiler (``tf.compat.v1.profiler`` with
``ProfileOptionBuilder.float_operation()``; its per-op formulas live in
``tensorflow/python/profiler/internal/flops_registry.py`` and
``tensorflow/python/ops/nn_ops.py``):

* MatMul / Conv*: 2 FLOPs per multiply-add; BiasAdd / Add / Mul / Sub /
  RealDiv / Maximum / Minimum: 1 per output element.
* MaxPool / AvgPool: kernel area per pooled output element.
* Softmax: 5 per element; Rsqrt: 2 per element; Mean: 1 per input element.
* Ops with no registered statistic count 0: Relu, Relu6, Sigmoid, Tanh, Elu,
  Selu, Softplus, Exp, LeakyRelu, LogSoftmax, ... We follow the profiler here
  (0) so totals stay comparable with profiler-based numbers people publish,
  even though those ops clearly do arithmetic.

Each counter below was derived by profiling a one-layer Keras 3.15 model on
the TensorFlow 2.21 backend (frozen inference graph) and reading the per-op
breakdown; the composite layers (normalizations, PReLU, RNN cells) therefore
count exactly the elementwise ops Keras emits, including the small per-channel
ops on constants (e.g. ``rsqrt(variance + eps)``) that the profiler sees
because the frozen graph is not constant-folded.

Where the profiler cannot see the work (ops it has no formula for, or ops
hidden inside ``tf.while_loop`` / XLA-compiled functions), we count by hand
with the formula of the nearest registered op; those cases are marked
"profiler blind spot" below.

This module deliberately imports neither TensorFlow nor Keras: layers and ops
are recognised by class name, restricted to classes defined in Keras itself
(``keras_compat.keras_class`` knows where Keras defines them), and read
through their public attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from archreport.model import keras_compat

Shape = tuple[int | None, ...]
Counter = Callable[[Any, list[Shape], list[Shape]], int | None]

__all__ = [
    "ACTIVATION_FLOPS_PER_ELEMENT",
    "KNOWN_ZERO_COST",
    "OP_RULES",
    "activation_flops",
    "einsum_macs",
    "layer_flops",
    "layer_rule",
    "op_flops",
    "op_rule",
]


# --------------------------------------------------------------------------
# Shape helpers
# --------------------------------------------------------------------------


def _dim(d: int | None) -> int:
    """A dimension, with an unknown (batch) dimension read as 1."""
    return 1 if d is None else int(d)


def _numel(shape: Shape) -> int:
    """Number of elements of ``shape`` at batch size 1."""
    return math.prod(_dim(d) for d in shape)


def _as_tuple(value: int | Sequence[int]) -> tuple[int, ...]:
    return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)


def _channels(layer: Any, shape: Shape) -> int:
    """Channel count of a conv/pool input, honouring ``data_format``."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return _dim(shape[1])
    return _dim(shape[-1])


def _axes(axis: int | Sequence[int], rank: int) -> list[int]:
    return [a % rank for a in _as_tuple(axis)]


# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

# FLOPs per output element the profiler reports for each Keras activation
# (keyed by the function's ``__name__``; ``swish`` is ``silu`` and
# ``hard_swish`` is ``hard_silu``). Measured on Activation(<name>) models:
#   silu = x * sigmoid(1.0 * x): two Mul; Sigmoid itself is unregistered.
#   hard_sigmoid = relu6(x + 3) / 6: AddV2 + RealDiv.
#   hard_silu = x * hard_sigmoid(x): AddV2 + RealDiv + Mul.
#   gelu (exact) = 0.5 * x * (1 + erf(x / sqrt 2)) as emitted: 3 Mul + 1 Neg
#     (Erfc is unregistered).
#   softmax: the profiler's Softmax formula, 5 per element.
ACTIVATION_FLOPS_PER_ELEMENT: dict[str, int] = {
    # Unregistered in the profiler (Relu, Sigmoid, Tanh, Elu, ...): 0.
    "linear": 0,
    "relu": 0,
    "relu6": 0,
    "sigmoid": 0,
    "tanh": 0,
    "elu": 0,
    "selu": 0,
    "softplus": 0,
    "softsign": 0,
    "exponential": 0,
    "leaky_relu": 0,
    "log_softmax": 0,
    # Composites built from registered elementwise ops.
    "softmax": 5,
    "silu": 2,
    "swish": 2,
    "hard_sigmoid": 2,
    "hard_silu": 3,
    "hard_swish": 3,
    "gelu": 4,
    "mish": 1,
    "celu": 5,
    "hard_shrink": 1,
    "hard_tanh": 2,
    "log_sigmoid": 2,
    "soft_shrink": 4,
    "sparse_plus": 5,
    "sparse_sigmoid": 4,
    "squareplus": 4,
    "tanh_shrink": 1,
    "glu": 1,  # one Mul per (halved) output element
}


def activation_flops(activation: Any, num_elements: int) -> int | None:
    """FLOPs of applying ``activation`` (a Keras activation function, a name,
    or None) to a tensor of ``num_elements`` elements; None if unknown."""
    if activation is None:
        return 0
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", None)
    per_element = ACTIVATION_FLOPS_PER_ELEMENT.get(name) if name else None
    if per_element is None:
        return None
    if name == "glu":
        num_elements //= 2  # glu gates one half of its input with the other
    return per_element * num_elements


def _plus_activation(layer: Any, base: int, out_elems: int) -> int | None:
    """``base`` plus the fused ``activation=`` of ``layer`` on its output."""
    act = activation_flops(getattr(layer, "activation", None), out_elems)
    return None if act is None else base + act


# --------------------------------------------------------------------------
# Core layers
# --------------------------------------------------------------------------


def _zero(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    return 0


def _dense(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # MatMul: 2 * K * outputs; BiasAdd: 1 per output element.
    out = _numel(outs[0])
    flops = 2 * _dim(ins[0][-1]) * out
    if layer.use_bias:
        flops += out
    return _plus_activation(layer, flops, out)


def _einsum_macs(equation: str, kernel_shape: Shape, out_elems: int) -> int:
    """Multiply-adds of a two-operand einsum ``x, kernel -> y``: every output
    element sums over the kernel dimensions absent from the output."""
    lhs, out_spec = equation.split("->")
    kernel_spec = lhs.split(",")[1]
    contracted = [
        _dim(size) for letter, size in zip(kernel_spec, kernel_shape, strict=True) if letter not in out_spec
    ]
    return out_elems * math.prod(contracted)


def _einsum_out_elems(equation: str, in_shape: Shape, kernel_shape: Shape) -> int:
    """Output size of ``x, kernel -> y`` from the operand shapes. Keras'
    symbolic output shape can leave non-batch dimensions as None (e.g.
    ``output_shape=(None, 3)``), so it is not trusted."""
    lhs, out_spec = equation.split("->")
    in_spec, kernel_spec = lhs.split(",")
    ellipsis = 1
    if "..." in in_spec:
        head, tail = in_spec.split("...")
        ellipsis = _numel(in_shape[len(head) : len(in_shape) - len(tail)])
        in_spec = head + tail
        in_shape = (*in_shape[: len(head)], *in_shape[len(in_shape) - len(tail) :])
    sizes = dict(zip(in_spec, in_shape, strict=True))
    sizes.update(zip(kernel_spec, kernel_shape, strict=True))
    letters = out_spec.replace("...", "")
    return ellipsis * math.prod(_dim(sizes.get(letter)) for letter in letters)


def _einsum_dense(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Lowered to (Batch)MatMul: 2 per multiply-add; the bias is broadcast to
    # the whole output (BiasAdd / AddV2: 1 per output element).
    kernel_shape = tuple(layer.kernel.shape)
    out = _einsum_out_elems(layer.equation, ins[0], kernel_shape)
    flops = 2 * _einsum_macs(layer.equation, kernel_shape, out)
    if getattr(layer, "bias", None) is not None:
        flops += out
    return _plus_activation(layer, flops, out)


def _embedding(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # A gather: no floating-point work. (The profiler reports 2 integer ops per
    # index, Less + AddV2 from Keras wrapping negative indices; not FLOPs.)
    return 0


def _masking(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # NotEqual(inputs, mask_value): 1 per element, as the profiler counts.
    return _numel(ins[0])


# --------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------


def _bias_and_activation(layer: Any, flops: int, out: int) -> int | None:
    if layer.use_bias:
        flops += out  # BiasAdd: 1 per output element
    return _plus_activation(layer, flops, out)


def _conv(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Conv2D/Conv3D formula: 2 * outputs * kh * kw * (in_channels / groups).
    # Conv1D runs as a Conv2D on an expanded input. Grouped convolutions run in
    # an XLA-compiled function on CPU, which the profiler does not enter
    # (profiler blind spot): same formula by hand.
    out = _numel(outs[0])
    in_per_group = _channels(layer, ins[0]) // getattr(layer, "groups", 1)
    flops = 2 * out * math.prod(_as_tuple(layer.kernel_size)) * in_per_group
    return _bias_and_activation(layer, flops, out)


def _conv_transpose(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Conv2DBackpropInput formula (also used for Conv1DTranspose, which runs
    # as a 2-D op, and by hand for Conv3DTranspose, whose Conv3DBackpropInputV2
    # is a profiler blind spot):
    #   2 * outputs * kernel_volume * in_channels / prod(strides),
    # truncated to an integer like the profiler's OpStats.
    out = _numel(outs[0])
    numerator = 2 * out * math.prod(_as_tuple(layer.kernel_size)) * _channels(layer, ins[0])
    flops = numerator // math.prod(_as_tuple(layer.strides))
    return _bias_and_activation(layer, flops, out)


def _depthwise_conv(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # DepthwiseConv2dNative: 2 * outputs * kh * kw (1-D runs as 2-D).
    out = _numel(outs[0])
    flops = 2 * out * math.prod(_as_tuple(layer.kernel_size))
    return _bias_and_activation(layer, flops, out)


def _separable_conv(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Depthwise (2 * k * depthwise outputs) + pointwise 1x1 Conv2D
    # (2 * outputs * in_channels * depth_multiplier) + one bias on the output.
    out = _numel(outs[0])
    out_channels = _channels(layer, outs[0])
    mid_channels = _channels(layer, ins[0]) * layer.depth_multiplier
    depthwise_out = out // out_channels * mid_channels
    flops = 2 * depthwise_out * math.prod(_as_tuple(layer.kernel_size))
    flops += 2 * out * mid_channels
    return _bias_and_activation(layer, flops, out)


# --------------------------------------------------------------------------
# Pooling, resizing
# --------------------------------------------------------------------------


def _pool(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # MaxPool / AvgPool: pool area per pooled output element. The 3-D ops are a
    # profiler blind spot (MaxPool3D/AvgPool3D unregistered): same formula.
    return _numel(outs[0]) * math.prod(_as_tuple(layer.pool_size))


def _global_pool(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # GlobalAverage: Mean = 1 per input element (profiler). GlobalMax: the
    # profiler has no Max-reduction formula (it reports 0); we apply the
    # pooling convention (pool area per pooled output = 1 per input element)
    # so global max and global average pooling cost the same.
    return _numel(ins[0])


def _upsampling(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Nearest neighbour is a copy (the profiler's 1-3 integer Muls on the shape
    # vector are not counted). Bilinear is a profiler blind spot
    # (ResizeBilinear unregistered); see _resize_cost.
    return _resize_cost(getattr(layer, "interpolation", "nearest"), outs[0])


def _resize_cost(interpolation: str, out_shape: Shape) -> int | None:
    # Our choice for bilinear: TF's kernel computes every output element as
    # three lerps a + (b - a) * t (top row, bottom row, vertical) = 9 FLOPs.
    # Other interpolations (bicubic, lanczos, area) are not modelled.
    if interpolation == "nearest":
        return 0
    if interpolation == "bilinear":
        return 9 * _numel(out_shape)
    return None


def _resizing(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    return _resize_cost(layer.interpolation, outs[0])


# --------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------


def _batch_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # tf.nn.batch_normalization on frozen statistics (profiled):
    #   inv = rsqrt(var + eps) [* gamma]   -> C + 2C [+ C]
    #   x * inv + (beta - mean * inv)      -> N + N + C + C
    n = _numel(ins[0])
    c = math.prod(_dim(ins[0][a]) for a in _axes(layer.axis, len(ins[0])))
    return 2 * n + 5 * c + (c if layer.scale else 0)


def _layer_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # keras.ops.layer_normalization (profiled), G = number of normalized rows:
    #   moments: Mean + SquaredDifference + Mean  -> 4N
    #   rsqrt(var + eps), -mean                   -> 4G
    #   [inv * gamma -> N]; -mean * inv -> N if scaled else G; [+ beta -> N]
    #   x * inv + res                             -> 2N
    shape = ins[0]
    n = _numel(shape)
    rows = n // math.prod(_dim(shape[a]) for a in _axes(layer.axis, len(shape)))
    if getattr(layer, "rms_scaling", False):
        # Deprecated path: var (Mean, Sub, Square, Mean) + rsqrt(var + eps)
        # + x * inv [* gamma].
        return 5 * n + 3 * rows + (n if layer.scale else 0)
    flops = 6 * n + 4 * rows
    flops += n if layer.scale else 0
    flops += n if layer.scale else rows
    flops += n if layer.center else 0
    return flops


def _rms_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # x * rsqrt(mean(square(x)) + eps) * scale: Square N, Mean N, AddV2 G,
    # Rsqrt 2G, 2 Mul N (profiled).
    shape = ins[0]
    n = _numel(shape)
    rows = n // math.prod(_dim(shape[a]) for a in _axes(layer.axis, len(shape)))
    return 4 * n + 3 * rows


def _unit_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # l2 normalize: Square N, Sum N - G, Maximum/Minimum G, Rsqrt 2G, Mul N.
    shape = ins[0]
    n = _numel(shape)
    rows = n // math.prod(_dim(shape[a]) for a in _axes(layer.axis, len(shape)))
    return 3 * n + 2 * rows


def _group_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # keras GroupNormalization (profiled), g groups, C channels:
    #   moments 4N; rsqrt(var + eps) 3g; -mean g; [inv * gamma C];
    #   -mean * inv (C if scaled else g); [+ beta C]; x * inv + res 2N.
    # The statistics are per sample, so g and C count once per batch element.
    shape = ins[0]
    n = _numel(shape)
    batch = _dim(shape[0])
    c = batch * _dim(shape[layer.axis])
    g = batch * int(layer.groups)
    flops = 6 * n + 4 * g
    flops += c if layer.scale else 0
    flops += c if layer.scale else g
    flops += c if layer.center else 0
    return flops


def _normalization(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # (x - mean) / maximum(sqrt(var), eps): Sub N + RealDiv N + Maximum on the
    # statistics (Sqrt unregistered). invert=True: mean + x * max(...), same.
    stats = math.prod(_dim(d) for d in layer.mean.shape) if layer.mean is not None else 1
    return 2 * _numel(ins[0]) + stats


def _rescaling(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # x * scale + offset: Mul + AddV2 per element, even when offset == 0.
    return 2 * _numel(ins[0])


# --------------------------------------------------------------------------
# Activation layers
# --------------------------------------------------------------------------


def _activation_layer(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Keras' symbolic output shape is the input shape even for glu, so count
    # on the input.
    return activation_flops(layer.activation, _numel(ins[0]))


def _relu_layer(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # Relu/Relu6/LeakyRelu are unregistered (0); a non-zero threshold adds a
    # Greater comparison per element.
    return _numel(ins[0]) if float(layer.threshold) != 0.0 else 0


def _elu_layer(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # alpha == 1 is the bare Elu op (0); otherwise where(x > 0, ...) and
    # alpha * ...: Greater + Mul per element.
    return 0 if float(layer.alpha) == 1.0 else 2 * _numel(ins[0])


def _prelu(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # relu(x) - alpha * relu(-x): Neg(x) N, Neg(alpha) |alpha|, Mul N, AddV2 N.
    return 3 * _numel(ins[0]) + _numel(tuple(layer.alpha.shape))


def _softmax_layer(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    return 5 * _numel(outs[0])  # Softmax: 5 per element


# --------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------


def _merge_pairwise(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # Add/Multiply/Maximum/Minimum fold k inputs with k - 1 binary ops, each 1
    # per (broadcast) output element; Subtract has exactly two inputs.
    return (len(ins) - 1) * _numel(outs[0])


def _average(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # k - 1 AddV2, then one RealDiv by k.
    return len(ins) * _numel(outs[0])


def _dot(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # BatchMatMul: 2 * K * outputs; normalize=True l2-normalizes each input
    # first (3n + 2 per row, as UnitNormalization).
    axes = layer.axes
    axes = (axes, axes) if isinstance(axes, int) else tuple(axes)
    a_axis = axes[0] % len(ins[0])
    flops = 2 * _dim(ins[0][a_axis]) * _numel(outs[0])
    if layer.normalize:
        for shape, axis in zip(ins, axes, strict=True):
            n = _numel(shape)
            flops += 3 * n + 2 * (n // _dim(shape[axis % len(shape)]))
    return flops


# --------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------


def _projection(dense: Any, out_elems: int) -> int:
    flops = 2 * _einsum_macs(dense.equation, tuple(dense.kernel.shape), out_elems)
    return flops + (out_elems if getattr(dense, "bias", None) is not None else 0)


def _multi_head_attention(layer: Any, ins: list[Shape], outs: list[Shape]) -> int:
    # Hand count: the profiler sees the projections but not the attention
    # einsums (Einsum unregistered: profiler blind spot).
    #   Q/K/V/output projections: 2 per multiply-add + bias per output element
    #   scale: 1 Mul per score (per projected query element on the
    #          non-fused path taken with dropout or returned scores)
    #   QK^T: 2 * h * Tq * Tk * key_dim; softmax 5 per score;
    #   AV:   2 * h * Tq * Tk * value_dim.
    query, value = ins[0], ins[1]
    heads, key_dim = int(layer.num_heads), int(layer.key_dim)
    value_dim = int(layer.value_dim or key_dim)
    # Query and key/value positions, the batch included in both (every term scales with it).
    tq = math.prod(_dim(d) for d in query[:-1])
    tk = math.prod(_dim(d) for d in value[:-1])
    scores = heads * tq * tk // _dim(value[0])
    query_dense, key_dense, value_dense, output_dense = keras_compat.attention_projections(layer)
    flops = _projection(query_dense, tq * heads * key_dim)
    flops += _projection(key_dense, tk * heads * key_dim)
    flops += _projection(value_dense, tk * heads * value_dim)
    flops += _projection(output_dense, _numel(outs[0]))
    fused = layer.dropout == 0.0 and len(outs) == 1 and len(query) == 3
    flops += scores if fused else tq * heads * key_dim
    flops += 2 * scores * key_dim + 5 * scores + 2 * scores * value_dim
    return flops


# --------------------------------------------------------------------------
# Recurrent layers (hand count: the profiler does not look inside the
# tf.while_loop of a non-unrolled RNN; these formulas match it exactly on
# unroll=True models)
# --------------------------------------------------------------------------


def _act(cell: Any, name: str, n: int) -> int | None:
    return activation_flops(getattr(cell, name), n)


def _rnn_steps(ins: list[Shape]) -> tuple[int, int]:
    """(time steps x batch, input features) of a (batch, time, features) input: each step runs
    the cell once per batch element."""
    return _dim(ins[0][0]) * _dim(ins[0][1]), _dim(ins[0][-1])


def _simple_rnn(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Per step: x @ W + h @ U (2 per MAC), AddV2 H, [BiasAdd H], activation.
    cell = layer.cell
    steps, features = _rnn_steps(ins)
    h = int(cell.units)
    act = _act(cell, "activation", h)
    if act is None:
        return None
    step = 2 * h * (features + h) + h + (h if cell.use_bias else 0) + act
    return steps * step


def _lstm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Per step: z = x @ W + h @ U [+ b] over 4H gates (2 per MAC, 4H add,
    # [4H bias]); c = f * c + i * g (2 Mul + 1 Add per unit); h = o * act(c)
    # (1 Mul per unit); plus the gate activations (0 for sigmoid/tanh).
    cell = layer.cell
    steps, features = _rnn_steps(ins)
    h = int(cell.units)
    gates = _act(cell, "recurrent_activation", 3 * h)
    acts = _act(cell, "activation", 2 * h)
    if gates is None or acts is None:
        return None
    step = 8 * h * (features + h) + 4 * h + (4 * h if cell.use_bias else 0)
    step += 4 * h + gates + acts
    return steps * step


def _gru(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Per step: x @ W and h @ U over 3H (2 per MAC), biases (3H input bias,
    # plus 3H recurrent bias when reset_after), z/r gate adds 2H, r-gating
    # Mul H, candidate add H, h = z * h + (1 - z) * hh: 2 Mul + Sub + Add.
    cell = layer.cell
    steps, features = _rnn_steps(ins)
    h = int(cell.units)
    gates = _act(cell, "recurrent_activation", 2 * h)
    acts = _act(cell, "activation", h)
    if gates is None or acts is None:
        return None
    step = 6 * h * (features + h) + 8 * h
    if cell.use_bias:
        step += 6 * h if cell.reset_after else 3 * h
    return steps * (step + gates + acts)


def _conv_lstm(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # ConvLSTM1D/2D/3D: an LSTM whose matmuls are convolutions. Per step, over the state's
    # S positions x F filters (batch included): 4 input convolutions (kernel K, C_in
    # channels, the layer's strides / padding / dilation) and 4 recurrent ones ("same",
    # F channels), 2 per multiply-add; [4SF bias adds]; 4SF adds (input + recurrent);
    # c = f * c + i * g and h = o * act(c): 4SF; the gate activations (0 for sigmoid/tanh).
    # Profiled on unroll=True models; the non-unrolled tf.while_loop is a profiler blind spot.
    cell = layer.cell
    steps = _dim(ins[0][1])
    channels_first = cell.data_format == "channels_first"
    channels = _dim(ins[0][2] if channels_first else ins[0][-1])
    filters = int(cell.filters)
    taps = math.prod(_as_tuple(cell.kernel_size))
    state = _numel(outs[0]) // (steps if layer.return_sequences else 1)  # S x F, batch included
    gates = _act(cell, "recurrent_activation", 3 * state)
    acts = _act(cell, "activation", 2 * state)
    if gates is None or acts is None:
        return None
    step = 2 * 4 * state * taps * (channels + filters) + 4 * state + 4 * state
    step += 4 * state if cell.use_bias else 0
    return steps * (step + gates + acts)


# --------------------------------------------------------------------------
# Wrappers
# --------------------------------------------------------------------------


def _bidirectional(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # Both directions see the same input; the merge is concat (0), sum / mul
    # (1 per element of one direction's output) or ave (AddV2 + RealDiv).
    mode = layer.merge_mode
    out = outs[0]
    if mode == "concat":
        half = _dim(out[-1]) // 2
        direction_out = [(*out[:-1], half)]
    else:
        direction_out = [out]
    forward = layer_flops(layer.forward_layer, ins, direction_out)
    backward = layer_flops(layer.backward_layer, ins, direction_out)
    if forward is None or backward is None:
        return None
    merge = {"concat": 0, "sum": 1, "mul": 1, "ave": 2}.get(mode or "", 0)
    return forward + backward + merge * _numel(out)


def _time_distributed(layer: Any, ins: list[Shape], outs: list[Shape]) -> int | None:
    # The inner layer runs once per time step on (batch, *rest) slices.
    steps = _dim(ins[0][1])
    inner = layer_flops(
        layer.layer,
        [(s[0], *s[2:]) for s in ins],
        [(s[0], *s[2:]) for s in outs],
    )
    return None if inner is None else steps * inner


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------

# Layers that do no floating-point work at inference (reshapes, copies,
# padding, crops, training-only noise/dropout, identity).
KNOWN_ZERO_COST: frozenset[str] = frozenset(
    {
        "InputLayer",
        "Identity",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Reshape",
        "Flatten",
        "Permute",
        "RepeatVector",
        "Concatenate",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        # Crops when the target is smaller; when it pads up it resizes, which
        # we do not model (the profiler reports 0 either way).
        "CenterCrop",
        "LeakyReLU",  # LeakyRelu op: unregistered in the profiler
    }
)

_COUNTERS: dict[str, Counter] = {
    **dict.fromkeys(KNOWN_ZERO_COST, _zero),
    "Dense": _dense,
    "EinsumDense": _einsum_dense,
    "Embedding": _embedding,
    "Masking": _masking,
    "Conv1D": _conv,
    "Conv2D": _conv,
    "Conv3D": _conv,
    "Conv1DTranspose": _conv_transpose,
    "Conv2DTranspose": _conv_transpose,
    "Conv3DTranspose": _conv_transpose,
    "DepthwiseConv1D": _depthwise_conv,
    "DepthwiseConv2D": _depthwise_conv,
    "SeparableConv1D": _separable_conv,
    "SeparableConv2D": _separable_conv,
    "MaxPooling1D": _pool,
    "MaxPooling2D": _pool,
    "MaxPooling3D": _pool,
    "AveragePooling1D": _pool,
    "AveragePooling2D": _pool,
    "AveragePooling3D": _pool,
    "GlobalMaxPooling1D": _global_pool,
    "GlobalMaxPooling2D": _global_pool,
    "GlobalMaxPooling3D": _global_pool,
    "GlobalAveragePooling1D": _global_pool,
    "GlobalAveragePooling2D": _global_pool,
    "GlobalAveragePooling3D": _global_pool,
    "UpSampling1D": _upsampling,
    "UpSampling2D": _upsampling,
    "UpSampling3D": _upsampling,
    "Resizing": _resizing,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "RMSNormalization": _rms_norm,
    "UnitNormalization": _unit_norm,
    "GroupNormalization": _group_norm,
    "Normalization": _normalization,
    "Rescaling": _rescaling,
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "ELU": _elu_layer,
    "PReLU": _prelu,
    "Softmax": _softmax_layer,
    "Add": _merge_pairwise,
    "Subtract": _merge_pairwise,
    "Multiply": _merge_pairwise,
    "Maximum": _merge_pairwise,
    "Minimum": _merge_pairwise,
    "Average": _average,
    "Dot": _dot,
    "MultiHeadAttention": _multi_head_attention,
    "SimpleRNN": _simple_rnn,
    "LSTM": _lstm,
    "GRU": _gru,
    "ConvLSTM1D": _conv_lstm,
    "ConvLSTM2D": _conv_lstm,
    "ConvLSTM3D": _conv_lstm,
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
}


def layer_rule(layer: Any) -> Counter | None:
    """The counter for ``layer``'s exact class, only for Keras's own layer classes.

    A user class that merely shares a name (or subclasses and overrides ``call``)
    has no rule: the tracer counts what its ``call`` does instead.
    """
    found = keras_compat.keras_class(layer)
    return _COUNTERS.get(found[1]) if found is not None and found[0] == "layer" else None


def layer_flops(
    layer: Any,
    input_shapes: list[tuple[int | None, ...]],
    output_shapes: list[tuple[int | None, ...]],
) -> int | None:
    """FLOPs of one call of a Keras layer, or None when no rule covers its class or this call.

    A call the rule cannot read (its inputs are constants the trace did not record, say) is
    not counted by the rule: the layer is then counted op by op, as any other.
    """
    counter = layer_rule(layer)
    if counter is None or not input_shapes or not output_shapes:
        return None
    result = counter(layer, list(input_shapes), list(output_shapes))
    return None if result is None else int(result)


# --------------------------------------------------------------------------
# keras.ops operations, as the tracer records them inside any layer's call
# --------------------------------------------------------------------------
#
# Each rule follows the profiler's count of the TensorFlow op(s) the Keras op
# lowers to (measured op by op: tests/test_op_flops.py checks every rule
# against the profiler, or against a hand count where the profiler is blind).
# Operands arrive by the name of the op's ``call`` parameter: a shape tuple for
# an array (weights included), a list of them for ``*operands``, None when not
# given. An op class without a rule here is unknown: its call makes the
# enclosing layer "n/a" and the model's total a lower bound, never 0.

Operands = dict[str, Any]
OpRule = Callable[[Any, Operands, list[Shape]], int | None]


def _arrays(operands: Operands) -> list[Shape]:
    out: list[Shape] = []
    for value in operands.values():
        if isinstance(value, tuple):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, tuple))
    return out


def _first(operands: Operands) -> Shape:
    arrays = _arrays(operands)
    return arrays[0] if arrays else ()


def _op_free(op: Any, operands: Operands, outs: list[Shape]) -> int:
    return 0


def _per_output(n: int) -> OpRule:
    return lambda op, operands, outs: n * _numel(outs[0]) if outs else 0


def _per_input(n: int) -> OpRule:
    return lambda op, operands, outs: n * _numel(_first(operands))


def _reduce(finalize: int) -> OpRule:
    # The profiler's reduction formula: in * 1 + out * (finalize - 1): Mean is
    # one per input element, Sum/ArgMax one per input element less the outputs.
    def rule(op: Any, operands: Operands, outs: list[Shape]) -> int:
        return _numel(_first(operands)) + _numel(outs[0]) * (finalize - 1)

    return rule


def _rows(shape: Shape, axis: Any) -> int:
    """Number of independent slices a normalisation over ``axis`` works on."""
    if not shape:
        return 1
    axes = _axes(axis if axis is not None else -1, len(shape))
    return _numel(shape) // max(1, math.prod(_dim(shape[a]) for a in axes))


def _op_matmul(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # MatMul / BatchMatMul: 2 * K per output element.
    return 2 * _dim(operands["x1"][-1]) * _numel(outs[0])


def einsum_macs(subscripts: str, shapes: list[Shape]) -> int:
    """Multiply-adds of an einsum: the product of every index's size (output and contracted)."""
    lhs = subscripts.replace(" ", "").split("->")[0]
    sizes: dict[str, int] = {}
    for spec, shape in zip(lhs.split(","), shapes, strict=False):
        letters, dims = spec, tuple(shape)
        if "..." in spec:
            head, tail = spec.split("...")
            middle = dims[len(head) : len(dims) - len(tail)]
            # Broadcast dimensions line up from the right, as in NumPy.
            for i, d in enumerate(reversed(middle)):
                sizes[f"...{i}"] = max(sizes.get(f"...{i}", 1), _dim(d))
            letters, dims = head + tail, (*dims[: len(head)], *dims[len(dims) - len(tail) :])
        for letter, d in zip(letters, dims, strict=False):
            sizes[letter] = max(sizes.get(letter, 1), _dim(d))
    return math.prod(sizes.values())


def _op_einsum(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # The profiler registers no Einsum (blind spot): counted like the BatchMatMul it
    # computes, 2 per multiply-add. One operand is a transpose or a sum.
    shapes = [s for s in operands.get("operands", []) if isinstance(s, tuple)]
    if len(shapes) < 2:
        return max(0, _numel(shapes[0]) - _numel(outs[0])) if shapes else 0
    return 2 * einsum_macs(op.subscripts, shapes)


def _op_conv(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Conv2D: 2 * outputs * kernel area * input channels per group (the kernel's in-dim).
    kernel = operands["kernel"]
    return 2 * _numel(outs[0]) * math.prod(_dim(d) for d in kernel[:-2]) * _dim(kernel[-2])


def _op_depthwise(op: Any, operands: Operands, outs: list[Shape]) -> int:
    kernel = operands["kernel"]
    return 2 * _numel(outs[0]) * math.prod(_dim(d) for d in kernel[:-2])


def _op_separable(op: Any, operands: Operands, outs: list[Shape]) -> int:
    depthwise, pointwise = operands["depthwise_kernel"], operands["pointwise_kernel"]
    out = _numel(outs[0])
    mid = _dim(pointwise[-2])
    depthwise_out = out // max(1, _dim(pointwise[-1])) * mid
    return 2 * depthwise_out * math.prod(_dim(d) for d in depthwise[:-2]) + 2 * out * mid


def _op_conv_transpose(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Conv2DBackpropInput: 2 * outputs * kernel area * in channels / prod(strides).
    kernel = operands["kernel"]
    rank = len(kernel) - 2
    strides = _as_tuple(op.strides) if not isinstance(op.strides, int) else (op.strides,) * rank
    numerator = 2 * _numel(outs[0]) * math.prod(_dim(d) for d in kernel[:-2]) * _dim(kernel[-1])
    return numerator // math.prod(strides)


def _op_pool(op: Any, operands: Operands, outs: list[Shape]) -> int:
    rank = len(outs[0]) - 2
    size = op.pool_size if not isinstance(op.pool_size, int) else (op.pool_size,) * rank
    return _numel(outs[0]) * math.prod(_as_tuple(size))


def _op_batch_norm(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # As the BatchNormalization layer: 2N + 5C, plus C when scaled.
    n = _numel(operands["x"])
    c = _numel(operands["mean"])
    return 2 * n + 5 * c + (c if operands.get("scale") is not None else 0)


def _op_layer_norm(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Profiled: moments 4N; rsqrt(var + eps) and -mean 4G; [x gamma N]; -mean * inv
    # (N when scaled, else G); [+ beta N]; x * inv + res 2N.
    x = operands["x"]
    n, rows = _numel(x), _rows(x, op.axis)
    gamma, beta = operands.get("gamma") is not None, operands.get("beta") is not None
    if op.rms_scaling:
        return 5 * n + 3 * rows + (n if gamma else 0)
    return 6 * n + 4 * rows + (n if gamma else 0) + (n if gamma else rows) + (n if beta else 0)


def _op_rms_norm(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Profiled: Square N, Mean N, AddV2 G, Rsqrt 2G, Mul N [, Mul N by the scale].
    x = operands["x"]
    n, rows = _numel(x), _rows(x, op.axis)
    return 3 * n + 3 * rows + (n if operands.get("scale") is not None else 0)


def _op_moments(op: Any, operands: Operands, outs: list[Shape]) -> int:
    return 4 * _numel(operands["x"])  # Mean + SquaredDifference + Mean


def _op_normalize(op: Any, operands: Operands, outs: list[Shape]) -> int | None:
    if op.order != 2:
        return None
    x = operands["x"]
    return 3 * _numel(x) + 2 * _rows(x, op.axis)


def _op_logsumexp(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Profiled: Sub N, Sum N - G, AddV2 G, Log G (Max and Exp are unregistered).
    return 2 * _numel(operands["x"]) + _numel(outs[0])


def _op_dot_product_attention(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Hand count (Einsum is a profiler blind spot), the same terms as MultiHeadAttention:
    # QK^T 2*T*S*H per head, the scale 1 and softmax 5 per score, weights x V 2*T*S*Hv,
    # where Hv is the value's head size (MultiHeadAttention's value_dim, which may differ).
    query, key, value = operands["query"], operands["key"], operands["value"]
    batch, t, heads, h = (_dim(d) for d in query)
    s, hv = _dim(key[1]), _dim(value[-1])
    scores = batch * heads * t * s
    return 2 * scores * h + scores + 5 * scores + 2 * scores * hv


def _op_gelu(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # Profiled: exact 4 per element (3 Mul, Neg), tanh approximation 7 (4 Mul, 2 AddV2, Pow).
    return (7 if op.approximate else 4) * _numel(_first(operands))


def _op_relu(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # keras.activations.relu: Relu/Relu6/LeakyRelu are unregistered (0); a threshold adds a
    # Greater per element, as the ReLU layer.
    return _numel(_first(operands)) if float(getattr(op, "threshold", 0.0) or 0.0) != 0.0 else 0


def _op_elu(op: Any, operands: Operands, outs: list[Shape]) -> int:
    # alpha == 1 is the bare Elu op (0); otherwise where(x > 0, ...) and alpha * ...: Greater + Mul.
    return 0 if float(op.alpha) == 1.0 else 2 * _numel(_first(operands))


def _op_resize(op: Any, operands: Operands, outs: list[Shape]) -> int | None:
    return _resize_cost(op.interpolation, outs[0])


def _activation_op(name: str) -> OpRule:
    def rule(op: Any, operands: Operands, outs: list[Shape]) -> int | None:
        return activation_flops(name, _numel(_first(operands)))

    return rule


_ZERO_OPS = (
    # Data movement, shapes, casts and indexing.
    "Cast", "ConvertToTensor", "Reshape", "Transpose", "Moveaxis", "Swapaxes", "ExpandDims", "Squeeze",
    "Concatenate", "Stack", "Split", "Take", "TakeAlongAxis", "GetItem", "Slice", "SliceUpdate",
    "Pad", "Tile", "Repeat", "BroadcastTo", "Flip", "Roll", "Arange", "ZerosLike", "OnesLike", "Full",
    "FullLike", "Tril", "Triu", "Copy", "StopGradient", "OneHot", "MultiHot", "Ravel", "Meshgrid", "Size",
    "Where", "Select", "All", "Any", "Unstack", "Hstack", "Vstack", "Append", "Diag", "Diagonal", "Linspace",
    "Sort", "Argsort", "Nonzero", "Unique", "ScatterUpdate", "Scatter", "SegmentSum", "Ndim",
    "Digitize", "Bincount",
    # Ops the profiler registers no FLOPs for (counted 0, as it does).
    "Sqrt", "Exp", "Exp2", "Expm1", "Log1p", "Abs", "Absolute", "Sign", "Floor", "Ceil", "Round", "Trunc",
    "FloorDivide", "Mod", "Tanh", "Sin", "Cos", "Tan", "Arcsin", "Arccos", "Arctan", "Arctan2", "Sinh",
    "Cosh", "Erf", "Erfinv", "Max", "Min", "Amax", "Amin", "Cumsum", "Cumprod", "LogicalAnd", "LogicalOr",
    "LogicalNot", "LogicalXor", "Isfinite", "Isinf", "Isnan", "NanToNum", "TopK",
    "InTopK", "Real", "Imag", "Conj", "Relu", "Relu6", "Sigmoid", "Softplus", "Softsign",
    "LeakyRelu", "Selu", "LogSoftmax",
)  # fmt: skip

OP_RULES: dict[str, OpRule] = {
    **dict.fromkeys(_ZERO_OPS, _op_free),
    **dict.fromkeys(
        (
            "Add",
            "Subtract",
            "Multiply",
            "Divide",
            "TrueDivide",
            "Power",
            "Maximum",
            "Minimum",
            "Greater",
            "GreaterEqual",
            "Less",
            "LessEqual",
            "Equal",
            "NotEqual",
        ),
        _per_output(1),
    ),
    **dict.fromkeys(("Negative", "Square", "Reciprocal", "Log"), _per_input(1)),
    "Rsqrt": _per_input(2),
    "Clip": _per_output(2),  # Maximum + Minimum
    "Mean": _reduce(1),
    "Sum": _reduce(0),
    "Argmax": _reduce(0),
    "Argmin": _reduce(0),
    "Var": _per_input(4),  # Mean, Square, Sub, Mean
    "Std": _per_input(4),
    "Matmul": _op_matmul,
    "Einsum": _op_einsum,
    "Conv": _op_conv,
    "DepthwiseConv": _op_depthwise,
    "SeparableConv": _op_separable,
    "ConvTranspose": _op_conv_transpose,
    "MaxPool": _op_pool,
    "AveragePool": _op_pool,
    "BatchNorm": _op_batch_norm,
    "LayerNorm": _op_layer_norm,
    "RMSNorm": _op_rms_norm,
    "Moments": _op_moments,
    "Normalize": _op_normalize,
    "Logsumexp": _op_logsumexp,
    "DotProductAttention": _op_dot_product_attention,
    "Gelu": _op_gelu,
    "Softmax": _per_input(5),
    "Resize": _op_resize,
    "ReLU": _op_relu,
    "Elu": _op_elu,
    **{
        cls: _activation_op(name)
        for cls, name in (
            ("Silu", "silu"),
            ("HardSigmoid", "hard_sigmoid"),
            ("HardSilu", "hard_silu"),
            ("Mish", "mish"),
            ("Celu", "celu"),
            ("Glu", "glu"),
            ("HardTanh", "hard_tanh"),
            ("HardShrink", "hard_shrink"),
            ("SoftShrink", "soft_shrink"),
            ("TanhShrink", "tanh_shrink"),
            ("SparsePlus", "sparse_plus"),
            ("SparseSigmoid", "sparse_sigmoid"),
            ("Squareplus", "squareplus"),
            ("LogSigmoid", "log_sigmoid"),
        )
    },
}


def op_rule(op: Any) -> OpRule | None:
    """The rule for a ``keras.ops`` operation's class, or None (only Keras's own op classes)."""
    found = keras_compat.keras_class(op)
    return OP_RULES.get(found[1]) if found is not None and found[0] == "op" else None


def op_flops(op: Any, operands: Operands, output_shapes: list[Shape]) -> int | None:
    """FLOPs of one call of a ``keras.ops`` operation, or None when no rule covers it."""
    rule = op_rule(op)
    if rule is None:
        return None
    result = rule(op, operands, list(output_shapes))
    return None if result is None else int(result)
