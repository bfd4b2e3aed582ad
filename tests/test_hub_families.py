"""Every keras-hub family at a published preset size builds without weights, with the counts it should have.

The registry (tests/hub_families.py) writes each backbone's constructor arguments out
by hand; building them proves them: count_params() must be the entry's count, and that
count must relate to the figure keras-hub publishes in the preset's metadata as the
entry says (equal for most). Each model is then called once at the entry's input
shapes, inside jax.eval_shape, which checks that the inputs are the model's.

All entries build in one process (tests/hub_build.py, Keras's session cleared between
them): imports dominate a build that allocates no weights, so one process per family
would cost about 8 s each for nothing the test needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests import hub_families as hf
from tests.helpers import ROOT

# Builds keras-hub backbones (keras-hub imports TensorFlow): the slow tier.
pytestmark = pytest.mark.slow

IDS = [e.family for e in hf.FAMILIES]
# No weight may get memory: the largest entry (Mixtral 8x7B) would need 187 GB in float32.
RSS_LIMIT = 3 * 2**30


def _build(*args: str, timeout: float = 1200) -> dict[str, Any]:
    """Run tests.hub_build in a fresh process: {family: result}, plus "rss" (the process's peak)."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hub_build", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {line["family"]: line for line in lines[1:]} | {"rss": lines[-1]["rss"]}


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return _build(*IDS)


@pytest.mark.parametrize("entry", hf.FAMILIES, ids=IDS)
def test_the_family_builds_with_the_expected_counts(built: dict[str, Any], entry: hf.HubFamily) -> None:
    result = built[entry.family]
    assert "error" not in result, result.get("error")
    assert (result["params"], result["trainable"]) == (entry.params, entry.trainable)
    published = hf.published_params(entry.family)[entry.preset]
    assert hf.relation_holds(entry, result["params"], result["trainable"], published), (
        entry.relation,
        published,
    )


@pytest.mark.parametrize("entry", hf.FAMILIES, ids=IDS)
def test_a_call_at_the_stated_inputs_traces(built: dict[str, Any], entry: hf.HubFamily) -> None:
    result = built[entry.family]
    assert "error" not in result, result.get("error")
    assert result["outputs"]
    declared = result["declared_inputs"]
    stated = entry.inputs if len(declared) > 1 else dict(zip(declared, entry.inputs.values(), strict=True))
    for name, shape in declared.items():  # every dimension the model fixes, the entry states the same
        assert len(shape) == len(stated[name]), name
        assert all(d is None or d == s for d, s in zip(shape, stated[name], strict=True)), name


def test_no_weight_was_allocated(built: dict[str, Any]) -> None:
    assert built["rss"] < RSS_LIMIT


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
