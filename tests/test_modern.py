"""2026's architectures counted completely, checked against XLA's own count of the same function.

Each model is built shape-only (abstractly, on Keras's JAX backend) and analysed in a
subprocess (tests/analyse_job.py), which also lowers the same forward pass with every
weight abstract and asks XLA for its FLOPs (``cost_analysis``) and its buffer
assignment (``memory_analysis``, with the memory-optimised scheduler). Nothing runs and
nothing is allocated. The families here are the ones symbolic tracing could not count
(Falcon converts a mask to NumPy, DeBERTa-v3's attention has no output spec, RWKV-7
loops over time, Swin's total was 2.2x too high), the mixture-of-experts blocks, and a
CNN, an encoder and a decoder for the memory reference.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests import models
from tests.analyse_job import xla_peak
from tests.helpers import ROOT, analyse_in, pdf_pages_text, read_report_html, run_cli, write_manifest

pytestmark = pytest.mark.slow

# FLOPs follow TensorFlow's profiler: exponentials, tanh and most activations count 0, which XLA
# counts one per element, and a convolution counts every tap, where XLA leaves out the taps that
# fall on "same" padding. Both weigh most in small models (LeNet's 14x14 map: 14 % of its
# second convolution is padding); matmuls dominate at published sizes.
FLOPS_BAND = (0.85, 1.20)
# The inference peak by liveness against XLA's (argument + output + temp - alias, plus the weights
# the compiled function prunes): XLA fuses elementwise chains and reuses buffers, this does not.
PEAK_BAND = (0.80, 1.25)

S = 64
TOKENS = {"token_ids": [S], "padding_mask": [S]}
JOBS = [
    {"name": "lenet", "builder": "examples.lenet:LeNet.build", "kwargs": {"width": 28, "height": 28, "depth": 1, "classes": 10}},
    {"name": "resnet50", "builder": "application:ResNet50"},
    {"name": "mobilenet_v2", "builder": "application:MobileNetV2"},
    {"name": "bert", "builder": "tests.models:bert", "inputs": {**TOKENS, "segment_ids": [S]}},
    {"name": "llama", "builder": "tests.models:llama", "inputs": {"token_ids": [512], "padding_mask": [512]}},
    {"name": "vit", "builder": "tests.models:vit"},
    {"name": "swin_t", "builder": "tests.models:swin_t"},
    {"name": "mixtral", "builder": "tests.models:mixtral", "inputs": TOKENS},
    {"name": "gpt_oss", "builder": "tests.models:gpt_oss", "inputs": TOKENS},
    {"name": "falcon", "builder": "tests.models:falcon", "inputs": TOKENS},
    {"name": "deberta", "builder": "tests.models:deberta", "inputs": TOKENS},
    {"name": "rwkv7", "builder": "tests.models:rwkv7", "inputs": TOKENS},
    {"name": "upsampler", "builder": "tests.models:upsampler"},
]  # fmt: skip


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    found: dict[str, Any] = analyse_in("shape-only", [{**job, "xla": True} for job in JOBS], timeout=1800)
    return found["results"]


@pytest.mark.parametrize("name", [job["name"] for job in JOBS if job["name"] != "upsampler"])
def test_every_layer_is_counted_and_agrees_with_xla(results: dict[str, Any], name: str) -> None:
    result = results[name]
    totals = result["totals"]
    assert not totals["flops_lower_bound"], result["warnings"]
    assert totals["flops_coverage"] == 1.0 and totals["layer_coverage"] == 1.0
    assert all("?" not in r["output_shape"] for r in result["rows"] if r["called"])
    low, high = FLOPS_BAND
    assert low <= totals["flops"] / result["xla"]["flops"] <= high, (totals["flops"], result["xla"])
    low, high = PEAK_BAND
    assert low <= totals["inference_peak_bytes"] / xla_peak(result["xla"]) <= high, (
        totals["inference_peak_bytes"],
        result["xla"],
    )


def test_a_recurrent_model_keeps_a_state_not_a_kv_cache(results: dict[str, Any]) -> None:
    # RWKV-7's time and channel mixing name their projections key and value, with no softmax over
    # them: the KV cache a decoder keeps per token would add 2 x 2,048 x width per layer here.
    assert results["rwkv7"]["totals"]["kv_cache_bytes_per_token"] is None
    assert results["rwkv7"]["totals"]["kv_cache_bytes"] is None
    assert results["llama"]["totals"]["kv_cache_bytes_per_token"]


def test_a_bilinear_resize_holds_its_temporaries(results: dict[str, Any]) -> None:
    # JAX resizes (32, 32, 64) to (256, 256, 64) with an einsum per axis and a transpose: besides
    # its output it holds the image resized along one axis and the einsum's result.
    totals = results["upsampler"]["totals"]
    output = 256 * 256 * 64 * 4
    temporaries = output + 256 * 32 * 64 * 4
    assert totals["peak_layer"] == "upsample"
    assert totals["peak_activation_bytes"] == 32 * 32 * 64 * 4 + output + temporaries
    low, high = PEAK_BAND  # without the temporaries: 0.5 of XLA's peak
    assert low <= totals["inference_peak_bytes"] / xla_peak(results["upsampler"]["xla"]) <= high
    # Its FLOPs are not in the band: XLA counts the interpolation as dense matmuls (6.3x here),
    # the resize rule counts what the interpolation computes, as TensorFlow's profiler does.


def test_swin_is_no_longer_counted_twice(results: dict[str, Any]) -> None:
    """Swin-T at 224 px: published 4.5 GMACs; the symbolic trace reported 20.8 GFLOPs (2.2x XLA's)."""
    flops = results["swin_t"]["totals"]["flops"]
    assert 8.5e9 < flops < 9.6e9


def test_mixture_of_experts_active_cost(results: dict[str, Any]) -> None:
    """Mixtral's blocks run every expert on every token; a top-2 inference runs 2 of 8."""
    c = models.MIXTRAL
    totals = results["mixtral"]["totals"]
    d, f, e, k, layers = c["hidden_dim"], c["intermediate_dim"], c["num_experts"], c["top_k"], c["num_layers"]
    experts = layers * e * 3 * d * f  # gate, up and down matrices of every expert
    assert totals["active_params"] == totals["params"] - experts + experts * k // e
    # The expert matmuls alone: 2 FLOPs per multiply-add, 3 matrices, every expert or top-k of them.
    executed = layers * 2 * S * 3 * d * f * e
    active = layers * 2 * S * 3 * d * f * k
    saved = totals["flops"] - totals["active_flops"]
    assert executed - active <= saved <= 1.1 * (executed - active)
    rows = {r["path"]: r for r in results["mixtral"]["rows"]}
    block = (
        rows["transformer_layer_0/sparse_moe"]
        if "transformer_layer_0/sparse_moe" in rows
        else next(
            r
            for p, r in rows.items()
            if p.startswith("transformer_layer_0/") and r["active_flops"] is not None
        )
    )
    assert block["active_flops"] < block["flops"]


def test_a_dense_model_has_no_active_figures(results: dict[str, Any]) -> None:
    totals = results["llama"]["totals"]
    assert totals["active_flops"] is None and totals["active_params"] is None


def test_gpt_oss_is_counted_with_its_router(results: dict[str, Any]) -> None:
    totals = results["gpt_oss"]["totals"]
    assert totals["active_flops"] < totals["flops"] and totals["active_params"] < totals["params"]


SWEEP = """
[[model]]
name = "Llama"
builder = "tests.models:llama"
inputs = { token_ids = [32], padding_mask = [32] }

[model.sweep]
sequence_length = [32, 64, 128]
batch_size = [1, 2]
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("sweep")
    manifest = write_manifest(folder, SWEEP)
    proc = run_cli(str(manifest), "-o", "out", "--no-cache", cwd=folder, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((folder / "out" / "report.json").read_text(encoding="utf-8"))
    return folder / "out", report["models"][0]


def test_a_sweep_has_every_point_and_attention_grows_with_the_square_of_the_length(
    swept: tuple[Path, dict[str, Any]],
) -> None:
    _, model = swept
    points = {(p["batch_size"], p["sequence_length"]): p for p in model["sweep"]}
    assert list(points) == [(1, 32), (1, 64), (1, 128), (2, 32), (2, 64), (2, 128)]
    c = models.LLAMA
    heads, head_dim = c["num_query_heads"], c["hidden_dim"] // c["num_query_heads"]
    # Per layer, the fused attention: QK^T and weights x V (2 x 2 x head_dim per score), one scale
    # and 5 for the softmax per score; everything else grows linearly with the length.
    square = c["num_layers"] * heads * (4 * head_dim + 6)
    for s in (32, 64):
        grown = points[(1, 2 * s)]["flops"] - 2 * points[(1, s)]["flops"]
        assert 2 * square * s * s <= grown <= 1.02 * 2 * square * s * s, s
    for s in (32, 64, 128):
        one, two = points[(1, s)], points[(2, s)]
        # Twice the batch, twice the work, but for what depends on positions only (rotary tables).
        assert 0.999 * 2 * one["flops"] <= two["flops"] <= 2 * one["flops"]
        # Keys and values of every traced token, at the KV cache's bytes per token.
        assert one["kv_cache_bytes"] == s * model["totals"]["kv_cache_bytes_per_token"]
        assert two["kv_cache_bytes"] == 2 * one["kv_cache_bytes"]
        assert one["inference_peak_bytes"] < two["inference_peak_bytes"] < one["training_bytes"] * 2
    # The point at the model's own shapes is the report's own figure.
    assert points[(1, 32)]["flops"] == model["totals"]["flops"]
    assert points[(1, 32)]["inference_peak_bytes"] == model["totals"]["inference_peak_bytes"]


def test_a_sweep_is_a_table_and_curves_in_html_and_pdf(swept: tuple[Path, dict[str, Any]]) -> None:
    out, _ = swept
    page = read_report_html(out / "report.html")
    assert "Cost curves" in page and page.count('<svg class="chart curve"') == 2
    assert sum("Cost curves" in text for text in pdf_pages_text((out / "report.pdf").read_bytes())) == 1


STEPPED = """
[report]
formats = ["html"]

[[model]]
name = "Three steps"
builder = "tests.models:stepped"
input_values = { steps = 3 }

[[model]]
name = "No value"
builder = "tests.models:stepped"

[[model]]
name = "Misnamed"
builder = "tests.models:stepped"
input_values = { stepz = 3 }

[[model]]
name = "Not one sample"
builder = "tests.models:stepped"
input_values = { steps = [1, 2] }
"""


def test_an_input_read_as_a_number_is_traced_with_its_declared_value(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, STEPPED)
    proc = run_cli(str(manifest), "-o", "out", "--no-cache", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    found = {m["name"]: m for m in report["models"]}
    width, steps = models.STEPPED["width"], models.STEPPED["steps"]
    # Each step: a width x width matmul (2 FLOPs per multiply-add) and its bias; ReLU counts 0.
    step = 2 * width * width + width
    head = 2 * width * 2 + 2
    three = found["Three steps"]
    assert three["status"] == "ok", three.get("error")
    assert three["totals"]["flops"] == steps * step + head
    assert three["totals"]["flops_coverage"] == 1.0 and not three["totals"]["flops_lower_bound"]
    # Without the value the loop cannot be traced: the rest is counted, the total is a lower bound,
    # and the warning says where the value goes.
    none = found["No value"]
    assert none["totals"]["flops"] == head and none["totals"]["flops_lower_bound"]
    assert any(
        "Repeat: its call cannot be traced" in w and "[model.input_values]" in w for w in none["warnings"]
    )
    assert found["Misnamed"]["status"] == "failed"
    assert re.search(r"input values name 'stepz' \(did you mean 'steps'\?\)", found["Misnamed"]["error"])
    assert found["Not one sample"]["status"] == "failed"
    assert "value of input 'steps' is not one sample of it" in found["Not one sample"]["error"]
