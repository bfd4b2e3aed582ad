"""The bad-inputs corpus: every folder in tests/bad_inputs/ is one broken input, run through the real command.

Each case folder holds its input (manifest.toml, builder modules, ...) and a case.toml; the
tiny builder in _shared/ is copied beside every case's manifest:

    exit_code = 2                    # the expected exit code
    message = "fragment"             # in stderr (exit 2/3) or in a failed model's error (exit 1)
    also = ["more", "fragments"]     # optional: further fragments, same place
    args = ["-j", "0"]               # optional: extra command-line arguments
    env = { NAME = "value" }         # optional: extra environment
    manifest = "manifest.toml"       # optional: the path given on the command line
    model_files = ["lambda.keras"]   # optional: generated model files copied beside the manifest
    absent_canaries = ["canary-keras"]    # canary files that must not exist after the run
    present_canaries = ["canary-trusted"] # canary files that must exist (the positive control)

Model files are generated once per session by make_lambda_models.py (no binaries in the tree).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers import run_cli

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.toml").is_file())
CASE_KEYS = {
    "exit_code", "message", "also", "args", "env", "manifest", "model_files",
    "absent_canaries", "present_canaries",
}  # fmt: skip


def test_corpus_is_big_and_mostly_manifest_errors() -> None:
    cases = [tomllib.loads((CORPUS / name / "case.toml").read_text(encoding="utf-8")) for name in CASES]
    assert len(cases) >= 25
    assert sum(c["exit_code"] == 2 for c in cases) >= 0.7 * len(cases)
    for name, case in zip(CASES, cases, strict=True):
        assert set(case) <= CASE_KEYS, f"{name}: unknown case.toml keys {set(case) - CASE_KEYS}"
        assert case["exit_code"] in (1, 2, 3), name
        assert case["message"].strip(), name


@pytest.fixture(scope="session")
def lambda_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder of generated model files, folder their Lambdas would write canaries into)."""
    root = tmp_path_factory.mktemp("lambda-models")
    files, canaries = root / "files", root / "canaries"
    proc = subprocess.run(
        [sys.executable, str(CORPUS / "make_lambda_models.py"), str(files), str(canaries)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(canaries.iterdir()), "the generator must leave no canary behind"
    return files, canaries


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    case = tomllib.loads((CORPUS / name / "case.toml").read_text(encoding="utf-8"))
    work = tmp_path / "case"
    # Every case sees the shared tiny builder beside its manifest, then its own files.
    shutil.copytree(CORPUS / "_shared", work, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        CORPUS / name, work, ignore=shutil.ignore_patterns("case.toml", "__pycache__"), dirs_exist_ok=True
    )
    canaries = None
    if case.get("model_files"):
        files, canaries = request.getfixturevalue("lambda_models")
        for file in case["model_files"]:
            shutil.copy(files / file, work / file)
        for canary in case.get("present_canaries", []) + case.get("absent_canaries", []):
            (canaries / canary).unlink(missing_ok=True)

    out = tmp_path / "out"
    manifest = work / case.get("manifest", "manifest.toml")
    proc = run_cli(
        str(manifest), "-o", str(out), "--format", "html", "--no-cache", *case.get("args", []),
        cwd=work, env=case.get("env"), timeout=300,
    )  # fmt: skip
    shown = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    assert proc.returncode == case["exit_code"], shown
    assert "Traceback" not in proc.stderr, shown
    fragments = [case["message"], *case.get("also", [])]
    if case["exit_code"] in (2, 3):
        for fragment in fragments:
            assert fragment in proc.stderr, shown
        # One paragraph: a single ERROR line (argparse may print its usage line before it).
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR ")]
        assert len(errors) == 1, shown
        if (
            manifest.exists()
            and manifest.is_file()
            and case["exit_code"] == 2
            and name not in _NO_FILE_IN_MESSAGE
        ):
            assert "manifest.toml" in errors[0], f"the message does not name the file:\n{shown}"
        # Nothing was built or written: no output folder, no staging folder, no cache.
        assert not out.exists(), shown
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], shown
        assert not (work / ".archreport-cache").exists(), shown
    else:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        errors = [m["error"] for m in report["models"] if m["status"] == "failed"]
        assert errors, shown
        for fragment in fragments:
            assert any(fragment in e for e in errors), f"{fragment!r} not in {errors}"
    if canaries is not None:
        for canary in case.get("absent_canaries", []):
            assert not (canaries / canary).exists(), f"{canary}: a refused model's Lambda code ran"
        for canary in case.get("present_canaries", []):
            assert (canaries / canary).exists(), (
                f"{canary}: the trusted model's Lambda did not run (the canary test proves nothing)"
            )


# Command-line and environment errors are about the invocation, not about the manifest file.
_NO_FILE_IN_MESSAGE = {"jobs_zero", "invalid_source_date_epoch", "unknown_cli_format"}
