"""Every keras-hub backbone family that ships a preset, at a published preset size, as plain data.

keras-hub's preset configs live on Kaggle, and nothing may be downloaded, so each
entry writes the backbone's constructor arguments out by hand. What proves them is
the parameter count: the model built from them must have exactly ``params``
parameters, and that count must relate as ``relation`` says to the published
figure the preset's metadata holds (read at test time from the installed
``keras_hub/src/models/<family>/<family>_presets.py``).

Importing this module imports no Keras (``build`` imports keras-hub). tests/hub_build.py
builds entries without allocating their weights.
"""

# The entries write constructor arguments as dict(...) calls, which read like the calls they stand for.
# ruff: noqa: C408

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How a family's count relates to its preset's metadata["params"].
EQUAL = "equal"  # the same number
OFFSET = "offset"  # published = built + offset, exactly; the reason says what the difference is
ROUNDED = "rounded"  # a rounded label: within `tolerance` (relative) of the built count
LABEL = "label"  # a description label that is no count of this model (the reason says what the count is)
RELATIONS = (EQUAL, OFFSET, ROUNDED, LABEL)
# Which of the built model's counts the published figure is compared with.
ALL = "all"  # count_params(): every weight, non-trainable ones (batch-norm statistics, ...) included
TRAINABLE = "trainable"  # trainable weights only, as timm and PyTorch count parameters
BASES = (ALL, TRAINABLE)
# Ways to build a backbone without allocating its weights (tests/hub_build.py).
EVAL_SHAPE = "eval_shape"
STATELESS = "stateless"
TRACED = "traced"
RECIPES = (EVAL_SHAPE, STATELESS, TRACED)
# What jax.eval_shape raises where construction takes float() of an op's result (drop-path rates
# from ops.linspace).
CONCRETIZATION = "Abstract tracer value encountered where concrete value is expected"


@dataclass(frozen=True)
class Part:
    """A constructor argument that is itself a keras-hub object: its class and keyword arguments."""

    cls: str
    kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class HubFamily:
    """One keras-hub family at one published preset size."""

    family: str  # the keras_hub/src/models/<family> folder
    backbone: str  # "keras_hub.models.X", or the src path of a class keras-hub does not export
    preset: str  # the preset whose size the kwargs reproduce
    kwargs: Mapping[str, Any]  # constructor arguments; a Part is constructed first and passed in
    inputs: Mapping[str, list[int]]  # input name -> shape without the batch dimension, for a trace
    params: int  # count_params() of the model as built
    trainable: int  # the trainable part of it
    relation: str = EQUAL  # to the preset's metadata["params"]
    basis: str = ALL  # which built count the relation compares
    offset: int = 0  # OFFSET: published - built
    tolerance: float = 0.0  # ROUNDED: the relative difference allowed
    reason: str = ""  # why the published figure differs (required unless EQUAL on ALL)
    covers: str = ""  # what the published figure covers, where it is a task model's
    why_preset: str = ""  # why this preset, where it is neither the smallest nor one issue 24 names
    note: str = ""  # a constructor argument that is not what one would guess, and why
    # Inputs whose values, not only shapes, the call needs (a value per sample, no batch dimension):
    # the model turns them into Python numbers (an image's patch grid, a number of diffusion steps).
    input_values: Mapping[str, Any] = field(default_factory=dict)
    # How to build it without weights (tests/hub_build.py); eval_shape_error: what EVAL_SHAPE raises for it.
    recipe: str = EVAL_SHAPE
    eval_shape_error: str = ""


# The preset sizes issue 24 measured by name; other families use their smallest preset with a count.
ISSUE_24_PRESETS = frozenset({
    "llama3_8b_en", "mistral_7b_en", "mixtral_8_7b_en", "qwen3_moe_30b_a3b_en", "gpt_oss_20b_en",
    "phi3_mini_4k_instruct_en", "falcon_refinedweb_1b_en", "deberta_v3_base_en", "swin_tiny_patch4_window7_224",
    "siglip2_base_patch16_224", "segformer_b0_ade20k_512", "depth_anything_v2_small", "mobilenetv5_300m_enc_gemma3n",
})  # fmt: skip


def tokens(n: int, *names: str) -> dict[str, list[int]]:
    """Token inputs of n positions: token_ids and padding_mask, plus any other names."""
    return {name: [n] for name in ("token_ids", "padding_mask", *names)}


def image(size: int, channels: int = 3, name: str = "images") -> dict[str, list[int]]:
    """One square image input."""
    return {name: [size, size, channels]}


def _mobilenetv5_stages(stages: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """MobileNet-V5's stackwise_* lists from per-block fields (what timm's block strings say)."""
    fields = {"block_types": "", "num_filters": 0, "strides": 1, "act_layers": "gelu", "exp_ratios": 0.0,
              "se_ratios": 0.0, "dw_kernel_sizes": 0, "dw_start_kernel_sizes": 0, "dw_end_kernel_sizes": 0,
              "exp_kernel_sizes": 0, "pw_kernel_sizes": 0, "num_heads": 0, "key_dims": 0, "value_dims": 0,
              "kv_strides": 0, "use_cpe": False}  # fmt: skip
    lists: dict[str, Any] = {"stackwise_num_blocks": [len(stage) for stage in stages]}
    for name, default in fields.items():
        lists[f"stackwise_{name}"] = [[block.get(name, default) for block in stage] for stage in stages]
    return lists


def _er(filters: int, stride: int) -> dict[str, Any]:
    """An edge residual block: a 3x3 expansion by 4, a 1x1 projection."""
    return {"block_types": "er", "num_filters": filters, "strides": stride, "exp_ratios": 4.0,
            "exp_kernel_sizes": 3, "pw_kernel_sizes": 1}  # fmt: skip


def _uir(filters: int, expansion: float, start: int = 0, mid: int = 0, stride: int = 1) -> dict[str, Any]:
    """A universal inverted residual block with optional depthwise kernels before and inside it."""
    return {"block_types": "uir", "num_filters": filters, "strides": stride, "exp_ratios": expansion,
            "dw_start_kernel_sizes": start, "dw_kernel_sizes": mid}  # fmt: skip


def _mqa(filters: int, heads: int, dim: int, kv_stride: int) -> dict[str, Any]:
    """A multi-query attention block."""
    return {"block_types": "mqa", "num_filters": filters, "num_heads": heads, "key_dims": dim, "value_dims": dim,
            "kv_strides": kv_stride}  # fmt: skip


# MobileNet-V5-300M, the Gemma 3n image encoder (timm's mobilenetv5_300m_enc).
MOBILENETV5_300M = _mobilenetv5_stages([
    [_er(128, 2), _er(128, 1), _er(128, 1)],
    [_uir(256, 6, 3, 5, stride=2), _uir(256, 4, 5), _uir(256, 4, 3), _uir(256, 4, 5), _uir(256, 4, 3)],
    [_uir(640, 6, 5, 5, stride=2), *[_uir(640, 4, 5)] * 7, _uir(640, 1),
     *[_mqa(640, 12, 64, 2), _uir(640, 2)] * 14],
    [_uir(1280, 6, 5, 5, stride=2), *[_mqa(1280, 16, 96, 1), _uir(1280, 2)] * 19],
])  # fmt: skip


def _every(n: int, period: int, one: str, other: str) -> list[str]:
    """n layer types: `other` at every period-th layer, `one` elsewhere."""
    return [other if (i + 1) % period == 0 else one for i in range(n)]


MIT_B0 = dict(layerwise_depths=[2, 2, 2, 2], num_layers=4, layerwise_num_heads=[1, 2, 5, 8],
              layerwise_sr_ratios=[8, 4, 2, 1], max_drop_path_rate=0.1, layerwise_patch_sizes=[7, 3, 3, 3],
              layerwise_strides=[4, 2, 2, 2], hidden_dims=[32, 64, 160, 256])  # fmt: skip
RESNET_50 = dict(input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
                 stackwise_num_blocks=[3, 4, 6, 3], stackwise_num_strides=[1, 2, 2, 2],
                 block_type="bottleneck_block")  # fmt: skip
DINOV2_SMALL = dict(patch_size=14, num_layers=12, hidden_dim=384, num_heads=6, intermediate_dim=1536,
                    layer_scale_init_value=1.0, position_embedding_shape=[518, 518])  # fmt: skip
# SigLIP So400m/14, the vision tower of PaliGemma and Gemma 3.
SO400M = dict(patch_size=14, num_heads=16, hidden_dim=1152, num_layers=27, intermediate_dim=4304)


# fmt: off
FAMILIES: list[HubFamily] = [
    # --- Text encoders, at 512 tokens ---
    HubFamily(
        family="albert", backbone="keras_hub.models.AlbertBackbone", preset="albert_base_en_uncased",
        kwargs=dict(vocabulary_size=30000, num_layers=12, num_heads=12, embedding_dim=128, hidden_dim=768,
                    intermediate_dim=3072, num_groups=1, num_inner_repetitions=1, max_sequence_length=512),
        inputs=tokens(512, "segment_ids"), params=11_683_584, trainable=11_683_584,
    ),
    HubFamily(
        family="bert", backbone="keras_hub.models.BertBackbone", preset="bert_tiny_en_uncased",
        kwargs=dict(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512),
        inputs=tokens(512, "segment_ids"), params=4_385_920, trainable=4_385_920,
    ),
    HubFamily(
        family="deberta_v3", backbone="keras_hub.models.DebertaV3Backbone", preset="deberta_v3_base_en",
        kwargs=dict(vocabulary_size=128100, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                    max_sequence_length=512, bucket_size=256),
        inputs=tokens(512), params=183_831_552, trainable=183_831_552,
    ),
    HubFamily(
        family="distil_bert", backbone="keras_hub.models.DistilBertBackbone", preset="distil_bert_base_en",
        kwargs=dict(vocabulary_size=28996, num_layers=6, num_heads=12, hidden_dim=768, intermediate_dim=3072),
        inputs=tokens(512), params=65_190_912, trainable=65_190_912,
    ),
    HubFamily(
        family="electra", backbone="keras_hub.models.ElectraBackbone",
        preset="electra_small_discriminator_uncased_en",
        kwargs=dict(vocab_size=30522, num_layers=12, num_heads=4, hidden_dim=256, embedding_dim=128,
                    intermediate_dim=1024),
        inputs=tokens(512, "segment_ids"), params=13_548_800, trainable=13_548_800,
    ),
    HubFamily(
        family="esm", backbone="keras_hub.models.ESMBackbone", preset="esm2_t6_8M",
        kwargs=dict(vocabulary_size=33, num_layers=6, num_heads=20, hidden_dim=320, intermediate_dim=1280,
                    max_sequence_length=1026, layer_norm_eps=1e-5, position_embedding_type="rotary", pad_token_id=1),
        inputs={"token_ids": [1024]}, params=7_408_960, trainable=7_408_960,
    ),
    HubFamily(
        family="f_net", backbone="keras_hub.models.FNetBackbone", preset="f_net_base_en",
        kwargs=dict(vocabulary_size=32000, num_layers=12, hidden_dim=768, intermediate_dim=3072,
                    max_sequence_length=512, num_segments=4),
        inputs={"token_ids": [512], "segment_ids": [512]}, params=82_861_056, trainable=82_861_056,
    ),
    HubFamily(
        family="roberta", backbone="keras_hub.models.RobertaBackbone", preset="roberta_base_en",
        kwargs=dict(vocabulary_size=50265, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072),
        inputs=tokens(512), params=124_052_736, trainable=124_052_736,
    ),
    HubFamily(
        family="xlm_roberta", backbone="keras_hub.models.XLMRobertaBackbone", preset="xlm_roberta_base_multi",
        kwargs=dict(vocabulary_size=250002, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072),
        inputs=tokens(512), params=277_450_752, trainable=277_450_752,
    ),
    # --- Decoder language models, at 2,048 tokens ---
    HubFamily(
        family="bloom", backbone="keras_hub.models.BloomBackbone", preset="bloom_560m_multi",
        kwargs=dict(vocabulary_size=250880, num_layers=24, num_heads=16, hidden_dim=1024, intermediate_dim=4096),
        inputs=tokens(2048), params=559_214_592, trainable=559_214_592,
    ),
    HubFamily(
        family="falcon", backbone="keras_hub.models.FalconBackbone", preset="falcon_refinedweb_1b_en",
        kwargs=dict(vocabulary_size=50304, num_layers=24, num_attention_heads=32, hidden_dim=2048,
                    intermediate_dim=8192),
        inputs=tokens(2048), params=1_311_625_216, trainable=1_311_625_216,
    ),
    HubFamily(
        family="gemma", backbone="keras_hub.models.GemmaBackbone", preset="vault_gemma_1b_en",
        kwargs=dict(vocabulary_size=256000, num_layers=26, num_query_heads=4, num_key_value_heads=4,
                    hidden_dim=1152, intermediate_dim=2 * 6912, head_dim=256),
        inputs=tokens(2048), params=1_038_741_120, trainable=1_038_741_120,
    ),
    HubFamily(
        family="gpt2", backbone="keras_hub.models.GPT2Backbone", preset="gpt2_base_en",
        kwargs=dict(vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                    max_sequence_length=1024),
        inputs=tokens(1024), params=124_439_808, trainable=124_439_808,
    ),
    HubFamily(
        family="gpt_oss", backbone="keras_hub.models.GptOssBackbone", preset="gpt_oss_20b_en",
        kwargs=dict(vocabulary_size=201088, num_layers=24, num_query_heads=64, num_key_value_heads=8,
                    hidden_dim=2880, intermediate_dim=2880, num_experts=32, top_k=4, head_dim=64,
                    rope_max_wavelength=150000, rope_scaling_factor=32.0, layer_norm_epsilon=1e-5,
                    sliding_window=128),
        inputs=tokens(2048), params=20_914_757_184, trainable=20_914_757_184,
    ),
    HubFamily(
        family="llama", backbone="keras_hub.models.LlamaBackbone", preset="llama2_7b_en",
        kwargs=dict(vocabulary_size=32000, num_layers=32, num_query_heads=32, num_key_value_heads=32,
                    hidden_dim=4096, intermediate_dim=11008, layer_norm_epsilon=1e-5),
        inputs=tokens(2048), params=6_738_415_616, trainable=6_738_415_616,
    ),
    HubFamily(
        family="llama3", backbone="keras_hub.models.Llama3Backbone", preset="llama3_8b_en",
        kwargs=dict(vocabulary_size=128256, num_layers=32, num_query_heads=32, num_key_value_heads=8,
                    hidden_dim=4096, intermediate_dim=14336, rope_max_wavelength=500000, layer_norm_epsilon=1e-5),
        inputs=tokens(2048), params=8_030_261_248, trainable=8_030_261_248,
    ),
    HubFamily(
        family="mistral", backbone="keras_hub.models.MistralBackbone", preset="mistral_7b_en",
        kwargs=dict(vocabulary_size=32000, num_layers=32, num_query_heads=32, num_key_value_heads=8,
                    hidden_dim=4096, intermediate_dim=14336, layer_norm_epsilon=1e-5, sliding_window=4096),
        inputs=tokens(2048), params=7_241_732_096, trainable=7_241_732_096,
    ),
    HubFamily(
        family="mixtral", backbone="keras_hub.models.MixtralBackbone", preset="mixtral_8_7b_en",
        kwargs=dict(vocabulary_size=32000, num_layers=32, num_query_heads=32, num_key_value_heads=8,
                    hidden_dim=4096, intermediate_dim=14336, num_experts=8, top_k=2, rope_max_wavelength=1e6,
                    layer_norm_epsilon=1e-5, sliding_window=4096),
        inputs=tokens(2048), params=46_702_792_704, trainable=46_702_792_704,
    ),
    HubFamily(
        family="opt", backbone="keras_hub.models.OPTBackbone", preset="opt_125m_en",
        kwargs=dict(vocabulary_size=50272, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                    max_sequence_length=2048),
        inputs=tokens(2048), params=125_237_760, trainable=125_237_760,
    ),
    HubFamily(
        family="phi3", backbone="keras_hub.models.Phi3Backbone", preset="phi3_mini_4k_instruct_en",
        kwargs=dict(vocabulary_size=32064, num_layers=32, hidden_dim=3072, intermediate_dim=8192,
                    num_query_heads=32, num_key_value_heads=32, layer_norm_epsilon=1e-5),
        inputs=tokens(2048), params=3_821_079_552, trainable=3_821_079_552,
    ),
    HubFamily(
        family="qwen", backbone="keras_hub.models.QwenBackbone", preset="qwen2.5_0.5b_en",
        kwargs=dict(vocabulary_size=151936, num_layers=24, num_query_heads=14, num_key_value_heads=2,
                    hidden_dim=896, intermediate_dim=4864, rope_max_wavelength=1e6, tie_word_embeddings=True),
        inputs=tokens(2048), params=494_032_768, trainable=494_032_768,
    ),
    HubFamily(
        family="qwen3", backbone="keras_hub.models.Qwen3Backbone", preset="qwen3_0.6b_en",
        why_preset="the smallest Qwen3 language model; qwen3_embedding_0.6b_en (273,408 fewer) is an embedding model",
        kwargs=dict(vocabulary_size=151936, num_layers=28, num_query_heads=16, num_key_value_heads=8,
                    head_dim=128, hidden_dim=1024, intermediate_dim=3072, rope_max_wavelength=1e6,
                    tie_word_embeddings=True),
        inputs=tokens(2048), params=596_049_920, trainable=596_049_920,
    ),
    HubFamily(
        family="qwen3_moe", backbone="keras_hub.models.Qwen3MoeBackbone", preset="qwen3_moe_30b_a3b_en",
        kwargs=dict(vocabulary_size=151936, num_layers=48, num_query_heads=32, num_key_value_heads=4,
                    head_dim=128, hidden_dim=2048, intermediate_dim=6144, moe_intermediate_dim=768,
                    num_experts=128, top_k=8, norm_top_k_prob=True, rope_max_wavelength=1e6,
                    tie_word_embeddings=False),
        inputs=tokens(2048), params=30_532_122_624, trainable=30_532_122_624,
    ),
    HubFamily(
        family="qwen_moe", backbone="keras_hub.models.QwenMoeBackbone", preset="qwen1.5_moe_2.7b_en",
        kwargs=dict(vocabulary_size=151936, num_layers=24, num_query_heads=16, num_key_value_heads=16,
                    hidden_dim=2048, intermediate_dim=5632, moe_intermediate_dim=1408,
                    shared_expert_intermediate_dim=5632, num_experts=60, top_k=4),
        inputs=tokens(2048), params=14_315_784_192, trainable=14_315_784_192,
    ),
    HubFamily(
        family="smollm3", backbone="keras_hub.models.SmolLMBackbone", preset="smollm3_3b_en",
        kwargs=dict(vocabulary_size=128256, hidden_dim=2048, intermediate_dim=11008, num_layers=36,
                    num_attention_heads=16, num_key_value_heads=4, attention_bias=False, attention_dropout=0.0,
                    # every fourth layer has no rotary embedding (NoPE)
                    rope_layer_enabled_list=[(i + 1) % 4 != 0 for i in range(36)],
                    layer_types=["full_attention"] * 36, mlp_bias=False, layer_norm_epsilon=1e-6,
                    max_position_embeddings=65536, rope_theta=5e6, partial_rotary_factor=1.0),
        inputs=tokens(2048), params=3_075_100_928, trainable=3_075_098_624,
        # its rotary layer converts its inverse frequencies to NumPy while it is constructed
        recipe=STATELESS, eval_shape_error="TracerArrayConversionError",
    ),
    HubFamily(
        family="rwkv7", backbone="keras_hub.models.RWKV7Backbone", preset="rwkv7_g1a_0.1b_en",
        kwargs=dict(hidden_size=768, head_size=64, num_layers=12, vocabulary_size=65536, intermediate_dim=3072),
        inputs=tokens(2048), params=191_034_624, trainable=191_034_624, relation=LABEL,
        reason="'0.1b' is a size class and 150,000,000 a label: RWKV-7 at 12 layers and width 768 with a "
               "65,536-token vocabulary (input and output embeddings untied) has 191 M parameters",
    ),
    # --- Image backbones, at their native image size ---
    HubFamily(
        family="vit", backbone="keras_hub.models.ViTBackbone", preset="vit_base_patch16_224_imagenet",
        kwargs=dict(image_shape=[224, 224, 3], patch_size=16, num_layers=12, num_heads=12, hidden_dim=768,
                    mlp_dim=3072),
        inputs=image(224), params=85_798_656, trainable=85_798_656,
    ),
    HubFamily(
        family="deit", backbone="keras_hub.models.DeiTBackbone", preset="deit_tiny_distilled_patch16_224_imagenet",
        kwargs=dict(image_shape=[224, 224, 3], patch_size=16, num_layers=12, num_heads=3, hidden_dim=192,
                    intermediate_dim=768, layer_norm_epsilon=1e-12),
        inputs=image(224), params=5_524_800, trainable=5_524_800,
    ),
    HubFamily(
        family="dinov2", backbone="keras_hub.models.DINOV2Backbone", preset="dinov2_small",
        kwargs=dict(**DINOV2_SMALL, image_shape=[518, 518, 3]),
        inputs=image(518), params=22_582_656, trainable=22_056_576,
    ),
    HubFamily(
        family="dinov3", backbone="keras_hub.models.DINOV3Backbone", preset="dinov3_vit_small_lvd1689m",
        kwargs=dict(patch_size=16, num_layers=12, hidden_dim=384, num_heads=6, intermediate_dim=1536,
                    layer_scale_init_value=1.0, num_register_tokens=4, use_key_bias=False,
                    image_shape=[224, 224, 3], rope_theta=100.0),
        inputs=image(224, name="pixel_values"), params=21_596_544, trainable=21_596_544, relation=ROUNDED, tolerance=0.001,
        reason="the published figure is rounded to 21.6 M",
        recipe=STATELESS, eval_shape_error=CONCRETIZATION,
    ),
    HubFamily(
        family="swin_transformer", backbone="keras_hub.models.SwinTransformerBackbone",
        preset="swin_tiny_patch4_window7_224",
        kwargs=dict(image_shape=[224, 224, 3], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                    window_size=7, patch_size=4, mlp_ratio=4.0),
        inputs=image(224), params=27_519_354, trainable=27_519_354,
        recipe=STATELESS, eval_shape_error=CONCRETIZATION,
    ),
    HubFamily(
        family="video_prism", backbone="keras_hub.models.VideoPrismBackbone", preset="videoprism_public_v1_base",
        kwargs=dict(num_frames=16, patch_size=18, hidden_dim=768, intermediate_dim=3072, num_heads=12,
                    num_spatial_layers=12, num_temporal_layers=4, num_auxiliary_layers=0,
                    image_shape=[288, 288, 3]),
        inputs={"pixel_values": [16, 288, 288, 3]}, params=114_365_184, trainable=114_365_184, relation=ROUNDED, tolerance=0.005,
        reason="the published figure is rounded to 114 M",
    ),
    HubFamily(
        family="resnet", backbone="keras_hub.models.ResNetBackbone", preset="resnet_18_imagenet",
        kwargs=dict(input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
                    stackwise_num_blocks=[2, 2, 2, 2], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block"),
        inputs=image(224), params=11_186_112, trainable=11_176_512,
    ),
    HubFamily(
        family="densenet", backbone="keras_hub.models.DenseNetBackbone", preset="densenet_121_imagenet",
        kwargs=dict(stackwise_num_repeats=[6, 12, 24, 16], compression_ratio=0.5, growth_rate=32),
        inputs=image(224), params=7_037_504, trainable=6_953_856,
    ),
    HubFamily(
        family="vgg", backbone="keras_hub.models.VGGBackbone", preset="vgg_11_imagenet",
        kwargs=dict(stackwise_num_repeats=[1, 1, 2, 2, 2], stackwise_num_filters=[64, 128, 256, 512, 512]),
        inputs=image(224), params=9_220_480, trainable=9_220_480,
    ),
    HubFamily(
        family="xception", backbone="keras_hub.models.XceptionBackbone", preset="xception_41_imagenet",
        kwargs=dict(
            stackwise_conv_filters=[[32, 64], [128, 128], [256, 256], [728, 728], *[[728, 728, 728]] * 8,
                                    [728, 1024], [1536, 2048]],
            stackwise_pooling=[False, True, True, True, *[False] * 8, True, False],
        ),
        inputs=image(299), params=20_861_480, trainable=20_806_952,
    ),
    HubFamily(
        family="cspnet", backbone="keras_hub.models.CSPNetBackbone", preset="csp_resnext_50_ra_imagenet",
        kwargs=dict(stem_filters=64, stem_kernel_size=7, stem_strides=4, stackwise_depth=[3, 3, 5, 2],
                    stackwise_num_filters=[256, 512, 1024, 2048], stackwise_strides=[1, 2, 2, 2],
                    block_type="bottleneck_block", stage_type="csp", groups=32, bottle_ratio=[1.0],
                    block_ratio=[0.5], expand_ratio=[1.0], stem_padding="valid", stem_pooling="max",
                    cross_linear=True),
        inputs=image(256), params=18_578_368, trainable=18_520_896, relation=OFFSET, basis=TRAINABLE, offset=2_049_000,
        reason="timm's count: trainable weights (no batch-norm statistics) plus its 1,000-class classifier "
               "(2,048 x 1,000 + 1,000), which the backbone does not hold",
    ),
    HubFamily(
        family="efficientnet", backbone="keras_hub.models.EfficientNetBackbone",
        preset="efficientnet_lite0_ra_imagenet",
        kwargs=dict(stackwise_width_coefficients=[1.0] * 7, stackwise_depth_coefficients=[1.0] * 7,
                    stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3], stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
                    stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
                    stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
                    stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6], stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
                    stackwise_squeeze_and_excite_ratios=[0] * 7, stackwise_block_types=["v1"] * 7,
                    min_depth=None, include_stem_padding=True, use_depth_divisor_as_min_depth=True,
                    cap_round_filter_decrease=True, stem_conv_padding="valid", batch_norm_momentum=0.9,
                    batch_norm_epsilon=1e-5, dropout=0, projection_activation=None, activation="relu6"),
        inputs=image(224), params=3_413_024, trainable=3_371_008, relation=OFFSET, basis=TRAINABLE, offset=1_281_000,
        reason="timm's count: trainable weights (no batch-norm statistics) plus its 1,000-class classifier "
               "(1,280 x 1,000 + 1,000), which the backbone does not hold",
    ),
    HubFamily(
        family="mobilenet", backbone="keras_hub.models.MobileNetBackbone", preset="mobilenet_v3_small_050_imagenet",
        kwargs=dict(stackwise_num_blocks=[2, 3, 2, 3],
                    stackwise_expansion=[[40, 56], [64, 144, 144], [72, 72], [144, 288, 288]],
                    stackwise_num_filters=[[16, 16], [24, 24, 24], [24, 24], [48, 48, 48]],
                    stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
                    stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
                    stackwise_se_ratio=[[None, None], [0.25] * 3, [0.25] * 2, [0.25] * 3],
                    stackwise_activation=[["relu"] * 2, ["hard_swish"] * 3, ["hard_swish"] * 2,
                                          ["hard_swish"] * 3],
                    stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]], output_num_filters=1024,
                    input_num_filters=16, depthwise_filters=8, depthwise_stride=2, depthwise_residual=False,
                    squeeze_and_excite=0.5, last_layer_filter=288, input_activation="hard_swish",
                    output_activation="hard_swish"),
        inputs=image(224), params=278_784, trainable=272_288,
    ),
    HubFamily(
        family="mobilenetv5", backbone="keras_hub.models.MobileNetV5Backbone", preset="mobilenetv5_300m_enc_gemma3n",
        kwargs=dict(**MOBILENETV5_300M, stem_size=64, num_features=2048, norm_layer="rms_norm", act_layer="gelu",
                    use_msfa=True, layer_scale_init_value=1e-5),
        inputs=image(768), params=294_284_096, trainable=294_284_096,
    ),
    HubFamily(
        family="hgnetv2", backbone="keras_hub.models.HGNetV2Backbone", preset="hgnetv2_b4_ssld_stage2_ft_in1k",
        kwargs=dict(depths=[1, 1, 3, 1], embedding_size=48, hidden_sizes=[128, 512, 1024, 2048],
                    stem_channels=[3, 32, 48], hidden_act="relu", use_learnable_affine_block=False,
                    stackwise_stage_filters=[[48, 48, 128, 1, 6, 3], [128, 96, 512, 1, 6, 3],
                                             [512, 192, 1024, 3, 6, 5], [1024, 384, 2048, 1, 6, 5]],
                    apply_downsample=[False, True, True, True],
                    use_lightweight_conv_block=[False, False, True, True]),
        inputs=image(224), params=13_599_072, trainable=13_553_376,
    ),
    HubFamily(
        family="mit", backbone="keras_hub.models.MiTBackbone", preset="mit_b0_ade20k_512",
        kwargs=dict(**MIT_B0, image_shape=[512, 512, 3]),
        inputs=image(512), params=3_319_392, trainable=3_319_392, relation=OFFSET, offset=2_570,
        reason="the published figure includes a 10-class 1x1 head (256 x 10 + 10) that the backbone does not hold",
        covers='the MiT-B0 encoder with a 10-class head',
    ),
    # --- Multimodal and newer language models ---
    HubFamily(
        family="gemma3", backbone="keras_hub.models.Gemma3Backbone", preset="gemma3_270m",
        kwargs=dict(vocabulary_size=262144, image_size=None, num_layers=18, num_query_heads=4, num_key_value_heads=1,
                    hidden_dim=640, intermediate_dim=2048, head_dim=256, use_post_ffw_norm=True,
                    use_post_attention_norm=True, use_sliding_window_attention=True, sliding_window_size=512),
        inputs=tokens(2048), params=268_098_176, trainable=268_098_176,
    ),
    HubFamily(
        family="gemma3n", backbone="keras_hub.models.Gemma3nBackbone", preset="gemma3n_e2b",
        kwargs=dict(
            text_vocab_size=262400, text_hidden_size=2048, num_hidden_layers=30, pad_token_id=0,
            num_attention_heads=8, num_key_value_heads=2, head_dim=256, intermediate_size=[8192] * 30,
            hidden_activation="gelu_approximate", layer_types=_every(30, 5, "sliding_attention", "full_attention"),
            sliding_window=512, rope_theta=1e6, max_position_embeddings=32768, vocab_size_per_layer_input=262144,
            hidden_size_per_layer_input=256, altup_num_inputs=4, laurel_rank=64,
            activation_sparsity_pattern=[0.95] * 10 + [0.0] * 20, altup_coef_clip=120.0, altup_active_idx=0,
            altup_correct_scale=True, num_kv_shared_layers=10, final_logit_soft_cap=30.0,
            vision_encoder_config=dict(**MOBILENETV5_300M, stem_size=64, num_features=2048, norm_layer="rms_norm",
                                       act_layer="gelu", use_msfa=True, layer_scale_init_value=1e-5,
                                       image_shape=[768, 768, 3]),
            vision_hidden_size=2048, vision_vocab_size=128, vision_vocab_offset=262144,
            vision_soft_tokens_per_image=256, image_token_id=262145,
            audio_encoder_config=dict(hidden_size=1536, input_feat_size=128, sscp_conv_channel_size=[128, 32],
                                      sscp_conv_kernel_size=[[3, 3], [3, 3]], sscp_conv_stride_size=[[2, 2], [2, 2]],
                                      sscp_conv_group_norm_eps=1e-3, num_hidden_layers=12, rms_norm_eps=1e-6,
                                      gradient_clipping=1e10, residual_weight=0.5, num_attention_heads=8,
                                      attention_chunk_size=12, num_attention_context_right=0,
                                      num_attention_context_left=13, attention_logit_cap=50.0, conv_kernel_size=5,
                                      reduction_factor=4),
            audio_hidden_size=1536, audio_vocab_size=128, audio_vocab_offset=262272, audio_soft_tokens_per_image=188,
            audio_token_id=262273, rms_norm_eps=1e-6,
        ),
        # 2,048 tokens, one 768 px image, 30 s of audio (3,000 frames of 128 mel bins)
        inputs={**tokens(2048), "images": [1, 768, 768, 3], "input_features": [1, 3000, 128],
                "input_features_mask": [1, 3000]},
        params=5_439_595_456, trainable=5_439_595_456,
    ),
    HubFamily(
        family="gemma4", backbone="keras_hub.models.Gemma4Backbone", preset="gemma4_2b",
        why_preset="the smallest Gemma 4 model; the smaller gemma4_*_assistant presets are 4-layer draft models "
                   "for speculative decoding, with extra task-level projections",
        kwargs=dict(
            vocabulary_size=262144, image_size=896, num_layers=35, num_query_heads=8, num_key_value_heads=1,
            hidden_dim=1536, intermediate_dim=6144, head_dim=256, global_head_dim=512, final_logit_soft_cap=30.0,
            use_sliding_window_attention=True, sliding_window_size=512, sliding_window_pattern=5,
            layer_types=_every(35, 5, "sliding_attention", "full_attention"), num_kv_shared_layers=20,
            hidden_size_per_layer_input=256, vocab_size_per_layer_input=262144,
            global_rope_partial_rotary_factor=0.25, global_rope_wavelength=1e6, local_rope_wavelength=1e4,
            use_double_wide_mlp=True,
            vision_encoder=Part("keras_hub.src.models.gemma4.gemma4_vision_encoder.Gemma4VisionEncoder", dict(
                image_size=896, patch_size=16, num_heads=12, hidden_dim=768, num_layers=16, intermediate_dim=3072,
                head_dim=64, num_key_value_heads=12, output_dim=1536, pool_size=3, position_embedding_size=10240,
                use_clipped_linears=True, standardize=False)),
            audio_encoder=Part("keras_hub.src.models.gemma4.gemma4_audio_encoder.Gemma4AudioEncoder", dict(
                hidden_size=1024, num_heads=8, num_layers=12, chunk_size=12, context_left=13, context_right=0,
                logit_cap=50.0, conv_kernel_size=5, residual_weight=0.5, sscp_conv_channels=[128, 32],
                output_proj_dims=1536, output_dim=1536)),
        ),
        # 2,048 tokens (position ids included), one image of 2,520 16x16 patches (280 soft tokens after
        # 3x3 pooling), 30 s of audio (3,000 mel frames, 750 audio tokens)
        inputs={**tokens(2048, "position_ids"), "pixel_values": [1, 2520, 768], "pixel_position_ids": [1, 2520, 2],
                "vision_indices": [280], "vision_mask": [2048], "audio_mel": [1, 3000, 128],
                "audio_mel_mask": [1, 3000], "audio_indices": [750], "audio_mask": [2048]},
        params=5_104_298_467, trainable=5_104_186_912, relation=ROUNDED, tolerance=0.001,
        reason="the published figure is rounded to 5.1 B (text, per-layer embeddings, vision and audio encoders)",
    ),
    HubFamily(
        family="pali_gemma", backbone="keras_hub.models.PaliGemmaBackbone", preset="pali_gemma_3b_224",
        kwargs=dict(vocabulary_size=257152, image_size=224, num_layers=18, num_query_heads=8, num_key_value_heads=1,
                    hidden_dim=2048, intermediate_dim=2 * 16384, head_dim=256, vit_patch_size=14, vit_num_heads=16,
                    vit_hidden_dim=1152, vit_num_layers=27, vit_intermediate_dim=4304),
        inputs={"images": [224, 224, 3], **tokens(128, "response_mask")}, params=2_923_335_408, trainable=2_923_335_408,
    ),
    HubFamily(
        family="qwen3_5", backbone="keras_hub.models.Qwen3_5Backbone", preset="qwen3_5_0.8b_base",
        kwargs=dict(vocabulary_size=248320, num_layers=24, num_query_heads=8, num_key_value_heads=2, head_dim=256,
                    hidden_dim=1024, intermediate_dim=3584,
                    layer_types=_every(24, 4, "linear_attention", "full_attention"), partial_rotary_factor=0.25,
                    rope_max_wavelength=1e7, tie_word_embeddings=True, linear_num_key_heads=16,
                    linear_num_value_heads=16, linear_key_head_dim=128, linear_value_head_dim=128,
                    linear_conv_kernel_dim=4,
                    vision_encoder=Part("keras_hub.src.models.qwen3_5.qwen3_5_vision_encoder.Qwen3_5VisionEncoder",
                                        dict(depth=12, hidden_size=768, num_heads=12, intermediate_size=3072,
                                             patch_size=16, temporal_patch_size=2, spatial_merge_size=2,
                                             out_hidden_size=1024, num_position_embeddings=2304))),
        # 2,048 tokens and one 448 px image: 28 x 28 patches of 2 frames x 16 x 16, merged 2 x 2 into 196 tokens
        inputs={**tokens(2048), "pixel_values": [784, 2, 16, 16, 3], "image_grid_thw": [1, 3],
                "vision_indices": [196]},
        input_values={"image_grid_thw": [[1, 28, 28]]},
        params=852_985_920, trainable=852_985_920,
    ),
    HubFamily(
        family="qwen3_5_moe", backbone="keras_hub.models.Qwen3_5MoeBackbone", preset="qwen_agent_world_35b_a3b",
        kwargs=dict(vocabulary_size=248320, num_layers=40, num_query_heads=16, num_key_value_heads=2, head_dim=256,
                    hidden_dim=2048, moe_intermediate_dim=512, shared_expert_intermediate_size=512, num_experts=256,
                    top_k=8, layer_types=_every(40, 4, "linear_attention", "full_attention"),
                    partial_rotary_factor=0.25, rope_max_wavelength=1e7, tie_word_embeddings=False,
                    linear_num_key_heads=16, linear_num_value_heads=32, linear_key_head_dim=128,
                    linear_value_head_dim=128, linear_conv_kernel_dim=4),
        inputs=tokens(2048), params=34_660_610_688, trainable=34_660_610_688,
    ),
    HubFamily(
        family="t5gemma", backbone="keras_hub.models.T5GemmaBackbone", preset="t5gemma_s_s_ul2",
        kwargs=dict(vocabulary_size=256000, encoder_hidden_dim=512, encoder_intermediate_dim=1024,
                    encoder_num_layers=8, encoder_num_attention_heads=8, encoder_num_key_value_heads=8,
                    encoder_head_dim=64, encoder_layer_types=["sliding_attention", "full_attention"] * 4,
                    decoder_hidden_dim=512, decoder_intermediate_dim=1024, decoder_num_layers=8,
                    decoder_num_attention_heads=8, decoder_num_key_value_heads=8, decoder_head_dim=64,
                    decoder_layer_types=["sliding_attention", "full_attention"] * 4, query_pre_attn_scalar=64,
                    sliding_window=4096, cross_attention_hidden_size=512, attn_logit_softcapping=50.0,
                    final_logit_softcapping=30.0),
        inputs={"encoder_token_ids": [512], "encoder_padding_mask": [512],
                "decoder_token_ids": [512], "decoder_padding_mask": [512]},
        params=312_517_632, trainable=312_517_632,
    ),
    HubFamily(
        family="t5gemma2", backbone="keras_hub.models.T5Gemma2Backbone", preset="t5gemma2_270m_270m",
        kwargs=dict(vocabulary_size=262144, encoder_hidden_dim=640, encoder_intermediate_dim=2048,
                    encoder_num_layers=18, encoder_num_attention_heads=4, encoder_num_key_value_heads=1,
                    encoder_head_dim=256, encoder_layer_types=_every(18, 6, "sliding_attention", "full_attention"),
                    decoder_hidden_dim=640, decoder_intermediate_dim=2048, decoder_num_layers=18,
                    decoder_num_attention_heads=4, decoder_num_key_value_heads=1, decoder_head_dim=256,
                    decoder_layer_types=_every(18, 6, "sliding_attention", "full_attention"), query_pre_attn_scalar=256,
                    sliding_window=512, cross_attention_hidden_size=640, rope_max_wavelength=10000.0,
                    vision_encoder=Part("keras_hub.src.models.gemma3.gemma3_vision_encoder.Gemma3VisionEncoder",
                                        dict(**SO400M, image_size=896, output_dim=640, pool_size=4))),
        # 512 tokens each side and one 896 px image (256 soft tokens) in the encoder
        inputs={"encoder_token_ids": [512], "encoder_padding_mask": [512], "decoder_token_ids": [512],
                "decoder_padding_mask": [512], "images": [1, 896, 896, 3], "vision_indices": [256]},
        params=953_802_096, trainable=953_802_096, relation=OFFSET, offset=-1_280,
        reason="keras-hub adds two learned end-of-image vectors of 640 (encoder_eoi_embedding, "
               "decoder_eoi_embedding) that the published figure leaves out",
        # those two are keras.Variable objects made from a value, which a StatelessScope refuses
        recipe=TRACED, eval_shape_error="You are attempting to create a variable while in a stateless scope",
    ),
    # --- Image-text encoders ---
    HubFamily(
        family="clip", backbone="keras_hub.models.CLIPBackbone", preset="clip_vit_base_patch16",
        kwargs=dict(
            vision_encoder=Part("keras_hub.models.CLIPVisionEncoder", dict(
                patch_size=16, hidden_dim=768, num_layers=12, num_heads=12, intermediate_dim=3072,
                image_shape=[224, 224, 3])),
            text_encoder=Part("keras_hub.models.CLIPTextEncoder", dict(
                vocabulary_size=49408, embedding_dim=512, hidden_dim=512, num_layers=12, num_heads=8,
                intermediate_dim=2048)),
            projection_dim=512),
        inputs={"images": [224, 224, 3], "token_ids": [77]}, params=149_620_934, trainable=149_620_737,
    ),
    HubFamily(
        family="metaclip_2", backbone="keras_hub.models.MetaCLIP2Backbone", preset="metaclip_2_vit_huge_patch14_224",
        kwargs=dict(
            vision_encoder=Part("keras_hub.src.models.metaclip_2.metaclip_2_vision_encoder.MetaCLIP2VisionEncoder",
                                dict(patch_size=14, hidden_dim=1280, num_layers=32, num_heads=16,
                                     intermediate_dim=5120, intermediate_activation="gelu",
                                     image_shape=[224, 224, 3])),
            text_encoder=Part("keras_hub.src.models.metaclip_2.metaclip_2_text_encoder.MetaCLIP2TextEncoder",
                              dict(vocabulary_size=901629, embedding_dim=1024, hidden_dim=1024, num_layers=24,
                                   num_heads=16, intermediate_dim=4096, intermediate_activation="gelu")),
            projection_dim=1024),
        inputs={"images": [224, 224, 3], "token_ids": [77]}, params=1_858_783_745, trainable=1_858_783_745,
    ),
    HubFamily(
        family="siglip", backbone="keras_hub.models.SigLIPBackbone", preset="siglip2_base_patch16_224",
        kwargs=dict(
            vision_encoder=Part("keras_hub.models.SigLIPVisionEncoder", dict(
                patch_size=16, hidden_dim=768, num_layers=12, num_heads=12, intermediate_dim=3072,
                image_shape=[224, 224, 3])),
            text_encoder=Part("keras_hub.models.SigLIPTextEncoder", dict(
                vocabulary_size=256000, embedding_dim=768, hidden_dim=768, num_layers=12, num_heads=12,
                intermediate_dim=3072, projection_dim=768))),
        inputs={"images": [224, 224, 3], "token_ids": [64]}, params=375_188_230, trainable=375_187_970,
    ),
    # --- Task-level families: the Backbone class keras-hub pairs with the preset ---
    HubFamily(
        family="segformer", backbone="keras_hub.models.SegFormerBackbone", preset="segformer_b0_ade20k_512",
        kwargs=dict(image_encoder=Part("keras_hub.models.MiTBackbone", dict(**MIT_B0, image_shape=[512, 512, 3])),
                    projection_filters=256),
        inputs=image(512), params=3_714_656, trainable=3_714_144, relation=OFFSET, basis=TRAINABLE, offset=4_883,
        covers="the segmenter",
        reason="the published figure is the SegFormer segmenter's trainable count with a 19-class 1x1 head "
               "(256 x 19 + 19: Cityscapes' classes; the ADE20K preset repeats the Cityscapes figure)",
    ),
    HubFamily(
        family="deeplab_v3", backbone="keras_hub.models.DeepLabV3Backbone",
        preset="deeplab_v3_plus_resnet50_pascalvoc",
        kwargs=dict(image_encoder=Part("keras_hub.models.ResNetBackbone", RESNET_50),
                    spatial_pyramid_pooling_key="P5", upsampling_size=8, dilation_rates=[6, 12, 18],
                    low_level_feature_key="P2", projection_filters=48, image_shape=[512, 512, 3]),
        inputs=image(512), params=39_190_656, trainable=39_133_856,
        covers="the backbone: ResNet-50, the atrous pyramid pooling and the decoder, without the segmenter's class head",
    ),
    HubFamily(
        family="retinanet", backbone="keras_hub.models.RetinaNetBackbone", preset="retinanet_resnet50_fpn_v2_coco",
        kwargs=dict(image_encoder=Part("keras_hub.models.ResNetBackbone", RESNET_50), min_level=3, max_level=7,
                    use_p5=True, use_fpn_batch_norm=False, image_shape=[800, 800, 3]),
        inputs=image(800), params=31_558_592, trainable=31_505_472,
        covers="the backbone: ResNet-50 and the feature pyramid (P3 to P7), without the detector's heads",
    ),
    HubFamily(
        family="depth_anything", backbone="keras_hub.models.DepthAnythingBackbone", preset="depth_anything_v2_small",
        kwargs=dict(image_encoder=Part("keras_hub.models.DINOV2Backbone", dict(**DINOV2_SMALL,
                                                                                image_shape=[518, 518, 3])),
                    reassemble_factors=[4, 2, 1, 0.5], neck_hidden_dims=[48, 96, 192, 384], fusion_hidden_dim=64,
                    head_hidden_dim=32, head_in_index=-1, feature_keys=["stage3", "stage6", "stage9", "stage12"]),
        inputs=image(518), params=25_311_169, trainable=24_785_089,
        covers='the whole network: DINOv2-S, the DPT neck and the depth head',
    ),
    HubFamily(
        family="sam", backbone="keras_hub.models.SAMBackbone", preset="sam_base_sa1b",
        kwargs=dict(
            image_encoder=Part("keras_hub.models.ViTDetBackbone", dict(
                hidden_size=768, num_layers=12, intermediate_dim=3072, num_heads=12,
                global_attention_layer_indices=[2, 5, 8, 11], image_shape=[1024, 1024, 3], patch_size=16,
                num_output_channels=256, window_size=14)),
            prompt_encoder=Part("keras_hub.src.models.sam.sam_prompt_encoder.SAMPromptEncoder", dict(
                hidden_size=256, image_embedding_size=[64, 64], input_image_size=[1024, 1024], mask_in_channels=16)),
            mask_decoder=Part("keras_hub.src.models.sam.sam_mask_decoder.SAMMaskDecoder", dict(
                hidden_size=256, num_layers=2, intermediate_dim=2048, num_heads=8, embedding_dim=256,
                num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=256)),
        ),
        inputs={"images": [1024, 1024, 3], "points": [1, 2], "labels": [1], "boxes": [1, 2, 2],
                "masks": [1, 256, 256, 1]},
        params=89_677_388, trainable=89_677_132, relation=OFFSET, offset=4_058_340,
        covers="the segmenter: image encoder, prompt encoder and mask decoder",
        reason="SAMBackbone's graph ends at the image and prompt embeddings: the mask decoder it holds is never "
               "called there, so it has no weights until the segmenter calls it (4,058,340)",
    ),
    HubFamily(
        family="basnet", backbone="keras_hub.models.BASNetBackbone", preset="basnet_duts",
        kwargs=dict(image_encoder=Part("keras_hub.models.ResNetBackbone", dict(
                        input_conv_filters=[64], input_conv_kernel_sizes=[7],
                        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[3, 4, 6, 3],
                        stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block")),
                    num_classes=1, image_shape=[288, 288, 3], projection_filters=64),
        inputs=image(288), params=108_896_456, trainable=108_844_488, relation=OFFSET, offset=-9_664,
        reason="BASNet has its own 3x3 stem and uses only the ResNet-34 stages, but the backbone tracks the whole "
               "image encoder, so count_params() includes the unused 7x7 stem convolution and its batch norm "
               "(9,408 + 256), which the published figure does not",
        covers='the whole network: prediction and refinement modules with their one-class heads',
    ),
    HubFamily(
        family="d_fine", backbone="keras_hub.models.DFineBackbone", preset="dfine_nano_coco",
        kwargs=dict(
            backbone=Part("keras_hub.models.HGNetV2Backbone", dict(
                stem_channels=[3, 16, 16],
                stackwise_stage_filters=[[16, 16, 64, 1, 3, 3], [64, 32, 256, 1, 3, 3], [256, 64, 512, 2, 3, 5],
                                         [512, 128, 1024, 1, 3, 5]],
                apply_downsample=[False, True, True, True], use_lightweight_conv_block=[False, False, True, True],
                depths=[1, 1, 2, 1], hidden_sizes=[64, 256, 512, 1024], embedding_size=16,
                use_learnable_affine_block=True, hidden_act="relu", out_features=["stage3", "stage4"])),
            decoder_in_channels=[128, 128], encoder_hidden_dim=128, num_labels=80, num_denoising=0,  # see note
            learn_initial_query=False, num_queries=300, anchor_image_size=[640, 640], feat_strides=[16, 32],
            num_feature_levels=2, hidden_dim=128, encoder_in_channels=[512, 1024], encode_proj_layers=[1],
            num_attention_heads=8, encoder_ffn_dim=512, num_encoder_layers=1, hidden_expansion=0.34,
            depth_multiplier=0.5, eval_idx=-1, num_decoder_layers=3, decoder_attention_heads=8,
            decoder_ffn_dim=512, decoder_n_points=[6, 6], lqe_hidden_dim=64, num_lqe_layers=2,
            out_features=["stage3", "stage4"], image_shape=[640, 640, 3], seed=0),
        note="num_denoising=0: contrastive denoising (training only) adds a (80 + 1) x 128 label embedding, "
             "which the preset does not hold",
        inputs=image(640), params=3_788_625, trainable=3_772_323,
        covers='the whole detector: HGNetV2-B0, the hybrid encoder and the decoder with its class and box heads',
    ),
    HubFamily(
        family="parseq", backbone="keras_hub.models.PARSeqBackbone", preset="parseq",
        kwargs=dict(image_encoder=Part("keras_hub.models.ViTBackbone", dict(
                        image_shape=[32, 128, 3], patch_size=[4, 8], num_layers=12, num_heads=6, hidden_dim=384,
                        mlp_dim=1536, use_class_token=False)),
                    vocabulary_size=97, max_label_length=25, decoder_hidden_dim=384, num_decoder_layers=1,
                    num_decoder_heads=12, decoder_mlp_dim=1536),
        inputs={"images": [32, 128, 3], "token_ids": [26], "padding_mask": [26]}, params=23_832_671, trainable=23_832_671,
        covers='the whole network: the ViT encoder and the decoder with its 95-character head',
    ),
    HubFamily(
        family="blip2", backbone="keras_hub.models.BLIP2Backbone", preset="blip2_opt_2.7b",
        kwargs=dict(
            vision_encoder=Part("keras_hub.src.models.blip2.blip2_vision_encoder.BLIP2VisionEncoder", dict(
                image_size=224, patch_size=14, num_layers=39, num_heads=16, hidden_dim=1408, intermediate_dim=6144,
                use_patch_bias=True, use_class_token=True, use_mha_bias=True, use_mlp_bias=True, dropout_rate=0.0,
                layer_norm_epsilon=1e-6, initializer_range=1e-10)),
            qformer=Part("keras_hub.src.models.blip2.blip2_qformer.BLIP2QFormer", dict(
                num_query_tokens=32, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                vision_dim=1408, cross_attention_frequency=2, dropout=0.1, layer_norm_epsilon=1e-12)),
            language_model=Part("keras_hub.src.models.blip2.blip2_custom_opt.BLIP2CustomOPT", dict(
                vocabulary_size=50272, num_layers=32, num_heads=32, hidden_dim=2560, intermediate_dim=10240,
                num_query_tokens=32, dropout=0.1, qformer_hidden_dim=768,
                max_sequence_length=2080)),  # see note
        ),
        note="max_sequence_length=2080: the preset's OPT position table has a row for each of the 32 query "
             "tokens besides the 2,048 text positions (so has blip2_opt_6.7b: 32 x 4,096 more than 2,048 rows)",
        inputs={"images": [224, 224, 3], **tokens(128)}, params=3_744_761_856, trainable=3_744_761_856,
        covers='the vision encoder, the Q-Former and OPT-2.7B with its projection',
    ),
    HubFamily(
        family="stable_diffusion_3", backbone="keras_hub.models.StableDiffusion3Backbone",
        preset="stable_diffusion_3_medium",
        kwargs=dict(
            mmdit_patch_size=2, mmdit_hidden_dim=1536, mmdit_num_layers=24, mmdit_num_heads=24,
            mmdit_position_size=192, mmdit_qk_norm=None, mmdit_dual_attention_indices=None,
            vae=Part("keras_hub.src.models.vae.vae_backbone.VAEBackbone", dict(
                encoder_num_filters=[128, 256, 512, 512], encoder_num_blocks=[2, 2, 2, 2],
                decoder_num_filters=[512, 512, 256, 128], decoder_num_blocks=[3, 3, 3, 3],
                sampler_method="mode", input_channels=3, sample_channels=32, output_channels=3,
                scale=1.5305, shift=0.0609)),
            clip_l=Part("keras_hub.models.CLIPTextEncoder", dict(
                vocabulary_size=49408, embedding_dim=768, hidden_dim=768, num_layers=12, num_heads=12,
                intermediate_dim=3072, intermediate_activation="quick_gelu", intermediate_output_index=10,
                name="clip_l")),
            clip_g=Part("keras_hub.models.CLIPTextEncoder", dict(
                vocabulary_size=49408, embedding_dim=1280, hidden_dim=1280, num_layers=32, num_heads=20,
                intermediate_dim=5120, intermediate_activation="gelu", intermediate_output_index=30,
                name="clip_g")),
            image_shape=[1024, 1024, 3]),
        inputs={"images": [1024, 1024, 3], "latents": [128, 128, 16], "clip_l_token_ids": [77],
                "clip_l_negative_token_ids": [77], "clip_g_token_ids": [77], "clip_g_negative_token_ids": [77],
                "num_steps": [], "guidance_scale": []},
        input_values={"num_steps": 28, "guidance_scale": 7.0}, params=2_987_080_931, trainable=2_987_080_931,
        covers='MMDiT, the VAE and the CLIP-L and CLIP-G text encoders (no T5)',
    ),
    HubFamily(
        family="sam3", backbone="keras_hub.models.SAM3PromptableConceptBackbone", preset="sam3_pcs",
        kwargs=dict(
            vision_encoder=Part("keras_hub.src.models.sam3.sam3_vision_encoder.SAM3VisionEncoder", dict(
                image_shape=[1008, 1008, 3], patch_size=14, num_layers=32, hidden_dim=1024, intermediate_dim=4736,
                num_heads=16, fpn_hidden_dim=256, fpn_scale_factors=[4.0, 2.0, 1.0, 0.5],
                pretrain_image_shape=[336, 336, 3], hidden_activation="gelu", rope_theta=10000.0, window_size=24,
                global_attn_indexes=[7, 15, 23, 31], layer_norm_epsilon=1e-6)),
            text_encoder=Part("keras_hub.src.models.sam3.sam3_text_encoder.SAM3TextEncoder", dict(
                vocabulary_size=49408, embedding_dim=1024, hidden_dim=1024, num_layers=24, num_heads=16,
                intermediate_dim=4096, intermediate_activation="gelu", max_sequence_length=32,
                layer_norm_epsilon=1e-5)),
            geometry_encoder=Part("keras_hub.src.models.sam3.sam3_geometry_encoder.SAM3GeometryEncoder", dict(
                num_layers=3, hidden_dim=256, intermediate_dim=2048, num_heads=8, roi_size=7,
                hidden_activation="relu", layer_norm_epsilon=1e-6)),
            detr_encoder=Part("keras_hub.src.models.sam3.sam3_detr_encoder.SAM3DetrEncoder", dict(
                num_layers=6, hidden_dim=256, intermediate_dim=2048, num_heads=8, hidden_activation="relu",
                layer_norm_epsilon=1e-6)),
            detr_decoder=Part("keras_hub.src.models.sam3.sam3_detr_decoder.SAM3DetrDecoder", dict(
                image_shape=[1008, 1008, 3], patch_size=14, num_layers=6, hidden_dim=256, intermediate_dim=2048,
                num_heads=8, num_queries=200, hidden_activation="relu", layer_norm_epsilon=1e-6)),
            mask_decoder=Part("keras_hub.src.models.sam3.sam3_mask_decoder.SAM3MaskDecoder", dict(
                num_upsampling_stages=3, hidden_dim=256, num_heads=8, layer_norm_epsilon=1e-6)),
        ),
        inputs={"pixel_values": [1008, 1008, 3], "token_ids": [32], "padding_mask": [32], "boxes": [1, 5],
                "box_labels": [1]}, params=849_288_502, trainable=843_980_086, relation=LABEL,
        reason="30,000,000 is a description label ('30 million parameter ...'), not a count: SAM 3's detector "
               "as built has 0.85 B parameters (844 M trainable), in line with the 848 M quoted for SAM 3",
        covers='the promptable concept segmentation detector (no video tracker)',
    ),
    # --- Encoder-decoders ---
    HubFamily(
        family="bart", backbone="keras_hub.models.BartBackbone", preset="bart_base_en",
        kwargs=dict(vocabulary_size=50265, num_layers=6, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                    max_sequence_length=1024),
        inputs={"encoder_token_ids": [1024], "encoder_padding_mask": [1024],
                "decoder_token_ids": [1024], "decoder_padding_mask": [1024]},
        params=139_417_344, trainable=139_417_344,
    ),
    HubFamily(
        family="t5", backbone="keras_hub.models.T5Backbone", preset="t5_small_multi",
        kwargs=dict(vocabulary_size=32128, num_layers=6, num_heads=8, hidden_dim=512, intermediate_dim=2048,
                    key_value_dim=64, activation="relu", use_gated_activation=False, tie_embedding_weights=True),
        inputs={"encoder_token_ids": [512], "encoder_padding_mask": [512],
                "decoder_token_ids": [512], "decoder_padding_mask": [512]},
        params=60_506_624, trainable=60_506_624,
    ),
    HubFamily(
        family="whisper", backbone="keras_hub.models.WhisperBackbone", preset="whisper_tiny_en",
        kwargs=dict(vocabulary_size=51864, num_layers=4, num_heads=6, hidden_dim=384, intermediate_dim=1536),
        inputs={"encoder_features": [3000, 80], "decoder_token_ids": [448], "decoder_padding_mask": [448]},
        params=37_760_256, trainable=37_184_256, basis=TRAINABLE,
        reason="the encoder's sinusoidal position embedding (1,500 x 384 = 576,000) is a non-trainable weight, "
               "which the published figure leaves out",
    ),
    HubFamily(
        family="moonshine", backbone="keras_hub.models.MoonshineBackbone", preset="moonshine_tiny_en",
        kwargs=dict(vocabulary_size=32768, filter_dim=288, encoder_num_layers=6, decoder_num_layers=6,
                    hidden_dim=288, intermediate_dim=1152, encoder_num_heads=8, decoder_num_heads=8,
                    partial_rotary_factor=0.9, max_position_embeddings=194),
        inputs={"encoder_input_values": [160000, 1], "encoder_padding_mask": [160000],
                "decoder_token_ids": [64], "decoder_padding_mask": [64]},
        params=27_092_768, trainable=27_092_736, basis=TRAINABLE,
        reason="two 16-element rotary frequency vectors (encoder and decoder) are non-trainable weights",
    ),
]
# fmt: on

BY_NAME = {f.family: f for f in FAMILIES}


def keras_hub_models() -> Path:
    """keras_hub/src/models of the installed keras-hub, found without importing it (or Keras)."""
    spec = importlib.util.find_spec("keras_hub")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("keras_hub is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "src" / "models"


def published_params(family: str) -> dict[str, int]:
    """{preset: metadata["params"]} of a family's presets file, read as literals (nothing imported)."""
    path = keras_hub_models() / family / f"{family}_presets.py"
    if not path.is_file():
        return {}
    named: dict[str, dict[str, Any]] = {}  # module-level dicts, for a later `{**name}`
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and isinstance(node.targets[0], ast.Name)
        ):
            value: dict[str, Any] = {}
            for key, item in zip(node.value.keys, node.value.values, strict=True):
                if key is None and isinstance(item, ast.Name):  # `**other_presets`
                    value.update(named[item.id])
                elif key is not None:
                    value[ast.literal_eval(key)] = ast.literal_eval(item)
            named[node.targets[0].id] = value
    return {
        name: preset["metadata"]["params"]
        for presets in named.values()
        for name, preset in presets.items()
        if isinstance(preset, dict) and "params" in preset.get("metadata", {})
    }


def families_with_presets() -> list[str]:
    """Every keras-hub model folder whose presets file lists a preset with a published count."""
    return sorted(p.name for p in keras_hub_models().iterdir() if p.is_dir() and published_params(p.name))


def relation_holds(entry: HubFamily, params: int, trainable: int, published: int) -> bool:
    """Whether a built model's counts relate to the published figure as the entry says."""
    built = trainable if entry.basis == TRAINABLE else params
    if entry.relation == EQUAL:
        return built == published
    if entry.relation == OFFSET:
        return published == built + entry.offset
    if entry.relation == ROUNDED:
        return abs(built - published) <= entry.tolerance * published
    if entry.relation == LABEL:
        return True
    raise ValueError(f"{entry.family}: unknown relation {entry.relation!r}")


def _resolve(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _construct(value: Any) -> Any:
    if isinstance(value, Part):
        return _resolve(value.cls)(**{k: _construct(v) for k, v in value.kwargs.items()})
    if isinstance(value, Mapping):
        return {k: _construct(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_construct(v) for v in value]
    return value


def build(entry: HubFamily | str) -> Any:
    """Construct the family's backbone from its kwargs (a family name works too, for a manifest's builder)."""
    entry = BY_NAME[entry] if isinstance(entry, str) else entry
    return _construct(Part(entry.backbone, entry.kwargs))
