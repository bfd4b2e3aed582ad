"""The wheel ships the templates, and importing archreport stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_contains_package_and_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    wheel = next(tmp_path.glob("archreport-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {
        p.name for p in (ROOT / "archreport/render/templates").iterdir() if p.suffix in {".j2", ".css", ".js"}
    }
    assert templates >= {
        "report.html.j2",
        "print.html.j2",
        "_macros.j2",
        "style.css",
        "print.css",
        "viewer.js",
        "sections.js",
        "_changes.html.j2",
        "review.css",
        "review.js",
    }
    for name in templates:
        assert f"archreport/render/templates/{name}" in names, name
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "archreport").rglob("*.py")}
    assert len(modules) > 40
    for name in modules:
        assert name in names, name
    assert "archreport/py.typed" in names  # the library's type hints reach users' type checkers
    assert not any(n.startswith(("tests/", "templates/", "examples/", "benchmarks/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "archreport = archreport.__main__:cli" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_import_does_not_load_tensorflow() -> None:
    code = "import sys, archreport, archreport.pipeline, archreport.render.write; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def test_every_public_name_is_on_the_package_before_keras_loads() -> None:
    """The README tells report() and describe() callers to catch `UsageError`, and a notebook completes
    `archreport.<Tab>` from dir(): both must work on a bare `import archreport`, still without Keras."""
    code = (
        "import json, sys, archreport, archreport.errors; print(json.dumps(["
        "archreport.UsageError is archreport.errors.UsageError, "
        "sorted(set(archreport.__all__) - set(dir(archreport))), 'keras' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == [True, [], False]


def test_the_suite_collects_under_plain_pytest_too() -> None:
    """nox runs the `pytest` script, ./dev runs `python -m pytest`: both must import tests.helpers."""
    script = Path(sys.executable).with_name("pytest")
    proc = subprocess.run(
        [str(script), "--collect-only", "-q", "tests/test_manifest.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "test_manifest.py::" in proc.stdout
