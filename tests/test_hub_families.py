"""Every keras-hub family at a published preset size builds without weights, with the counts it should have.

The registry (tests/hub_families.py) writes each backbone's constructor arguments out
by hand; building them proves them: count_params() must be the entry's count, and that
count must relate to the figure keras-hub publishes in the preset's metadata as the
entry says (equal for most). Each model is then called once at the entry's input
shapes by archreport's own analysis, which checks that the inputs are the model's, and
its FLOPs are compared with XLA's cost analysis of the same forward pass.

The entries are built and analysed as archreport does (tests/hub_job.py) in two processes
of half the families each, side by side on two cores, Keras's session cleared between
families: imports dominate a build that allocates no weights, so one process per family
would cost about 8 s each for nothing the test needs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import hub_families as hf
from tests.helpers import ROOT

# Builds keras-hub backbones (keras-hub imports TensorFlow): the slow tier.
pytestmark = pytest.mark.slow

IDS = [e.family for e in hf.FAMILIES]
# No weight may get memory: the largest entry (Mixtral 8x7B) would need 187 GB in float32.
RSS_LIMIT = 3 * 2**30


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | {"PYTHONPATH": str(ROOT)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


@dataclasses.dataclass
class _Job:
    """A ``python -m tests.<module>`` process, its output in files (a pipe left unread would block it)."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @classmethod
    def start(cls, folder: Path, name: str, module: str, *args: str) -> _Job:
        out, err = folder / f"{name}.out", folder / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"tests.{module}", *args],
                cwd=ROOT,
                env=_env(),
                stdout=stdout,
                stderr=stderr,
            )
        return cls(proc, out, err)

    def lines(self, timeout: float) -> list[dict[str, Any]]:
        """The JSON lines it printed, once it has ended well."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert code == 0, self.err.read_text(errors="replace")[-4000:]
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def analysing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[_Job]]:
    """tests.hub_job over every family, in two processes of half the families each (two cores)."""
    folder = tmp_path_factory.mktemp("hub")
    started = [_Job.start(folder, f"analysed-{half}", "hub_job", *IDS[half::2]) for half in (0, 1)]
    yield started
    for job in started:
        if job.proc.poll() is None:
            job.proc.kill()
            job.proc.wait()


@pytest.fixture(scope="module")
def analysed(analysing: list[_Job]) -> dict[str, Any]:
    """Every family built and analysed by archreport itself, with XLA's count beside."""
    return {line["family"]: line for job in analysing for line in job.lines(timeout=1800) if "family" in line}


def _build(*args: str, timeout: float = 1200) -> dict[str, Any]:
    """Run tests.hub_build (the registry's own recipes) in a fresh process: {family: result}."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hub_build", *args],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return _by_family([json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")])


def _by_family(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {line["family"]: line for line in lines[1:]}


@pytest.mark.parametrize("entry", hf.FAMILIES, ids=IDS)
def test_the_family_builds_with_the_expected_counts(analysed: dict[str, Any], entry: hf.HubFamily) -> None:
    result = analysed[entry.family]
    assert "error" not in result, result.get("error")
    assert (result["params"], result["trainable"]) == (entry.params, entry.trainable)
    published = hf.published_params(entry.family)[entry.preset]
    assert hf.relation_holds(entry, result["params"], result["trainable"], published), (
        entry.relation,
        published,
    )


@pytest.mark.parametrize("entry", hf.FAMILIES, ids=IDS)
def test_a_call_at_the_stated_inputs_traces(analysed: dict[str, Any], entry: hf.HubFamily) -> None:
    result = analysed[entry.family]
    assert "error" not in result, result.get("error")
    assert result["output_shapes"]
    declared, stated = result["declared_inputs"], result["stated_inputs"]
    assert set(stated) <= set(declared)
    for name, shape in stated.items():  # every dimension the model fixes, the entry states the same
        assert len(shape) == len(declared[name]), name
        assert all(d is None or d == s for d, s in zip(declared[name], shape, strict=True)), name


OTHER_RECIPES = [e for e in hf.FAMILIES if e.recipe != hf.EVAL_SHAPE]


@pytest.fixture(scope="module")
def built_by_eval_shape() -> dict[str, Any]:
    return _build("--recipe", hf.EVAL_SHAPE, "--no-call", *(e.family for e in OTHER_RECIPES), timeout=300)


@pytest.mark.parametrize("entry", OTHER_RECIPES, ids=lambda e: e.family)
def test_eval_shape_still_fails_where_the_registry_says(
    built_by_eval_shape: dict[str, Any], entry: hf.HubFamily
) -> None:
    # When keras-hub stops needing a concrete value while it constructs, the entry can use the default.
    result = built_by_eval_shape[entry.family]
    assert entry.eval_shape_error in result.get("error", ""), result


# archreport's own count of each family, against XLA's cost analysis of the same forward pass at
# the same shapes (tests/hub_job.py). The conventions differ a little either way (an activation
# counts 0 here, one per element in XLA; a convolution's taps on padding count here, not in XLA):
# at published sizes matmuls dominate and every family but one lands within this band.
FLOPS_BAND = (0.90, 1.10)
# DeepLabV3's bilinear upsampling: JAX lowers an image resize to dense interpolation matmuls, which
# XLA counts in full (21.5 GFLOPs at 512 px), where the resize rule counts what the interpolation
# computes (0.6 GFLOPs) as TensorFlow's profiler does; its dilated convolutions' padding taps
# weigh the other way.
OWN_BANDS = {"deeplab_v3": (0.75, 0.82)}


@pytest.mark.parametrize("entry", hf.FAMILIES, ids=IDS)
def test_the_family_is_counted_completely_and_agrees_with_xla(
    analysed: dict[str, Any], entry: hf.HubFamily
) -> None:
    result = analysed[entry.family]
    assert "error" not in result, result.get("error")
    assert result["params"] == entry.params
    assert not result["flops_lower_bound"], result["warnings"]
    assert result["flops_coverage"] == 1.0 and result["unknown_shapes"] == 0
    low, high = OWN_BANDS.get(entry.family, FLOPS_BAND)
    assert low <= result["flops"] / result["xla_flops"] <= high, (result["flops"], result["xla_flops"])


# Decoders' KV cache per token, by hand from their constructor arguments: a key and a value of
# num_key_value_heads x head_dim per layer, float32.
KV_HEADS = {"llama3": (32, 8, 4096 // 32), "mistral": (32, 8, 4096 // 32), "qwen3": (28, 8, 128),
            "gemma3": (18, 1, 256)}  # fmt: skip


@pytest.mark.parametrize("family", sorted(KV_HEADS))
def test_a_decoder_keeps_its_keys_and_values_per_token(analysed: dict[str, Any], family: str) -> None:
    layers, heads, head_dim = KV_HEADS[family]
    assert analysed[family]["kv_cache_bytes_per_token"] == layers * 2 * heads * head_dim * 4


def test_rwkv7_keeps_a_state_not_a_kv_cache(analysed: dict[str, Any]) -> None:
    # Its time and channel mixing name their projections key and value, with no softmax over them.
    assert analysed["rwkv7"]["kv_cache_bytes_per_token"] is None


def test_counting_every_family_allocates_no_weight(analysed: dict[str, Any]) -> None:
    # Each process's peak over its families: each built, traced and lowered at published size in turn.
    assert max(r["peak_rss"] for r in analysed.values()) < RSS_LIMIT
