"""Helpers shared by the tests: paths, golden files, manifests and running the real command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ARTIFACTS = ROOT / "test-artifacts"


def check_golden(path: Path, text: str, update: bool) -> None:
    """Compare ``text`` with a golden file (or rewrite it with --update-golden)."""
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not update:
            pytest.fail(f"golden file {path} did not exist; it was written, check it in")
    assert text == path.read_text(encoding="utf-8"), (
        f"output differs from {path}; rerun with --update-golden if intended"
    )


def write_manifest(folder: Path, text: str, name: str = "manifest.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def copy_example_builders(folder: Path) -> None:
    for name in ("lenet.py", "blocks.py"):
        shutil.copy(EXAMPLES / name, folder / name)


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m archreport`` in a separate process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "archreport", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def analyse_in(backend: str, jobs: list[dict], timeout: float = 900) -> dict:
    """Analyses of ``jobs`` (see tests/analyse_job.py) made in a fresh process of that Keras backend."""
    import json

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.analyse_job", backend],
        input=json.dumps(jobs), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
