"""``--compare`` from report.json data: layer rows matched by their full path (issue 10, item 9), and
baselines that cannot be read refused naming the file and the key.

Every MultiHeadAttention has sub-layers called ``query``, ``key`` and ``value``, and every block of
a transformer has the same sub-layers: keyed by name, one block's rows overwrote another's, and a
change went unreported. The end-to-end case, through the command, is tests/test_compare.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from archreport.checks.compare import compare, layer_paths, load_baseline
from archreport.errors import UsageError
from tests.unit import reports


@pytest.mark.parametrize("slug", reports.SLUGS)
def test_a_report_against_itself_is_unchanged(slug: str) -> None:
    data = reports.report_data(slug)
    assert load_baseline(reports.FIXTURES / slug) == data  # a report folder holding a report.json
    assert compare(data, copy.deepcopy(data)) == {
        "baseline_generated": data["generated"], "models_added": [], "models_removed": [],
        "models_changed": [], "unchanged": True,
    }  # fmt: skip


def test_a_change_in_one_of_32_identical_blocks_is_reported_for_that_block_only() -> None:
    baseline = reports.report_data("transformer")
    current = copy.deepcopy(baseline)
    model = current["models"][0]
    path = "transformer_layer_7/self_attention/query"
    [query] = [r for r in model["layers"] if r["path"] == path]
    assert sum(r["name"] == "query" for r in model["layers"]) == 32  # one name, 32 layers
    query["params"] += 64
    model["totals"]["params"] += 64
    (entry,) = compare(baseline, current)["models_changed"]
    before = query["params"] - 64
    assert entry["layers_changed"] == [{"name": path, "changes": {"params": [before, before + 64]}}]
    assert entry["totals"] == {"params": {"before": 5_769_344, "after": 5_769_408, "delta": 64}}
    assert entry["layers_added"] == [] and entry["layers_removed"] == [] and entry["status"] is None


def test_a_model_that_failed_in_the_baseline_and_models_added_or_removed() -> None:
    broken = reports.report_data("broken")
    lenet = reports.report_data("lenet")
    fixed = copy.deepcopy(lenet)
    fixed["models"][0]["name"] = "Broken"  # the same model, now built
    fixed["models"].append(reports.report_data("tricky")["models"][0])
    changes = compare(broken, fixed)
    (entry,) = changes["models_changed"]
    assert entry["status"] == ["failed", "ok"]
    assert entry["layers_added"] == [r["path"] for r in lenet["models"][0]["layers"]]
    assert entry["totals"]["params"] == {"before": None, "after": 1_256_080, "delta": None}
    assert (changes["models_added"], changes["models_removed"], changes["unchanged"]) == (
        ["Tricky"],
        [],
        False,
    )
    assert compare(fixed, broken)["models_removed"] == ["Tricky"]


def row(name: str, depth: int, parent: str | None, params: int, **extra: object) -> dict[str, Any]:
    return {"name": name, "depth": depth, "parent": parent, "params": params, "class_name": "X", **extra}


def test_paths_from_parents_match_paths_the_rows_carry() -> None:
    # A baseline written before rows had a path, against a report whose rows carry one.
    old_rows = [
        row("input", 0, None, 0),
        row("encoder", 0, None, 30),
        row("attn", 1, "encoder", 20),
        row("query", 2, "attn", 10),
        row("attn_1", 1, "encoder", 10),
        row("query", 2, "attn_1", 5),
        row("head", 0, None, 1),
    ]
    assert layer_paths(old_rows) == [
        "input", "encoder", "encoder/attn", "encoder/attn/query", "encoder/attn_1",
        "encoder/attn_1/query", "head",
    ]  # fmt: skip
    new_rows = [dict(r, path=p) for r, p in zip(old_rows, layer_paths(old_rows), strict=True)]
    new_rows[3] = dict(new_rows[3], params=12)
    baseline = {"models": [{"name": "m", "layers": old_rows}]}
    current = {"models": [{"name": "m", "layers": new_rows}]}
    (entry,) = compare(baseline, current)["models_changed"]
    assert entry["layers_changed"] == [{"name": "encoder/attn/query", "changes": {"params": [10, 12]}}]
    assert entry["layers_added"] == [] and entry["layers_removed"] == []


def test_rows_without_depth_follow_the_parent_chain() -> None:
    rows = [{"name": "a"}, {"name": "q", "parent": "a"}, {"name": "b"}, {"name": "q", "parent": "b"}]
    assert layer_paths(rows) == ["a", "a/q", "b", "b/q"]
    # A layer listed twice under the same path is still compared row by row.
    assert layer_paths([{"name": "x"}, {"name": "x"}]) == ["x", "x#2"]


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ('["LeNet"]', r"models\[0\]: expected an object, found str"),
        ('[{"name": 3}]', r"models\[0\]\.name: expected a string, found int"),
        (
            '[{"name": "A", "totals": "68 params"}]',
            r"models\[0\]\.totals: expected an object or null, found str",
        ),
        (
            '[{"name": "A"}, {"name": "B", "layers": 11}]',
            r"models\[1\]\.layers: expected a list or null, found int",
        ),
    ],
)
def test_a_baseline_compare_cannot_read_is_refused_naming_file_and_key(
    tmp_path: Path, models: str, expected: str
) -> None:
    """Such a baseline was read only after every model was built, and failed with a traceback."""
    baseline = tmp_path / "report.json"
    baseline.write_text(f'{{"schema_version": 1, "models": {models}}}', encoding="utf-8")
    with pytest.raises(
        UsageError, match=rf"^--compare {tmp_path}: {baseline}, {expected}; it is not a report"
    ):
        load_baseline(tmp_path)


def test_a_baseline_with_failed_models_and_empty_fields_loads() -> None:
    data = {"models": [{"name": "A", "status": "failed", "totals": None, "layers": None}, {"name": "B"}]}
    assert compare(data, data)["unchanged"] is True
