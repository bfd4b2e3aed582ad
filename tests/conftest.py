"""Shared fixtures: real Keras, real dot, real WeasyPrint; nothing is mocked. Helpers live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ARTIFACTS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def artifacts() -> Path:
    """Folder for files a test keeps for people to look at (screenshots, PDFs); CI uploads it."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
