"""The bad-inputs corpus: every folder in tests/bad_inputs/ is one broken input.

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

Three tiers (issue 16): every exit-2 manifest case runs in-process through ``manifest.load``;
the exit-2 command-line cases (args or env) run in-process through ``archreport.__main__.main``;
about ten cases also run end to end through the real command, and the other end-to-end runs
are marked ``slow`` (CI runs them all).

Model files are generated once per session by make_lambda_models.py (no binaries in the tree).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from archreport import manifest
from archreport.__main__ import main
from archreport.errors import ManifestError
from tests.helpers import run_cli, run_cli_bound_by_permissions

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.toml").is_file())
CASE_KEYS = {
    "exit_code", "message", "also", "args", "env", "manifest", "model_files",
    "absent_canaries", "present_canaries",
}  # fmt: skip
# Command-line and environment errors are about the invocation, not about the manifest file.
_NO_FILE_IN_MESSAGE = {
    "compare_malformed_baseline", "empty_cli_format", "jobs_zero", "invalid_source_date_epoch", "unknown_cli_format",
    "compare_schema_99", "compare_schema_bool", "compare_schema_none", "compare_schema_string",
}  # fmt: skip


def _case(name: str) -> dict[str, Any]:
    return tomllib.loads((CORPUS / name / "case.toml").read_text(encoding="utf-8"))


def _is_cli(case: dict[str, Any]) -> bool:
    return bool(case.get("args") or case.get("env"))


LOAD_CASES = [n for n in CASES if _case(n)["exit_code"] == 2 and not _is_cli(_case(n))]
CLI_CASES = [n for n in CASES if _case(n)["exit_code"] == 2 and _is_cli(_case(n))]
# End to end in the fast tier: two builders that fail in their worker (exit 1), the missing
# Graphviz (exit 3), a few exit 2s. The slow tier runs every case end to end.
END_TO_END = {
    "builder_missing_behind_getattr", "builder_raises", "graphviz_missing", "invalid_toml", "jobs_zero",
    "non_utf8", "unknown_model_key_inline", "unknown_report_key",
}  # fmt: skip


def test_corpus_is_big_and_mostly_manifest_errors() -> None:
    cases = [_case(name) for name in CASES]
    assert len(cases) >= 25
    assert sum(c["exit_code"] == 2 for c in cases) >= 0.7 * len(cases)
    for name, case in zip(CASES, cases, strict=True):
        assert set(case) <= CASE_KEYS, f"{name}: unknown case.toml keys {set(case) - CASE_KEYS}"
        assert case["exit_code"] in (1, 2, 3), name
        assert case["message"].strip(), name
    assert END_TO_END.issubset(CASES)
    assert len(LOAD_CASES) + len(CLI_CASES) >= 40  # the in-process tier covers every exit-2 case


def _prepare(name: str, tmp_path: Path) -> tuple[dict[str, Any], Path, Path]:
    """(case, work folder, manifest path): the shared tiny builder, then the case's own files."""
    case = _case(name)
    work = tmp_path / "case"
    shutil.copytree(CORPUS / "_shared", work, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        CORPUS / name, work, ignore=shutil.ignore_patterns("case.toml", "__pycache__"), dirs_exist_ok=True
    )
    return case, work, work / case.get("manifest", "manifest.toml")


def _fragments(case: dict[str, Any]) -> list[str]:
    return [case["message"], *case.get("also", [])]


@pytest.mark.parametrize("name", LOAD_CASES)
def test_manifest_case(name: str, tmp_path: Path) -> None:
    """The loader alone gives the case's message: one line naming the file."""
    case, work, path = _prepare(name, tmp_path)
    with pytest.raises(ManifestError) as info:
        manifest.load(path)
    message = str(info.value)
    assert info.value.exit_code == case["exit_code"] == 2
    for fragment in _fragments(case):
        assert fragment in message, message
    assert "\n" not in message and "Traceback" not in message, message
    if path.is_file():
        assert message.startswith(str(path)), f"the message does not name the file: {message}"
    assert not (work / ".archreport-cache").exists()


@pytest.mark.parametrize("name", CLI_CASES)
def test_command_line_case(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors only the command sees (arguments, environment), run in this process."""
    case, work, path = _prepare(name, tmp_path)
    for key, value in case.get("env", {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(work)
    out = tmp_path / "out"
    handler = signal.getsignal(signal.SIGTERM)  # main() installs its own; give pytest's back
    try:
        code = main([str(path), "-o", str(out), "--format", "html", "--no-cache", *case.get("args", [])])
    finally:
        signal.signal(signal.SIGTERM, handler)
    err = capsys.readouterr().err
    assert code == case["exit_code"], err
    for fragment in _fragments(case):
        assert fragment in err, err
    errors = [line for line in err.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1, err
    if name not in _NO_FILE_IN_MESSAGE:
        assert "manifest.toml" in errors[0], err
    assert not out.exists() and not (work / ".archreport-cache").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


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


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in END_TO_END else pytest.mark.slow) for n in CASES]
)
def test_end_to_end(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The real command, in a process of its own: exit code, one ERROR paragraph, nothing left behind."""
    case, work, manifest_path = _prepare(name, tmp_path)
    canaries = None
    if case.get("model_files"):
        files, canaries = request.getfixturevalue("lambda_models")
        for file in case["model_files"]:
            shutil.copy(files / file, work / file)
        for canary in case.get("present_canaries", []) + case.get("absent_canaries", []):
            (canaries / canary).unlink(missing_ok=True)

    out = tmp_path / "out"
    proc = run_cli(
        str(manifest_path), "-o", str(out), "--format", "html", "--no-cache", *case.get("args", []),
        cwd=work, env=case.get("env"), timeout=300,
    )  # fmt: skip
    shown = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    assert proc.returncode == case["exit_code"], shown
    assert "Traceback" not in proc.stderr, shown
    if case["exit_code"] in (2, 3):
        for fragment in _fragments(case):
            assert fragment in proc.stderr, shown
        # One paragraph: a single ERROR line (argparse may print its usage line before it).
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR ")]
        assert len(errors) == 1, shown
        if manifest_path.is_file() and case["exit_code"] == 2 and name not in _NO_FILE_IN_MESSAGE:
            assert "manifest.toml" in errors[0], f"the message does not name the file:\n{shown}"
        # Nothing was built or written: no output folder, no staging folder, no cache.
        assert not out.exists(), shown
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], shown
        assert not (work / ".archreport-cache").exists(), shown
    else:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        errors = [m["error"] for m in report["models"] if m["status"] == "failed"]
        assert errors, shown
        for fragment in _fragments(case):
            assert any(fragment in e for e in errors), f"{fragment!r} not in {errors}"
    if canaries is not None:
        for canary in case.get("absent_canaries", []):
            assert not (canaries / canary).exists(), f"{canary}: a refused model's Lambda code ran"
        for canary in case.get("present_canaries", []):
            assert (canaries / canary).exists(), (
                f"{canary}: the trusted model's Lambda did not run (the canary test proves nothing)"
            )


def test_an_unreadable_builder_module_is_one_paragraph_naming_file_and_key(tmp_path: Path) -> None:
    """Reading the module to check its builder raised PermissionError out of the command: a traceback."""
    _, work, manifest_path = _prepare("builder_raises", tmp_path)
    (work / "tiny.py").chmod(0o000)
    try:
        proc = run_cli_bound_by_permissions(str(manifest_path), "-o", str(tmp_path / "out"), cwd=work)
    finally:
        (work / "tiny.py").chmod(0o644)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (message,) = [line for line in proc.stderr.splitlines() if line.strip()]
    assert re.fullmatch(
        rf"ERROR {re.escape(str(manifest_path))}, line \d+: model\[1\]\.builder: cannot read the builder's "
        rf"module {re.escape(str(work / 'tiny.py'))}: Permission denied\.",
        message,
    ), message
    assert not (tmp_path / "out").exists()
