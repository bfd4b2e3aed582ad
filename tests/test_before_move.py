"""The report is what it was before the package moved into subpackages (issue 23), where no issue since meant to change it.

tests/golden/before_move.json holds the sha256 of every file each model's folder held
when the example manifest and the 10-model zoo were reported on the last commit before
the move (bb18558, SOURCE_DATE_EPOCH=1700000000): the diagrams (DOT, SVG, PDF, the
overviews) and layers.md byte for byte, and layers.csv as the cells of the columns it had
then (later issues added columns on the right, which report.json's contract allows).
report.json, report.html and report.pdf gained what later issues added, so they are not
compared here; tests/test_reproducible.py keeps them byte-identical from run to run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, ROOT, run_cli, write_manifest

pytestmark = pytest.mark.slow

BEFORE = json.loads((ROOT / "tests" / "golden" / "before_move.json").read_text(encoding="utf-8"))
ZOO = ["MobileNetV2", "ResNet50", "DenseNet121", "EfficientNetB0", "InceptionV3", "NASNetMobile",
       "ConvNeXtTiny", "Xception", "VGG16", "MobileNetV3Small"]  # fmt: skip


def _digests(models: Path) -> dict[str, str]:
    found = {}
    for path in sorted(models.rglob("*")):
        if not path.is_file():
            continue
        if path.name == "layers.csv":
            rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
            keep = len(BEFORE["layers_csv_columns"])
            assert rows[0][:keep] == BEFORE["layers_csv_columns"], path  # new columns only on the right
            data = json.dumps([row[:keep] for row in rows]).encode()
        else:
            data = path.read_bytes()
        found[path.relative_to(models).as_posix()] = hashlib.sha256(data).hexdigest()
    return found


def _report(folder: Path, manifest: Path) -> Path:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    proc = run_cli(
        str(manifest),
        "-o",
        str(folder / "out"),
        "--no-cache",
        "-q",
        cwd=manifest.parent,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder / "out" / "models"


def test_the_example_reports_every_model_file_as_before_the_move(tmp_path: Path) -> None:
    models = _report(tmp_path, EXAMPLES / "manifest.toml")
    found = _digests(models)
    assert found == BEFORE["example"]
    # What makes the snapshot right: LeNet's diagram has one node per layer of the tutorial.
    assert (models / "lenet" / "diagram.dot").read_text(encoding="utf-8").count("[id=") >= 11


def test_the_zoo_reports_every_model_file_as_before_the_move(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, "".join(f'[[model]]\nname = "{n}"\napplication = "{n}"\n\n' for n in ZOO)
    )
    assert _digests(_report(tmp_path, manifest)) == BEFORE["zoo"]
