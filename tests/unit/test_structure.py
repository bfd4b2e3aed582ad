"""The package's dependency rules, as pyproject.toml's import-linter contracts declare them.

Only ``archreport.model`` imports Keras, TensorFlow, JAX or keras-hub; ``render`` and
``diagram`` never import ``model``; the stages import downwards only; and no module
imports itself back through others. A copy of the package with each rule broken
on purpose shows that the checks can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package found first on the path from ``root`` (with pyproject.toml there)."""
    script = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(script), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _cycles(package: str, path: Path) -> list[list[str]]:
    """Strongly connected groups of modules (import cycles) in ``package``, found at ``path``."""
    code = f"""
import json, sys
sys.path.insert(0, {str(path)!r})
import grimp
graph = grimp.build_graph({package!r})
modules = sorted(graph.modules)
edges = {{m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}}
print(json.dumps(edges))
"""
    import json

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=path)
    edges: dict[str, list[str]] = json.loads(out.stdout)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in edges:
        if module not in index:
            visit(module)
    return found


def test_the_contracts_hold() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout


def test_no_module_imports_itself_back() -> None:
    assert _cycles("archreport", ROOT) == []


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package that breaks every rule once."""
    root = tmp_path_factory.mktemp("broken")
    shutil.copytree(ROOT / "archreport", root / "archreport", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    with (root / "archreport" / "render" / "charts.py").open("a", encoding="utf-8") as fh:
        fh.write("\n\ndef _keras() -> None:\n    import keras  # noqa: F401\n")
    with (root / "archreport" / "diagram" / "svg.py").open("a", encoding="utf-8") as fh:
        fh.write("\nfrom archreport.model import flops  # noqa: E402, F401\n")
    with (root / "archreport" / "environment.py").open("a", encoding="utf-8") as fh:
        fh.write("\nfrom archreport.store import fingerprint  # noqa: E402, F401\n")
    return root


def test_each_contract_can_fail(broken: Path) -> None:
    proc = _lint(broken)
    assert proc.returncode == 1
    assert "0 kept, 3 broken" in proc.stdout, proc.stdout[-3000:]
    assert "archreport.render.charts -> keras" in proc.stdout
    assert "archreport.diagram.svg -> archreport.model.flops" in proc.stdout


def test_a_cycle_is_found(broken: Path) -> None:
    assert ["archreport.environment", "archreport.store.fingerprint"] in _cycles("archreport", broken)


def test_every_test_module_has_a_name_of_its_own() -> None:
    # pytest's default import mode imports a test file by its bare name, so two files of one
    # name in different folders stop the whole collection (the CI run on 09c7037 did).
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
