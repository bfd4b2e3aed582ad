"""A model's notebook output from report.json fixtures: the plain-text summary and the HTML.

The real notebook (Jupyter, nbconvert, Chromium) is tests/test_notebook.py, in the slow tier.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archreport import units
from archreport.data import ModelReport
from archreport.errors import RenderError
from archreport.render.notebook import render_html, summary_text
from tests.helpers import HtmlIds, check_golden, unpack
from tests.unit import reports

GOLDEN = Path(__file__).parent.parent / "golden"


def files_of(report_dir: Path, model: ModelReport) -> dict[str, bytes]:
    """The model's diagram files, by their path in its folder, as describe() hands them over."""
    folder = report_dir / "models" / model.slug
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("diagram.*")}


def test_lenet_summary_golden(update_golden: bool) -> None:
    lenet = reports.model("lenet")
    text = summary_text(lenet)
    check_golden(GOLDEN / "lenet_summary.txt", text, update_golden)
    # Beside the golden file, what makes it right: a line per layer, in order, whose params add up.
    assert lenet.totals is not None
    lines = text.splitlines()
    rows = lines[lines.index(next(line for line in lines if line.startswith("Layer (type)"))) + 2 :][
        : len(lenet.layers)
    ]
    assert [line.split(" (")[0] for line in rows] == [r.name for r in lenet.layers]
    cells = [re.split(r"\s{2,}", line) for line in rows]
    params = [int(c[2].replace(",", "")) for c in cells]
    assert params == [r.params for r in lenet.layers] and sum(params) == lenet.totals.params
    assert sum(int(c[3].replace(",", "")) for c in cells) == lenet.totals.flops == 13_095_520
    assert f"Total params: {lenet.totals.params:,} ({units.nbytes(lenet.totals.param_bytes)})" in lines
    assert f"FLOPs: 13.1 MFLOPs ({lenet.totals.flops:,}) at batch size 1, 100.0 % counted exactly" in text


def test_nested_rows_are_indented_and_uncalled_ones_said() -> None:
    model = reports.model("stacked-blocks")
    lines = summary_text(model).splitlines()
    spare = [line for line in lines if line.lstrip().startswith("spare (Dense)")]
    assert len(spare) == 3 and all(line.startswith("    spare") and "(not called)" in line for line in spare)
    assert any(line.startswith("  block_1 (Block)") for line in lines)


def test_a_failed_model_says_why() -> None:
    broken = reports.model("broken")
    assert summary_text(broken) == (
        'archreport: "Broken" (functional, built with unknown)\nfailed: ValueError: broken on purpose\n'
    )


def test_html_output_is_self_contained_with_ids_of_its_own(
    models: dict[str, ModelReport], report_dir: Path
) -> None:
    lenet = models["lenet"]
    files = files_of(report_dir, lenet)
    html = render_html(lenet, files)
    second = render_html(lenet, files)  # the same model shown twice in one notebook
    uid = re.match(r'<div class="archreport-nb" id="(\w+)"', html)
    other = re.match(r'<div class="archreport-nb" id="(\w+)"', second)
    assert uid and other and uid[1] != other[1]
    assert re.search(r"<svg [^>]*viewBox=", html), "the diagram's SVG is inline"
    found = HtmlIds(html)
    assert len(found.ids) == len(set(found.ids)) and found.links <= set(found.ids)
    # Graphviz wraps a linked node in an anchor whose id is the node's with "a_" before it.
    assert all(i.removeprefix("a_").startswith(uid[1]) for i in found.ids)
    assert not set(found.ids) & set(HtmlIds(second).ids)
    for row in lenet.layers:
        assert row.name in found.texts and row.anchor.replace("lenet", uid[1], 1) in found.ids, row.name
    assert "1,256,080" in html
    # Everything is inline: no file, stylesheet or script is loaded from elsewhere.
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=", html)


def test_a_large_output_shows_its_overview_and_how_to_get_the_rest(
    models: dict[str, ModelReport], report_dir: Path
) -> None:
    model = models["transformer"]
    files = files_of(report_dir, model)
    whole = render_html(model, files)
    assert ">×32</text>" in whole and 'class="layers"' in whole
    compact = render_html(model, files, limit=len(whole.encode()) - 1)
    # Its diagram and table ride along packed, for the script to unpack where the notebook runs it.
    (packed,) = re.findall(
        r'<script type="application/octet-stream" class="pack">([A-Za-z0-9+/=]+)<', compact
    )
    assert len(compact.encode()) < len(whole.encode()) and 'class="layers"' in unpack(packed)
    assert len(compact.replace(packed, "")) < len(whole) / 5 and 'class="layers"' not in compact
    assert f"layer table ({len(model.layers)} rows)" in compact and '.to_html("transformer.html")' in compact
    assert ">×32</text>" in compact  # the overview stays


def test_a_failed_model_has_no_html_output() -> None:
    with pytest.raises(RenderError, match="'Broken' failed; a failed model has no HTML section"):
        render_html(reports.model("broken"), {})
