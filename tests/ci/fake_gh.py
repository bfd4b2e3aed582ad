"""A stand-in for GitHub's `gh` command in tests/test_review_ci.py: the calls the example workflow
makes, against a JSON file that plays GitHub's side (workflow runs, their artifacts, a pull
request's comments). Every call is logged there; an unknown call fails, so the workflow cannot
start using one the test does not know about. `--jq` runs through the real jq, as gh's does."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_GH_STATE"])


def option(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def output(value, args):
    text = json.dumps(value)
    jq = option(args, "--jq")
    if jq is not None:
        text = subprocess.run(["jq", "-r", jq], input=text, capture_output=True, text=True, check=True).stdout
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def main(args):
    state = json.loads(STATE.read_text())
    state["calls"].append(args)
    assert os.environ.get("GH_TOKEN"), "gh needs GH_TOKEN"
    code = 0
    if args[:2] == ["run", "list"]:
        runs = [
            {"databaseId": r["id"]}
            for r in reversed(state["runs"])
            if r["workflow"] == option(args, "--workflow")
            and r["branch"] == option(args, "--branch")
            and r["conclusion"] == option(args, "--status")
        ]
        output(runs[: int(option(args, "--limit", "20"))], args)
    elif args[:2] == ["run", "download"]:
        run = next(r for r in state["runs"] if str(r["id"]) == args[2])
        artifact = run["artifacts"].get(option(args, "--name"))
        if artifact is None:
            print(f"no artifact matches {option(args, '--name')}", file=sys.stderr)
            code = 1
        else:
            shutil.copytree(artifact, option(args, "--dir"), dirs_exist_ok=True)
    elif args[0] == "api":
        method = option(args, "--method", "GET")
        path = next(a for a in args[1:] if a.startswith("repos/"))
        parts = path.split("/")
        if method == "GET" and parts[3:] == ["issues", parts[4], "comments"]:
            output([c for c in state["comments"] if c["issue"] == int(parts[4])], args)
        elif method == "POST" and parts[3:] == ["issues", parts[4], "comments"]:
            body = Path(option(args, "-F").removeprefix("body=@")).read_text()
            state["comments"].append(
                {"id": 9000 + len(state["comments"]), "issue": int(parts[4]), "body": body}
            )
        elif method == "PATCH" and parts[3:5] == ["issues", "comments"]:
            comment = next(c for c in state["comments"] if c["id"] == int(parts[5]))
            comment["body"] = Path(option(args, "-F").removeprefix("body=@")).read_text()
        else:
            raise SystemExit(f"fake gh: unknown API call {args}")
    else:
        raise SystemExit(f"fake gh: unknown command {args}")
    STATE.write_text(json.dumps(state))
    return code


sys.exit(main(sys.argv[1:]))
