"""archreport.manifest.load: valid manifests load, every error names file, key path, line and value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archreport import manifest
from archreport.errors import ManifestError
from archreport.manifest.schema import Expect, LayerExpect, Tolerance
from tests.helpers import EXAMPLES, write_manifest

TINY = "def build(units=4):\n    return units\n\n\nclass Nets:\n    def small(self):\n        pass\n\n\nSIZE = 3\n"
M1 = '[[model]]\nname = "tiny"\nbuilder = "tiny:build"\n'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tiny.py").write_text(TINY, encoding="utf-8")
    return tmp_path


def load(folder: Path, text: str) -> manifest.Manifest:
    return manifest.load(write_manifest(folder, text))


def fails(folder: Path, text: str, *fragments: str) -> str:
    with pytest.raises(ManifestError) as info:
        load(folder, text)
    message = str(info.value)
    assert message.startswith(str(folder / "manifest.toml")), message
    assert "\n" not in message.strip() and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_example_manifest_loads() -> None:
    m = manifest.load(EXAMPLES / "manifest.toml")
    assert [s.name for s in m.models][:2] == ["LeNet", "Residual block"]
    assert [s.slug for s in m.models] == [
        "lenet",
        "residual-block",
        "nested-classifier",
        "mobilenetv2-alpha-0-35-96x96",
    ]
    lenet = m.models[0]
    assert lenet.expect.flops == Tolerance(value=13095520, rel_tol=0.0)
    assert isinstance(lenet.expect.layers, dict)
    assert lenet.expect.layers["max_pooling2d_1"] == "(None, 7, 7, 50)"
    assert lenet.expect.layers["flatten"] == LayerExpect(output_shape="(None, 2450)", params=0)
    assert (lenet.backend, lenet.batch_size, lenet.inputs, m.executor) == ("auto", 1, None, "local")
    assert m.models[3].kind == "application"
    assert m.output_dir == (EXAMPLES / "reports").resolve()


def test_defaults_and_overrides(folder: Path) -> None:
    m = load(
        folder,
        '[diagram]\nrankdir = "LR"\ndpi = 150\n'
        + M1
        + '[model.diagram]\nrankdir = "BT"\nformats = ["png"]\n',
    )
    spec = m.models[0]
    assert spec.diagram.rankdir == "BT" and spec.diagram.dpi == 150
    assert spec.diagram_formats == ("svg", "pdf", "png")
    assert m.formats == ("html", "pdf") and m.page_size == "A4"


def test_unknown_key_names_file_path_line_and_suggestion(folder: Path) -> None:
    fails(
        folder,
        '[report]\ntitle = "x"\npage_sise = "A4"\n' + M1,
        "manifest.toml, line 3: report.page_sise: unknown key (did you mean 'page_size'?)",
        "Valid keys here:",
    )


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('report.titel = "x"\n' + M1, 1, "report.titel"),
        ('["report"]\n"titel" = "x"\n' + M1, 2, "report.titel"),
        (
            'model = [\n  { name = "a", builder = "tiny:build" },\n  { name = "b", builder = "tiny:build", kwargz = {} },\n]\n',
            3,
            "model[2].kwargz",
        ),
        (
            M1 + "\n" + M1 + "\n[model.expect]\nflops = { value = 1, rel_tl = 0.1 }\n",
            10,
            "model[2].expect.flops.rel_tl",
        ),
    ],
)
def test_line_found_whatever_the_toml_layout(folder: Path, text: str, line: int, key: str) -> None:
    fails(folder, text, f"line {line}: {key}: unknown key")


def test_odd_key_is_quoted_in_the_path(folder: Path) -> None:
    fails(folder, M1 + '"a b.c" = 1\n', 'line 4: model[1]."a b.c": unknown key')


def test_duplicate_names_point_at_the_second(folder: Path) -> None:
    fails(
        folder, M1 + "\n# again\n" + M1, "line 7: model[2].name: duplicate model name 'tiny' (also model[1])"
    )


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("", "got none"),
        ('builder = "tiny:build"\napplication = "MobileNetV2"\n', "got builder and application"),
    ],
)
def test_exactly_one_source(folder: Path, extra: str, fragment: str) -> None:
    fails(
        folder,
        '[[model]]\nname = "m"\n' + extra,
        "line 1: model[1]: model 'm' needs exactly one of builder, application or file",
        fragment,
    )


def test_unknown_application_suggests(folder: Path) -> None:
    assert "MobileNetV2" in manifest.application_names()
    assert "mobilenet_v2" not in manifest.application_names()
    fails(
        folder,
        '[[model]]\nname = "m"\napplication = "ResNet05"\n',
        "line 3: model[1].application: 'ResNet05' is not a keras.applications model (did you mean 'ResNet50'?)",
    )


@pytest.mark.parametrize(
    ("builder", "fragment"),
    [
        ("tiny:biuld", "'tiny' (tiny.py) defines no 'biuld' (did you mean 'build'?)"),
        ("tiny:Nets.smal", "defines no 'smal' (did you mean 'small'?)"),
        ("tiyn:build", "module 'tiyn' not found beside the manifest"),
        ("tiny:SIZE", "tiny:SIZE is int 3 in tiny.py, not a function or class"),
        ("tiny.build", "is not 'module:qualname'"),
        ("tiny:build.", "is not 'module:qualname'"),
        ("tiny:class", "is not 'module:qualname'"),
    ],
)
def test_builder_errors(folder: Path, builder: str, fragment: str) -> None:
    fails(folder, f'[[model]]\nname = "m"\nbuilder = "{builder}"\n', "line 3: model[1].builder:", fragment)


def test_builder_checks_run_no_user_code(folder: Path) -> None:
    (folder / "boom.py").write_text(
        f"open({str(folder / 'ran')!r}, 'w')\ndef build():\n    pass\n", encoding="utf-8"
    )
    assert load(folder, '[[model]]\nname = "m"\nbuilder = "boom:build"\n').models[0].target == "boom:build"
    assert not (folder / "ran").exists()


@pytest.mark.parametrize(
    ("file", "fragment"),
    [
        ("gone.keras", "model file 'gone.keras' not found"),
        ("notes.txt", "unsupported extension '.txt'"),
        ("sub", "'sub' is a directory"),
        ("", "must not be empty"),
        ("a\\u0000.keras", "cannot contain a NUL character"),
    ],
)
def test_model_file_errors(folder: Path, file: str, fragment: str) -> None:
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    (folder / "sub").mkdir()
    fails(folder, f'[[model]]\nname = "m"\nfile = "{file}"\n', "line 3: model[1].file:", fragment)


def test_model_file_is_resolved_beside_the_manifest(folder: Path) -> None:
    (folder / "m.h5").write_bytes(b"\x89HDF")
    assert load(folder, '[[model]]\nname = "m"\nfile = "m.h5"\n').models[0].target == str(
        (folder / "m.h5").resolve()
    )


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("params = -1", "model[1].expect.params: expected a finite number, zero or more, got -1"),
        ("params = nan", "got nan"),
        ("flops = { value = 10, rel_tol = -0.5 }", "model[1].expect.flops.rel_tol: expected a finite number"),
        ("flops = { rel_tol = 0.5 }", "a tolerance table needs 'value'"),
        (
            "max_flops = { value = 10 }",
            "model[1].expect.max_flops: expected an integer or a float, got a table",
        ),
        (
            'output_shapes = ["(None, 1)", 2]',
            "model[1].expect.output_shapes[2]: expected a string, got an integer 2",
        ),
        ('params = "1"', "got a string '1'"),
    ],
)
def test_expect_errors(folder: Path, extra: str, fragment: str) -> None:
    fails(folder, M1 + "[model.expect]\n" + extra + "\n", "line 5:", fragment)


def test_expect_values_kept(folder: Path) -> None:
    spec = load(
        folder,
        M1
        + '[model.expect]\nparams = 16\nmacs = { value = 3, abs_tol = 1 }\nmax_flops = 1e9\noutput_shape = "(None, 4)"\n',
    ).models[0]
    assert spec.expect == Expect(
        params=16, macs=Tolerance(value=3, abs_tol=1), max_flops=1e9, output_shape="(None, 4)"
    )
    assert isinstance(spec.expect.params, int) and isinstance(spec.expect.max_flops, float)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "[report]\ntimeout = 1" + "0" * 400 + "\n" + M1,
            "line 2: report.timeout: expected a positive number",
        ),
        ("[report]\ntimeout = inf\n" + M1, "got inf"),
        ("[diagram]\ndpi = 1.5\n" + M1, "line 2: diagram.dpi: expected an integer, got a float 1.5"),
        ('[report]\nformats = ["html", "docx"]\n' + M1, "report.formats[2]: 'docx' is not one of html, pdf"),
        ('[report]\npage_size = "a4"\n' + M1, "'a4' is not one of A4, Letter (did you mean 'A4'?)"),
        ('[report]\noutput_dir = ""\n' + M1, "report.output_dir: '' is not a usable folder name"),
        (
            M1 + "kwargs = { when = 1979-05-27 }\n",
            "line 4: model[1].kwargs.when: datetime.date(1979, 5, 27): dates and times cannot be passed",
        ),
        (M1 + "args = [1, [2, inf]]\n", "model[1].args[2][2]: inf cannot be passed"),
        ('[model]\nname = "m"\n', "write [[model]] (two brackets)"),
        ("model = [1]\n", "model[1]: expected a table ([[model]]), got an integer 1"),
        ('[[model]]\nname = "  "\nbuilder = "tiny:build"\n', "line 2: model[1].name: must not be empty"),
    ],
)
def test_value_errors(folder: Path, text: str, fragment: str) -> None:
    fails(folder, text, fragment)


def test_long_values_are_shortened(folder: Path) -> None:
    message = fails(folder, M1 + f'trust = "{"x" * 500}"\n', "model[1].trust: expected a boolean")
    assert len(message) < 400


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the manifest is empty"),
        (b"  \n\n", "the manifest is empty"),
        (b"# only a comment\n", "model: the manifest lists no models"),
        (b'[report]\ntitle = "caf\xe9"\n', "line 2: the manifest is not UTF-8 (byte 0xe9"),
        (b'[report]\ntitle = "x\n', "line 2: not valid TOML"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid TOML"),
    ],
)
def test_unreadable_documents(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "manifest.toml"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=re.escape(fragment)) as info:
        manifest.load(path)
    assert str(info.value).startswith(str(path))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"nope\.toml: no such manifest file"):
        manifest.load(tmp_path / "nope.toml")
    with pytest.raises(ManifestError, match="is a directory; expected a TOML manifest file"):
        manifest.load(tmp_path)


def test_select_unknown_model_suggests(folder: Path) -> None:
    m = load(folder, M1)
    assert [s.name for s in m.select(["tiny"]).models] == ["tiny"]
    with pytest.raises(
        ManifestError, match=r"--only 'tiyn': no model of that name .*\(did you mean 'tiny'\?\)"
    ):
        m.select(["tiyn"])


# -- slugs -------------------------------------------------------------------
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("LeNet", "lenet"),
        ("../../etc/passwd", "etc-passwd"),
        ("/absolute/path", "absolute-path"),
        ("C:\\Windows\\system32", "c-windows-system32"),
        ("CON", "model-con"),
        ("nul", "model-nul"),
        ("LPT1", "model-lpt1"),
        ("COM¹", "model-com1"),
        ("..", "model"),
        ("Ünïcödé ñet", "unicode-net"),
        ("模型", "model"),
        ("a" * 100, "a" * 60),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert manifest.slugify(name) == slug
    assert SLUG.fullmatch(slug)


def test_unique_slugs() -> None:
    names = ["Net", "net", "NET!", "net-2", "模型", "模型 2", "CON", "con"]
    slugs = manifest.unique_slugs(names)
    assert slugs == ["net", "net-2", "net-3", "net-2-2", "model", "2", "model-con", "model-con-2"]
    assert len(set(slugs)) == len(slugs)


def test_slugs_stay_inside_the_output_folder(folder: Path) -> None:
    names = ["../../etc", "/etc/passwd", "CON", "..", ".", "a/../../b", "模型", "模型!"]
    text = "".join(f'[[model]]\nname = "{n}"\nbuilder = "tiny:build"\n\n' for n in names)
    m = load(folder, text)
    slugs = [s.slug for s in m.models]
    assert len(set(slugs)) == len(slugs)
    root = (folder / "out" / "models").resolve()
    for slug in slugs:
        target = (root / slug).resolve()
        assert target.parent == root, slug
        assert SLUG.fullmatch(slug), slug
        assert slug.split("-")[0] not in {"con", "prn", "aux", "nul"} or slug.startswith("model-")


# -- keys of the sibling issues: backend, batch size, executor, inputs -------------------
def test_report_defaults_and_model_overrides(folder: Path) -> None:
    m = load(
        folder,
        '[report]\nbackend = "shape-only"\nbatch_size = 8\nexecutor = "dask://127.0.0.1:8786"\n'
        + M1
        + '\n[[model]]\nname = "b"\nbuilder = "tiny:build"\nbackend = "tensorflow"\nbatch_size = 2\n'
        + "input_shapes = [[128], [128]]\n"
        + '\n[[model]]\nname = "c"\nbuilder = "tiny:build"\n[model.inputs]\ntoken_ids = [128]\nimage = [4, 4, 3]\n',
    )
    a, b, c = m.models
    assert (a.backend, a.batch_size, a.inputs, a.input_shapes) == ("shape-only", 8, None, None)
    assert (b.backend, b.batch_size, b.input_shapes) == ("tensorflow", 2, ((128,), (128,)))
    assert c.inputs == {"token_ids": (128,), "image": (4, 4, 3)}
    assert m.executor == "dask://127.0.0.1:8786"


@pytest.mark.parametrize(
    "executor", ["local", "dask://sched:8786", "tls://sched.example.org:8786", "tls://[::1]:1"]
)
def test_executor_forms(folder: Path, executor: str) -> None:
    assert load(folder, f'[report]\nexecutor = "{executor}"\n' + M1).executor == executor


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[report]\nbackend = "Jax"\n' + M1, "line 2: report.backend: 'Jax' is not one of auto, shape-only, tensorflow, jax, torch (did you mean 'jax'?)"),
        (M1 + 'backend = "shape_only"\n', "model[1].backend: 'shape_only' is not one of auto, shape-only"),
        ("[report]\nbatch_size = 0\n" + M1, "line 2: report.batch_size: expected a positive integer, got 0"),
        (M1 + "batch_size = 1.5\n", "line 4: model[1].batch_size: expected an integer, got a float 1.5"),
        ('[report]\nexecutor = "dask://sched"\n' + M1, 'report.executor: \'dask://sched\' is not "local", "dask://HOST:PORT" or "tls://HOST:PORT"'),
        ('[report]\nexecutor = "tcp://h:8786"\n' + M1, "report.executor: 'tcp://h:8786' is not \"local\""),
        ('[report]\nexecutor = "dask://h:70000"\n' + M1, "report.executor: 'dask://h:70000' is not"),
        (M1 + "[model.inputs]\ntoken_ids = [128, 0]\n", "line 5: model[1].inputs.token_ids[2]: expected a positive integer, got 0"),
        (M1 + '[model.inputs]\ntoken_ids = "128"\n', "model[1].inputs.token_ids: expected an array, got a string '128'"),
        (M1 + "inputs = {}\n", "line 4: model[1].inputs: expected at least one input"),
        (M1 + "input_shapes = [[128]]\ninputs = { x = [1] }\n", "model[1].input_shapes: give inputs (by name) or input_shapes (by position), not both"),
        (M1 + "input_shapes = [128]\n", "model[1].input_shapes[1]: expected an array, got an integer 128"),
        (M1 + '[model.expect]\naccept_lower_bound = "yes"\n', "model[1].expect.accept_lower_bound: expected a boolean, got a string 'yes'"),
    ],
)  # fmt: skip
def test_new_key_errors(folder: Path, text: str, fragment: str) -> None:
    fails(folder, text, fragment)


# -- per-layer expectations --------------------------------------------------------------------
def test_layer_expectations_by_name_and_path(folder: Path) -> None:
    spec = load(
        folder,
        M1
        + "[model.expect]\naccept_lower_bound = true\n[model.expect.layers]\n"
        + 'max_pooling2d_1 = "(None, 14, 14, 50)"\n"outer/inner" = { input_shape = "(None, 3)", params = 0 }\n'
        + 'value = "(None, 1)"\n',  # a layer may be called "value": a string is never a tolerance
    ).models[0]
    assert spec.expect.accept_lower_bound is True
    assert spec.expect.layers == {
        "max_pooling2d_1": "(None, 14, 14, 50)",
        "outer/inner": LayerExpect(input_shape="(None, 3)", params=0),
        "value": "(None, 1)",
    }


@pytest.mark.parametrize(
    ("expect", "value"),
    [("layers = 11", 11), ("layers = { value = 11, rel_tol = 0.1 }", Tolerance(value=11, rel_tol=0.1))],
)
def test_layers_still_counts_layers(folder: Path, expect: str, value: object) -> None:
    assert load(folder, M1 + f"[model.expect]\n{expect}\n").models[0].expect.layers == value


@pytest.mark.parametrize(
    ("layers", "fragment"),
    [
        ("flatten = 3", 'line 5: model[1].expect.layers.flatten: expected an output shape such as "(None, 10)", or a table, got an integer 3'),
        ("flatten = { output_shap = \"(None, 1)\" }", "model[1].expect.layers.flatten.output_shap: unknown key (did you mean 'output_shape'?). Valid keys here: flops, input_shape, output_shape, params"),
        ("flatten = { params = -1 }", "model[1].expect.layers.flatten.params: expected a finite number, zero or more, got -1"),
        ('"a/b" = { flops = { rel_tol = 0.1 } }', "model[1].expect.layers.\"a/b\".flops: a tolerance table needs 'value'"),
    ],
)  # fmt: skip
def test_layer_expectation_errors(folder: Path, layers: str, fragment: str) -> None:
    fails(folder, M1 + "[model.expect.layers]\n" + layers + "\n", fragment)


def test_model_spec_is_plain_and_picklable(folder: Path) -> None:
    """Specs travel to worker processes and Dask workers: stdlib dataclasses all the way down."""
    import dataclasses
    import pickle

    spec = load(
        folder,
        M1 + "[model.inputs]\nx = [3]\n[model.expect]\nflops = { value = 1, rel_tol = 0.1 }\n"
        '[model.expect.layers]\ndense = { output_shape = "(None, 4)", params = 16 }\n',
    ).models[0]
    assert pickle.loads(pickle.dumps(spec)) == spec
    plain = dataclasses.asdict(spec)
    assert plain["expect"]["flops"] == {"value": 1, "rel_tol": 0.1, "abs_tol": None}
    assert plain["expect"]["layers"]["dense"]["params"] == 16
    assert plain["inputs"] == {"x": (3,)}


@pytest.mark.parametrize(
    ("key", "value"),
    [("builder", "a" * 300 + ":build"), ("builder", "a" * 300 + ".b:build"), ("file", "a" * 300 + ".keras")],
)
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path: Path, key: str, value: str) -> None:
    # Found by tests/test_fuzz_inputs.py: looking for the module or file raised OSError (a traceback).
    path = write_manifest(tmp_path, f'[[model]]\nname = "m"\n{key} = "{value}"\n')
    with pytest.raises(
        ManifestError,
        match=rf"^{re.escape(str(path))}, line 3: model\[1\]\.{key}: cannot look for .*: File name too long\.$",
    ):
        manifest.load(path)
