"""Architecture review in a pull request, from plain data: block-level diffs, report.md and gates (issue 28).

Every test here starts from report.json-shaped data (no Keras): the block diff and
report.md read only that, and so does a baseline. The same checks on real models
are in tests/test_visual_diff.py.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from archreport.__main__ import STEP_SUMMARY_LIMIT, job_summary, main
from archreport.checks import gates
from archreport.checks.compare import compare
from archreport.data import ModelReport, Totals
from archreport.errors import UsageError
from archreport.manifest import schema
from archreport.manifest.loader import ModelSpec
from archreport.render.markdown import LIMIT, code, report_md
from tests.helpers import write_manifest


# -- report.json-shaped models ------------------------------------------------------------
def row(
    name: str, params: int = 10, *, depth: int = 0, parent: str | None = None, **extra: Any
) -> dict[str, Any]:
    path = f"{parent}/{name}" if parent else name
    return {
        "name": name, "path": extra.pop("path", path), "class_name": extra.pop("class_name", "Dense"),
        "depth": depth, "parent": parent, "params": params, "trainable_params": params,
        "input_shapes": ["(None, 8)"], "output_shape": "(None, 8)", "kernel": None, "strides": None,
        "activation": None, "dtype": "float32", "trainable": True, "has_children": False,
        "connected_to": [], "anchor": f"m-r{name}", **extra,
    }  # fmt: skip


def block(i: int, previous: str, width: int = 8) -> list[dict[str, Any]]:
    """A composite layer (a nested model of two Dense layers), fed by ``previous``."""
    name = f"block_{i}"
    params = 2 * (width * 8 + 8)
    return [
        row(name, params, class_name="Functional", has_children=True, connected_to=[previous]),
        row(f"dense_{2 * i}", width * 8 + 8, depth=1, parent=name),
        row(f"dense_{2 * i + 1}", width * 8 + 8, depth=1, parent=name),
    ]


def tower(blocks: int, *, wide: int | None = None, name: str = "Tower") -> dict[str, Any]:
    """stem -> block_0 ... block_{n-1} -> head; block ``wide`` has a wider first layer."""
    rows = [row("stem", 72)]
    previous = "stem"
    for i in range(blocks):
        rows += block(i, previous, width=16 if i == wide else 8)
        previous = f"block_{i}"
    rows.append(row("head", 90, connected_to=[previous]))
    params = sum(r["params"] for r in rows if r["depth"] == 0)
    return model(name, rows, params)


def model(name: str, rows: list[dict[str, Any]], params: int, **totals: Any) -> dict[str, Any]:
    return {
        "name": name, "slug": name.lower(), "status": "ok", "error": None, "layers": rows,
        "repeated_blocks": [], "expectations": [],
        "totals": {"params": params, "flops": 2 * params, "param_bytes": 4 * params,
                   "activation_bytes": 1024, "flops_lower_bound": False, "memory_lower_bound": False, **totals},
    }  # fmt: skip


def report(*models: dict[str, Any], title: str = "Zoo") -> dict[str, Any]:
    return {
        "title": title,
        "generated": "2026-12-07T00:00:00Z",
        "archreport_version": "0.1.0",
        "models": list(models),
    }


def nodes(entry: dict[str, Any], side: str) -> list[tuple[str, int, str]]:
    return [(n["key"], n["count"], n["status"]) for n in entry["graph"][side]["nodes"]]


# -- the block diff ---------------------------------------------------------------------
def test_a_thirteenth_identical_block_reads_as_a_changed_repeat_count() -> None:
    before, after = report(tower(12)), report(tower(13))
    (entry,) = compare(before, after)["models_changed"]
    assert nodes(entry, "baseline") == [("stem", 1, "same"), ("block_0", 12, "repeat"), ("head", 1, "same")]
    assert nodes(entry, "current") == [("stem", 1, "same"), ("block_0", 13, "repeat"), ("head", 1, "same")]
    (repeat,) = entry["repeats"]
    assert (repeat["first"], repeat["last_before"], repeat["last_after"]) == (
        "block_0",
        "block_11",
        "block_12",
    )
    assert (repeat["before"], repeat["after"]) == (12, 13)
    assert repeat["layers_added"] == ["block_12", "block_12/dense_24", "block_12/dense_25"]
    assert entry["rewired"] == []  # head is fed by the run, as before
    text = report_md({**after, "changes": compare(before, after)})
    assert "**×12 → ×13**" in text and "(+3 layers)" in text
    assert "dense_24" not in text  # the layers of the new block are in its line, not listed


def test_one_changed_block_in_a_run_is_one_coloured_node_on_each_side() -> None:
    (entry,) = compare(report(tower(6)), report(tower(6, wide=3)))["models_changed"]
    for side in ("baseline", "current"):
        assert nodes(entry, side) == [
            ("stem", 1, "same"), ("block_0", 3, "same"), ("block_3", 1, "changed"),
            ("block_4", 2, "same"), ("head", 1, "same"),
        ], side  # fmt: skip
    assert entry["repeats"] == []
    assert [c["name"] for c in entry["layers_changed"]] == ["block_3", "block_3/dense_6", "block_3/dense_7"]
    # The same block is the same node on both sides: its counterpart shares its match index.
    matches = [[n["match"] for n in entry["graph"][side]["nodes"]] for side in ("baseline", "current")]
    assert matches[0] == matches[1] == [0, 1, 2, 3, 4]


def test_an_inserted_layer_is_the_change_not_the_layer_after_it() -> None:
    a = model("Flat", [row("a"), row("b", connected_to=["a"]), row("c", connected_to=["b"])], 30)
    b = model("Flat", [row("a"), row("x", connected_to=["a"]), row("b", connected_to=["x"]), row("c", connected_to=["b"])], 40)  # fmt: skip
    (entry,) = compare(report(a), report(b))["models_changed"]
    assert [n[2] for n in nodes(entry, "current")] == ["same", "added", "same", "same"]
    assert entry["rewired"] == [] and entry["layers_added"] == ["x"]
    # A real rewiring: c now reads a instead of b.
    rewired = model("Flat", [row("a"), row("b", connected_to=["a"]), row("c", connected_to=["a"])], 30)
    (entry,) = compare(report(a), report(rewired))["models_changed"]
    assert entry["rewired"] == ["c"]
    assert nodes(entry, "current")[2] == ("c", 1, "changed")


def resnet_like(blocks: int) -> dict[str, Any]:
    """A flat model of 100+ layers with named blocks (keras.applications' ResNet naming)."""
    rows = [row("input_1", 0, class_name="InputLayer"), row("conv1_conv", 9408, connected_to=["input_1"])]
    previous = "conv1_conv"
    for stage, count in ((2, 3), (3, 8), (4, blocks), (5, 3)):
        for i in range(1, count + 1):
            prefix = f"conv{stage}_block{i}"
            kind = 3 if i == 1 else 1  # the first block of a stage projects its shortcut
            names = [f"{prefix}_{k}_conv" for k in range(1, 3 + kind)] + [f"{prefix}_add", f"{prefix}_out"]
            for n, name in enumerate(names):
                sources = [previous] if n == 0 else [names[n - 1]]
                if name.endswith("_add"):
                    sources.append(previous)
                rows.append(row(name, 64 * stage * (n + 1) if "conv" in name else 0, connected_to=sources))
            previous = names[-1]
    rows.append(row("predictions", 1000, connected_to=[previous]))
    return model("Backbone", rows, sum(r["params"] for r in rows))


def test_named_blocks_of_a_large_model_fold_into_runs_that_grow() -> None:
    base, deeper = resnet_like(6), resnet_like(23)  # ResNet50's conv4 stage against ResNet101's
    assert sum(r["depth"] == 0 for r in base["layers"]) >= 100
    (entry,) = compare(report(base), report(deeper))["models_changed"]
    changed = [n for n in entry["graph"]["current"]["nodes"] if n["status"] != "same"]
    assert [(n["key"], n["last"], n["before"], n["count"], n["status"]) for n in changed] == [
        ("conv4_block2", "conv4_block23", 5, 22, "repeat")
    ]
    (repeat,) = entry["repeats"]
    assert len(repeat["layers_added"]) == 17 * 5
    assert entry["rewired"] == []


# -- report.md ---------------------------------------------------------------------------
HOSTILE = [
    "a|b",
    "`tick` and ``two``",
    "<script>alert(1)</script>",
    "line\nbreak",
    "@octo/team",
    "**bold** [x](y)",
]


def parse(text: str) -> Any:
    return MarkdownIt("commonmark").enable("table").parse(text)


def table_rows(tokens: Any) -> list[list[Any]]:
    """Each table row's cells, as their inline tokens."""
    rows: list[list[Any]] = []
    inside = False
    for token in tokens:
        inside = (inside or token.type == "table_open") and token.type != "table_close"
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and inside:
            rows[-1].append(token)
    return rows


def test_report_md_renders_its_table_and_no_name_breaks_it() -> None:
    models = [model(name, [row(name.replace("\n", " "))], 10 * (i + 1)) for i, name in enumerate(HOSTILE)]
    before = report(*copy.deepcopy(models))
    for m in models:
        m["layers"].append(row("extra|`<b>`", connected_to=[m["layers"][0]["name"]]))
        m["totals"]["params"] += 10
    after = report(*models, title="Zoo | <i>")
    text = report_md({**after, "changes": compare(before, after)})
    tokens = parse(text)
    rows = table_rows(tokens)
    width = len(rows[0])
    assert [c.content for c in rows[0]] == [
        "Model",
        "Status",
        "Change",
        "Params",
        "FLOPs",
        "Param memory",
        "Inference peak",
        "Activations",
    ]
    assert len(rows) == 1 + len(HOSTILE) and all(len(r) == width for r in rows)
    for cells, name in zip(rows[1:], HOSTILE, strict=True):
        (shown,) = [t.content for t in cells[0].children if t.type == "code_inline"]
        assert shown == name.replace("\n", " ")
        assert "▲ +10 (+" in cells[3].content, cells[3].content
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script>" not in html and "<i>" not in html and "<b>" not in html
    # User text is code (no mention, no link) or escaped prose.
    assert "<code>@octo/team</code>" in html
    assert html.count("<code>extra|`&lt;b&gt;`</code>") == len(HOSTILE)


def test_code_spans_hold_any_text() -> None:
    for text in ["plain", "`", "a``b", "` lead", "trail `", "x|y", "new\nline", ""]:
        (para,) = [t for t in parse(code(text)) if t.type == "inline"]
        (span,) = [c for c in para.children if c.type == "code_inline"]
        assert span.content == (" ".join(text.split("\n")) or " ").strip() or span.content == " ", text


def test_failures_come_first_and_only_changed_models_are_listed() -> None:
    zoo = [tower(3, name=f"Model {i}") for i in range(10)]
    failed = {"name": "Broken", "slug": "broken", "status": "failed", "error": "ValueError: bad\nshape", "layers": [], "expectations": []}  # fmt: skip
    before = report(*copy.deepcopy(zoo))
    zoo[4] = tower(3, wide=1, name="Model 4")
    zoo[2]["expectations"] = [
        {"key": "params", "ok": False, "status": "violated", "message": "params: expected 1, got 2."}
    ]
    after = report(*zoo, failed)
    text = report_md({**after, "changes": compare(before, after)})
    assert text.index("### Failed") < text.index("### Models") < text.index("### Changes since the baseline")
    failures = text[text.index("### Failed") : text.index("### Models")]
    assert "`Broken` failed: `ValueError: bad shape`" in failures and "`Model 2` `params`" in failures
    changes = text[text.index("### Changes since the baseline") :]
    assert "#### `Model 4`" in changes and "block_1/dense_2" in changes
    for i in set(range(10)) - {4}:  # each other model: its table row, nothing else
        assert text.count(f"`Model {i}`") == (2 if i == 2 else 1), i
    assert "Models added:** `Broken`" in text


def test_report_md_stays_under_the_limit_whatever_the_report() -> None:
    """40 models, each replaced by 3,000 layers of long names: the worst a comment can be asked to hold."""
    before = report(*(tower(3, name=f"Model {i:02d}") for i in range(40)))
    models = []
    for i in range(40):
        rows = [row(f"very_long_layer_name_{'x' * 60}_{k}", 5, connected_to=[f"very_long_layer_name_{'x' * 60}_{k - 1}"]) for k in range(3000)]  # fmt: skip
        models.append(model(f"Model {i:02d}", rows, 15000))
    after = report(*models)
    changes = compare(before, after)
    text = report_md({**after, "changes": changes})
    assert len(text) < LIMIT
    assert len(table_rows(parse(text))) == 41  # the table keeps every model
    assert text.count("#### `Model") == 40  # every changed model gets its share
    closing = text.rstrip().splitlines()[-1]
    assert "more entries were left out" in closing and "report.html" in closing
    left = int(closing.split(">")[1].split(" ")[0].replace(",", ""))
    assert left > 40 * 3000 - 40 * 30  # nearly all the layer lines, each counted


# -- gates -----------------------------------------------------------------------------
def totals(params: int, **extra: Any) -> Totals:
    figures = {"params": params, "trainable_params": params, "non_trainable_params": 0, "param_bytes": 4 * params,
               "flops": 2 * params, "flops_lower_bound": False, "macs": params, "activation_bytes": 1000,
               "input_bytes": 10, "inference_bytes": 4 * params + 1010, "layers": 3, "depth": 3}  # fmt: skip
    return Totals(**{**figures, **extra})


def analysed(params: int, **extra: Any) -> ModelReport:
    return ModelReport(
        name="M", slug="m", source={}, description=None, status="ok", totals=totals(params, **extra)
    )


def baseline(params: int, **extra: Any) -> dict[str, Any]:
    return {"name": "M", "totals": dataclasses.asdict(totals(params, **extra))}


def gated(**given: str) -> dict[str, tuple[schema.Gate, str]]:
    return {name: (schema.parse_gate(text), gates.REPORT) for name, text in given.items()}


def test_a_change_exactly_at_the_gate_holds_and_one_more_fails() -> None:
    at = gates.check(analysed(1_010_000), baseline(1_000_000), gated(params="+1%"), None)
    assert [(e.key, e.status, e.ok) for e in at] == [("gates.params", "held", True)]
    (over,) = gates.check(analysed(1_010_001), baseline(1_000_000), gated(params="+1%"), None)
    assert (over.status, over.ok, over.expected, over.actual) == ("violated", False, "+1%", 1_010_001)
    assert over.message == (
        "params: +1 % (1,000,000 → 1,010,001, +10,001), over +1% of [report.gates]. If it is intended, "
        "raise the gate or add [model.accept] params = 1010001 with a reason."
    )
    # "+10 MiB": 10 * 2**20 bytes more is at the gate; one byte more is past it.
    mib = 10 * 2**20
    held = gates.check(
        analysed(1000, param_bytes=4000 + mib), baseline(1000), gated(param_bytes="+10 MiB"), None
    )
    assert held[0].status == "held"
    past = gates.check(
        analysed(1000, param_bytes=4001 + mib), baseline(1000), gated(param_bytes="+10 MiB"), None
    )
    assert past[0].status == "violated"


def test_a_gate_with_a_plus_lets_any_decrease_through_and_plus_minus_does_not() -> None:
    shrunk, base = analysed(900_000), baseline(1_000_000)
    assert gates.check(shrunk, base, gated(params="+1%"), None)[0].status == "held"
    (both,) = gates.check(shrunk, base, gated(params="±1%"), None)
    assert both.status == "violated" and "−10 % (1,000,000 → 900,000, −100,000)" in both.message


def test_new_failed_and_unknown_models_are_not_gated() -> None:
    gate = gated(params="+0", flops="+0")
    assert gates.check(analysed(5), None, gate, None) == []  # new: nothing to compare with
    failed = ModelReport(name="M", slug="m", source={}, description=None, status="failed", error="x")
    assert gates.check(failed, baseline(5), gate, None) == []  # a failed model is a failure already
    unknown = gates.check(analysed(6), {"name": "M", "status": "failed", "totals": None}, gate, None)
    assert [(e.status, e.ok) for e in unknown] == [("unknown", True)] * 2
    assert "the baseline has no figure (the model failed there)" in unknown[0].message
    bound = gates.check(analysed(6, flops_lower_bound=True), baseline(5), gated(flops="+0"), None)
    assert (bound[0].status, bound[0].ok) == ("unknown", True) and "lower bound" in bound[0].message


def test_an_accepted_change_passes_at_its_value_only() -> None:
    accept = schema.Accept(reason="a wider head for 20 classes (PR #42)", params=1_100_000)
    (ok,) = gates.check(analysed(1_100_000), baseline(1_000_000), gated(params="+1%"), accept)
    assert (ok.status, ok.ok) == ("accepted", True)
    assert ok.message.endswith("accepted: a wider head for 20 classes (PR #42)")
    (other,) = gates.check(analysed(1_100_001), baseline(1_000_000), gated(params="+1%"), accept)
    assert (
        not other.ok
        and "[model.accept] params = 1,100,000 does not match the new value 1,100,001." in other.message
    )
    # Once the baseline has the new value, the entry has done its work.
    (stale,) = gates.check(analysed(1_100_000), baseline(1_100_000), gated(params="+1%"), accept)
    assert stale.ok and "The [model.accept] entry for params is no longer needed." in stale.message


def test_the_most_specific_gate_wins() -> None:
    spec = ModelSpec(
        name="M", slug="m", kind="application", target="X",
        gates=schema.Gates(params=schema.parse_gate("+1%"), flops=schema.parse_gate("+1%")),
        own_gates=schema.Gates(params=schema.parse_gate("+5%")),
    )  # fmt: skip
    command = gates.from_command(["flops=+2%", "param_bytes=+1 MiB"])
    found = {name: (gate.text, where) for name, (gate, where) in gates.effective(spec, command).items()}
    assert found == {
        "params": ("+5%", "[model.gates]"),
        "flops": ("+2%", "--gate"),
        "param_bytes": ("+1 MiB", "--gate"),
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["params"], r"--gate 'params': expected FIGURE=CHANGE"),
        (["parms=+1%"], r"'parms' is not a figure a gate can hold \(did you mean 'params'\?\)"),
        (
            ["params=1%"],
            r'--gate \'params=1%\': \'1%\' is not a change: expected "\+" \(growth at most\) or "±"',
        ),
        (["params=+1 MiB"], r"--gate: params is a count, not bytes"),
    ],
)
def test_a_bad_gate_on_the_command_line_is_refused(values: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        gates.from_command(values)


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ('[report.gates]\nparams = "1%"', ("report", "gates", "params"), r"'1%' is not a change"),
        (
            '[report.gates]\nparam_bytes = "+1M"',
            ("report", "gates", "param_bytes"),
            r'write "\+1 MiB" or a percentage',
        ),
        ('[report.gates]\nlayers = "+1"', ("report", "gates", "layers"), r"unknown key"),
        ("[model.accept]\nparams = 5", ("model", 0, "accept"), r"an accepted change needs its reason"),
        ('[model.accept]\nreason = "why"', ("model", 0, "accept"), r"name the new value of each figure"),
    ],
)
def test_gates_and_accepts_in_the_manifest_are_checked(toml: str, key: tuple[Any, ...], message: str) -> None:
    import tomllib

    text = toml.replace("[model.accept]", '[[model]]\nname = "M"\napplication = "X"\n[model.accept]')
    data = tomllib.loads(
        text if "[[model]]" in text else text + '\n[[model]]\nname = "M"\napplication = "X"\n'
    )
    with pytest.raises(schema.SchemaError, match=message) as caught:
        schema.validate(data)
    assert caught.value.key == key


def test_gates_on_the_command_line_need_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(tmp_path, '[[model]]\nname = "LeNet"\nbuilder = "lenet:LeNet.build"\n')
    (tmp_path / "lenet.py").write_text("class LeNet:\n    def build():\n        pass\n", encoding="utf-8")
    assert main([str(manifest), "-o", str(tmp_path / "out"), "--gate", "params=+1%"]) == 2
    assert (
        "gates need a baseline to measure each change against: add --compare BASELINE."
        in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


# -- the job summary ------------------------------------------------------------------
def test_report_md_is_appended_to_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    md = tmp_path / "report.md"
    md.write_text("## Report\n\n" + "body " * 200 + "\n", encoding="utf-8")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    job_summary(md, "archreport")
    assert summary.read_text(encoding="utf-8") == "earlier step\n\n" + md.read_text(encoding="utf-8")
    # Past GitHub's 1 MiB, GitHub would show none of it: one line says where the report is.
    summary.write_text("x" * (STEP_SUMMARY_LIMIT - 500), encoding="utf-8")
    job_summary(md, "archreport")
    tail = summary.read_text(encoding="utf-8")[STEP_SUMMARY_LIMIT - 500 :]
    assert tail == f"\narchreport: the report summary did not fit in this job summary; see {md}.\n"
    # Where not even that line fits, nothing is added, and the run says so.
    summary.write_text("x" * (STEP_SUMMARY_LIMIT - 10), encoding="utf-8")
    job_summary(md, "archreport")
    assert summary.stat().st_size == STEP_SUMMARY_LIMIT - 10
    assert "warning: GITHUB_STEP_SUMMARY" in capsys.readouterr().err
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    job_summary(md, "archreport")  # unset: nothing is written anywhere
    assert summary.stat().st_size == STEP_SUMMARY_LIMIT - 10
