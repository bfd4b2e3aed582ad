"""The LaTeX kit from plain data (issue 29): escaping, tables, macro names, check-numbers, figure plans.

Keras-free: LeNet's analysis comes from its golden report.json entry. pdflatex itself
compiles the kit in tests/test_papers.py (slow tier).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archreport.__main__ import main
from archreport.data import LayerRow, ModelReport, RepeatedBlock, Report
from archreport.errors import ManifestError, UsageError
from archreport.manifest import load
from archreport.manifest.schema import TexTable, length_pt
from archreport.render.layer_rows import printed_rows
from archreport.render.tex import escape, numbers, tables
from archreport.render.tex.figure import plan
from tests.helpers import check_golden, write_manifest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def lenet() -> ModelReport:
    data = json.loads((GOLDEN / "lenet_report.json").read_text(encoding="utf-8"))
    return ModelReport.from_dict({**data, "name": "LeNet", "slug": "lenet"})


def a_report(*models: ModelReport) -> Report:
    return Report(
        title="T", generated="2026-01-01T00:00:00Z", versions={"archreport": "0"}, models=list(models)
    )


# -- escaping ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("max_pooling2d_1", "\\texttt{max\\char95{}pooling2d\\char95{}1}"),
        ("a&b%c#d$e", "\\texttt{a\\char38{}b\\char37{}c\\char35{}d\\char36{}e}"),
        ("{x}~^\\", "\\texttt{\\char123{}x\\char125{}\\char126{}\\char94{}\\char92{}}"),
        ("two  spaces", "\\texttt{two\\ \\ spaces}"),
        ("é", "\\texttt{\\ArchreportChar{00E9}{é}}"),
        ("e\u0301", "\\texttt{\\ArchreportChar{00E9}{é}}"),  # composed first (NFC)
        ("bell\x07", "\\texttt{bell\\texttt{[U+0007]}}"),
        ("line\nbreak", "\\texttt{line\\ break}"),
    ],
)
def test_mono_sets_every_character_as_itself(name: str, expected: str) -> None:
    assert escape.mono(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ResNet_50 & co", "ResNet\\_50 \\& co"),
        ("100% #1 $5", "100\\% \\#1 \\char36{}5"),
        ("a--b ``c''", "a-{}-{}b `{}`{}c'{}'{}"),
        ("<x|y>", "\\textless{}x\\textbar{}y\\textgreater{}"),
        ("\\{}~^", "\\textbackslash{}\\{\\}\\textasciitilde{}\\textasciicircum{}"),
        ("中", "\\ArchreportChar{4E2D}{中}"),
    ],
)
def test_text_escapes_latex_syntax(name: str, expected: str) -> None:
    assert escape.text(name) == expected


def test_escaped_text_has_no_unescaped_special_character() -> None:
    """Whatever the name, what is left outside commands and {} is plain: no & % # $ _ ^ ~ or stray brace."""
    hostile = "".join(chr(c) for c in range(32, 127)) + "naïve 名前 😀\t"
    for escaped in (escape.text(hostile), escape.mono(hostile)):
        body = (
            escaped.removeprefix("\\texttt{").removesuffix("}") if escaped.startswith("\\texttt") else escaped
        )
        plain = re.sub(r"\\(char\d+\{\}|[A-Za-z]+(\{[^{}]*\})*(\{\})?|[{}&%#_ ])", "", body)
        plain = re.sub(r"\{[^{}]*\}", "", plain)
        assert not set(plain) & set("&%#$_^~\\{}"), plain


# -- tables ------------------------------------------------------------------------------------------
def table_rows(tex: str) -> list[list[str]]:
    """The body rows of a kit table (between \\endlastfoot or \\midrule and the total), cells split."""
    body = tex.split("\\endlastfoot\n", 1)[-1] if "\\endlastfoot" in tex else tex.split("\\midrule\n", 1)[1]
    rows = []
    for line in body.splitlines():
        if line.startswith(("\\midrule", "\\bottomrule", "\\end{")):
            break
        rows.append([cell.strip() for cell in line.removesuffix("\\\\").split(" & ")])
    return rows


def number(cell: str) -> int:
    return int(cell.replace("\\,", ""))


def test_lenet_layers_tex_golden(lenet: ModelReport, update_golden: bool) -> None:
    tex = tables.layers_tex(lenet, version="0")
    check_golden(GOLDEN / "lenet-layers.tex", tex, update_golden)
    rows = table_rows(tex)
    # The semantic check beside the golden file: one row per layer, in order, and the columns add up.
    assert [r[0] for r in rows] == [escape.mono(layer.name) for layer in lenet.layers]
    assert lenet.totals is not None
    assert sum(number(r[3]) for r in rows) == lenet.totals.params == 1_256_080
    assert sum(number(r[4]) for r in rows) == lenet.totals.flops == 13_095_520
    assert f"Total (11 layers) & & & {tables.grouped(1_256_080)} & {tables.grouped(13_095_520)}" in tex


def test_summary_tex_has_a_row_per_model(lenet: ModelReport) -> None:
    failed = ModelReport(
        name="B&d_model", slug="bad", source={}, description=None, status="failed", error="x"
    )
    tex = tables.summary_tex(a_report(lenet, failed))
    rows = table_rows(tex)
    assert rows[0] == ["LeNet", "1.26\\,M", "13.1\\,M", "4.79\\,MiB", "11"]
    assert rows[1][0] == "B\\&d\\_model" and "failed" in rows[1][1]


def block_row(i: int, name: str, depth: int = 0, parent: str | None = None, **kw: Any) -> LayerRow:
    path = f"{parent}/{name}" if parent else name
    return LayerRow(
        index=i, name=name, class_name=kw.pop("cls", "Block"), depth=depth, parent=parent, input_shapes=[],
        output_shape="(None, 8, 16)", params=kw.pop("params", 10), trainable_params=0, non_trainable_params=0,
        trainable=True, dtype="float32", flops=kw.pop("flops", 100), path=path, **kw,
    )  # fmt: skip


def transformer(blocks: int = 32) -> ModelReport:
    rows = [block_row(0, "tokens", cls="InputLayer", params=0, flops=0)]
    for b in range(blocks):
        rows.append(block_row(len(rows), f"block_{b}", params=1088, flops=4224, has_children=True))
        rows.append(
            block_row(len(rows), "up", depth=1, parent=f"block_{b}", cls="Dense", params=544, flops=2112)
        )
        rows.append(
            block_row(len(rows), "down", depth=1, parent=f"block_{b}", cls="Dense", params=544, flops=2112)
        )
    run = RepeatedBlock(
        parent=None, names=[f"block_{b}" for b in range(blocks)], class_name="Block",
        params_each=1088, flops_each=4224, anchor="t-r1",
    )  # fmt: skip
    return ModelReport(
        name="Tiny transformer", slug="tiny", source={}, description=None, status="ok", layers=rows,
        repeated_blocks=[run],
    )  # fmt: skip


def test_a_run_of_identical_blocks_is_one_row_with_its_count() -> None:
    model = transformer()
    top = printed_rows(model)
    assert [(r.name, r.count) for r in top] == [("tokens", 1), ("block_0", 32)]
    assert top[1].last == "block_31" and top[1].params == 32 * 1088 and top[1].flops == 32 * 4224
    nested = printed_rows(model, nested=True)
    assert [r.name for r in nested] == ["tokens", "block_0", "up", "down"]  # the first block's inside, once
    tex = tables.layers_tex(model)
    assert "\\texttt{block\\char95{}0}--\\texttt{block\\char95{}31} ($\\times$32)" in tex
    assert tex.count("\\texttt{block\\char95{}") == 2  # no row for blocks 1 to 30


# -- macro names and numbers.tex ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("LeNet", "LeNet"), ("ResNet-50", "ResNetFiveZero"), ("MobileNetV2", "MobileNetVTwo"),
        ("my model (v2)", "MyModelVTwo"), ("Ü-Net", "UNet"), ("名前", "Model"), ("__", "Model"),
        ("a_b%c&d#e{f}~g^h\\i", "ABCDEFGHI"),
    ],
)  # fmt: skip
def test_macro_stems_are_letters_only(name: str, stem: str) -> None:
    assert numbers.stem(name) == stem
    assert re.fullmatch(r"[A-Za-z]+", numbers.stem(name))


def test_colliding_names_get_their_position() -> None:
    totals = {"params": 1, "layers": 2}
    found = numbers.by_model(
        [("ResNet50", totals), ("ResNet-50", totals), ("ResNet 50", totals), ("Ü", None), ("U", totals)]
    )
    stems = [sorted(own)[0].removeprefix("ar").removesuffix("Layers") for _, own in found]
    assert stems == ["ResNetFiveZero", "ResNetFiveZeroNoTwo", "ResNetFiveZeroNoThree", "U"]
    every = [macro for _, own in found for macro in own]
    assert len(every) == len(set(every)) == 4 * 3  # Params, ParamsShort, Layers each


def test_a_name_that_continues_another_models_macros_does_not_take_them() -> None:
    """ "LeNet" + "TrainableParams" and "LeNet Trainable" + "Params" would both be \\arLeNetTrainableParams."""
    totals = {"params": 5, "trainable_params": 4}
    found = dict(numbers.by_model([("LeNet", totals), ("LeNet Trainable", {"params": 7})]))
    assert found["LeNet"]["arLeNetTrainableParams"] == "4"
    assert found["LeNet Trainable"] == {
        "arLeNetTrainableNoTwoParams": "7",
        "arLeNetTrainableNoTwoParamsShort": "7",
    }


def test_numbers_tex_values(lenet: ModelReport) -> None:
    tex = numbers.numbers_tex([lenet], "0")
    defined = numbers.read_macros(tex)
    assert defined["arLeNetParams"] == "1{,}256{,}080"  # the LeNet tutorial's count
    assert defined["arLeNetFlops"] == "13{,}095{,}520"  # TensorFlow's profiler (docs/numbers.md)
    assert defined["arLeNetFlopsShort"] == "13.1\\,\\mbox{M}" and defined["arLeNetLayers"] == "11"
    assert defined["arLeNetParamMemory"] == "4.79\\,\\mbox{MiB}"
    assert lenet.totals is not None
    bound = replace(lenet, totals=replace(lenet.totals, flops_lower_bound=True))
    assert numbers.read_macros(numbers.numbers_tex([bound]))["arLeNetFlops"].startswith("\\ensuremath{\\geq}")


# -- check-numbers ----------------------------------------------------------------------------------------
def write_kit(folder: Path, lenet: ModelReport) -> tuple[Path, Path]:
    from archreport.render.write import report_json

    (folder / "numbers.tex").write_text(numbers.numbers_tex([lenet], "0"), encoding="utf-8")
    (folder / "report.json").write_text(report_json(a_report(lenet)), encoding="utf-8")
    return folder / "numbers.tex", folder / "report.json"


def test_check_numbers_passes_on_the_report_it_came_from(
    lenet: ModelReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tex, report = write_kit(tmp_path, lenet)
    assert numbers.check_numbers(tex, report) == []
    assert main(["check-numbers", str(tex), str(report)]) == 0
    assert "every \\ar macro matches" in capsys.readouterr().out
    assert main(["check-numbers", str(tex), str(tmp_path)]) == 0  # the report folder works too


def test_check_numbers_lists_each_changed_macro(
    lenet: ModelReport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tex, report = write_kit(tmp_path, lenet)
    assert lenet.totals is not None
    changed = replace(lenet, totals=replace(lenet.totals, params=1_256_090, flops=13_095_530))
    from archreport.render.write import report_json

    report.write_text(report_json(a_report(changed)), encoding="utf-8")
    assert main(["check-numbers", str(tex), str(report)]) == 1
    out = capsys.readouterr().out
    assert "\\arLeNetParams: " in out and "has 1{,}256{,}080" in out and "has 1{,}256{,}090" in out
    assert "\\arLeNetFlops:" in out and "\\arLeNetLayers" not in out
    renamed = replace(lenet, name="LeNet-5")
    report.write_text(report_json(a_report(renamed)), encoding="utf-8")
    problems = numbers.check_numbers(tex, report)
    assert len(problems) == len(numbers.read_macros(tex.read_text())) and "no such number" in problems[0]


def test_check_numbers_compares_what_the_values_say(lenet: ModelReport, tmp_path: Path) -> None:
    """Markup that reads the same (another version's numbers.tex, a hand-tidied one) is no mismatch."""
    tex, report = write_kit(tmp_path, lenet)
    tidied = tex.read_text().replace("1{,}256{,}080", "1,256,080").replace("\\,\\mbox{MiB}", "\\,MiB")
    tex.write_text(tidied.replace("{\\arLeNetLayers}{11}", "{\\arLeNetLayers}{12}"), encoding="utf-8")
    assert [line.split(":")[0] for line in numbers.check_numbers(tex, report)] == ["\\arLeNetLayers"]


def test_check_numbers_refuses_what_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tex = tmp_path / "numbers.tex"
    tex.write_text("\\newcommand{\\other}{1}\n", encoding="utf-8")
    report = tmp_path / "report.json"
    report.write_text('{"models": []}', encoding="utf-8")
    with pytest.raises(UsageError, match=r"defines no \\ar\.\.\. macro"):
        numbers.check_numbers(tex, report)
    tex.write_text("\\newcommand{\\arXParams}{1}\n", encoding="utf-8")
    report.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(UsageError, match="is not JSON"):
        numbers.check_numbers(tex, report)
    report.write_text('{"title": "x"}', encoding="utf-8")
    with pytest.raises(UsageError, match=r"not an archreport report\.json"):
        numbers.check_numbers(tex, report)
    assert main(["check-numbers", str(tex), str(tmp_path / "missing.json")]) == 2
    assert "cannot read a report.json" in capsys.readouterr().err
    assert main(["check-numbers", str(tex)]) == 2


# -- the manifest -------------------------------------------------------------------------------------------
def test_report_tex_and_pdf_keys(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        '[report]\nformats = ["pdf", "tex"]\npdf = "compact"\n[report.tex]\nwidth = "page"\nlayers = "nested"\n'
        'min_text_pt = 7\n[[model]]\nname = "A"\napplication = "VGG16"\n',
    )
    spec = load(path)
    assert spec.formats == ("pdf", "tex") and spec.pdf == "compact"
    assert spec.tex == TexTable(width="page", layers="nested", min_text_pt=7.0)
    assert length_pt("page") == pytest.approx(6.75 * 72) and length_pt("84mm") == pytest.approx(
        84 / 25.4 * 72
    )
    assert length_pt("240pt") == pytest.approx(240 * 72 / 72.27)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[report.tex]\nwidth = "3.25"',
            r"report\.tex\.width.*'3\.25' is not a length; expected a number and a unit",
        ),
        (
            '[report.tex]\nwidth = "0.1in"',
            r"report\.tex\.width.*0\.10 in; expected between 0\.5 in and 100 in",
        ),
        ("[report.tex]\nmin_text_pt = 0", r"report\.tex\.min_text_pt.*between 1 and 72"),
        ('[report.tex]\nlayers = "all"', r"report\.tex\.layers.*'all' is not one of top, nested"),
        ('[report]\npdf = "short"', r"report\.pdf.*'short' is not one of full, compact"),
        ('[report.tex]\nwidht = "3in"', r"unknown key \(did you mean 'width'\?\)"),
    ],
)
def test_bad_tex_keys_are_named(tmp_path: Path, table: str, message: str) -> None:
    path = write_manifest(tmp_path, f'{table}\n[[model]]\nname = "A"\napplication = "VGG16"\n')
    with pytest.raises(ManifestError, match=message):
        load(path)


# -- figure plans ------------------------------------------------------------------------------------------
def svg_of(
    width: float, height: float, boxes: list[tuple[float, float, float, float]], font: float = 10
) -> str:
    nodes = "".join(
        f'<g id="n{i}" class="node"><polygon points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"/>'
        f'<text font-size="{font}">n{i}</text></g>'
        for i, (x0, y0, x1, y1) in enumerate(boxes)
    )
    return f'<svg width="{width}pt" height="{height}pt"><g id="graph0" class="graph">{nodes}</g></svg>'


def column(width: float, rows: int, step: float = 60) -> str:
    return svg_of(width, rows * step, [(0, r * step, width, r * step + 40) for r in range(rows)])


@pytest.mark.parametrize(
    ("svg", "pages", "turned"),
    [
        (column(300, 5), 1, False),  # 300 pt wide at 0.78: text 7.8 pt, 234 pt wide
        (svg_of(700, 200, [(0, 0, 700, 40)]), 1, True),  # 0.33 upright (3.3 pt); turned 0.82
        (column(300, 30), 2, False),  # 1800 pt tall: at 0.6, two bands 180 pt wide
        (column(600, 30), 5, True),  # 360 pt wide at 0.6: bands turned, not labels cut in two
    ],
)
def test_a_figure_shrinks_only_to_the_smallest_text_then_turns_or_splits(
    svg: str, pages: int, turned: bool
) -> None:
    options = TexTable(width="3.25in", max_height="8in", min_text_pt=6.0)
    parts = plan(svg, options)
    assert len(parts) == pages and {p.turned for p in parts} == {turned}
    for part in parts:
        assert part.scale * 10 >= 6.0 - 1e-9  # the smallest text (10 pt drawn) stays at least 6 pt
        w, h = part.size
        assert w <= length_pt("3.25in") + 0.01 and h <= length_pt("8in") + 0.01
