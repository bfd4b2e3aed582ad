"""Per-layer rows and totals checked against Keras's own figures and TensorFlow's profiler."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from archreport.model.analyse import analyse
from tests.flops_reference import profiler_flops
from tests.helpers import EXAMPLES


@pytest.fixture(scope="module")
def keras():
    import keras as k

    return k


def example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        module = __import__(name)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def check_against_keras(model, result) -> None:
    """Totals equal Keras's; each row's params equal the layer's count_params()."""
    from keras.src.utils.summary_utils import count_params, weight_memory_size

    t = result.totals
    assert t.params == model.count_params()
    assert t.trainable_params == count_params(model.trainable_weights)
    assert t.non_trainable_params == count_params(model.non_trainable_weights)
    assert t.param_bytes == weight_memory_size(model.weights)
    assert t.layers == len(model.layers)
    by_name = {layer.name: layer for layer in model.layers}
    for row in result.rows:
        if row.depth == 0 and row.name in by_name:
            assert row.params == by_name[row.name].count_params(), row.name


def test_residual_block_totals_and_flops(keras) -> None:
    model = example("blocks").residual_block()
    result = analyse(model, "res")
    check_against_keras(model, result)
    assert result.totals.flops == profiler_flops(model)
    assert not result.totals.flops_lower_bound
    add = next(r for r in result.rows if r.name == "block_add")
    assert sorted(add.connected_to) == ["block_bn2", "stem_relu"]
    assert add.input_shapes == ["(None, 32, 32, 16)", "(None, 32, 32, 16)"]
    conv = next(r for r in result.rows if r.name == "stem_conv")
    assert (conv.kernel, conv.strides) == ("3x3", "1x1")
    # Output memory at batch 1 in float32: 32*32*16 values of 4 bytes.
    assert conv.activation_bytes == 32 * 32 * 16 * 4
    # Hand count: 2 per multiply-add (3*3*3 per output) plus 1 per bias add.
    assert conv.flops == 32 * 32 * 16 * (2 * 3 * 3 * 3 + 1)
    assert result.totals.depth == 12  # image excluded: stem (3) + block (5) + add, relu, pool, dense


def test_frozen_and_shared_layers_count_once(keras) -> None:
    from keras import layers

    shared = layers.Dense(8, name="shared")
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    bn = layers.BatchNormalization(name="bn")
    x = layers.Concatenate(name="cat")([shared(a), shared(b)])
    out = layers.Dense(2, name="out")(bn(x))
    model = keras.Model([a, b], out)
    model.get_layer("out").trainable = False
    result = analyse(model, "shared")
    check_against_keras(model, result)
    assert result.totals.params == 40 + 64 + 34
    assert result.totals.non_trainable_params == 32 + 34  # BN moving stats, frozen Dense
    row = next(r for r in result.rows if r.name == "shared")
    # The shared Dense is one row whose FLOPs cover both calls: 2 * (2*4*8 + 8).
    assert row.flops == 2 * (2 * 4 * 8 + 8)
    assert result.totals.flops == profiler_flops(model)


def test_nested_sub_model_is_listed_under_its_parent(keras) -> None:
    model = example("blocks").nested_classifier()
    result = analyse(model, "nested")
    check_against_keras(model, result)
    names = [(r.name, r.depth, r.parent) for r in result.rows]
    assert ("features", 0, None) in names
    assert ("conv_a", 1, "features") in names and ("pool_b", 1, "features") in names
    features = next(r for r in result.rows if r.name == "features")
    inner = [r for r in result.rows if r.parent == "features"]
    assert features.flops == sum(r.flops for r in inner)
    # The profiler counts 0 for GlobalMaxPooling2D; we count one comparison per input
    # element, here the 29x29x16 output of conv_b.
    assert result.totals.flops == profiler_flops(model) + 29 * 29 * 16


def test_subclassed_model_is_traced_through_its_sub_layers(keras) -> None:
    from keras import layers

    class Tiny(keras.Model):
        def __init__(self):
            super().__init__(name="tiny")
            self.d1 = layers.Dense(4, name="d1")
            self.d2 = layers.Dense(2, name="d2")

        def call(self, x):
            return self.d2(self.d1(x))

    model = Tiny()
    model(keras.ops.zeros((1, 3)))
    result = analyse(model, "tiny")
    assert [r.name for r in result.rows] == ["d1", "d2"]
    assert [r.output_shape for r in result.rows] == ["(None, 4)", "(None, 2)"]
    assert result.totals.params == model.count_params() == 16 + 10
    # Hand count: each Dense is 2 per multiply-add plus a bias add per output.
    assert [r.flops for r in result.rows] == [2 * 3 * 4 + 4, 2 * 4 * 2 + 2]
    assert result.totals.flops == 46 and not result.totals.flops_lower_bound
    assert "connectivity" in result.warnings[0]


def test_custom_layer_is_counted_op_by_op(keras) -> None:
    from keras import layers

    class Doubler(layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((4,))
    out = layers.Dense(3, name="d")(Doubler(name="doubler")(inputs))
    result = analyse(keras.Model(inputs, out), "m")
    row = next(r for r in result.rows if r.name == "doubler")
    assert row.flops == 4  # one multiply per element
    assert [op.name for op in row.ops] == ["multiply"]
    assert result.totals.flops == 4 + 2 * 4 * 3 + 3 and not result.totals.flops_lower_bound


def test_operators_on_a_weight_are_traced_and_match_the_profiler(keras) -> None:
    # ``self.gamma * x`` is Variable.__mul__, which calls the backend on the variable's value
    # rather than keras.ops: the call could not be traced, and the whole model (this layer has no
    # compute_output_shape) had unknown FLOPs.
    from keras import layers

    class WeightOnTheLeft(layers.Layer):
        def build(self, shape):
            self.gamma = self.add_weight(shape=(shape[-1],), name="gamma")
            self.beta = self.add_weight(shape=(shape[-1],), name="beta")

        def call(self, x):
            return self.beta - (self.beta + self.gamma * x)

    inputs = keras.Input((4, 6))
    model = keras.Model(inputs, layers.Dense(3)(WeightOnTheLeft(name="scaled")(inputs)))
    result = analyse(model, "m")
    row = next(r for r in result.rows if r.name == "scaled")
    assert [op.name for op in row.ops] == ["multiply", "add", "subtract"]
    assert row.flops == 3 * 4 * 6  # one per element each
    assert result.totals.flops == profiler_flops(model) and not result.totals.flops_lower_bound


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.AdditiveAttention(),  # scale * tanh(q + k): the scale variable on the left
        lambda L: L.Attention(score_mode="concat", use_scale=True),  # concat_score_weight * sum(...)
    ],
    ids=["additive", "concat"],
)
def test_keras_attention_layers_with_score_weights_match_the_profiler(keras, make) -> None:
    query, value = keras.Input((5, 8)), keras.Input((7, 8))
    model = keras.Model([query, value], make(keras.layers)([query, value]))
    result = analyse(model, "m")
    assert not result.totals.flops_lower_bound, result.warnings
    assert result.totals.flops == profiler_flops(model)


def test_an_op_without_a_rule_is_na_and_the_total_a_lower_bound(keras) -> None:
    from keras import layers

    class Mystery(layers.Layer):
        def call(self, x):
            return keras.ops.logaddexp(x, x)

    inputs = keras.Input((4,))
    out = layers.Dense(3, name="d")(Mystery(name="mystery")(inputs))
    result = analyse(keras.Model(inputs, out), "m")
    row = next(r for r in result.rows if r.name == "mystery")
    assert row.flops is None
    assert row.flops_note == "no FLOPs rule for keras.ops.logaddexp"
    assert result.totals.flops_lower_bound
    assert result.totals.flops == 2 * 4 * 3 + 3
    assert any("logaddexp" in w and "lower bound" in w for w in result.warnings)


def _numpy_layer(keras: Any) -> Any:
    """A layer whose call converts its input to NumPy: it cannot run on symbolic tensors."""
    import numpy as np

    class ToNumpy(keras.layers.Layer):
        def call(self, x):
            return keras.ops.convert_to_tensor(np.asarray(x) * 2.0)

        def compute_output_shape(self, shape):
            return shape

    return ToNumpy(name="np_layer")


def test_a_call_that_cannot_run_symbolically_is_na_with_its_reason(keras) -> None:
    inputs = keras.Input((4,))
    result = analyse(keras.Model(inputs, _numpy_layer(keras)(inputs)), "m")
    row = next(r for r in result.rows if r.name == "np_layer")
    assert row.flops is None and row.output_shape == "(None, 4)"
    assert "cannot be traced symbolically" in (row.flops_note or "")
    assert result.totals.flops_lower_bound


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("MobileNetV2", {"input_shape": (96, 96, 3), "alpha": 0.35}),
        ("ResNet50", {"input_shape": (64, 64, 3)}),
        ("DenseNet121", {"input_shape": (64, 64, 3)}),
        ("Xception", {"input_shape": (71, 71, 3)}),
    ],
)
def test_applications_match_keras_and_profiler(keras, name: str, kwargs: dict) -> None:
    keras.backend.clear_session()
    model = getattr(keras.applications, name)(weights=None, **kwargs)
    result = analyse(model, "app")
    check_against_keras(model, result)
    reference = profiler_flops(model)
    assert result.totals.flops == pytest.approx(reference, rel=0.05)
    assert not result.totals.flops_lower_bound


def test_open_input_dimensions_are_flagged(keras) -> None:
    from keras import layers

    inputs = keras.Input((None, None, 3))
    out = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(inputs))
    result = analyse(keras.Model(inputs, out), "open")
    assert result.totals.flops_lower_bound
    # Activation memory is computed at size 1 per open dimension too: a lower bound.
    assert result.totals.memory_lower_bound
    assert any("(None, None, None, 3) has unknown dimensions besides the batch" in w for w in result.warnings)


def test_a_composite_layer_counts_every_tensor_its_call_makes(keras) -> None:
    from tests.models import custom_attention_model

    # 12 tokens, width 16, 2 heads of 8, float32 (4 bytes), batch 1.
    proj = 12 * 16 * 4  # the nested Dense (a Keras layer with a rule): its output, 768
    mixed = 12 * 2 * 8 * 4  # einsum with the weight, 768 (the reshape before it is a view: 0)
    scores = 2 * 12 * 12 * 4  # einsum q.k: 2 heads x 12 x 12, 1,152
    softmax = scores  # 1,152
    values, out, back = 3 * [2 * 12 * 8 * 4]  # transpose, matmul, transpose: 768 each (the last reshape: 0)
    activations = proj + mixed + scores + softmax + values + out + back
    assert activations == 6144
    result = analyse(custom_attention_model(), "m")
    totals = result.totals
    assert totals.activation_bytes == activations and not totals.memory_lower_bound
    # Each row's own column stays its outputs: the block's output and the Dense's.
    assert [(r.class_name, r.name, r.activation_bytes) for r in result.rows][1:] == [
        ("TinyAttention", "tiny_attention", 768), ("Dense", "proj", 768),
    ]  # fmt: skip
    params = 16 * 16 + 16 + 2 * 8 * 8  # the Dense, and the einsum's weight: 400 float32
    assert totals.params == params
    assert totals.inference_bytes == 4 * params + 12 * 16 * 4 + activations
    assert totals.training_bytes == 16 * params + activations  # Adam: 16 bytes per float32 weight
    assert totals.training_bytes_mixed == 16 * params + activations // 2  # float activations in 16 bits
    assert analyse(custom_attention_model(), "m", batch_size=3).totals.activation_bytes == 3 * activations


def test_multi_head_attention_counts_its_projections_and_scores(keras) -> None:
    from keras import layers

    query, value = keras.Input((6, 4)), keras.Input((5, 8))
    mha = layers.MultiHeadAttention(2, 8, value_dim=5, output_shape=7)
    result = analyse(keras.Model([query, value], mha(query, value)), "m")
    # Floats at batch 1: the projections (6 x 2 x 8, 5 x 2 x 8, 5 x 2 x 5), the fused attention's
    # QK^T, scaled scores and softmax (2 heads x 6 x 5 each), its output with the value's head
    # size (6 x 2 x 5), and the output projection (6 x 7).
    floats = 96 + 80 + 50 + 3 * 60 + 60 + 42
    assert result.totals.activation_bytes == 4 * floats == 2032
    assert next(r for r in result.rows if r.name == "attention_output").input_shapes == ["(None, 6, 2, 5)"]


def test_activations_of_an_untraceable_layer_are_a_lower_bound(keras) -> None:
    inputs = keras.Input((4,))
    result = analyse(keras.Model(inputs, keras.layers.Dense(3)(_numpy_layer(keras)(inputs))), "m")
    # Only what is known: its output (4 floats) and the Dense's (3 floats).
    assert result.totals.activation_bytes == (4 + 3) * 4
    assert result.totals.memory_lower_bound
    assert "Activation memory is a lower bound: ToNumpy counts only its outputs" in " ".join(result.warnings)
    # A Keras layer whose call runs backend code (an RNN loop) has a rule: its outputs are exact.
    seq = keras.Input((5, 2))
    lstm = analyse(keras.Model(seq, keras.layers.LSTM(3)(seq)), "lstm")
    assert lstm.totals.activation_bytes == 3 * 4 and not lstm.totals.memory_lower_bound


def test_declared_inputs_are_named_by_their_input_layer_and_checked(keras) -> None:
    from archreport.errors import ModelError

    seq = keras.Sequential([keras.Input((None, 8), name="frames"), keras.layers.Dense(4)])
    result = analyse(seq, "s", inputs={"frames": [10, 8]})
    assert result.input_shapes == ["(None, 10, 8)"]
    assert result.rows[-1].flops == 10 * (2 * 8 * 4 + 4)
    with pytest.raises(
        ModelError, match=r"name 'frame' \(did you mean 'frames'\?\), but the model's inputs are 'frames'"
    ):
        analyse(seq, "s", inputs={"frame": [10, 8]})
    with pytest.raises(
        ModelError, match=r"input_shapes gives 2 shape\(s\), but the model has 1 input\(s\): 'frames'"
    ):
        analyse(seq, "s", input_shapes=[[10, 8], [10, 8]])
    with pytest.raises(
        ModelError,
        match=r"the declared shape \[10, 9\] does not fit input 'frames' of shape \(None, None, 8\)",
    ):
        analyse(seq, "s", input_shapes=[[10, 9]])
