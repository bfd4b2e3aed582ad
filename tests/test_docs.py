"""The README and every docs page: their examples are valid and their links lead somewhere.

A reader copies what the documentation shows. So every TOML block that holds a
manifest must pass the schema (the editor's JSON Schema and the loader's), every
Python block must compile, every ``python -m archreport`` line may use only options
the command has, and every relative link must name a file (and a heading) that
exists. The README's quick-start manifest is also run, in the slow tier.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from archreport.__main__ import build_parser
from archreport.manifest import schema
from tests.helpers import ROOT, copy_example_builders, run_cli, write_manifest

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 8 * 1024  # the README is where users start, not the reference


def _blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of ``page`` in ``language`` ("" for blocks that name none)."""
    blocks: list[str] = []
    fence: str | None = None  # the open block's language
    lines: list[str] = []
    for line in page.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.startswith("```"):
            lines.append(line)
        elif fence is None:
            fence, lines = line[3:].strip(), []
        else:
            if fence == language:
                blocks.append("".join(lines))
            fence = None
    assert fence is None, f"{page.name}: a code block is not closed"
    return blocks


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.fixture(scope="module")
def validator() -> Any:
    import jsonschema

    return jsonschema.Draft4Validator(schema.json_schema())


def test_the_docs_pages_exist_and_the_readme_stays_short() -> None:
    names = {p.name for p in PAGES}
    assert names >= {
        "README.md", "command-line.md", "manifest.md", "outputs.md", "numbers.md", "library.md",
        "cluster.md", "security.md", "development.md",
    }  # fmt: skip
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_manifest_shown_is_valid(page: Path, validator: Any) -> None:
    for block in _blocks(page, "toml"):
        data = tomllib.loads(block)
        if "model" not in data:
            continue  # a fragment: [report] alone, a .taplo.toml rule
        assert list(validator.iter_errors(data)) == [], block
        schema.validate(data)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_block_compiles(page: Path) -> None:
    for i, block in enumerate(_blocks(page, "python")):
        compile(block, f"{page.name}[python block {i}]", "exec")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_line_uses_options_the_command_has(page: Path) -> None:
    parser = build_parser("archreport")
    known = {option for action in parser._actions for option in action.option_strings}
    lines = [
        line
        for language in ("sh", "")
        for block in _blocks(page, language)
        for line in block.splitlines()
        if "python -m archreport" in line and "[" not in line  # a usage synopsis has [OPTIONS]
    ]
    for line in lines:
        words = shlex.split(line.split("#", 1)[0].split("python -m archreport", 1)[1])
        for word in words:
            if word.startswith("-"):
                assert word.split("=", 1)[0] in known, f"{page.name}: {line}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), flags=re.MULTILINE)
            assert anchor in {_anchor(h) for h in headings}, f"{page.name} links to {target}"


@pytest.mark.slow
def test_the_readme_quick_start_manifest_runs(tmp_path: Path) -> None:
    """The six-line manifest beside the tutorial's lenet.py: its expectations hold, exit 0."""
    readme = ROOT / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Quick start: a manifest", 1)[1]
    manifest = section.split("```toml\n", 1)[1].split("```", 1)[0]
    copy_example_builders(tmp_path)
    path = write_manifest(tmp_path, manifest)
    proc = run_cli(str(path), "--format", "html", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    (model,) = report["models"]
    assert [e["key"] for e in model["expectations"] if e["ok"]] == ["params", "output_shape"]
