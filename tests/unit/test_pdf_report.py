"""The PDF: valid objects (issue 10), no blank diagram pages, and sections assembled in the parent (issue 13).

Started from the report.json fixtures (tests/unit/fixtures/), with real Graphviz, real
WeasyPrint, and strict readers (qpdf, pdfminer, pdfium) to check what they write.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from archreport.data import ModelReport, Report
from archreport.diagram.tiles import plan_tiles, tile_box
from archreport.render.pdf import assembly as pdfassembly
from archreport.render.pdf import section as pdfsection
from archreport.render.pdf.document import assemble_pdf, render_section_pdf
from archreport.render.templating import jinja_environment
from tests.helpers import check_pdf, count_layouts, pdf_outline, pdf_pages_text, poppler_pages_text
from tests.unit import reports


@pytest.fixture(scope="module")
def built(
    models: dict[str, ModelReport], report_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Report, Path]:
    """reports.pdf_report: LeNet (declaring 1 parameter), a failed model and blocks nested in a layer."""
    out = tmp_path_factory.mktemp("pdf")
    for slug in ("lenet", "stacked-blocks"):
        shutil.copytree(report_dir / "models" / slug, out / "models" / slug)
    return reports.pdf_report(models, out), out


@pytest.fixture(scope="module")
def report_texts(built: tuple[Report, Path]) -> list[str]:
    """report.pdf's pages' text as pdfminer reads it (seconds: read once for the module)."""
    return pdf_pages_text((built[1] / "report.pdf").read_bytes())


# -- tiles --------------------------------------------------------------------
def svg_with_nodes(width: float, height: float, boxes: list[tuple[float, float, float, float]]) -> str:
    nodes = "".join(
        f'<g id="n{i}" class="node"><polygon points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"/>'
        f'<text font-size="14">n{i}</text></g>'
        for i, (x0, y0, x1, y1) in enumerate(boxes)
    )
    return f'<svg width="{width}pt" height="{height}pt"><g id="graph0" class="graph">{nodes}</g></svg>'


def test_tiles_without_a_node_are_not_pages() -> None:
    # 14 pt text may shrink to 6 pt: a 300 x 600 drawing on a 100 x 100 box is a 2 x 3 grid.
    svg = svg_with_nodes(300, 600, [(10, 10, 50, 50), (10, 300, 50, 340), (250, 500, 290, 540)])
    tiles = plan_tiles("d", svg, (100, 100))
    assert (tiles[0].cols, tiles[0].rows) == (2, 3)
    assert [(t.row, t.col) for t in tiles] == [(0, 0), (1, 0), (2, 1)]
    assert [t.number for t in tiles] == [1, 2, 3] and {t.count for t in tiles} == {3}
    # Marks point at the nearest tile that is a page, never at a dropped one.
    assert (tiles[0].up, tiles[0].right, tiles[0].down) == (None, None, 2)
    assert (tiles[1].up, tiles[1].right, tiles[1].down) == (1, None, None)
    assert (tiles[2].up, tiles[2].right, tiles[2].down) == (None, None, None)


def test_marks_skip_dropped_tiles_to_the_next_page() -> None:
    # One column of five rows; the middle three hold nothing (a long edge runs through them).
    svg = svg_with_nodes(100, 1100, [(10, 10, 90, 50), (10, 1050, 90, 1090)])
    tiles = plan_tiles("d", svg, (100, 240))
    assert tiles[0].rows == 5 and len(tiles) == 2
    assert (tiles[0].down, tiles[1].up) == (2, 1)
    boxes = [(10, 10, 90, 50), (10, 1050, 90, 1090)]
    for tile in tiles:  # every page holds a node
        assert any(tile.y0 < y1 and y0 < tile.y1 for _, y0, _, y1 in boxes)


# -- sections -----------------------------------------------------------------
def test_section_depends_only_on_the_model(built: tuple[Report, Path], tmp_path: Path) -> None:
    report, out = built
    env = jinja_environment()
    lenet = next(m for m in report.models if m.name == "LeNet")
    section = render_section_pdf(lenet, out, page_size="A4", env=env)
    # What the parent owns may change without the model changing: the section is the same bytes.
    renamed = replace(
        lenet, name="Renamed", description="another text", source={"file": "x"}, warnings=["w"],
        expectations=[], timings={"build": 9.0}, cached=True,
    )  # fmt: skip
    assert render_section_pdf(renamed, out, page_size="A4", env=env) == section
    # Nor does the folder it is rendered in (a staging folder has a new name on every run).
    moved = shutil.copytree(out / "models" / "lenet", tmp_path / "elsewhere" / "models" / "lenet").parents[1]
    assert render_section_pdf(lenet, moved, page_size="A4", env=env) == section
    (tmp_path / "section.pdf").write_bytes(section)
    check_pdf(tmp_path / "section.pdf")
    text = "\n".join(pdf_pages_text(section))
    assert "Diagram" in text and "Layers" in text and "conv2d_1" in text
    for absent in ("LeNet", "LeNet for MNIST", "PDF check", "Page "):
        assert absent not in text, absent
    letter = render_section_pdf(lenet, out, page_size="Letter", env=env)
    import pypdf

    assert float(pypdf.PdfReader(io.BytesIO(letter)).pages[0].mediabox.height) == pytest.approx(792)


def test_tile_pages_are_made_without_a_layout(
    built: tuple[Report, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """WeasyPrint lays out nothing: the charts and the table are drawn directly (bars.py, table.py);
    each tile is a page of its own, captioned, bookmarked, with text that readers extract."""
    report, out = built
    lenet = next(m for m in report.models if m.name == "LeNet")
    laid_out = count_layouts(monkeypatch, pdfsection)
    section = render_section_pdf(lenet, out, page_size="A4", env=jinja_environment())
    (tmp_path / "section.pdf").write_bytes(section)
    pages = check_pdf(tmp_path / "section.pdf")
    assert lenet.diagram is not None and lenet.overview is None
    tiles = plan_tiles("diagram", (out / lenet.diagram.files["svg"]).read_text(), tile_box("A4"))
    assert len(tiles) == 1 and laid_out == [] and pages == 2
    text = pdf_pages_text(section)
    assert text[0].split("\n")[0] == f"Diagram · {tiles[0].scale * 100:.0f} %"
    assert "conv2d_1 (Conv2D)" in text[0] and "Layers" in text[1]
    assert [(title, page) for title, page, _ in pdf_outline(tmp_path / "section.pdf")] == [
        ("Diagram", 0),
        ("Layers", 1),
    ]


def test_a_tile_caption_names_its_place_and_neighbours() -> None:
    svg = svg_with_nodes(300, 600, [(10, 10, 50, 50), (10, 300, 50, 340), (250, 500, 290, 540)])
    first, second, _third = plan_tiles("d", svg, (100, 100))
    runs = pdfsection.caption_runs(first, "diagram")
    assert (
        "".join(text for _, text, _ in runs)
        == f"Diagram 1/3 (row 1/3, column 1/2) · {first.scale * 100:.0f} % ↓ 2/3"
    )
    assert [(font, gap) for font, _, gap in runs] == [("label", 0), ("text", 0), ("text", 0), ("mark", 8)]
    runs = pdfsection.caption_runs(second, "overview")
    assert "".join(text for _, text, _ in runs).endswith("↑ 1/3 the full diagram follows")


def test_a_failed_model_has_no_section(built: tuple[Report, Path]) -> None:
    from archreport.errors import RenderError

    report, out = built
    broken = next(m for m in report.models if not m.ok)
    with pytest.raises(RenderError, match="'Broken' failed; a failed model has no PDF section"):
        render_section_pdf(broken, out, page_size="A4", env=jinja_environment())
    with pytest.raises(RenderError, match="no PDF section was rendered for LeNet"):
        assemble_pdf(report, {}, jinja_environment(), report_dir=out)


# -- the assembled report -----------------------------------------------------
def test_assembled_pdf_is_valid_and_numbered(built: tuple[Report, Path], report_texts: list[str]) -> None:
    _report, out = built
    pages = check_pdf(out / "report.pdf")
    texts = report_texts
    assert "Page" not in texts[0] and "PDF check" in texts[0]
    for number, text in enumerate(texts[1:], start=2):
        assert f"Page {number} of {pages}" in text, (number, text[-200:])
        assert "PDF check" in text, number  # the running header's title
    assert len(texts) == pages


def test_bookmarks_contents_and_running_headers_agree(
    built: tuple[Report, Path], report_texts: list[str]
) -> None:
    _report, out = built
    texts = report_texts
    marks = pdf_outline(out / "report.pdf")
    assert [title for title, _, _ in marks] == ["Summary", "LeNet", "Broken — failed", "Stacked blocks"]
    starts = [page for _, page, _ in marks] + [len(texts)]
    # The blocks' overview comes first, on a page of its own.
    parts = {"LeNet": ["Diagram", "Layers"], "Stacked blocks": ["Overview of blocks", "Diagram", "Layers"]}
    for (title, page, children), end in zip(marks, starts[1:], strict=True):
        if title == "Broken — failed":
            assert children == [] and "This model failed: ValueError: broken on purpose" in texts[page]
        elif title != "Summary":
            assert [c for c, _ in children] == parts[title], title
            assert all(page < p < end for _, p in children), (title, page, children, end)
            for (child, at), part in zip(children, parts[title], strict=True):
                assert part in texts[at], (title, child)
            # The model's name heads every page of its header and section.
            assert all(text.startswith(title) for text in texts[page:end]), title
    toc = texts[1]
    for title, page, _ in marks:
        name = title.removesuffix(" — failed")
        assert re.search(rf"{re.escape(name)}( \(failed\))? *\.+ *{page + 1}\n", toc), (title, page)


def test_contents_links_and_named_destinations(built: tuple[Report, Path]) -> None:
    import pikepdf

    _report, out = built
    marks = {title.removesuffix(" — failed"): page for title, page, _ in pdf_outline(out / "report.pdf")}
    with pikepdf.open(out / "report.pdf") as pdf:
        index = {page.obj.objgen: i for i, page in enumerate(pdf.pages)}
        names = pikepdf.NameTree(pdf.Root.Names.Dests)
        keys = list(names.keys())
        assert len(keys) == len(set(keys)), "named destinations must be unique"
        dests = {key: index[names[key][0].objgen] for key in keys}
        assert dests["model-lenet"] == marks["LeNet"] and dests["model-broken"] == marks["Broken"]
        assert dests["model-stacked-blocks"] == marks["Stacked blocks"]
        targets = {str(a.Dest) for a in pdf.pages[1].obj.Annots if "/Dest" in a}
        assert targets == {"summary", "model-lenet", "model-broken", "model-stacked-blocks"}


def test_each_font_is_embedded_once(built: tuple[Report, Path]) -> None:
    """Sections bring their own font subsets; the assembled PDF keeps one per family (issue 13)."""
    import pikepdf

    _report, out = built
    families: dict[str, int] = {}
    with pikepdf.open(out / "report.pdf") as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Subtype") == "/Type0":
                family = re.sub(r"^/([A-Z]{6}\+)?", "", str(obj.BaseFont))
                families[family] = families.get(family, 0) + 1
    # WeasyPrint's names; Graphviz's drawings embed their own ("DejaVuSans"), as in a single-pass render.
    weasyprint = {f: n for f, n in families.items() if f.startswith("DejaVu-Sans")}
    assert {"DejaVu-Sans", "DejaVu-Sans-Mono"} <= set(weasyprint), families
    assert all(n == 1 for n in weasyprint.values()), families


# -- the time stamp and the cached document (issue 13) -------------------------------------
@pytest.fixture(scope="module")
def sections(built: tuple[Report, Path]) -> dict[str, bytes]:
    report, out = built
    env = jinja_environment()
    return {m.slug: render_section_pdf(m, out, page_size="A4", env=env) for m in report.models if m.ok}


def test_the_time_stamp_is_the_title_pages_footer(
    built: tuple[Report, Path], report_texts: list[str]
) -> None:
    import pdfplumber

    report, out = built
    with pdfplumber.open(out / "report.pdf") as pdf:
        title, contents = pdf.pages[0], pdf.pages[1]
        stamp = [w for w in title.extract_words(extra_attrs=["size", "fontname"]) if w["bottom"] > 700]
        number = [w for w in contents.extract_words(extra_attrs=["size", "fontname"]) if w["bottom"] > 700]
        others = [w for w in title.extract_words() if w["bottom"] <= 700]
    assert " ".join(w["text"] for w in stamp) == f"Generated {report.generated}"
    assert " ".join(w["text"] for w in number) == f"Page 2 of {len(report_texts)}"
    # Drawn as the page numbers are: the same font, size and baseline, centred on the page.
    assert {(w["fontname"], w["size"], round(w["bottom"], 2)) for w in stamp} == {
        (number[0]["fontname"], number[0]["size"], round(number[0]["bottom"], 2))
    }
    centre = (stamp[0]["x0"] + stamp[-1]["x1"]) / 2
    assert centre == pytest.approx(float(title.width) / 2, abs=0.5)
    assert others and max(w["bottom"] for w in others) < stamp[0]["top"] - 100  # clear of the title block


def test_a_cached_document_is_only_stamped_with_the_time(
    built: tuple[Report, Path], sections: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archreport.store.cache import DOCUMENTS, Cache

    report, out = built
    env = jinja_environment()
    cache = Cache(tmp_path / "cache")
    first = assemble_pdf(report, sections, env, report_dir=out, cache=cache)
    stored = list((tmp_path / "cache" / DOCUMENTS).glob("*.pdf"))
    assert len(stored) == 1
    later = replace(report, generated="2030-01-02T03:04:05Z")

    def no_layout(html: str, report_dir: Path) -> Any:
        raise AssertionError("a cache hit laid the front matter out again")

    monkeypatch.setattr(pdfassembly, "layout", no_layout)
    hit = assemble_pdf(later, sections, env, report_dir=out, cache=cache)
    monkeypatch.undo()
    # The same bytes as laying it all out again: cold and warm runs write the same report.pdf.
    assert hit == assemble_pdf(later, sections, env, report_dir=out)
    assert hit != first
    texts = pdf_pages_text(hit)
    assert texts[0].rstrip().endswith("Generated 2030-01-02T03:04:05Z")
    assert "2030" not in "".join(texts[1:]) and report.generated not in "".join(texts)
    (tmp_path / "hit.pdf").write_bytes(hit)
    assert check_pdf(tmp_path / "hit.pdf") == len(texts)


def test_the_document_key_covers_what_the_pdf_shows(
    built: tuple[Report, Path], sections: dict[str, bytes]
) -> None:
    from archreport.checks.compare import compare
    from archreport.render.exports import report_dict
    from archreport.store.cache import document_key

    report, _out = built
    env = jinja_environment()

    def key(r: Report = report, s: dict[str, bytes] = sections) -> str:
        return document_key(pdfassembly.front_matter_html(r, {}, env), s, r.page_size)

    base = key()
    assert key() == base
    assert key(replace(report, generated="2030-01-02T03:04:05Z")) == base  # stamped, never laid out
    lenet = next(m for m in report.models if m.name == "LeNet")
    described = [replace(m, description="other text") if m is lenet else m for m in report.models]
    changed = [
        key(replace(report, title="Another title")),
        key(replace(report, page_size="Letter")),
        key(replace(report, versions={**report.versions, "keras": "3.99.0"})),
        key(replace(report, models=described)),  # a model header's text
        key(replace(report, changes=compare(report_dict(report), report_dict(report)))),  # --compare
        key(s={**sections, "lenet": sections["lenet"] + b"\n"}),  # a section's bytes
        key(s=dict(reversed(sections.items()))),  # the sections' order
    ]
    assert base not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize(
    ("text", "width", "pieces"),
    [
        ("LlamaTransformerDecoder", 22, ["LlamaTransformer", "Decoder"]),
        (
            "block_14_depthwise_conv_bn_extra_long_name",
            20,
            ["block_14_depthwise_", "conv_bn_extra_long_", "name"],
        ),
        ("hello world again", 6, ["hello", "world", "again"]),
        ("x" * 45, 20, ["x" * 20, "x" * 20, "x" * 5]),  # nowhere to break: cut at the width
        ("short", 20, ["short"]),
        ("", 20, [""]),
        ("    nested_layer_name", 12, ["    nested_", "    layer_", "    name"]),  # the depth stays
    ],
)
def test_print_table_cells_wrap_where_a_reader_expects(text: str, width: int, pieces: list[str]) -> None:
    assert pdfsection._chunks(text, width) == pieces
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")  # nothing lost
    assert all(len(piece) <= width for piece in pieces)


def test_a_transformer_section_shows_its_overview_first_and_every_layer(
    models: dict[str, ModelReport], report_dir: Path, tmp_path: Path
) -> None:
    model = models["transformer"]
    section = render_section_pdf(model, report_dir, page_size="A4", env=jinja_environment())
    path = tmp_path / "section.pdf"
    path.write_bytes(section)
    check_pdf(path)
    assert [title for title, _, _ in pdf_outline(path)] == ["Overview of blocks", "Diagram", "Layers"]
    text = "\n".join(poppler_pages_text(path))  # pdfminer takes seconds over 11 pages of table
    assert "×32" in text and "Total (36 layers)" in text
    assert all(f"transformer_layer_{i} " in text for i in range(32))
    # A line for every layer, numbered in order (a long name wraps onto lines without a number).
    lines = [line for line, _ in pdfsection.print_table(model)]
    assert [int(line[:4]) for line in lines if line[:4].strip().isdigit()] == [r.index for r in model.layers]


def test_the_print_table_marks_sub_layers_never_called() -> None:
    model = reports.model("stacked-blocks")
    spare = [line for line, _ in pdfsection.print_table(model) if " spare " in line]
    assert len(spare) == 3 and all(" - " in line and "not called" in line for line in spare)


def test_the_renderer_is_set_up_through_the_same_template_as_a_model() -> None:
    # A worker sets the renderer up before its first model and swallows a failure (model/job.py):
    # a template that asked for a variable prepare() did not pass silently cost every worker's
    # first model its set-up again (about 1 s), so the set-up must itself succeed.
    from archreport.render.pdf import document
    from archreport.render.pdf import text as pdftext

    pdftext._program.cache_clear()
    pdfsection.prepare(jinja_environment())
    assert pdftext._program.cache_info().currsize == 4  # captions: regular, bold; table: mono, mono bold
    document.prepare()  # the parent's, in a thread that swallows a failure too (pipeline.py)
