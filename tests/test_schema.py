"""The manifest's JSON Schema: what editors (taplo, Even Better TOML) check a manifest against."""

from __future__ import annotations

import json
import signal
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archreport import manifest
from archreport.__main__ import main
from archreport.errors import ManifestError
from archreport.manifest import schema
from tests.helpers import EXAMPLES, copy_example_builders, run_cli, write_manifest

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
# The exit-2 corpus cases a JSON Schema cannot catch, and why. Every other exit-2 case must be a
# JSON Schema error (test_corpus_errors_are_schema_errors), and every case here must still pass the
# schema (test_schema_limits_are_real): tightening the schema means moving a case out of this list.
NOT_EXPRESSIBLE = {
    # Not a document: no file, no TOML, or not UTF-8 (the editor's TOML parser flags the last three).
    "manifest_missing": "no file", "manifest_is_directory": "no file", "invalid_toml": "TOML syntax",
    "duplicate_toml_key": "TOML syntax", "non_utf8": "TOML syntax", "utf8_bom": "TOML syntax",
    # The command line and the environment, not the manifest.
    "jobs_zero": "-j", "only_unknown_model": "--only", "unknown_cli_format": "--format",
    "empty_cli_format": "--format", "compare_malformed_baseline": "--compare",
    "compare_schema_99": "--compare", "compare_schema_none": "--compare", "compare_schema_string": "--compare",
    "compare_schema_bool": "--compare",
    "invalid_source_date_epoch": "SOURCE_DATE_EPOCH",
    # The file system beside the manifest: builder modules and model files.
    "builder_module_missing": "files", "builder_attribute_missing": "files",
    "builder_not_callable": "files", "builder_package_submodule_missing": "files",
    "model_file_missing": "files", "model_file_is_directory": "files",
    # Only a folder archreport would create is refused: whether it exists is the file system's.
    "output_dir_named_tilde": "files",
    # The installed Keras's application names: a schema file written once would go stale.
    "unknown_application": "installed Keras",
    # uniqueItems compares whole tables, not one key of them.
    "duplicate_names": "unique key",
    # JSON has no NaN: an editor sees no value to reject (and minimum/maximum let NaN through).
    "nan_in_kwargs": "NaN",
}  # fmt: skip
# Rejected by the loader's file checks (after "is a directory"), not by schema.validate.
FILE_CHECKS = {"model_file_extension"}


def _case(name: str) -> dict[str, Any]:
    return tomllib.loads((CORPUS / name / "case.toml").read_text(encoding="utf-8"))


EXIT_2 = sorted(p.name for p in CORPUS.iterdir() if (p / "case.toml").is_file() and _case(p.name)["exit_code"] == 2)  # fmt: skip
REJECTED = [name for name in EXIT_2 if name not in NOT_EXPRESSIBLE]


def _manifest(name: str) -> dict[str, Any]:
    return tomllib.loads((CORPUS / name / "manifest.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> Any:
    document = schema.json_schema()
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)  # a valid draft-4 schema, the draft taplo reads
    assert cls is jsonschema.Draft4Validator
    return cls(document)


def test_example_manifest_is_valid(validator: Any) -> None:
    data = tomllib.loads((EXAMPLES / "manifest.toml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(data)) == []
    assert data["model"][0]["expect"]["layers"]  # the per-layer table is part of what was checked


def test_new_keys_are_in_the_schema(validator: Any) -> None:
    good = {
        "report": {"backend": "shape-only", "batch_size": 4, "executor": "tls://sched:8786"},
        "model": [
            {"name": "a", "builder": "m:f", "inputs": {"token_ids": [128]}, "backend": "jax"},
            {"name": "b", "application": "MobileNetV2", "input_shapes": [[128], [128]], "batch_size": 2,
             "expect": {"accept_lower_bound": True, "layers": {"pool": "(None, 7, 7, 50)", "outer/inner": {"params": 0}}}},
        ],
    }  # fmt: skip
    assert list(validator.iter_errors(good)) == []
    bad = [
        {"report": {"backend": "gpu"}},
        {"report": {"batch_size": 0}},
        {"report": {"executor": "tcp://h:1"}},
        {"model": [{"name": "a", "builder": "m:f", "inputs": {"x": [0]}}]},
        {"model": [{"name": "a", "builder": "m:f", "inputs": {"x": [1]}, "input_shapes": [[1]]}]},
        {"model": [{"name": "a", "builder": "m:f", "expect": {"layers": {"pool": 3}}}]},
    ]
    for doc in bad:
        assert list(validator.iter_errors({"model": [{"name": "a", "builder": "m:f"}], **doc})), doc


def test_the_case_lists_name_real_cases() -> None:
    assert set(NOT_EXPRESSIBLE) <= set(EXIT_2) and set(REJECTED) >= FILE_CHECKS
    assert len(REJECTED) >= 20  # most manifest errors are schema errors


@pytest.mark.parametrize("name", REJECTED)
def test_corpus_errors_are_schema_errors(validator: Any, name: str) -> None:
    data = _manifest(name)
    errors = list(validator.iter_errors(data))
    assert errors, f"{name}: the JSON Schema accepts what the loader rejects"
    if name in FILE_CHECKS:
        assert schema.validate(data).model  # manifest.load rejects it (tests/test_bad_inputs.py)
        return
    with pytest.raises(schema.SchemaError, match=r"\S"):  # and the loader's schema agrees
        schema.validate(data)


@pytest.mark.parametrize("name", sorted(NOT_EXPRESSIBLE))
def test_schema_limits_are_real(validator: Any, name: str) -> None:
    """A case listed as beyond the schema is a valid document (or no TOML document at all)."""
    try:
        data = _manifest(name)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        assert NOT_EXPRESSIBLE[name] in ("no file", "TOML syntax"), name
        return
    assert list(validator.iter_errors(data)) == [], name


def test_loader_rules_beyond_the_corpus(validator: Any) -> None:
    """The schema says what __post_init__ and the validators say, no more: (rejected, accepted) pairs."""
    base = {"name": "a", "builder": "m:f"}
    pairs = [
        ({"name": "a", "file": "m.keras", "kwargs": {"x": 1}}, {"name": "a", "file": "m.keras", "args": []}),
        ({"name": "a", "application": "ResNet50", "args": [1]}, {"name": "a", "application": "ResNet50", "kwargs": {"x": 1}}),
        ({"name": "a", "builder": "m:f", "file": "m.keras", "args": [1]}, {**base, "args": [1]}),
        ({"name": " ", "builder": "m:f"}, {"name": " a", "builder": "m:f"}),
        ({**base, "input_shapes": []}, {**base, "input_shapes": [[3]]}),
        ({**base, "expect": {"flops": 2**1024}}, {**base, "expect": {"flops": 2**1023}}),
        ({**base, "diagram": {"timeout": 10**400}}, {**base, "diagram": {"timeout": 1e300}}),
    ]  # fmt: skip
    for bad, good in pairs:
        assert list(validator.iter_errors({"model": [bad]})), bad
        with pytest.raises(schema.SchemaError, match=r"\S"):
            schema.validate({"model": [bad]})
        assert list(validator.iter_errors({"model": [good]})) == [], good
        assert schema.validate({"model": [good]}).model
    assert list(validator.iter_errors({"report": {"title": "t"}, "model": []}))


@pytest.mark.parametrize(
    ("file", "accepted"),
    [("m.keras", True), ("M.KERAS", True), ("sub/m.Hdf5", True), ("m.json/", True),
     (".keras", False), ("m.pt", False), ("m", False), ("m.keras.bak", False)],
)  # fmt: skip
def test_model_file_pattern_is_the_loaders(validator: Any, tmp_path: Path, file: str, accepted: bool) -> None:
    """The file-name pattern accepts what manifest.load accepts (the file exists), and only that."""
    target = tmp_path / file.rstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("{}", encoding="utf-8")
    path = tmp_path / "manifest.toml"
    path.write_text(f'[[model]]\nname = "m"\nfile = "{file}"\n', encoding="utf-8")
    valid = not list(validator.iter_errors(tomllib.loads(path.read_text(encoding="utf-8"))))
    assert valid is accepted, file
    if accepted:
        assert manifest.load(path).models[0].kind == "file"
    else:
        with pytest.raises(ManifestError, match="unsupported extension"):
            manifest.load(path)


def test_schema_option_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["--schema"]) == 0
    finally:
        signal.signal(signal.SIGTERM, handler)
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema.json_schema()
    assert printed["$schema"] == "http://json-schema.org/draft-04/schema#"
    # TOML has no null; pydantic's labels ("Rel Tol") are noise in an editor.
    text = json.dumps(printed)
    assert '"null"' not in text and '"Rel Tol"' not in text
    assert "title" in printed["definitions"]["ReportTable"]["properties"]  # the [report] key survives
    assert "$defs" not in printed  # draft 4's meta-schema checks "definitions" only


def test_without_a_manifest_the_command_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert main([]) == 2
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert "the following arguments are required: manifest" in capsys.readouterr().err


def test_docs_manifest_reference_is_valid(validator: Any) -> None:
    """The manifest page's reference example is a valid manifest, for the editor's schema and for the loader's."""
    readme = (EXAMPLES.parent / "docs" / "manifest.md").read_text(encoding="utf-8")
    section = readme.split("## Reference", 1)[1]
    data = tomllib.loads(section.split("```toml\n", 1)[1].split("```", 1)[0])
    assert list(validator.iter_errors(data)) == []
    doc = schema.validate(data)
    assert {m.name for m in doc.model} >= {"LeNet", "BERT at 128 tokens", "MobileNetV2", "Classifier"}


@pytest.mark.slow
def test_docs_manifest_reference_lenet_meets_its_expectations(tmp_path: Path) -> None:
    """A reader copies the reference's LeNet: its [model.expect] must hold at the batch_size it sets
    (the FLOPs scale with it), or the first run of the example exits 1."""
    readme = (EXAMPLES.parent / "docs" / "manifest.md").read_text(encoding="utf-8")
    reference = readme.split("## Reference", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    head, lenet = reference.split("\n[[model]]\n")[:2]  # [report], [diagram], then LeNet's tables
    copy_example_builders(tmp_path)
    path = write_manifest(tmp_path, f"{head}\n[[model]]\n{lenet}")
    proc = run_cli(str(path), "-o", "out", "--format", "html", cwd=tmp_path, timeout=300)
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    (model,) = report["models"]
    assert [e["message"] for e in model["expectations"] if not e["ok"]] == [], proc.stdout
    assert model["totals"]["batch_size"] == 32  # the reference's per-model batch_size is the one checked
    assert proc.returncode == 0, proc.stdout + proc.stderr
