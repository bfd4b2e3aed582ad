"""[model.input_values]: what the manifest accepts as one sample's value, and what it refuses."""

from __future__ import annotations

import pytest

from archreport.manifest import schema


def _model(values: object) -> dict[str, object]:
    return {"model": [{"name": "M", "builder": "m:build", "input_values": values}]}


def test_numbers_and_nested_arrays_of_numbers_are_values() -> None:
    doc = schema.validate(_model({"num_steps": 28, "guidance_scale": 7.0, "grid": [[1, 28, 28]]}))
    assert doc.model[0].input_values == {"num_steps": 28, "guidance_scale": 7.0, "grid": [[1, 28, 28]]}


@pytest.mark.parametrize(
    ("values", "key", "message"),
    [
        ({"steps": "28"}, ("steps",), r"expected a number or an array of numbers, got (a )?str"),
        ({"steps": True}, ("steps",), r"expected a number or an array of numbers, got (a )?bool"),
        ({"steps": [1, [2, "x"]]}, ("steps",), r"expected a number or an array of numbers, got (a )?str"),
        ({"steps": float("nan")}, ("steps",), r"nan is not a finite number"),
        ([28], (), r"expected a table, got an array \[28\]"),
    ],
)
def test_what_is_refused(values: object, key: tuple[str, ...], message: str) -> None:
    with pytest.raises(schema.SchemaError, match=message) as raised:
        schema.validate(_model(values))
    assert raised.value.key == ("model", 0, "input_values", *key)
