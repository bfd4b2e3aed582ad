"""Every keras-hub family at a published preset size, built without weights: counts, time, memory.

Each family of tests/hub_families.py is built by tests/hub_build.py in its own fresh
process, one process at a time (the machine's cores are shared), and called once at
the entry's input shapes inside jax.eval_shape. The table gives, per family: the count
as built, the preset's published count and how they relate, the build and call seconds
inside the process, the process's wall and CPU seconds (imports included) and its
peak RSS.

    python benchmarks/hub_families.py                      # every family, Markdown table on stdout
    python benchmarks/hub_families.py llama3 mixtral       # some
    python benchmarks/hub_families.py --recipes            # and which build recipes work for which family

Everything measured also goes to benchmarks/results/hub-families-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import hub_families as hf  # noqa: E402  (the registry lives with the tests)

MAX_RSS = 8 * 2**30  # a build that allocates its weights after all is stopped here, not by the OOM killer


def _watched(args: list[str], timeout: float) -> tuple[str, str]:
    """Run a child, killing it when it passes MAX_RSS or the timeout: its stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        deadline, note = time.monotonic() + timeout, ""
        while proc.poll() is None:
            if time.monotonic() > deadline:
                note = f"timed out after {timeout:.0f} s"
            elif _rss(proc.pid) > MAX_RSS:
                note = f"stopped at {MAX_RSS / 2**30:.0f} GiB of RSS"
            if note:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        return out.read(), err.read() + note


def _rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def run(family: str, recipe: str | None, timeout: float) -> dict[str, Any]:
    """Build one family in a fresh process: the child's result, plus wall and CPU seconds of the process."""
    args = [sys.executable, "-m", "tests.hub_build", family, *(["--recipe", recipe] if recipe else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    stdout, stderr = _watched(args, timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    result = lines[-1] if len(lines) == 2 else {"error": (stderr.strip().splitlines() or ["no output"])[-1]}
    result["imports_seconds"] = lines[0]["imports_seconds"] if lines else None
    result["wall_seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def built_in_one_process(recipe: str, families: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Build (no call) every family with one recipe, in one process: {family: result or error}."""
    args = [sys.executable, "-m", "tests.hub_build", "--recipe", recipe, "--no-call", *families]
    stdout, stderr = _watched(args, timeout)
    found = {line["family"]: line for line in map(json.loads, stdout.splitlines()[1:])}
    ended = (stderr.strip().splitlines() or ["the process ended"])[-1]
    return {f: found.get(f, {"error": f"not reached: {ended}"}) for f in families}


def relation(entry: hf.HubFamily) -> str:
    """How the built count relates to the published one, in words for the table."""
    basis = "trainable" if entry.basis == hf.TRAINABLE else "all"
    if entry.relation == hf.EQUAL:
        return "equal" if basis == "all" else "trainable = published"
    if entry.relation == hf.OFFSET:
        return f"{basis} {entry.offset:+,}"
    if entry.relation == hf.ROUNDED:
        return f"rounded (±{entry.tolerance:.1%})"
    return "label, not a count"


def table(rows: list[tuple[hf.HubFamily, dict[str, Any]]]) -> str:
    head = (
        "| family | preset | params as built | published | relation | build s | call s | process s (CPU) "
        "| peak RSS |\n|---|---|---:|---:|---|---:|---:|---:|---:|"
    )
    lines = [head]
    for entry, r in rows:
        published = hf.published_params(entry.family)[entry.preset]
        if "error" in r:
            lines.append(
                f"| {entry.family} | {entry.preset} | error: {r['error']} | {published:,} | | | | | |"
            )
            continue
        lines.append(
            f"| {entry.family} | {entry.preset} | {r['params']:,} | {published:,} | {relation(entry)} "
            f"| {r['build_seconds']:.2f} | {r['call_seconds']:.2f} "
            f"| {r['wall_seconds']:.1f} ({r['cpu_seconds']:.1f}) | {r['rss'] / 2**20:,.0f} MB |"
        )
    return "\n".join(lines)


def _cpu() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help="default: every family")
    parser.add_argument("--recipes", action="store_true", help="also build every family with every recipe")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    entries = [hf.BY_NAME[f] for f in args.families] if args.families else hf.FAMILIES
    results: dict[str, dict[str, Any]] = {}
    for entry in entries:
        results[entry.family] = run(entry.family, None, args.timeout)
        print(f"{entry.family}: {results[entry.family].get('error') or 'ok'}", file=sys.stderr, flush=True)
    recipes: dict[str, dict[str, Any]] = {}
    if args.recipes:  # build only, every family in one process per recipe: which recipe works for which
        for recipe in hf.RECIPES:
            recipes[recipe] = built_in_one_process(recipe, [e.family for e in entries], 4 * args.timeout)
    machine = f"{_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
    print(f"Measured on {machine}, one family per process, one process at a time.\n")
    print(table([(entry, results[entry.family]) for entry in entries]))
    if recipes:
        print("\n| family | " + " | ".join(hf.RECIPES) + " |\n|---|" + "---|" * len(hf.RECIPES))
        for entry in entries:
            cells = [recipes[r][entry.family].get("error", "ok")[:70] for r in hf.RECIPES]
            print(f"| {entry.family} | " + " | ".join(cells) + " |")
    out = ROOT / "benchmarks" / "results" / f"hub-families-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine, "results": results, "recipes": recipes}
    out.write_text(json.dumps(record, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
