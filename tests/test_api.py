"""The library for models in memory: ``describe`` and ``report`` on real Keras models in this process.

``report`` must write what the command writes for the same models (issue 14), so
its report.json is compared with a manifest run's, model by model: only the fields
that say how a model was built (source, backend, timings) may differ.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import pandas as pd
import pytest

import archreport
from archreport.errors import ModelError, OutputError, UsageError
from archreport.render import notebook
from archreport.runners import inprocess
from tests.helpers import (
    EXAMPLES,
    LENET,
    check_pdf,
    copy_example_builders,
    read_report_html,
    unpack,
    write_manifest,
)

LENET_NAMES = [
    "conv2d", "activation", "max_pooling2d", "conv2d_1", "activation_1", "max_pooling2d_1", "flatten",
    "dense", "activation_2", "dense_1", "activation_3",
]  # fmt: skip
# The fields of a model in report.json that say how it was built, not what it is.
HOW_BUILT = {"source", "backend", "backend_note", "timings"}


def _example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_lenet() -> Any:
    keras.backend.clear_session()  # names from a fresh counter, as in a worker
    return _example("lenet").LeNet.build(28, 28, 1, 10)


def build_residual() -> Any:
    keras.backend.clear_session()
    return _example("blocks").residual_block()


@pytest.fixture(scope="module")
def lenet() -> Any:
    return build_lenet()


@pytest.fixture(scope="module")
def described(lenet: Any) -> archreport.Description:
    return archreport.describe(lenet)


# -- describe ------------------------------------------------------------------------------
def test_describe_gives_the_manifest_numbers(described: archreport.Description) -> None:
    t = described.totals
    assert (t.params, t.trainable_params, t.non_trainable_params) == (1_256_080, 1_256_080, 0)
    assert t.flops == 13_095_520 and not t.flops_lower_bound  # TensorFlow's profiler's count (FACTS.md)
    assert [r.name for r in described.layers] == LENET_NAMES
    assert described.report.status == "ok" and described.report.backend == keras.backend.backend()
    assert described.report.output_shapes == ["(None, 10)"]
    assert described.svg is not None
    for name in LENET_NAMES:
        assert f">{name}<" in described.svg
    assert set(described.files) == {"diagram.svg", "diagram.pdf", "diagram.dot"}


def test_describe_never_changes_the_model(lenet: Any) -> None:
    before = [w.shape for w in lenet.weights], lenet.name, [layer.name for layer in lenet.layers]
    archreport.describe(lenet, batch_size=8)
    assert ([w.shape for w in lenet.weights], lenet.name, [layer.name for layer in lenet.layers]) == before


def test_batch_size_and_open_inputs() -> None:
    keras.backend.clear_session()
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    model = keras.Model(tokens, keras.layers.Dense(3)(keras.layers.Embedding(50, 8)(tokens)))
    by_name = archreport.describe(model, inputs={"tokens": (16,)}, batch_size=4)
    by_position = archreport.describe(model, inputs=[(16,)], batch_size=4)
    assert by_name.totals == by_position.totals
    assert by_name.totals.batch_size == 4
    assert by_name.layers[-1].output_shape == "(None, 16, 3)"  # the batch stays open, as Keras writes it
    assert by_name.totals.flops == 4 * 16 * (2 * 8 * 3 + 3)  # the Dense at batch 4, length 16


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size is 0: expected a whole number of at least 1"),
        ({"batch_size": True}, r"batch_size is True"),
        ({"inputs": {"x": (0,)}}, r"inputs\['x'\] is \(0,\): expected positive whole numbers"),
        ({"inputs": "128"}, r"inputs is '128': expected shapes by input name"),
        ({"inputs": {}}, r"inputs is empty"),
    ],
)
def test_bad_arguments_are_refused(lenet: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        archreport.describe(lenet, **kwargs)


def test_a_wrong_input_name_says_which_exist() -> None:
    keras.backend.clear_session()
    pixels = keras.Input((None, None, 3), name="pixels")
    model = keras.Model(pixels, keras.layers.Conv2D(2, 3)(pixels))
    with pytest.raises(
        ModelError,
        match=r"shapes name 'pixel' \(did you mean 'pixels'\?\), but the model's inputs are 'pixels'",
    ):
        archreport.describe(model, inputs={"pixel": (28, 28, 3)})


def test_only_a_built_keras_model_is_described() -> None:
    with pytest.raises(ModelError, match=r"model is builtins.str, not a keras.Model"):
        archreport.describe("lenet")
    keras.backend.clear_session()
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ModelError, match=r"\('sequential'\) is not built: give it a keras.Input"):
        archreport.describe(unbuilt)


def test_repr_reads_like_model_summary(described: archreport.Description) -> None:
    text = repr(described)
    lines = text.splitlines()
    assert lines[0] == f'archreport: "lenet" (sequential, built with {keras.backend.backend()})'
    header = next(line for line in lines if line.startswith("Layer (type)"))
    assert header.split() == ["Layer", "(type)", "Output", "shape", "Params", "FLOPs"]
    row = next(line for line in lines if line.startswith("dense (Dense)"))
    assert row.split()[-2:] == ["1,225,500", "2,450,500"] and "(None, 500)" in row
    assert "Total params: 1,256,080 (4.79 MiB)" in lines
    assert "FLOPs: 13.1 MFLOPs (13,095,520) at batch size 1" in text
    # Every layer once, in order.
    order = [line.split()[0] for line in lines if line.split() and line.split()[0] in LENET_NAMES]
    assert order == LENET_NAMES


def test_dataframe_has_typed_columns(described: archreport.Description) -> None:
    frame = described.to_dataframe()
    assert list(frame["name"]) == LENET_NAMES
    for column in ("index", "depth", "params", "trainable_params", "non_trainable_params", "flops"):
        assert str(frame[column].dtype) == "Int64", column
    assert str(frame["name"].dtype) == "string" and str(frame["trainable"].dtype) == "boolean"
    assert str(frame["param_percent"].dtype) == "Float64"
    assert int(frame["params"].sum()) == described.totals.params
    assert int(frame["flops"].sum()) == described.totals.flops
    assert frame.loc[frame["name"] == "conv2d", "input_shapes"].item() == ["(None, 28, 28, 1)"]


def test_dataframe_keeps_unknown_flops_unknown() -> None:
    class Mystery(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return keras.ops.logaddexp(x, x)  # no FLOPs rule

    keras.backend.clear_session()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="d")(Mystery(name="mystery")(inputs)))
    frame = archreport.describe(model).to_dataframe()
    mystery = frame[frame["name"] == "mystery"].iloc[0]
    assert mystery["flops"] is pd.NA  # unknown, never 0
    assert mystery["flops_note"] == "no FLOPs rule for keras.ops.logaddexp"
    assert int(frame.loc[frame["name"] == "d", "flops"].item()) == 2 * 4 * 3 + 3


def test_dataframe_rows_at_depth_zero_add_up_to_count_params() -> None:
    """As the docstring says: a nested model's row holds its layers' params, which have rows too."""
    keras.backend.clear_session()
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), keras.layers.Dense(3)], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)), name="outer")
    frame = archreport.describe(model).to_dataframe()
    assert frame.loc[frame["depth"] == 0, "params"].sum() == model.count_params() == 51
    assert frame["params"].sum() == model.count_params() + inner.count_params()


def test_to_html_is_one_self_contained_report(described: archreport.Description, tmp_path: Path) -> None:
    path = described.to_html(tmp_path / "lenet.html")
    html = read_report_html(path)  # its section unpacked, as a browser shows it
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "1,256,080" in html
    for name in LENET_NAMES:
        assert f">{name}</a>" in html  # a table row linking to its node
    # Nothing it links to is outside the file, except what its CSS hides (the files of a report folder).
    external = set(re.findall(r'href="(?!#)([^"]+)"', html))
    assert external == {"models/lenet/diagram.svg", "models/lenet/layers.csv", "models/lenet/layers.md"}
    assert notebook.NO_FILE_LINKS_CSS in html


def test_to_pdf_is_a_valid_one_model_report(described: archreport.Description, tmp_path: Path) -> None:
    from tests.helpers import pdf_pages_text

    path = described.to_pdf(tmp_path / "out" / "lenet.pdf")
    pages = check_pdf(path)
    assert pages >= 2
    text = "\n".join(pdf_pages_text(path.read_bytes()))
    assert "lenet" in text and "1,256,080" in text and "max_pooling2d_1" in text
    with pytest.raises(UsageError, match=r"page_size is 'A5': expected one of A4, Letter"):
        described.to_pdf(tmp_path / "x.pdf", page_size="A5")


# -- the notebook output -----------------------------------------------------------------------
def _ids(html: str) -> list[str]:
    """The id attributes of an output's markup (its script, last, is code)."""
    return re.findall(r'\bid="([^"]+)"', html.split("<script>", 1)[0])


def test_each_notebook_output_has_ids_of_its_own(described: archreport.Description) -> None:
    first, second = described._repr_html_(), described._repr_html_()
    uid = re.match(r'<div class="archreport-nb" id="(ar[0-9a-f]+)"', first)
    other = re.match(r'<div class="archreport-nb" id="(ar[0-9a-f]+)"', second)
    assert uid and other and uid[1] != other[1]
    ids = _ids(first)
    assert len(ids) == len(set(ids)) > 20
    # Every id, the diagram's included (Graphviz writes "-" as "&#45;"), starts with the output's uid.
    assert [i for i in ids if not (i.startswith(uid[1]) or i.startswith("a_" + uid[1]))] == []
    assert not set(ids) & set(_ids(second))
    # Every link inside the output leads to an element of the same output.
    targets = set(re.findall(r'href="#([^"]+)"', first))
    assert targets and targets <= {i.replace("&#45;", "-") for i in ids}
    # One script for every output, run on the element it sits in: a page's CSP can allow it by one hash.
    script = first.split("<script>", 1)[1].split("</script>", 1)[0]
    assert script == second.split("<script>", 1)[1].split("</script>", 1)[0] == notebook.script()
    assert uid[1] not in script and 'document.currentScript.closest(".archreport-nb")' in script
    for name in LENET_NAMES:
        assert f">{name}<" in first
    assert "1,256,080" in first and "<svg" in first


def test_ids_are_renamed_whatever_the_model_is_called() -> None:
    """Graphviz writes "-" in ids as "&#45;": a slug with hyphens ("my-net-v2") is renamed all the same."""
    keras.backend.clear_session()
    inputs = keras.Input((8,), name="in")
    hidden = keras.layers.Dense(4, name="a")(inputs)
    outputs = keras.layers.Add(name="sum")([keras.layers.Dense(4, name="b")(hidden), hidden])
    model = keras.Model(inputs, outputs, name="my-net v2")
    html = archreport.describe(model)._repr_html_()
    uid = re.match(r'<div class="archreport-nb" id="(ar[0-9a-f]+)"', html)
    assert uid
    ids = _ids(html)
    assert [i for i in ids if not re.match(rf"(a_)?{uid[1]}(-|&#45;)", i) and i != uid[1]] == []
    assert "my-net-v2" not in html.replace("my-net v2", "")  # the slug is gone; the name stays
    assert set(re.findall(r'href="#([^"]+)"', html)) <= {i.replace("&#45;", "-") for i in ids}


def test_notebook_styles_touch_only_the_output(described: archreport.Description) -> None:
    html = described._repr_html_()
    uid = re.match(r'<div class="archreport-nb" id="(ar[0-9a-f]+)"', html)
    assert uid
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    selectors = [s.strip() for block in re.findall(r"([^{}]+)\{[^{}]*\}", css) for s in block.split(",")]
    assert len(selectors) > 40
    # Under the output's id: only this output, and above the notebook page's own class-based rules.
    assert [s for s in selectors if not re.match(rf"#{uid[1]}\b", s)] == []


def test_scoped_css_rewrites_roots_media_and_keeps_other_at_rules() -> None:
    css = ":root { --x: 1; } body { margin: 0; } a, b > c { color: red; } /* why */ " \
          "@media print { th { top: 0; } } @keyframes k { from { opacity: 0; } }"  # fmt: skip
    assert notebook.scoped_css(css, ".s").split("\n") == [
        ".s { --x: 1; }", ".s { margin: 0; }", ".s a, .s b > c { color: red; }",
        "@media print {", ".s th { top: 0; }", "}", "@keyframes k { from { opacity: 0; } }",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unbalanced braces"):
        notebook.scoped_css("a { color: red;", ".s")


def test_a_large_model_shows_its_overview_and_how_to_get_the_rest() -> None:
    keras.backend.clear_session()
    x = inputs = keras.Input((4,))
    for block in range(12):  # 120 layers: an overview of 12 blocks
        for i in range(10):
            x = keras.layers.Dense(4, name=f"block{block}_dense{i}")(x)
    big = archreport.describe(keras.Model(inputs, x))
    assert big.report.overview is not None
    full = notebook.render_html(big.report, big.files)
    compact = notebook.render_html(big.report, big.files, limit=len(full) - 1)
    assert len(compact) < len(full) / 2
    assert 'class="layers"' not in compact and "block11_dense9</a>" not in compact  # no table
    assert compact.count("<svg") == 1 and "-overview" in compact  # the overview only
    assert f'.to_html("{big.report.slug}.html")' in compact
    assert f"{big.totals.params:,}" in compact
    # The whole section rides along packed, for the script to unpack where the notebook runs it.
    assert len(compact.encode()) < len(full)
    (packed,) = re.findall(
        r'<script type="application/octet-stream" class="pack">([A-Za-z0-9+/=]+)</script>', compact
    )
    section = unpack(packed)
    assert 'class="layers"' in section and "block11_dense9</a>" in section
    # Past the limit even packed, the overview alone; past it still, the totals alone: never past the limit.
    # (Each output's ids are random, so its pack's size varies by a few bytes: the limit is well below it.)
    overview = notebook.render_html(big.report, big.files, limit=len(compact.encode()) - len(packed) // 2)
    assert 'class="pack"' not in overview and overview.count("<svg") == 1
    totals = notebook.render_html(big.report, big.files, limit=len(overview.encode()) - 1)
    assert "<svg" not in totals and f"{big.totals.params:,}" in totals
    assert len(totals.encode()) < len(overview.encode()) - 1


# -- report ------------------------------------------------------------------------------------
def _models(path: Path) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in json.loads((path / "report.json").read_text(encoding="utf-8"))["models"]}


def _same_but_how_built(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert ours["status"] == theirs["status"] == "ok", (ours.get("error"), theirs.get("error"))
    assert ours["totals"] == theirs["totals"]
    assert ours["layers"] == theirs["layers"]
    differ = {k for k in ours if ours[k] != theirs[k]}
    assert differ <= HOW_BUILT, differ


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def compare_with_manifest_run(tmp_path: Path, models: dict[str, Any], manifest: str) -> None:
    """report(models) and the command on the same models write the same report."""
    out = tmp_path / "api"
    result = archreport.report(models, out)
    assert [m.name for m in result.models] == list(models)
    copy_example_builders(tmp_path)
    path = write_manifest(tmp_path, manifest)
    archreport.generate(path, tmp_path / "cli", use_cache=False)
    ours, theirs = _models(out), _models(tmp_path / "cli")
    assert list(ours) == list(theirs) == list(models)
    for name in models:
        _same_but_how_built(ours[name], theirs[name])
        assert ours[name]["backend"] == keras.backend.backend() and theirs[name]["backend"] == "shape-only"
    assert _files(out) == _files(tmp_path / "cli")
    for name in ("diagram.dot", "diagram.svg"):  # the same drawing, byte for byte
        for model in ours.values():
            slug = model["slug"]
            assert (out / "models" / slug / name).read_bytes() == (
                tmp_path / "cli/models" / slug / name
            ).read_bytes()
    check_pdf(out / "report.pdf")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert all(f'id="model-{m["slug"]}"' in html for m in ours.values())


@pytest.mark.slow
def test_report_writes_what_a_manifest_run_writes(tmp_path: Path) -> None:
    models = {"LeNet": build_lenet(), "Residual block": build_residual()}
    compare_with_manifest_run(tmp_path, models, LENET + """
[[model]]
name = "Residual block"
builder = "blocks:residual_block"
""")  # fmt: skip


EFFICIENTNET_MANIFEST = f"""{LENET}
[[model]]
name = "EfficientNetB0"
application = "EfficientNetB0"
"""


@pytest.mark.slow
def test_report_on_lenet_and_efficientnetb0_equals_a_manifest_run(tmp_path: Path) -> None:
    lenet = build_lenet()
    keras.backend.clear_session()
    efficientnet = keras.applications.EfficientNetB0(weights=None)
    compare_with_manifest_run(
        tmp_path, {"LeNet": lenet, "EfficientNetB0": efficientnet}, EFFICIENTNET_MANIFEST
    )
    # The function itself is the manifest's application: built the same way, so only timings differ.
    archreport.report(
        {"EfficientNetB0": keras.applications.EfficientNetB0}, tmp_path / "app", formats=["html"]
    )
    ours = _models(tmp_path / "app")["EfficientNetB0"]
    theirs = _models(tmp_path / "cli")["EfficientNetB0"]
    assert {k for k in ours if ours[k] != theirs[k]} == {"timings"}


def _closure() -> Any:
    def inner() -> Any:
        return build_lenet()

    return inner


@pytest.mark.slow
def test_callables_run_here_or_in_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lambda runs here; a module-level function a worker can import runs in a worker (shape-only)."""
    shutil.copy(EXAMPLES / "lenet.py", tmp_path / "lenet.py")
    (tmp_path / "zoo_builders.py").write_text(
        textwrap.dedent("""
            from lenet import LeNet


            def lenet():
                return LeNet.build(28, 28, 1, 10)


            def broken():
                raise RuntimeError("this builder is broken on purpose")
        """),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import zoo_builders

    assert inprocess.importable(zoo_builders.lenet) == inprocess.Importable(
        "zoo_builders:lenet", str(tmp_path)
    )
    installed = inprocess.importable(keras.applications.MobileNetV2)
    assert installed is not None and installed.base_dir is None  # nothing to ship: the worker imports it
    # ... and as a manifest's application, built without weights (nothing is downloaded).
    assert inprocess.live_or_builder("m", keras.applications.MobileNetV2) == (
        "application",
        "MobileNetV2",
        None,
    )
    assert inprocess.importable(lambda: None) is None
    assert inprocess.importable(_closure()) is None
    assert inprocess.importable(functools.partial(zoo_builders.lenet)) is None

    out = tmp_path / "out"
    result = archreport.report(
        # A lambda on purpose: it must run here.
        {"in a worker": zoo_builders.lenet, "here": lambda: build_lenet(), "broken": zoo_builders.broken},  # noqa: PLW0108
        out, formats=["html"], title="Callables",
    )  # fmt: skip
    by_name = {m.name: m for m in result.models}
    assert by_name["in a worker"].backend == "shape-only"
    assert by_name["in a worker"].source == {"builder": "zoo_builders:lenet"}
    assert by_name["here"].backend == keras.backend.backend()
    assert by_name["here"].source == {
        "live": "test_callables_run_here_or_in_workers.<locals>.<lambda>(), called in this process"
    }
    assert by_name["in a worker"].totals == by_name["here"].totals
    assert by_name["broken"].status == "failed"
    assert "this builder is broken on purpose" in (by_name["broken"].error or "")
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["title"] == "Callables"
    assert sorted(p.name for p in out.iterdir()) == [
        ".archreport",
        "models",
        "report.html",
        "report.json",
        "report.md",
    ]


def test_a_failing_live_callable_fails_its_model_only(tmp_path: Path) -> None:
    def not_a_model() -> str:
        return "a string"

    result = archreport.report({"LeNet": build_lenet(), "Wrong": not_a_model}, tmp_path / "out", formats=[])
    assert [m.status for m in result.models] == ["ok", "failed"]
    assert result.models[1].error == (
        "the callable for 'Wrong' returned a value that is builtins.str, not a keras.Model."
    )


@pytest.mark.parametrize(
    ("models", "kwargs", "match"),
    [
        ({}, {}, r"models must be a non-empty mapping"),
        ({"x": 3}, {}, r"models\['x'\] is builtins.int: expected a keras.Model or a callable"),
        ({"x": lambda n: n}, {}, r"models\['x'\] needs arguments"),
        ({"": lambda: None}, {}, r"models has the key '': every model needs a name"),
        (
            {"x": lambda: None},
            {"formats": ["docx"]},
            r"formats has 'docx': expected 'html', 'pdf' and/or 'tex'",
        ),
        ({"x": lambda: None}, {"title": 5}, r"title is 5: expected a string"),
    ],
)
def test_report_refuses_bad_arguments_before_building(
    tmp_path: Path, models: dict[str, Any], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        archreport.report(models, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_report_compares_with_a_baseline(tmp_path: Path, lenet: Any) -> None:
    archreport.report({"LeNet": lenet}, tmp_path / "before", formats=[])
    keras.backend.clear_session()
    inputs = keras.Input((4,))
    wider = keras.Model(inputs, keras.layers.Dense(8, name="dense")(inputs))
    result = archreport.report(
        {"LeNet": lenet, "Wider": wider}, tmp_path / "after", formats=["html"], compare=tmp_path / "before"
    )
    assert result.changes is not None and result.changes["models_added"] == ["Wider"]
    assert "Changes since baseline" in (tmp_path / "after" / "report.html").read_text(encoding="utf-8")


def test_report_keeps_the_commands_folder_guarantees(tmp_path: Path, lenet: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("mine", encoding="utf-8")
    # The message is the command's, naming report()'s argument where the command says -o.
    with pytest.raises(
        UsageError,
        match=r"holds files archreport did not write: thesis.tex\..* choose an empty or new folder as output_dir\.$",
    ):
        archreport.report({"LeNet": lenet}, out, formats=["html"])
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "mine"
    (out / "thesis.tex").unlink()
    archreport.report({"LeNet": lenet}, out, formats=["html"])
    first = (out / ".archreport").read_text(encoding="utf-8")
    archreport.report({"LeNet": lenet}, out, formats=["html"])  # its own folder: replaced whole
    assert (
        json.loads(first)["files"] == json.loads((out / ".archreport").read_text(encoding="utf-8"))["files"]
    )
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


def test_library_errors_name_arguments_not_command_options(tmp_path: Path, lenet: Any) -> None:
    """The folder and baseline messages are shared with the command; a caller passed no -o."""
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match=r"is a file; give a folder as output_dir\.$"):
        archreport.report({"LeNet": lenet}, tmp_path / "notes.txt", formats=["html"])
    with pytest.raises(
        UsageError, match=rf"^compare={re.escape(str(tmp_path))}/nowhere: no report.json there"
    ):
        archreport.report({"LeNet": lenet}, tmp_path / "new", formats=["html"], compare=tmp_path / "nowhere")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing was written


def test_an_unbuilt_model_in_a_report_fails_with_what_to_do(tmp_path: Path) -> None:
    keras.backend.clear_session()
    unbuilt = keras.Sequential([keras.layers.Dense(2)], name="unbuilt")
    result = archreport.report({"Unbuilt": unbuilt}, tmp_path / "out", formats=[])
    assert result.models[0].error == (
        "models['Unbuilt'] ('unbuilt') is not built: give it a keras.Input, or call model.build(input_shape) "
        "or the model on a batch first."
    )


def test_numpy_integers_are_whole_numbers() -> None:
    """Shapes and batch sizes computed with NumPy (np.prod, array.shape arithmetic) are NumPy integers."""
    import numpy as np

    keras.backend.clear_session()
    tokens = keras.Input((None,), name="tokens", dtype="int32")
    model = keras.Model(tokens, keras.layers.Embedding(100, 8)(tokens))
    d = archreport.describe(model, inputs={"tokens": (np.int64(16),)}, batch_size=np.int32(4))
    assert d.totals.batch_size == 4 and type(d.totals.batch_size) is int
    assert d.report.input_shapes == ["(None, 16)"]
    with pytest.raises(UsageError, match=r"batch_size is np.True_: expected a whole number"):
        archreport.describe(model, inputs={"tokens": (16,)}, batch_size=np.True_)


def test_a_path_starting_with_a_tilde_is_in_the_home_folder(
    tmp_path: Path, lenet: Any, described: archreport.Description, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a shell: without expansion, a folder named "~" appeared in the working folder."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert described.to_html("~/lenet.html") == home / "lenet.html"
    archreport.report({"LeNet": lenet}, "~/reports", formats=["html"])
    assert (home / "lenet.html").is_file() and (home / "reports" / "report.html").is_file()
    assert list(work.iterdir()) == []
    with pytest.raises(UsageError, match=r"path is 5: expected a path \(str or pathlib.Path\)"):
        described.to_html(5)  # type: ignore[arg-type]


def test_a_file_where_a_folder_should_be_is_refused_before_rendering(
    tmp_path: Path, described: archreport.Description
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    for write in (described.to_pdf, described.to_html):
        with pytest.raises(
            OutputError,
            match=rf"cannot write .*/notes.txt/lenet\.\w+: {re.escape(str(tmp_path))}/notes.txt is not a folder",
        ):
            write(tmp_path / "notes.txt" / f"lenet.{write.__name__[3:]}")
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.slow
def test_describe_and_to_pdf_work_where_the_parent_folder_is_read_only(tmp_path: Path) -> None:
    """As for any user whose temporary folder is /tmp: / is not theirs. describe() refused it
    ("/tmp cannot be replaced"), and to_pdf a file in a folder whose parent was read-only: the
    check of a report folder (swapped in beside it) is not one for a single file."""
    locked = tmp_path / "locked"
    writable = locked / "mine"
    writable.mkdir(parents=True)
    writable.chmod(0o777)
    locked.chmod(0o555)
    code = textwrap.dedent(f"""
        import keras, archreport
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="small")
        d = archreport.describe(model)
        d.to_pdf({str(writable / "small.pdf")!r})
        print("params:", d.totals.params)
    """)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root bypasses file permissions: drop the capabilities that do
        if shutil.which("setpriv") is None:
            pytest.skip("root bypasses file permissions, and setpriv is not installed to drop that")
        caps = "-dac_override,-dac_read_search,-fowner"
        prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    env = {**os.environ, "TMPDIR": str(writable)}
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "params: 10" in proc.stdout
    assert check_pdf(writable / "small.pdf") >= 1


def test_import_stays_light() -> None:
    import subprocess

    code = (
        "import sys, archreport; archreport.describe; archreport.report; archreport.Description; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def test_readme_shows_the_tutorial_script_that_test_plot_runs() -> None:
    """The README's script is the one tests/test_plot.py runs with the changed import; the library
    page documents the calls a notebook user makes next."""
    from tests.helpers import ROOT
    from tests.test_plot import TUTORIAL

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start: one model, from a script", 1)[1].split("\n## ", 1)[0]
    first_block = section.split("```python\n", 1)[1].split("```", 1)[0]
    script = TUTORIAL.strip().split("\n", 1)[1]  # without its heading comment
    assert first_block.strip() == script.strip()
    library = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    for call in (
        "archreport.describe(model)",
        "d.to_html(",
        "d.to_pdf(",
        "d.to_dataframe()",
        "archreport.report(",
    ):
        assert call in library
    assert "no time limit and no memory limit" in library


def test_the_command_still_names_its_options_after_a_library_call(tmp_path: Path, lenet: Any) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match=r"as output_dir\.$"):
        archreport.report({"LeNet": lenet}, tmp_path / "notes.txt", formats=["html"])
    with pytest.raises(UsageError, match=r"is a file; give a folder with -o\.$"):
        archreport.generate(EXAMPLES / "manifest.toml", tmp_path / "notes.txt")


def test_describe_sweeps_a_sequence_model() -> None:
    """Cost curves in a notebook: the same points a manifest's [model.sweep] gives."""
    inputs = keras.Input((None, 8))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    described = archreport.describe(
        model, inputs=[(4, 8)], sweep={"sequence_length": [4, 16], "batch_size": [1, 3]}
    )
    points = [(p.batch_size, p.sequence_length, p.flops) for p in described.report.sweep]
    # Dense(8 -> 4) on each of b x s positions: 2 x 8 x 4 multiply-adds and 4 bias adds.
    assert points == [(b, s, b * s * (2 * 8 * 4 + 4)) for b in (1, 3) for s in (4, 16)]
    assert "Cost curves" in described._repr_html_()
    with pytest.raises(
        UsageError,
        match=r"sweep=\{'sequence_length': \[0\]\}: sequence_length.0: expected a positive integer",
    ):
        archreport.describe(model, inputs=[(4, 8)], sweep={"sequence_length": [0]})
