"""Architecture review on real models (issue 28): the visual diff, report.md and gates, end to end.

ResNet50 against ResNet101 must read as one run of blocks that grew (×5 → ×22),
MobileNetV2 with one kernel changed as one coloured block, and a pull request that
changes one of ten models as a report.md about that model alone.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from archreport import generate
from archreport.render.markdown import LIMIT
from tests.helpers import ARTIFACTS, check_pdf, write_manifest

BUILDERS = Path(__file__).with_name("review_builders.py")
CHANGED = "#9a5b00"  # diagram/diff.py: the title colour of a changed block


def coloured(svg: str, colour: str = CHANGED) -> list[str]:
    """The ids of the SVG's nodes drawn in ``colour``."""
    svg = html.unescape(svg)  # Graphviz writes the "-" in ids as &#45;
    found = re.findall(r'<g id="([^"]+)" class="node">(.*?)</g>\n(?=<!--|<g id|</g>)', svg, flags=re.S)
    return [nid for nid, body in found if colour in body]


def application(tmp_path: Path, app: str) -> Path:
    return write_manifest(tmp_path, f'[[model]]\nname = "Backbone"\napplication = "{app}"\n')


@pytest.fixture(scope="module")
def resnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """ResNet50's report.json as the baseline, then ResNet101's report against it (HTML and PDF)."""
    folder = tmp_path_factory.mktemp("resnet")
    generate(application(folder, "ResNet50"), folder / "base", formats=[], use_cache=False)
    report = generate(
        application(folder, "ResNet101"), folder / "new", use_cache=False, compare=folder / "base"
    )
    return folder / "new", report


@pytest.mark.slow
def test_resnet101_against_resnet50_is_one_run_of_blocks_that_grew(resnet: tuple[Path, Any]) -> None:
    out, report = resnet
    (entry,) = report.changes["models_changed"]
    for side, count in (("baseline", 5), ("current", 22)):
        moved = [n for n in entry["graph"][side]["nodes"] if n["status"] != "same"]
        assert [(n["key"], n["count"], n["status"]) for n in moved] == [("conv4_block2", count, "repeat")], (
            side
        )
    (repeat,) = entry["repeats"]
    assert (repeat["last_before"], repeat["last_after"], repeat["before"], repeat["after"]) == (
        "conv4_block6", "conv4_block23", 5, 22,
    )  # fmt: skip
    # Every layer of conv4_block7 ... conv4_block23, and nothing else, is in the run's line.
    rows = [r.path for r in report.models[0].layers]
    grown = [p for p in rows if re.match(r"conv4_block([7-9]|1\d|2[0-3])_", p)]
    assert len(grown) == 17 * 10 and sorted(repeat["layers_added"]) == sorted(grown)
    assert sorted(entry["layers_added"]) == sorted(grown) and entry["layers_removed"] == []
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "- 🔁 `conv4_block2` … `conv4_block23`: **×5 → ×22** (+170 layers)" in md
    assert "conv4_block7_1_conv" not in md
    # The HTML's visual diff: one box coloured on each side, the run (marked x5, and x5 -> x22).
    page = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    for side in ("b", "c"):
        svg = page[page.index(f'id="backbone-diff-{side}-graph"') :]
        assert len(coloured(svg[: svg.index("</svg>")])) == 1, side
    assert "×5 → ×22" in page and "<script>" in page[page.index('id="changes"') :]
    # The PDF's page for it, with the two drawings in their slots.
    check_pdf(out / "report.pdf")
    text = subprocess.run(
        ["pdftotext", "-layout", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Backbone: the baseline and this report" in text
    page = next(p for p in text.split("\f") if "Backbone: the baseline and this report" in p)
    assert (
        "conv4_block2 … conv4_block6" in page
        and "conv4_block2 … conv4_block23" in page
        and "×5 → ×22" in page
    )
    ARTIFACTS.mkdir(exist_ok=True)
    number = text.split("\f").index(page) + 1
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(number), "-l", str(number), str(out / "report.pdf"), str(ARTIFACTS / "visual-diff-resnet-pdf")], check=True)  # fmt: skip


@pytest.mark.slow
@pytest.mark.browser
def test_both_sides_zoom_and_pan_together(resnet: tuple[Path, Any]) -> None:
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    out, _ = resnet
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((out / "report.html").as_uri())
            fig = page.locator("figure.diff-pair")
            fig.scroll_into_view_if_needed()
            assert fig.locator(".zoom-controls").is_visible()

            def widths() -> list[float]:
                return [
                    float(w)
                    for w in fig.locator(".viewport svg").evaluate_all(
                        "s => s.map(x => x.getBoundingClientRect().width)"
                    )
                ]

            before = widths()
            fig.locator('[data-zoom="in"]').click()
            after = widths()
            assert all(abs(a / b - 1.25) < 0.01 for a, b in zip(after, before, strict=True)), (before, after)
            fig.locator('[data-zoom="reset"]').click()
            panes = fig.locator(".viewport")
            panes.nth(1).evaluate("p => { p.scrollTop = (p.scrollHeight - p.clientHeight) / 2; }")
            page.wait_for_timeout(200)
            fractions = panes.evaluate_all(
                "ps => ps.map(p => p.scrollTop / (p.scrollHeight - p.clientHeight))"
            )
            assert abs(fractions[0] - 0.5) < 0.02 and abs(fractions[1] - 0.5) < 0.02, fractions
            # Pointing at the grown run outlines it on both sides.
            fig.locator(f'[id="backbone-diff-c-m{_match(out)}"]').hover()
            assert fig.locator("g.node.counterpart").count() == 2
            ARTIFACTS.mkdir(exist_ok=True)
            fig.screenshot(path=str(ARTIFACTS / "visual-diff-resnet.png"))
            assert errors == []
        finally:
            browser.close()


def _match(out: Path) -> int:
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    nodes = data["changes"]["models_changed"][0]["graph"]["current"]["nodes"]
    return next(n["match"] for n in nodes if n["status"] == "repeat")


@pytest.mark.slow
def test_one_kernel_changed_in_mobilenetv2_is_one_coloured_block(tmp_path: Path) -> None:
    shutil.copy(BUILDERS, tmp_path / "towers.py")
    text = '[[model]]\nname = "MobileNetV2"\nbuilder = "towers:mobilenet_v2"\nkwargs = {{ {} }}\n'
    generate(write_manifest(tmp_path, text.format("")), tmp_path / "base", formats=[], use_cache=False)
    changed = write_manifest(tmp_path, text.format('changed = "block_8_depthwise"'))
    report = generate(changed, tmp_path / "new", formats=["html"], use_cache=False, compare=tmp_path / "base")
    (entry,) = report.changes["models_changed"]
    # A 3x3 depthwise kernel over 384 channels has 3*3*384 weights; a 5x5 one 5*5*384.
    assert entry["layers_changed"] == [
        {
            "name": "block_8_depthwise",
            "changes": {"params": [3 * 3 * 384, 5 * 5 * 384], "kernel": ["3x3", "5x5"]},
        }
    ]
    for side in ("baseline", "current"):
        moved = [(n["key"], n["status"]) for n in entry["graph"][side]["nodes"] if n["status"] != "same"]
        assert moved == [("block_8", "changed")], side
    page = html.unescape((tmp_path / "new" / "report.html").read_text(encoding="utf-8"))
    svg = page[page.index('id="mobilenetv2-diff-c-graph"') :]
    assert coloured(svg[: svg.index("</svg>")]) == [f"mobilenetv2-diff-c-m{_changed_match(entry)}"]
    md = (tmp_path / "new" / "report.md").read_text(encoding="utf-8")
    assert "- ✏️ `block_8_depthwise`: params 3,456 → 9,600; kernel `3x3` → `5x5`" in md


def _changed_match(entry: dict[str, Any]) -> int:
    return next(n["match"] for n in entry["graph"]["current"]["nodes"] if n["status"] == "changed")


TEN = """
[report]
title = "Ten models"
formats = ["html"]

[report.gates]
params = "+50%"
"""


def ten_models(**changed: int) -> str:
    """Ten towers of different widths; Tower 3 takes ``changed`` on top of its arguments."""
    models = [TEN]
    for i in range(10):
        kwargs = {"blocks": 3, "width": 4 + i, **(changed if i == 3 else {})}
        text = ", ".join(f"{key} = {value}" for key, value in kwargs.items())
        models.append(f'[[model]]\nname = "Tower {i}"\nbuilder = "towers:tower"\nkwargs = {{ {text} }}\n')
    return "\n".join(models)


@pytest.mark.slow
def test_a_pull_request_changing_one_of_ten_models_reports_that_model_only(tmp_path: Path) -> None:
    shutil.copy(BUILDERS, tmp_path / "towers.py")
    manifest = write_manifest(tmp_path, ten_models())
    generate(manifest, tmp_path / "main")
    # The pull request: Tower 3 gets a fourth block and a 5x5 kernel in its first block.
    write_manifest(tmp_path, ten_models(blocks=4, kernel_block=0, kernel=5))
    report = generate(manifest, tmp_path / "pr", compare=tmp_path / "main")
    assert sum(not m.cached for m in report.models) == 1  # the nine others came from the cache
    (entry,) = report.changes["models_changed"]
    assert entry["name"] == "Tower 3"
    current = [(n["key"], n["count"], n["status"]) for n in entry["graph"]["current"]["nodes"]]
    assert current == [
        ("image", 1, "same"), ("stem", 1, "same"), ("block_0", 1, "changed"),
        ("block_1", 3, "repeat"), ("pool", 1, "same"), ("head", 1, "same"),
    ]  # fmt: skip
    md = (tmp_path / "pr" / "report.md").read_text(encoding="utf-8")
    assert len(md) < LIMIT
    changes = md[md.index("### Changes since the baseline") :]
    assert "- 🔁 `block_1` … `block_3` (Functional): **×2 → ×3** (+5 layers)" in changes
    # width 7: 7 * 7 * (3 * 3) + 7 weights and biases before, 7 * 7 * (5 * 5) + 7 after.
    assert "- ✏️ `block_0/block_0_conv`: params 448 → 1,232; kernel `3x3` → `5x5`" in changes
    for i in set(range(10)) - {3}:
        assert md.count(f"`Tower {i}`") == 1, i  # its table row only
    # The gate: Tower 3 grew by more than half.
    gate = next(e for e in report.models[3].expectations if e.key == "gates.params")
    assert not gate.ok and md.index("`Tower 3` `gates.params`") < md.index("### Models")
