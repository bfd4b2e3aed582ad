"""Shape-only builds: the same report as a real TensorFlow build, without weight memory or kernels.

Each analysis runs in a fresh process of its Keras backend (tests/analyse_job.py):
"shape-only" is Keras's numpy backend with archreport's hooks, "tensorflow" a real
build with randomly initialised weights.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import ROOT, analyse_in, run_cli, write_manifest

# Everything a row says about the architecture: it must not depend on how the model was built.
ROW_FIELDS = (
    "path", "name", "class_name", "depth", "parent", "input_shapes", "output_shape", "params",
    "trainable_params", "non_trainable_params", "trainable", "dtype", "kernel", "strides", "activation",
    "flops", "activation_bytes", "connected_to", "called", "kv_cache_bytes_per_token",
)  # fmt: skip
TEST_MODELS = [
    {"name": "lenet", "builder": "examples.lenet:LeNet.build", "kwargs": {"width": 28, "height": 28, "depth": 1, "classes": 10}},
    {"name": "residual", "builder": "examples.blocks:residual_block"},
    {"name": "nested", "builder": "examples.blocks:nested_classifier"},
    {"name": "mobilenet", "builder": "application:MobileNetV2", "kwargs": {"input_shape": [96, 96, 3], "alpha": 0.35}},
    {"name": "custom_attention", "builder": "tests.models:custom_attention_model"},
    {"name": "custom_conv", "builder": "tests.models:custom_conv_model", "kwargs": {"size": 32}},
    {"name": "llama", "builder": "tests.models:llama", "inputs": {"token_ids": [16], "padding_mask": [16]}},
    {"name": "gemma", "builder": "tests.models:gemma", "inputs": {"token_ids": [16], "padding_mask": [16]}},
    {"name": "bert", "builder": "tests.models:bert", "inputs": {"token_ids": [16], "padding_mask": [16], "segment_ids": [16]}},
    {"name": "gpt2", "builder": "tests.models:gpt2", "input_shapes": [[16], [16]]},
    {"name": "vit", "builder": "tests.models:vit"},
    {"name": "recurrent_attention", "builder": "tests.models:recurrent_attention_model", "batch_size": 2},
]  # fmt: skip


# keras-hub's Llama attention calls ops.dot_product_attention on JAX (shape-only builds run there)
# and computes QK^T, the scale and the softmax op by op elsewhere: the same FLOPs and shapes, a
# softmax sub-layer never called, and score tensors counted inside the fused op instead.
FUSED_ATTENTION = {"llama": "/self_attention"}
MEMORY_TOTALS = {"activation_bytes", "inference_bytes", "training_bytes", "training_bytes_mixed"}


def _assert_same(shape_only: dict, real: dict) -> None:
    for name, expected in real["results"].items():
        got = shape_only["results"][name]
        if name in FUSED_ATTENTION:
            _assert_same_but_attention(got, expected, FUSED_ATTENTION[name])
            continue
        mine = {k: v for k, v in got["totals"].items() if k in expected["totals"]}
        assert mine == expected["totals"], name
        assert got["count_params"] == expected["count_params"], name
        assert len(got["rows"]) == len(expected["rows"]), name
        for mine, theirs in zip(got["rows"], expected["rows"], strict=True):
            assert {f: mine[f] for f in ROW_FIELDS} == {f: theirs[f] for f in ROW_FIELDS}, (
                name,
                mine["path"],
            )
        assert (
            got["input_shapes"] == expected["input_shapes"]
            and got["output_shapes"] == expected["output_shapes"]
        )


def _assert_same_but_attention(got: dict, expected: dict, attention: str) -> None:
    mine = {k: v for k, v in got["totals"].items() if k in expected["totals"] and k not in MEMORY_TOTALS}
    assert mine == {k: v for k, v in expected["totals"].items() if k not in MEMORY_TOTALS}
    assert (
        abs(got["totals"]["activation_bytes"] - expected["totals"]["activation_bytes"])
        < 0.01 * expected["totals"]["activation_bytes"]
    )
    for mine_row, theirs in zip(got["rows"], expected["rows"], strict=True):
        if attention in mine_row["path"]:
            assert (mine_row["path"], mine_row["params"]) == (theirs["path"], theirs["params"])
            if mine_row["path"].endswith(attention):
                assert (mine_row["flops"], mine_row["output_shape"]) == (
                    theirs["flops"],
                    theirs["output_shape"],
                )
            continue
        fields = [f for f in ROW_FIELDS if f != "activation_bytes"]
        assert {f: mine_row[f] for f in fields} == {f: theirs[f] for f in fields}, mine_row["path"]


@pytest.mark.slow
def test_test_models_are_the_same_as_a_tensorflow_build() -> None:
    _assert_same(analyse_in("shape-only", TEST_MODELS), analyse_in("tensorflow", TEST_MODELS))


APPLICATIONS = sorted(
    name
    for name in json.loads(
        subprocess.run(
            [sys.executable, "-c", "from archreport.manifest import application_names as a; import json; print(json.dumps(a()))"],
            capture_output=True, text=True, check=True, cwd=ROOT,
        ).stdout
    )
)  # fmt: skip


@pytest.mark.slow
def test_every_application_is_the_same_as_a_tensorflow_build() -> None:
    """All 40 keras.applications models: params, shapes, connections, nesting, dtypes and FLOPs;
    and, against XLA's own count of the same function, FLOPs and the inference peak in their bands."""
    from tests.analyse_job import xla_peak
    from tests.test_modern import FLOPS_BAND, PEAK_BAND

    assert len(APPLICATIONS) == 40
    # MobileNetV3 leaves its image size open: traced at the 224 x 224 it is published at.
    jobs = [
        {
            "name": n,
            "builder": f"application:{n}",
            **({"input_shapes": [[224, 224, 3]]} if n.startswith("MobileNetV3") else {}),
        }
        for n in APPLICATIONS
    ]
    # One after the other: side by side they took 142 s against 87 s (XLA and TensorFlow each use both cores).
    shape_only = analyse_in("shape-only", [{**job, "xla": True} for job in jobs], timeout=2400)
    _assert_same(shape_only, analyse_in("tensorflow", jobs, timeout=1800))
    for name, result in shape_only["results"].items():
        totals, xla = result["totals"], result["xla"]
        assert FLOPS_BAND[0] <= totals["flops"] / xla["flops"] <= FLOPS_BAND[1], (name, totals["flops"], xla)
        peak = totals["inference_peak_bytes"] / xla_peak(xla)
        assert PEAK_BAND[0] <= peak <= PEAK_BAND[1], (name, totals["inference_peak_bytes"], xla)


def test_a_layer_without_compute_output_shape_never_runs_on_real_arrays() -> None:
    """Keras's numpy backend infers such a layer's output by calling it on arrays at batch sizes 83
    and 89 (a 224x224 convolution: gigabytes and seconds). ConvBlock raises on a real array, so this
    build passes only if no kernel ran; the process stays small."""
    result = analyse_in("shape-only", [{"name": "conv", "builder": "tests.models:custom_conv_model"}])
    rows = {r["path"]: r for r in result["results"]["conv"]["rows"]}
    assert rows["block_2"]["output_shape"] == "(None, 224, 224, 64)"
    assert rows["block_1/conv"]["flops"] == 2 * 224 * 224 * 64 * 3 * 3 * 3 + 224 * 224 * 64
    assert result["max_rss"] < 500 * 2**20, result["max_rss"] / 2**20


@pytest.mark.slow
def test_the_numpy_backend_alone_would_run_that_layer_on_arrays() -> None:
    """The control for the test above: without archreport's hooks the same build fails in ConvBlock."""
    code = "import tests.models as m; m.custom_conv_model(size=8)"
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "ConvBlock ran on a real ndarray of shape (83, 8, 8, 3)" in proc.stderr


@pytest.mark.slow
def test_the_8b_llama_shape_builds_in_little_memory() -> None:
    """32 GB of float32 weights; a shape-only build holds none of them."""
    job = {
        "name": "llama8b",
        "builder": "tests.models:llama_8b",
        "inputs": {"token_ids": [2048], "padding_mask": [2048]},
    }
    result = analyse_in("shape-only", [job])
    totals = result["results"]["llama8b"]["totals"]
    assert totals["params"] == 8_030_261_248
    assert totals["param_bytes"] == 4 * 8_030_261_248
    # 2 * 6,979,321,856 matmul params * 2048 tokens + 32 layers * 2 products * 2 * 2048^2 * 4096.
    analytic = 2 * 6_979_321_856 * 2048 + 32 * 2 * 2 * 2048**2 * 4096
    assert abs(totals["flops"] - analytic) <= 0.02 * analytic
    assert not totals["flops_lower_bound"]
    assert result["max_rss"] < 4 * 2**30, result["max_rss"] / 2**30


TF_BUILDER = """
import keras
import tensorflow as tf


def build():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(4)(inputs)
    # A TensorFlow op on a symbolic tensor: Keras's numpy backend cannot run this.
    return keras.Model(inputs, keras.layers.Lambda(lambda t: tf.nn.relu(t))(x))
"""
READER = """
import keras
import numpy as np


def build():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    # Reading weight values: all zero in a shape-only build.
    if np.abs(model.get_layer("dense").kernel.numpy()).sum() > 0:
        model.add(keras.layers.Dense(2, name="extra"))
    return model
"""

READ_THEN_RAISE = """
import keras
import numpy as np


def build():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    # The builder's own error, caused by the zero weights of a shape-only build.
    if not np.abs(model.get_layer("dense").kernel.numpy()).any():
        raise ValueError("the kernel is all zero: not initialised")
    return model
"""


@pytest.fixture(scope="module")
def fallbacks(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("fallbacks")
    (folder / "tfops.py").write_text(TF_BUILDER)
    (folder / "reader.py").write_text(READER)
    (folder / "read_then_raise.py").write_text(READ_THEN_RAISE)
    (folder / "tiny.py").write_text(
        "import keras\n\n\ndef build():\n    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
    )
    manifest = write_manifest(
        folder,
        textwrap.dedent("""
        [[model]]
        name = "Uses tf ops"
        builder = "tfops:build"

        [[model]]
        name = "Reads weights"
        builder = "reader:build"

        [[model]]
        name = "Reads weights, shape-only"
        builder = "reader:build"
        backend = "shape-only"

        [[model]]
        name = "Reads weights, then raises"
        builder = "read_then_raise:build"

        [[model]]
        name = "Tiny"
        builder = "tiny:build"

        [[model]]
        name = "Tiny on TensorFlow"
        builder = "tiny:build"
        backend = "tensorflow"

        [[model]]
        name = "Tiny on JAX"
        builder = "tiny:build"
        backend = "jax"

        [[model]]
        name = "Tiny on torch"
        builder = "tiny:build"
        backend = "torch"
        """),
    )
    proc = run_cli(str(manifest), "-o", str(folder / "out"), "--format", "html", "--no-cache", cwd=folder)
    torch = importlib.util.find_spec("torch") is not None
    assert proc.returncode == (0 if torch else 1), proc.stderr[-3000:]
    report = json.loads((folder / "out" / "report.json").read_text())
    return {m["name"]: m for m in report["models"]}


@pytest.mark.slow
def test_auto_falls_back_to_tensorflow_for_tf_ops_and_says_why(fallbacks: dict) -> None:
    model = fallbacks["Uses tf ops"]
    assert model["status"] == "ok" and model["backend"] == "tensorflow"
    assert "built with TensorFlow because building it shape-only raised" in model["backend_note"]
    assert model["totals"]["params"] == 8 * 4 + 4


@pytest.mark.slow
def test_auto_falls_back_when_a_builder_reads_weight_values(fallbacks: dict) -> None:
    model = fallbacks["Reads weights"]
    assert model["backend"] == "tensorflow"
    assert "computed on weight values" in model["backend_note"]
    # Real (random) weights are not all zero, so the builder took its real path.
    assert [r["name"] for r in model["layers"]] == ["dense", "extra"]


@pytest.mark.slow
def test_auto_falls_back_when_a_builder_raises_after_reading_weight_values(fallbacks: dict) -> None:
    model = fallbacks["Reads weights, then raises"]
    assert model["status"] == "ok" and model["backend"] == "tensorflow"
    assert model["backend_note"] == (
        "built with TensorFlow because the builder computed on weight values (numpy()), which are all zero "
        "in a shape-only build, and then raised ValueError: the kernel is all zero: not initialised."
    )
    assert model["totals"]["params"] == 4 * 3 + 3


@pytest.mark.slow
def test_shape_only_on_request_warns_that_weights_read_as_zero(fallbacks: dict) -> None:
    model = fallbacks["Reads weights, shape-only"]
    assert model["backend"] == "shape-only" and model["backend_note"] is None
    assert [r["name"] for r in model["layers"]] == ["dense"]
    assert any("computed on weight values" in w and "all zero" in w for w in model["warnings"])


@pytest.mark.slow
@pytest.mark.parametrize(("name", "backend"), [("Tiny on TensorFlow", "tensorflow"), ("Tiny on JAX", "jax")])
def test_real_backends_on_request(fallbacks: dict, name: str, backend: str) -> None:
    model = fallbacks[name]
    assert model["status"] == "ok" and model["backend"] == backend and model["backend_note"] is None
    assert model["totals"]["params"] == 4 * 2 + 2


@pytest.mark.slow
def test_a_backend_whose_package_is_missing_fails_its_model_with_the_install_command(fallbacks: dict) -> None:
    model = fallbacks["Tiny on torch"]
    if importlib.util.find_spec("torch") is not None:
        assert model["status"] == "ok" and model["backend"] == "torch"
    else:
        assert model["status"] == "failed"
        assert (
            "needs torch; it is not installed. Install it with: python -m pip install torch" in model["error"]
        )
    assert all(m["status"] == "ok" for name, m in fallbacks.items() if name != "Tiny on torch")


@pytest.mark.slow
def test_shape_only_is_the_default_and_the_report_says_so(fallbacks: dict, tmp_path: Path) -> None:
    model = fallbacks["Tiny"]
    assert model["backend"] == "shape-only" and model["backend_note"] is None
    assert model["totals"] == {**fallbacks["Tiny on TensorFlow"]["totals"]}


@pytest.mark.slow
def test_model_files_load_their_architecture_without_their_weights(tmp_path: Path) -> None:
    """A .keras file whose weights are garbage, and an .h5 file with no weights at all, still report."""
    import zipfile

    code = textwrap.dedent(f"""
        import json, zipfile, h5py, keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        model.save({str(tmp_path / "good.keras")!r})
        with h5py.File({str(tmp_path / "config_only.h5")!r}, "w") as f:
            f.attrs["model_config"] = json.dumps({{"class_name": model.__class__.__name__, "config": model.get_config()}})
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, timeout=300)
    with (
        zipfile.ZipFile(tmp_path / "good.keras") as good,
        zipfile.ZipFile(tmp_path / "broken.keras", "w") as broken,
    ):
        for item in good.infolist():
            data = good.read(item) if item.filename == "config.json" else b"not weights at all"
            broken.writestr(item.filename, data)
    manifest = write_manifest(
        tmp_path,
        '[[model]]\nname = "Broken weights"\nfile = "broken.keras"\n\n[[model]]\nname = "No weights"\nfile = "config_only.h5"\n',
    )
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--format", "html", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(m["status"], m["totals"]["params"]) for m in report["models"]] == [
        ("ok", 4 * 3 + 3 + 3 * 2 + 2)
    ] * 2


@pytest.mark.slow
def test_an_8b_llama_shape_is_reported_in_html_and_pdf(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        textwrap.dedent("""
            [[model]]
            name = "Llama 3 8B shape"
            builder = "tests.models:llama_8b"

            [model.inputs]
            token_ids = [2048]
            padding_mask = [2048]
            """),
    )
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--no-cache", cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [model] = json.loads((tmp_path / "out" / "report.json").read_text())["models"]
    assert model["backend"] == "shape-only"
    assert model["totals"]["params"] == 8_030_261_248
    analytic = 2 * 6_979_321_856 * 2048 + 32 * 2 * 2 * 2048**2 * 4096
    assert abs(model["totals"]["flops"] - analytic) <= 0.02 * analytic
    # 32 layers x 8 key/value heads x 128 dims x (K and V) x 4 bytes.
    assert model["totals"]["kv_cache_bytes_per_token"] == 32 * 8 * 128 * 2 * 4
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Llama 3 8B shape" in html and "8,030,261,248" in html
    # run_cli has checked the PDF with strict readers; its text carries the model and its count.
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "out" / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Llama 3 8B shape" in text and "8,030,261,248" in text
