"""[model.sweep]: its points, and what the manifest refuses (no Keras here)."""

from __future__ import annotations

import pytest

from archreport.manifest import schema
from archreport.manifest.schema import Sweep


def _model(sweep: object) -> dict[str, object]:
    return {"model": [{"name": "M", "application": "MobileNetV2", "sweep": sweep}]}


def test_every_batch_size_and_length_pair_is_a_point_in_order() -> None:
    sweep = Sweep(sequence_length=(128, 512), batch_size=(1, 8))
    assert sweep.points(batch_size=4) == [(1, 128), (1, 512), (8, 128), (8, 512)]
    assert Sweep(sequence_length=(64,)).points(batch_size=4) == [(4, 64)]
    assert Sweep(batch_size=(2, 3)).points(batch_size=1) == [(2, None), (3, None)]


def test_the_manifest_declares_it() -> None:
    doc = schema.validate(_model({"sequence_length": [512, 2048]}))
    assert doc.model[0].sweep == Sweep(sequence_length=(512, 2048))


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({}, r"expected sequence_length = \[...\] and/or batch_size = \[...\]"),
        ({"sequence_length": [0]}, r"expected a positive integer, got 0"),
        (
            {"sequence_length": list(range(1, 9)), "batch_size": list(range(1, 10))},
            r"72 points is more than 64",
        ),
        ({"length": [1]}, r"length"),
    ],
)
def test_what_is_refused(sweep: object, message: str) -> None:
    with pytest.raises(schema.SchemaError, match=message):
        schema.validate(_model(sweep))
