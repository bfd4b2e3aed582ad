"""The unit tier: tests that start from plain data (report.json fixtures) and never import Keras.

Every test in this folder is marked ``unit``. Run the tier with ``./dev test tests/unit``: a
session of these tests alone must end without Keras, TensorFlow or JAX imported.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archreport.data import ModelReport
from tests.unit import reports

UNIT = Path(__file__).parent
FRAMEWORKS = ("keras", "tensorflow", "jax")
_ONLY_UNIT = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)  # before -m deselects: a run that collected other tests imported them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if UNIT in item.path.parents]
    config.stash[_ONLY_UNIT] = len(ours) == len(items)
    for item in ours:
        item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session", autouse=True)
def _the_unit_tier_imports_no_framework(request: pytest.FixtureRequest) -> Iterator[None]:
    """At the end of a session of unit tests alone, no Keras, TensorFlow or JAX was imported.

    In a session with other tests (the whole suite) they were, by those tests: nothing to check.
    """
    yield
    if request.config.stash.get(_ONLY_UNIT, False):
        loaded = [name for name in FRAMEWORKS if name in sys.modules]
        assert not loaded, f"the unit tier imported {', '.join(loaded)}"


@pytest.fixture(scope="session")
def laid_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ModelReport]]:
    folder = tmp_path_factory.mktemp("fixtures")
    return folder, reports.lay_out(folder)


@pytest.fixture(scope="session")
def report_dir(laid_out: tuple[Path, dict[str, ModelReport]]) -> Path:
    """A report folder holding every fixture model's diagrams, drawn by real dot."""
    return laid_out[0]


@pytest.fixture(scope="session")
def models(laid_out: tuple[Path, dict[str, ModelReport]]) -> dict[str, ModelReport]:
    """The fixture models by slug, their diagrams in ``report_dir``. Change them with replace(), not in place."""
    return laid_out[1]
