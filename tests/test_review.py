"""Expectations, architecture diffs and the PDF renderer's fetch policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archreport import generate
from archreport.checks.compare import load_baseline
from archreport.errors import RenderError, UsageError
from archreport.render.pdf.weasy import fetcher
from tests.helpers import check_pdf, copy_example_builders, lenet_table, run_cli, write_manifest

LENET = lenet_table(
    more="""
[model.expect]
params = {params}
output_shape = "(None, 10)"
flops = {{ value = 13.1e6, rel_tol = 0.01 }}
max_param_bytes = 6_000_000

[model.expect.layers]
conv2d_1 = "(None, 14, 14, 50)"
max_pooling2d_1 = "{pool}"
"""
)


def test_expectations_pass_and_fail(tmp_path: Path) -> None:
    """A wrong total and the tutorial's wrong volume (14x14x50 after the second pooling) both fail."""
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, LENET.format(params=1_000_000, pool="(None, 14, 14, 50)"))
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--format", "html")
    assert proc.returncode == 1, proc.stderr
    assert "EXPECT  2 expectations failed LeNet: 1.26 M params" in proc.stdout
    assert "1 model: 1 ok, 0 failed, 2 expectation failures;" in proc.stdout
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    results = {e["key"]: e for e in data["models"][0]["expectations"]}
    assert {k: results["params"][k] for k in ("expected", "actual", "ok", "status")} == {
        "expected": 1_000_000, "actual": 1_256_080, "ok": False, "status": "violated",
    }  # fmt: skip
    assert results["output_shape"]["ok"] and results["flops"]["ok"] and results["max_param_bytes"]["ok"]
    assert results["layers.conv2d_1.output_shape"]["status"] == "held"
    pool = results["layers.max_pooling2d_1.output_shape"]
    assert (pool["status"], pool["ok"], pool["actual"]) == ("violated", False, "(None, 7, 7, 50)")
    assert (
        pool["message"]
        == "layer 'max_pooling2d_1' output shape: expected (None, 14, 14, 50), got (None, 7, 7, 50)."
    )
    row = next(r for r in data["models"][0]["layers"] if r["name"] == "max_pooling2d_1")
    assert pool["anchor"] == row["anchor"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "2 expectations failed" in html and "FAILED" in html
    assert f'<a href="#{row["anchor"]}">layers.max_pooling2d_1.output_shape</a>' in html
    assert "expected (None, 14, 14, 50), got (None, 7, 7, 50)" in html

    write_manifest(tmp_path, LENET.format(params=1_256_080, pool="(None, 7, 7, 50)"))
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"), "--format", "html")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_expectation_key_is_a_manifest_error(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    manifest = write_manifest(
        tmp_path,
        LENET.format(params=1, pool="?").replace(
            "[model.expect.layers]", "paramz = 3\n[model.expect.layers]"
        ),
    )
    proc = run_cli(str(manifest), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "model[1].expect.paramz: unknown key (did you mean 'params'?)" in proc.stderr


@pytest.mark.slow
def test_compare_shows_a_changed_model(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, LENET.format(params=1_256_080, pool="(None, 7, 7, 50)"))
    generate(manifest, tmp_path / "base", formats=["html"])
    same = generate(manifest, tmp_path / "same", formats=["html"], compare=tmp_path / "base")
    assert same.changes is not None and same.changes["unchanged"]
    assert "No architecture changes since the baseline" in (tmp_path / "same" / "report.html").read_text()

    lenet = tmp_path / "lenet.py"
    lenet.write_text(lenet.read_text().replace("layers.Dense(500)", "layers.Dense(400)"))
    changed = generate(manifest, tmp_path / "new", compare=tmp_path / "base" / "report.json")
    assert changed.changes is not None and not changed.changes["unchanged"]
    entry = changed.changes["models_changed"][0]
    layers = {c["name"]: c["changes"] for c in entry["layers_changed"]}
    assert layers["dense"]["output_shape"] == ["(None, 500)", "(None, 400)"]
    assert layers["dense"]["params"] == [1_225_500, 980_400]
    assert layers["dense_1"]["params"] == [5010, 4010]
    assert entry["totals"]["params"]["delta"] == (980_400 + 4010) - (1_225_500 + 5010)
    data = json.loads((tmp_path / "new" / "report.json").read_text())
    assert data["changes"] == changed.changes
    html = (tmp_path / "new" / "report.html").read_text()
    assert "Changes since baseline" in html and "(None, 400)" in html
    from pypdf import PdfReader

    check_pdf(tmp_path / "new" / "report.pdf")
    pdf = "\n".join(p.extract_text() for p in PdfReader(tmp_path / "new" / "report.pdf").pages)
    assert "Changes since baseline" in pdf and "(None, 400)" in pdf


def test_compare_with_a_bad_baseline_is_a_usage_error(tmp_path: Path) -> None:
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, LENET.format(params=1, pool="?"))
    (tmp_path / "bad.json").write_text("{}")
    proc = run_cli(str(manifest), "--compare", str(tmp_path / "bad.json"))
    assert proc.returncode == 2
    assert "is not an archreport report.json" in proc.stderr


def test_pdf_fetcher_serves_only_report_files(tmp_path: Path) -> None:
    report = tmp_path / "report"
    (report / "models").mkdir(parents=True)
    (report / "models" / "x.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("secret")
    fetch = fetcher(report)
    assert fetch((report / "models" / "x.svg").as_uri())["string"] == b"<svg/>"
    with pytest.raises(RenderError, match="outside the report folder"):
        fetch((tmp_path / "secret.txt").as_uri())
    with pytest.raises(RenderError, match="outside the report folder"):
        fetch(report.as_uri() + "/../secret.txt")
    with pytest.raises(RenderError, match="only the report's own files"):
        fetch("https://example.com/x.png")
    with pytest.raises(RenderError, match="missing"):
        fetch((report / "models" / "gone.svg").as_uri())


def test_a_baseline_with_a_number_longer_than_python_reads_is_a_usage_error(tmp_path: Path) -> None:
    # json.loads raises Python's ValueError (not a JSONDecodeError) on an integer over 4,300 digits.
    (tmp_path / "long.json").write_text('{"models": [], "n": ' + "9" * 4303 + "}")
    with pytest.raises(
        UsageError, match=r"long\.json: cannot read .*long\.json: Exceeds the limit \(4300 digits\)"
    ):
        load_baseline(tmp_path / "long.json")
