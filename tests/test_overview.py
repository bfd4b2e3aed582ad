"""The block overview's splines fallback really changes the mode (issue 10, item 6).

The overview used to set ``splines=spline`` inside ``graph [...]``, a form that
``graphviz.with_splines`` does not replace: every fallback reran ``spline`` and
the report named a mode that was never used. Real ``dot`` says which mode ran.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from archreport.data import LayerRow
from archreport.dot import DiagramOptions
from archreport.graphviz import FALLBACK_SPLINES, layout, run_dot, with_splines
from archreport.overview import overview_dot

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None or shutil.which("gvpr") is None, reason="needs Graphviz (dot, gvpr)"
)

# 40 blocks of three layers, with these (from block, to block) skip connections (-1 is
# the input). Graphviz 2.43 aborts on the overview of this graph under splines=ortho
# ("newtrap: Trapezoid-table overflow"), like it does on EfficientNetB0's diagram.
BLOCKS = 40
SKIPS = [(-1, 1), (-1, 2), (0, 3), (0, 4), (0, 5), (0, 37), (1, 12), (1, 13), (1, 16), (1, 31), (2, 4),
         (2, 30), (3, 9), (3, 31), (4, 9), (4, 20), (4, 30), (4, 34), (5, 7), (5, 9), (5, 20), (5, 27),
         (5, 35), (6, 11), (6, 13), (7, 24), (8, 12), (9, 19), (9, 24), (9, 25), (10, 13), (10, 33),
         (11, 22), (11, 25), (13, 16), (14, 36), (15, 17), (15, 39), (16, 29), (17, 23), (17, 26),
         (20, 29), (20, 35), (22, 37), (22, 38), (23, 31), (27, 38), (29, 36)]  # fmt: skip


def row(i: int, name: str, cls: str, src: list[str]) -> LayerRow:
    return LayerRow(
        index=i, name=name, class_name=cls, depth=0, parent=None, input_shapes=[], output_shape=f"(None, {i})",
        params=10, trainable_params=10, non_trainable_params=0, trainable=True, dtype="float32",
        flops=100, connected_to=src, anchor=f"m-r{i}",
    )  # fmt: skip


def overview_source() -> str:
    extra: dict[int, list[str]] = {}
    for a, b in SKIPS:
        extra.setdefault(b, []).append("input_layer" if a < 0 else f"block{a}_c")
    rows = [row(0, "input_layer", "InputLayer", [])]
    prev = "input_layer"
    for b in range(BLOCKS):
        for part in ("a", "b", "c"):
            name = f"block{b}_{part}"
            rows.append(row(len(rows), name, "Conv2D", [prev] + (extra.get(b, []) if part == "a" else [])))
            prev = name
    source = overview_dot(rows, id_prefix="m-ov-")
    assert source is not None
    return source


def splines_dot_uses(source: str) -> str:
    """The graph's ``splines`` as Graphviz's own parser resolves it (the last assignment wins)."""
    proc = subprocess.run(
        ["gvpr", "BEG_G { print($G.splines); }"],
        input=source, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return proc.stdout.strip()


@pytest.mark.parametrize("mode", ["ortho", *FALLBACK_SPLINES])
def test_each_mode_reaches_graphviz(mode: str) -> None:
    assert splines_dot_uses(with_splines(overview_source(), mode)) == mode


def test_a_mode_that_fails_falls_back_and_the_report_names_the_mode_used(tmp_path: Path) -> None:
    source = overview_source()
    # The graph under ortho, set without with_splines: a last graph attribute wins.
    ortho = tmp_path / "ortho.dot"
    ortho.write_text(source.rstrip().removesuffix("}") + '\tsplines="ortho";\n}\n', encoding="utf-8")
    assert splines_dot_uses(ortho.read_text(encoding="utf-8")) == "ortho"
    note = run_dot(["dot", str(ortho), "-Tsvg", "-o", str(tmp_path / "ortho.svg")], timeout=60)
    if note is None:
        pytest.skip("this Graphviz lays the graph out under ortho; 2.43 (Debian 12) aborts")
    result = layout(source, tmp_path / "out", formats=("svg",), options=DiagramOptions(splines="ortho"))
    assert result.mode == "spline"
    assert len(result.attempts) == 1 and result.attempts[0].startswith("ortho: dot aborted"), result.attempts
    # diagram.dot is the source that was laid out: Graphviz reads the mode the report names.
    assert splines_dot_uses((tmp_path / "out" / "diagram.dot").read_text(encoding="utf-8")) == "spline"
