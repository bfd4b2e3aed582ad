"""Valid builders are never rejected by reading their module (issue 10, item 5).

The manifest check reads a builder's module without running it, so it may say
no (exit 2) only where it is certain: no module ``__getattr__``, no star
import, nothing that writes the namespace dynamically, and no statement at any
depth binds the name. Everywhere else the worker imports the module and
decides: a builder that truly does not exist fails its model (exit 1) with a
did-you-mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archreport import manifest
from archreport.errors import ManifestError
from tests.helpers import run_cli, write_manifest

HIDDEN = '''"""Builders that only an import can find."""

import contextlib

import keras


def _tiny(units=2):
    inputs = keras.Input((3,), name="x")
    return keras.Model(inputs, keras.layers.Dense(units, name="dense")(inputs))


try:
    import archreport_no_such_module
except ImportError:
    def in_except():
        return _tiny()

try:
    import json
except ImportError:
    pass
else:
    def in_else():
        return _tiny()
finally:
    def in_finally():
        return _tiny()

with contextlib.suppress(Exception):
    def in_with():
        return _tiny()

for _units in (2, 3):
    in_loop = _tiny  # bound by an assignment in a loop

if True:
    while True:
        try:
            pass
        except Exception:
            pass
        else:
            def deep():
                return _tiny()
        break


class Nets:
    """A plain class: its body shows every attribute."""

    @staticmethod
    def small():
        return _tiny()


def __getattr__(name):
    if name == "lazy":
        return _tiny
    raise AttributeError(f"module 'hidden' has no attribute {name!r}")
'''

FOUND_ONLY_BY_IMPORT = ["in_except", "in_else", "in_finally", "in_with", "in_loop", "deep", "lazy"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "hidden.py").write_text(HIDDEN, encoding="utf-8")
    return tmp_path


def _load(folder: Path, builder: str) -> manifest.Manifest:
    return manifest.load(write_manifest(folder, f'[[model]]\nname = "m"\nbuilder = "{builder}"\n'))


@pytest.mark.parametrize("name", [*FOUND_ONLY_BY_IMPORT, "Nets.small", "missing_but_maybe_lazy"])
def test_manifest_check_leaves_uncertain_builders_to_the_import(folder: Path, name: str) -> None:
    assert _load(folder, f"hidden:{name}").models[0].target == f"hidden:{name}"


@pytest.mark.parametrize(
    "source",
    [
        "from os.path import *\n",
        'exec("build = print")\n',
        'globals()["build"] = print\n',
        'import sys\nsetattr(sys.modules[__name__], "build", print)\n',
        "def setup():\n    global build\n    build = print\n\n\nsetup()\n",
        "match 1:\n    case build:\n        pass\n",
        "import os as build\n",
    ],
)
def test_dynamic_or_nested_bindings_defer_to_the_import(tmp_path: Path, source: str) -> None:
    (tmp_path / "dyn.py").write_text(source, encoding="utf-8")
    assert _load(tmp_path, "dyn:build").models[0].kind == "builder"


@pytest.mark.parametrize(
    "source",
    [
        "class Base:\n    pass\n\n\nclass Nets(Base):\n    pass\n",  # inherited
        "def deco(c):\n    return c\n\n\n@deco\nclass Nets:\n    pass\n",  # a decorator may add it
        "class Nets:\n    pass\n\n\nNets.small = staticmethod(print)\n",  # set after the class
    ],
)
def test_class_attributes_only_a_plain_class_can_rule_out(tmp_path: Path, source: str) -> None:
    (tmp_path / "nets.py").write_text(source, encoding="utf-8")
    assert _load(tmp_path, "nets:Nets.small").models[0].target == "nets:Nets.small"


@pytest.mark.parametrize(
    ("source", "builder", "fragment"),
    [
        (
            "def build():\n    pass\n",
            "biuld",
            "'certain' (certain.py) defines no 'biuld' (did you mean 'build'?)",
        ),
        ("if True:\n    def build():\n        pass\n", "buld", "defines no 'buld' (did you mean 'build'?)"),
        ("class Nets:\n    def small(self):\n        pass\n", "Nets.smal", "defines no 'smal'"),
        ("SIZE = [1, 2]\n", "SIZE", "certain:SIZE is a list in certain.py, not a function or class"),
    ],
)
def test_certainly_missing_builders_are_still_manifest_errors(
    tmp_path: Path, source: str, builder: str, fragment: str
) -> None:
    (tmp_path / "certain.py").write_text(source, encoding="utf-8")
    with pytest.raises(ManifestError, match=r"line 3: model\[1\]\.builder: ") as info:
        _load(tmp_path, f"certain:{builder}")
    assert fragment in str(info.value) and info.value.exit_code == 2


@pytest.mark.slow
def test_hidden_builders_build_and_a_missing_one_fails_its_model(tmp_path: Path) -> None:
    """The real command: every hidden builder builds; a truly missing one fails only its model."""
    (tmp_path / "hidden.py").write_text(HIDDEN, encoding="utf-8")
    models = [*FOUND_ONLY_BY_IMPORT, "Nets.small", "in_els"]
    text = "".join(f'[[model]]\nname = "{m}"\nbuilder = "hidden:{m}"\n\n' for m in models)
    write_manifest(tmp_path, text)
    proc = run_cli(
        str(tmp_path / "manifest.toml"), "-o", str(tmp_path / "out"), "--format", "html", "-j", "2"
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    status = {m["name"]: (m["status"], m["error"]) for m in report["models"]}
    assert all(status[m] == ("ok", None) for m in models[:-1]), status
    assert status["in_els"] == (
        "failed",
        "builder 'hidden:in_els': 'hidden' has no attribute 'in_els' (did you mean 'in_else'?).",
    )
