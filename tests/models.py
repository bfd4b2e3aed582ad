"""Models the tests build: small keras-hub backbones from constructor arguments, and custom layers.

Every function here returns a built ``keras.Model`` and downloads nothing. They are
importable as builders (``tests.models:llama``) so a manifest or a subprocess can
build them too.
"""

from __future__ import annotations

from typing import Any

# Small configurations (nothing downloaded), wide enough that matmuls dominate as they do at full size.
LLAMA = {"vocabulary_size": 1000, "num_layers": 2, "num_query_heads": 4, "num_key_value_heads": 2,
         "hidden_dim": 128, "intermediate_dim": 320}  # fmt: skip
GEMMA = {"vocabulary_size": 1000, "num_layers": 2, "num_query_heads": 4, "num_key_value_heads": 1,
         "hidden_dim": 128, "intermediate_dim": 512, "head_dim": 32}  # fmt: skip
BERT = {"vocabulary_size": 1000, "num_layers": 2, "num_heads": 4, "hidden_dim": 128, "intermediate_dim": 256}
GPT2 = {"vocabulary_size": 1000, "num_layers": 2, "num_heads": 4, "hidden_dim": 128, "intermediate_dim": 256,
        "max_sequence_length": 256}  # fmt: skip
VIT = {"image_shape": (64, 64, 3), "patch_size": 16, "num_layers": 2, "num_heads": 4, "hidden_dim": 128,
       "mlp_dim": 256}  # fmt: skip
# Llama 3 8B's shape (vocabulary 128256, 32 layers, 32 query heads, 8 key/value heads).
LLAMA_8B = {"vocabulary_size": 128256, "num_layers": 32, "num_query_heads": 32, "num_key_value_heads": 8,
            "hidden_dim": 4096, "intermediate_dim": 14336}  # fmt: skip


# The families symbolic tracing could not count (a concrete value needed, backend code, a Python
# loop over time) and the mixture-of-experts blocks, small.
MIXTRAL = {"vocabulary_size": 1000, "num_layers": 2, "num_query_heads": 4, "num_key_value_heads": 2,
           "hidden_dim": 128, "intermediate_dim": 256, "num_experts": 8, "top_k": 2}  # fmt: skip
GPT_OSS = {"vocabulary_size": 1000, "num_layers": 2, "num_query_heads": 8, "num_key_value_heads": 2,
           "hidden_dim": 128, "intermediate_dim": 128, "num_experts": 8, "top_k": 2, "head_dim": 16}  # fmt: skip
FALCON = {"vocabulary_size": 1000, "num_layers": 2, "num_attention_heads": 4, "hidden_dim": 128,
          "intermediate_dim": 512}  # fmt: skip
DEBERTA = {"vocabulary_size": 1000, "num_layers": 2, "num_heads": 4, "hidden_dim": 128, "intermediate_dim": 256,
           "max_sequence_length": 128, "bucket_size": 32}  # fmt: skip
RWKV7 = {"hidden_size": 128, "head_size": 32, "num_layers": 2, "vocabulary_size": 1000, "intermediate_dim": 256,
         "gate_lora": 16, "mv_lora": 8, "aaa_lora": 8, "decay_lora": 8}  # fmt: skip
SWIN_T = {"image_shape": (224, 224, 3), "embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24),
          "window_size": 7}  # fmt: skip


def _hub(name: str, config: dict[str, Any], **overrides: Any) -> Any:
    import keras_hub

    return getattr(keras_hub.models, name)(**{**config, **overrides})


def mixtral(**overrides: Any) -> Any:
    return _hub("MixtralBackbone", MIXTRAL, **overrides)


def gpt_oss(**overrides: Any) -> Any:
    return _hub("GptOssBackbone", GPT_OSS, **overrides)


def falcon() -> Any:
    return _hub("FalconBackbone", FALCON)


def deberta() -> Any:
    return _hub("DebertaV3Backbone", DEBERTA)


def rwkv7() -> Any:
    return _hub("RWKV7Backbone", RWKV7)


def swin_t() -> Any:
    return _hub("SwinTransformerBackbone", SWIN_T)


def llama(**overrides: Any) -> Any:
    import keras_hub

    return keras_hub.models.LlamaBackbone(**{**LLAMA, **overrides})


def llama_8b() -> Any:
    return llama(**LLAMA_8B)


def gemma() -> Any:
    import keras_hub

    return keras_hub.models.GemmaBackbone(**GEMMA)


def bert() -> Any:
    import keras_hub

    return keras_hub.models.BertBackbone(**BERT)


def gpt2() -> Any:
    import keras_hub

    return keras_hub.models.GPT2Backbone(**GPT2)


def vit() -> Any:
    import keras_hub

    return keras_hub.models.ViTBackbone(**VIT)


def custom_attention_model(tokens: int = 12, dim: int = 16, heads: int = 2) -> Any:
    """A subclassed layer no rule knows: an einsum, a softmax, a matmul and a nested Dense."""
    import keras
    from keras import ops

    class TinyAttention(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.proj = keras.layers.Dense(dim, name="proj")

        def build(self, shape: Any) -> None:
            self.proj.build(shape)
            self.mix = self.add_weight(shape=(heads, dim // heads, dim // heads), name="mix")

        def call(self, x: Any) -> Any:
            q = ops.reshape(self.proj(x), (-1, tokens, heads, dim // heads))
            mixed = ops.einsum("bthd,hde->bthe", q, self.mix)
            scores = ops.softmax(ops.einsum("bthe,bshe->bhts", mixed, q), axis=-1)
            values = ops.transpose(q, (0, 2, 1, 3))
            out = ops.matmul(scores, values)
            return ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, tokens, dim))

    inputs = keras.Input((tokens, dim))
    return keras.Model(inputs, TinyAttention(name="tiny_attention")(inputs))


def kv_naming_model(tokens: int = 12, dim: int = 16) -> Any:
    """Two layers with key and value projections: T5's naming (``key_projector``) with a softmax
    over the keys, which a KV cache keeps per token; and RWKV's channel mixing (``key``, ``value``)
    with no softmax, a fixed-size state, which none keeps."""
    import keras
    from keras import ops

    class Attention(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.query_projector = keras.layers.Dense(dim, use_bias=False)
            self.key_projector = keras.layers.Dense(dim, use_bias=False)
            self.value_projector = keras.layers.Dense(dim, use_bias=False)

        def call(self, x: Any) -> Any:
            scores = ops.einsum("btd,bsd->bts", self.query_projector(x), self.key_projector(x))
            return ops.matmul(ops.softmax(scores, axis=-1), self.value_projector(x))

    class ChannelMix(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.key = keras.layers.Dense(4 * dim, use_bias=False)
            self.value = keras.layers.Dense(dim, use_bias=False)

        def call(self, x: Any) -> Any:
            return self.value(ops.square(ops.relu(self.key(x))))

    inputs = keras.Input((tokens, dim))
    return keras.Model(inputs, ChannelMix(name="channel_mix")(Attention(name="attention")(inputs)))


def upsampler(size: int = 32, channels: int = 64, factor: int = 8) -> Any:
    """A bilinear upsampling whose output dominates the peak, as DeepLabV3's does: JAX resizes with
    an einsum per axis and a transpose, whose temporaries XLA's buffer assignment holds."""
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same", name="conv")(inputs)
    x = keras.layers.UpSampling2D(factor, interpolation="bilinear", name="upsample")(x)
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, name="head")(x))


def custom_conv_model(size: int = 224) -> Any:
    """A convolution block with no ``compute_output_shape``: Keras infers its shape by calling it.

    Its call refuses NumPy arrays, so a build that ran it on them (the numpy backend's own
    shape inference, at batch sizes 83 and 89) fails loudly instead of passing slowly.
    (TensorFlow infers it on graph tensors, which hold no values either.)
    """
    import keras
    import numpy as np
    from keras import ops

    class ConvBlock(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(64, 3, padding="same", name="conv")
            self.norm = keras.layers.BatchNormalization(name="norm")

        def call(self, x: Any) -> Any:
            if isinstance(x, np.ndarray):
                raise AssertionError(f"ConvBlock ran on a real {type(x).__name__} of shape {x.shape}")
            return ops.relu(self.norm(self.conv(x)))

    inputs = keras.Input((size, size, 3))
    x = ConvBlock(name="block_1")(inputs)
    x = ConvBlock(name="block_2")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def recurrent_attention_model() -> Any:
    """Layers whose call the tracer cannot run or used to fail on: a ConvLSTM (a backend loop,
    counted by its rule), Bidirectional RNNs with a mask, AdditiveAttention and a user layer
    computing ``weight * x`` (a variable's operator), inside TimeDistributed too."""
    import keras
    from keras import layers as L

    class Scale(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True  # passes the tokens' mask on to the attention

        def build(self, shape: Any) -> None:
            self.gamma = self.add_weight(shape=(shape[-1],), name="gamma")

        def call(self, x: Any) -> Any:
            return self.gamma * x

    frames = keras.Input((3, 8, 8, 2), name="frames")
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    video = L.ConvLSTM2D(4, 3, padding="same", return_sequences=True, name="conv_lstm")(frames)
    video = L.TimeDistributed(L.GlobalAveragePooling2D(), name="pool")(video)  # (3, 4)
    text = L.Embedding(20, 4, mask_zero=True, name="embed")(tokens)
    text = L.Bidirectional(L.GRU(2, return_sequences=True), name="bi_gru")(text)  # (6, 4)
    mixed = L.AdditiveAttention(name="attend")([Scale(name="scale")(text), video])
    return keras.Model([frames, tokens], L.Dense(2, name="head")(L.GlobalAveragePooling1D()(mixed)))


# Layer names that need care in a table: spreadsheets run cells starting with =, +, - or @ as
# formulas, and a comma and a quote need CSV quoting (tests/unit/test_exports.py).
TRICKY_NAMES = ["=HYPERLINK(x)", "+plus", "-minus", "@at", 'comma, "quoted"']


def tricky() -> Any:
    """A model whose cells need care: formula-like names, unknown FLOPs, several inputs."""
    import keras

    class Mystery(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            # Its output depends on the values, which no trace has: the row's flops is None.
            return x * float(keras.ops.convert_to_numpy(keras.ops.max(x)))

        def compute_output_shape(self, shape: Any) -> Any:
            return shape

    inputs = keras.Input((6,), name="features")
    a = keras.layers.Dense(5, name=TRICKY_NAMES[0])(inputs)
    b = keras.layers.Dense(5, activation="relu", name=TRICKY_NAMES[1])(inputs)
    added = keras.layers.Add(name=TRICKY_NAMES[2])([a, b])  # two input shapes, two connections
    odd = Mystery(name=TRICKY_NAMES[3])(added)
    out = keras.layers.Dense(3, name=TRICKY_NAMES[4])(odd)
    return keras.Model(inputs, out, name="tricky")


STEPPED = {"width": 16, "steps": 3}


def stepped(width: int = STEPPED["width"]) -> Any:
    """A model that reads one input as a number: its layer applies a Dense that many times.

    No abstract trace can count it (the loop's length is a value), so the manifest gives the
    value in ``[model.input_values]``: a denoiser's number of steps is read the same way.
    """
    import keras

    class Repeat(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.step = keras.layers.Dense(width, activation="relu", name="step")

        def build(self, shapes: Any) -> None:
            self.step.build(shapes[0])

        def call(self, inputs: Any) -> Any:
            x, steps = inputs
            for _ in range(int(keras.ops.convert_to_numpy(steps)[0])):
                x = self.step(x)
            return x

        def compute_output_shape(self, shapes: Any) -> Any:
            return shapes[0]

    x = keras.Input((width,), name="x")
    steps = keras.Input((), dtype="int32", name="steps")
    out = Repeat(name="repeat")([x, steps])
    return keras.Model([x, steps], keras.layers.Dense(2, name="head")(out), name="stepped")
