"""The manifest's JSON Schema: what editors (taplo, Even Better TOML) check a manifest against."""

from __future__ import annotations

import json
import signal
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archreport import schema
from archreport.__main__ import main
from tests.helpers import EXAMPLES

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
# Corpus cases with an unknown key, a value of the wrong type or out of range, or a broken table layout.
REJECTED = [
    "bad_rankdir", "empty_report_formats", "limit_with_tolerance_table", "missing_name",
    "model_as_single_table", "negative_timeout", "negative_tolerance", "no_source", "two_sources",
    "unknown_diagram_key_dotted", "unknown_expect_key", "unknown_model_key_inline",
    "unknown_report_key", "unknown_top_key", "wrong_type_bool",
]  # fmt: skip


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


@pytest.mark.parametrize("name", REJECTED)
def test_corpus_errors_are_schema_errors(validator: Any, name: str) -> None:
    data = tomllib.loads((CORPUS / name / "manifest.toml").read_text(encoding="utf-8"))
    errors = list(validator.iter_errors(data))
    assert errors, f"{name}: the JSON Schema accepts what the loader rejects"
    with pytest.raises(schema.SchemaError, match=r"\S"):  # and the loader's schema agrees
        schema.validate(data)


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
    assert "title" in printed["$defs"]["ReportTable"]["properties"]  # the [report] key survives


def test_without_a_manifest_the_command_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert main([]) == 2
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert "the following arguments are required: manifest" in capsys.readouterr().err


def test_readme_manifest_reference_is_valid(validator: Any) -> None:
    """The README's reference example is a valid manifest, for the editor's schema and for the loader's."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Manifest reference", 1)[1]
    data = tomllib.loads(section.split("```toml\n", 1)[1].split("```", 1)[0])
    assert list(validator.iter_errors(data)) == []
    doc = schema.validate(data)
    assert {m.name for m in doc.model} >= {"LeNet", "BERT at 128 tokens", "MobileNetV2", "Classifier"}
