"""``--compare`` matches layer rows by their full path, not their name (issue 10, item 9).

Every MultiHeadAttention has sub-layers called ``query``, ``key`` and ``value``:
keyed by name, the second block's rows overwrote the first's, and a change to
the first block went unreported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archreport import generate
from archreport.checks.compare import compare, layer_paths, load_baseline
from archreport.errors import UsageError
from tests.helpers import write_manifest

BUILDER = """
import keras


def build(first_key_dim):
    x = keras.Input((6, 8))
    a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=first_key_dim, name="attn_a")(x, x)
    b = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attn_b")(a, a)
    return keras.Model(x, b, name="two_attention_blocks")
"""
MANIFEST = """
[[model]]
name = "Attention"
builder = "attention:build"
kwargs = {{ first_key_dim = {key_dim} }}
"""


@pytest.mark.slow
def test_a_change_in_the_first_of_two_attention_blocks_is_reported(tmp_path: Path) -> None:
    (tmp_path / "attention.py").write_text(BUILDER, encoding="utf-8")
    manifest = write_manifest(tmp_path, MANIFEST.format(key_dim=4))
    generate(manifest, tmp_path / "base", formats=[], use_cache=False)
    write_manifest(tmp_path, MANIFEST.format(key_dim=8))
    report = generate(manifest, tmp_path / "new", formats=[], use_cache=False, compare=tmp_path / "base")

    rows = [r.name for r in report.models[0].layers]
    assert rows.count("query") == 2, rows  # the case this is about: one name, two layers
    assert report.changes is not None
    (entry,) = report.changes["models_changed"]
    changed = {c["name"]: c["changes"] for c in entry["layers_changed"]}
    # query/key/value of attn_a: 8 inputs x 2 heads x key_dim, plus 2 x key_dim biases
    for sub in ("query", "key", "value"):
        assert changed[f"attn_a/{sub}"]["params"] == [8 * 2 * 4 + 2 * 4, 8 * 2 * 8 + 2 * 8], sub
    assert "attn_a" in changed
    assert not [name for name in changed if name.startswith("attn_b")], changed
    assert entry["layers_added"] == [] and entry["layers_removed"] == []
    data = json.loads((tmp_path / "new" / "report.json").read_text(encoding="utf-8"))
    assert data["changes"] == report.changes


def row(name: str, depth: int, parent: str | None, params: int, **extra: object) -> dict[str, object]:
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
