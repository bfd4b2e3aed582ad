"""Shared fixtures: real Keras, real dot, real WeasyPrint; nothing is mocked. Helpers live in helpers.py."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import ARTIFACTS, check_pdfs_left_in, exempt_pdfs_in

INVALID_PDF = "writes_invalid_pdf"

# The randomised tests (the fuzz targets, the properties) draw the same inputs on every run by
# default: a new input found in CI would fail a change that did not cause it. Drawing new ones is
# a run of its own: HYPOTHESIS_PROFILE=explore ./dev test tests/test_fuzz_inputs.py tests/test_properties.py
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output",
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze the heap that collecting the tests built (TensorFlow, Keras, JAX, the test modules).

    Keras's clear_session(), which many tests call for fresh layer names, runs a full garbage
    collection: over that heap it took about 0.19 s a call, and the fast tier calls it hundreds
    of times. Frozen objects are never scanned again (the workers do the same, worker._freeze_heap).
    """
    gc.collect()
    gc.freeze()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{INVALID_PDF}: the test leaves a PDF under its tmp_path that is broken on purpose; the check of "
        "every PDF a test leaves behind skips that folder",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def artifacts() -> Path:
    """Folder for files a test keeps for people to look at (screenshots, PDFs); CI uploads it."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _every_pdf_a_test_leaves_is_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, check every PDF under its tmp_path that was not checked yet (helpers.check_pdf).

    A report's diagram.pdf files, a report.pdf a test wrote without the command, ...: strict
    readers must accept every PDF, not only those a test thought of checking. Autouse
    fixtures are set up first, so this runs after the test's other fixtures are torn down.
    """
    yield
    # funcargs holds every fixture the test used, directly or through other fixtures; a test
    # without tmp_path gets none made for it here.
    folder = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if folder is None:
        return
    if request.node.get_closest_marker(INVALID_PDF):
        exempt_pdfs_in(folder)
    else:
        check_pdfs_left_in(folder)


@pytest.fixture(scope="module", autouse=True)
def _every_pdf_a_module_leaves_is_checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After each test module, the same for the folders of module-scoped fixtures (tmp_path_factory).

    The session's whole temporary folder is scanned; the tests' own folders were checked (or
    exempted) already and are only looked at.
    """
    yield
    check_pdfs_left_in(tmp_path_factory.getbasetemp())
