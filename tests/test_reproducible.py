"""Reproducible output: with SOURCE_DATE_EPOCH set, two runs write the same bytes.

Each run is a separate ``python -m archreport`` process with ``--no-cache``,
so every model is really rebuilt and every diagram really laid out again.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from archreport.errors import UsageError
from archreport.pipeline import generated_time
from tests.helpers import LENET, check_pdf, copy_example_builders, run_cli, write_manifest

EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
MANIFEST = f"""
[report]
title = "reproducible"
{LENET}
[[model]]
name = "Residual block"
builder = "blocks:residual_block"
kwargs = {{ input_shape = [32, 32, 3], filters = 16, classes = 10 }}
"""
MODEL_FILES = ["diagram.dot", "diagram.svg", "diagram.pdf", "layers.csv", "layers.md"]
GENERATED = re.compile(r"Generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reproducible")
    copy_example_builders(folder)
    write_manifest(folder, MANIFEST)
    return folder


def run(project: Path, out: Path, env: dict[str, str], *extra: str) -> Path:
    proc = run_cli(
        str(project / "manifest.toml"), "-o", str(out), "--no-cache", "-j", "2", *extra, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def two_reproducible_runs(project: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    first = tree(run(project, project / "first", env))
    time.sleep(1.1)  # a wall-clock time stamp would now differ by at least a second
    second = tree(run(project, project / "second", env))
    return first, second


@pytest.mark.slow
def test_two_runs_write_byte_identical_reports(two_reproducible_runs: tuple) -> None:
    first, second = two_reproducible_runs
    expected = {"report.html", "report.json", "report.pdf"} | {
        f"models/{slug}/{name}" for slug in ("lenet", "residual-block") for name in MODEL_FILES
    }
    assert expected <= set(first), sorted(expected - set(first))
    assert set(first) == set(second)
    differing = sorted(name for name in first if first[name] != second[name])
    assert differing == [], f"these files differ between two runs: {differing}"


@pytest.mark.slow
def test_report_is_stamped_with_source_date_epoch(two_reproducible_runs: tuple) -> None:
    first, _second = two_reproducible_runs
    report = json.loads(first["report.json"])
    assert report["generated"] == "2023-11-14T22:13:20Z"
    assert "Generated 2023-11-14T22:13:20Z" in first["report.html"].decode()
    # Stage timings change from run to run, so a reproducible report leaves them out.
    assert all("timings" not in m for m in report["models"])
    assert all(m["status"] == "ok" for m in report["models"])


@pytest.mark.slow
@pytest.mark.parametrize("slug", ["lenet", "residual-block"])
def test_diagram_pdf_has_no_run_time_and_stays_valid(
    project: Path, two_reproducible_runs: tuple, slug: str
) -> None:
    first, _second = two_reproducible_runs
    data = first[f"models/{slug}/diagram.pdf"]
    assert b"/CreationDate" not in data, "cairo's time stamp was left in the diagram PDF"
    reader = PdfReader(project / "first" / "models" / slug / "diagram.pdf", strict=True)
    assert len(reader.pages) == 1
    assert reader.metadata is not None and reader.metadata.creation_date is None
    assert "cairo" in str(reader.metadata.producer)
    assert float(reader.pages[0].mediabox.width) > 0
    assert reader.pages[0].extract_text().strip(), "the diagram PDF lost its text"


@pytest.mark.slow
def test_report_pdf_has_no_random_id_or_run_time(project: Path, two_reproducible_runs: tuple) -> None:
    first, second = two_reproducible_runs
    # The PDF is assembled with pikepdf: its /ID is a digest of the content, not random,
    # and no time of the run is written.
    readers = [PdfReader(io.BytesIO(run["report.pdf"]), strict=True) for run in (first, second)]
    assert readers[0].trailer["/ID"] == readers[1].trailer["/ID"]
    created = readers[0].metadata.creation_date if readers[0].metadata else None
    assert created is None or created.timestamp() == int(EPOCH)
    assert check_pdf(project / "first" / "report.pdf") == len(readers[0].pages) >= 3


@pytest.mark.slow
def test_without_source_date_epoch_runs_differ_only_in_the_time(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    htmls = []
    for name in ("now-1", "now-2"):
        out = run(project, project / name, {}, "--format", "html")
        htmls.append((out / "report.html").read_text(encoding="utf-8"))
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["generated"] != "2023-11-14T22:13:20Z"
        assert all("timings" in m for m in report["models"]), "a normal run reports stage timings"
        time.sleep(1.1)
    stamps = [GENERATED.findall(h) for h in htmls]
    assert all(len(s) == 1 for s in stamps), stamps
    assert stamps[0] != stamps[1], "the two runs were a second apart; their time stamps must differ"
    masked = [GENERATED.sub("Generated <time>", h) for h in htmls]
    assert masked[0] == masked[1]


def test_invalid_source_date_epoch_is_a_usage_error(project: Path) -> None:
    out = project / "bad-epoch"
    proc = run_cli(
        str(project / "manifest.toml"), "-o", str(out), env={"SOURCE_DATE_EPOCH": "abc"}, timeout=120
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "SOURCE_DATE_EPOCH='abc' is not a valid time" in proc.stderr
    assert not out.exists()
    assert not list(project.glob(".bad-epoch.staging-*"))


@pytest.mark.parametrize("raw", ["-1", " 5", "1_000", "\u0663", "1.5", ""])
def test_source_date_epoch_is_ascii_digits_only(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", raw)
    with pytest.raises(
        UsageError, match=r"SOURCE_DATE_EPOCH=.* is not a valid time: expected a whole number"
    ):
        generated_time()


def test_source_date_epoch_zero_and_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert generated_time() == "1970-01-01T00:00:00Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798329600")  # 2026-12-27, 24 * 3600 * 20814 s
    assert generated_time() == "2026-12-27T00:00:00Z"
