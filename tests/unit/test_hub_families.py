"""The keras-hub family registry (tests/hub_families.py) is complete and consistent, without Keras.

The counts themselves are checked by building every entry (tests/test_hub_families.py, slow);
here the registry is checked against the installed keras-hub's preset files, read as text.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from tests import hub_families as hf
from tests.helpers import ROOT

ENTRIES = hf.FAMILIES
IDS = [e.family for e in ENTRIES]


@pytest.fixture(scope="module")
def published() -> dict[str, dict[str, int]]:
    """{family: {preset: published count}}, each presets file read once."""
    return {e.family: hf.published_params(e.family) for e in ENTRIES}


def test_every_family_with_a_published_count_is_listed_once() -> None:
    listed = [e.family for e in ENTRIES]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == hf.families_with_presets()


def test_the_presets_are_read_from_the_installed_keras_hub() -> None:
    # Spot checks that the literal reader sees what keras-hub ships, `{**other}` spreads included.
    assert hf.published_params("llama3")["llama3_8b_en"] == 8_030_261_248
    assert hf.published_params("mit")["mit_b0_ade20k_512"] == 3_321_962
    assert hf.published_params("flux") == {}  # a presets file with no preset
    assert hf.published_params("not_a_family") == {}
    assert len(hf.families_with_presets()) >= 68


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_each_entry_is_complete(published: dict[str, dict[str, int]], entry: hf.HubFamily) -> None:
    assert entry.preset in published[entry.family]
    assert entry.backbone.startswith(("keras_hub.models.", f"keras_hub.src.models.{entry.family}."))
    assert entry.kwargs
    assert entry.inputs and all(
        isinstance(shape, list) and all(isinstance(d, int) and d > 0 for d in shape)
        for shape in entry.inputs.values()
    )
    assert 0 < entry.trainable <= entry.params
    assert set(entry.input_values) <= set(entry.inputs)
    assert entry.relation in hf.RELATIONS and entry.basis in hf.BASES and entry.recipe in hf.RECIPES


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_a_difference_from_the_published_count_says_why(entry: hf.HubFamily) -> None:
    exact = entry.relation == hf.EQUAL and entry.basis == hf.ALL
    assert bool(entry.reason) != exact
    assert (entry.offset != 0) == (entry.relation == hf.OFFSET)
    assert (entry.tolerance > 0) == (entry.relation == hf.ROUNDED) and entry.tolerance <= 0.01
    assert bool(entry.eval_shape_error) == (entry.recipe != hf.EVAL_SHAPE)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_the_expected_counts_relate_to_the_published_one_as_stated(
    published: dict[str, dict[str, int]], entry: hf.HubFamily
) -> None:
    figure = published[entry.family][entry.preset]
    assert hf.relation_holds(entry, entry.params, entry.trainable, figure)
    if entry.relation == hf.LABEL:  # a label no count could match: say so only where none does
        nearly = dataclasses.replace(entry, relation=hf.ROUNDED, tolerance=0.05)
        assert not hf.relation_holds(nearly, entry.params, entry.trainable, figure)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_the_preset_is_the_smallest_or_one_the_issue_names_or_says_why(
    published: dict[str, dict[str, int]], entry: hf.HubFamily
) -> None:
    presets = published[entry.family]
    smallest = presets[entry.preset] == min(presets.values())
    assert smallest or entry.preset in hf.ISSUE_24_PRESETS or entry.why_preset


def test_relations_are_checked_as_documented() -> None:
    base = hf.BY_NAME["mit"]
    assert hf.relation_holds(base, 100, 90, 100 + base.offset)
    assert not hf.relation_holds(base, 100, 90, 101 + base.offset)
    trainable = hf.BY_NAME["cspnet"]
    assert hf.relation_holds(trainable, 100, 90, 90 + trainable.offset)
    assert not hf.relation_holds(trainable, 100, 90, 100 + trainable.offset)
    rounded = hf.BY_NAME["dinov3"]
    assert hf.relation_holds(rounded, 21_596_544, 21_596_544, 21_600_000)
    assert not hf.relation_holds(rounded, 21_000_000, 21_000_000, 21_600_000)
    with pytest.raises(ValueError, match="unknown relation 'close'"):
        hf.relation_holds(dataclasses.replace(base, relation="close"), 1, 1, 1)


def test_importing_the_registry_imports_no_keras() -> None:
    code = "import sys, tests.hub_families; print(sorted({'keras', 'keras_hub', 'jax', 'tensorflow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
