"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s example`, `nox -s bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (slow and browser tests included; -m 'not slow' to skip)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    session.install("ruff")
    paths = ("archreport", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "check", *paths, *session.posargs)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy."""
    session.install("-e", ".", "mypy")
    session.run("mypy", *session.posargs)


@nox.session
def example(session: nox.Session) -> None:
    """Write the example report into examples/reports/."""
    session.install("-e", ".")
    session.run("python", "-m", "archreport", "examples/manifest.toml", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark archreport against the bare Keras loop (slow; see benchmarks/README.md)."""
    session.install("-e", ".", "pydot")  # the bare Keras loop calls plot_model, which needs pydot
    session.run("python", "benchmarks/bench.py", *session.posargs)
