"""Missing system dependencies stop the run before anything is built (exit 3, with the install command)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from archreport import environment
from tests.helpers import LENET, copy_example_builders, write_manifest

# Hide one module from the process, as if it were not installed, then run the real command line.
RUN_WITHOUT = (
    "import sys; sys.modules[{module!r}] = None; "
    "from archreport.__main__ import main; sys.exit(main([{manifest!r}, '-o', {out!r}]))"
)


@pytest.mark.parametrize(("module", "fragment"), [("weasyprint", "WeasyPrint cannot be imported")])
def test_missing_python_dependency_exits_3(tmp_path: Path, module: str, fragment: str) -> None:
    copy_example_builders(tmp_path)
    manifest = write_manifest(tmp_path, LENET)
    out = tmp_path / "out"
    code = RUN_WITHOUT.format(module=module, manifest=str(manifest), out=str(out))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 3, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_pydot_is_not_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # archreport writes DOT itself and never imports pydot (issue 10, item 13).
    monkeypatch.setitem(sys.modules, "pydot", None)
    environment.check(("html", "pdf"), tmp_path / "out")
    sources = Path(environment.__file__).parent.glob("*.py")
    assert not [p.name for p in sources if re.search(r"^\s*(import|from) pydot", p.read_text("utf-8"), re.M)]
