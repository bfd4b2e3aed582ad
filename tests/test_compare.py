"""``--compare`` matches layer rows by their full path, not their name (issue 10, item 9).

Every MultiHeadAttention has sub-layers called ``query``, ``key`` and ``value``:
keyed by name, the second block's rows overwrote the first's, and a change to
the first block went unreported. Here through the command on real models; from
report.json data in tests/unit/test_changes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archreport import generate
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
