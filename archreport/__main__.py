"""The command line: parse arguments, call the library, turn errors into messages and exit codes."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# `python -m archreport` puts the working folder first on the import path: a random.py or
# types.py of the user's there shadowed the standard library's, and the command died with a
# traceback. It stays on the path, where the console script (which does not add it) never had it.
if sys.path and sys.path[0] in ("", str(Path.cwd())) and __name__ == "__main__":
    sys.path.append(sys.path.pop(0))

from archreport import stopping
from archreport.errors import ArchreportError, ArchreportWarning, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SYSTEM, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep our one-line style
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


# The pipeline as the package's folders hold it, for --help: a reader sees the stages before the code.
PIPELINE = """\
how a run goes (each stage is a folder of the archreport package):
  manifest/   read and check MANIFEST, and each model's builder sources
  runners/    hand each model to a worker process (local, or a Dask cluster)
  model/      build it without weights, trace one forward pass, count params, FLOPs, memory
  diagram/    lay out its diagram with Graphviz (and a block overview of large models)
  render/     write report.html, report.pdf and report.json (render/pdf/ for the PDF)
  checks/     check [model.expect] and compare with --compare's baseline
  store/      cache each model's results, and swap the new report folder in whole

documentation: the README, and docs/ in the source tree (command-line.md, manifest.md,
outputs.md, numbers.md, library.md, cluster.md, security.md, development.md)
"""


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(
        prog=prog,
        description="Build, draw and tabulate every Keras model in a TOML manifest; write one HTML and one PDF report.",
        epilog=PIPELINE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", nargs="?", help="the TOML manifest (see docs/manifest.md)")
    p.add_argument(
        "--schema", action="store_true", help="print the manifest's JSON Schema (for editors) and exit"
    )
    p.add_argument(
        "-o",
        "--output-dir",
        help="output folder (default: the manifest's [report] output_dir, else reports/ beside it)",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", default=[], help="only these models")
    p.add_argument(
        "--format", dest="formats", help="report formats, comma-separated: html,pdf (default: the manifest's)"
    )
    p.add_argument(
        "-j", "--jobs", type=int, default=None, help="local worker processes (default: number of CPUs)"
    )
    p.add_argument(
        "--executor",
        metavar="WHERE",
        help="where models are built: local (default), or a Dask scheduler, dask://HOST:PORT or "
        "tls://HOST:PORT (needs archreport[dask]; default: the manifest's [report] executor)",
    )
    p.add_argument("--no-cache", action="store_true", help="rebuild every model; ignore .archreport-cache/")
    p.add_argument(
        "--compare", metavar="BASELINE", help="an earlier report.json or report folder to diff against"
    )
    p.add_argument("--profile", action="store_true", help="print per-model stage timings")
    group = p.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    group.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and worker output")
    return p


class _Progress:
    """One plain line per model on a pipe (CI logs); on a terminal, the same lines under a live status."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(highlight=False)
        self.tty = self.console.is_terminal
        self.status: Any = None
        self.total = self.done = 0

    def __call__(self, name: str, report: Any, stage: str) -> None:
        if self.quiet:
            return
        try:
            self._progress(report, stage)
        except BrokenPipeError:  # `archreport ... | head -1`: the report is still written
            self.quiet = True
            stdout_closed()

    def _progress(self, report: Any, stage: str) -> None:
        if stage in ("html", "pdf"):
            self._show(f"rendering the {stage.upper()} report ...")
            return
        self.total += stage in ("queued", "cached")
        if stage == "queued":
            self._show(
                f"{self.done} of {self.total} models done; building and analysing in worker processes ..."
            )
            return
        self.done += 1
        line = _model_line(report)
        if not self.tty:
            print(line, flush=True)
            return
        colour = "green" if report.ok and all(e.ok for e in report.expectations) else "red"
        self.console.print(line, style=colour, markup=False, soft_wrap=True)
        self._show(f"{self.done} of {self.total} models done ...")

    def _show(self, text: str) -> None:
        if not self.tty:
            return
        if self.status is None:
            self.status = self.console.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def stdout_closed() -> None:
    """The reader of stdout went away: send the rest of the output, and Python's final flush, nowhere.

    Otherwise the next print raises BrokenPipeError again: inside the pipeline that aborted the
    run (no report, a traceback, exit 1), and at exit Python reports it on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def _model_line(report: Any) -> str:
    from archreport.units import visible

    # A model's name is the user's text: terminal escapes in it would reach the terminal (clear
    # the screen, recolour what follows), a bidirectional control would reorder the line, and a
    # newline would split the model's one line. Shown escaped, as everywhere else (units.visible).
    name = visible(report.name).replace("\n", " ").replace("\t", " ")
    if not report.ok:
        return f"FAILED  {name}: {report.error}"
    t = report.totals
    bad = [e for e in report.expectations if not e.ok]
    from archreport.units import flops, si

    cached = " (cached)" if report.cached else ""
    mode = report.diagram.mode if report.diagram else None
    diagram = "no diagram" if mode is None else f"diagram: {mode}"
    status = f"EXPECT  {_count(len(bad), 'expectation')} failed" if bad else "ok     "
    return f"{status} {name}: {si(t.params)} params, {flops(t.flops, t.flops_lower_bound)}, {_count(t.layers, 'layer')}, {diagram}{cached}"


def _count(n: int, noun: str) -> str:
    """``1 model``, ``2 models``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _print_profile(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    stages = ["build", "analyse", "layout", "render", "cache"]
    table = Table(title="Stage times (s)")
    table.add_column("model")
    for s in stages:
        table.add_column(s, justify="right")
    for m in report.models:
        table.add_row(m.name, *(f"{m.timings[s]:.2f}" if s in m.timings else "" for s in stages))
    Console().print(table)
    for stage, seconds in report.timings.items():
        print(f"{stage}: {seconds:.2f} s")


# How long stopping may take after the first Ctrl-C or SIGTERM before archreport exits anyway.
STOP_GRACE = 15.0


class _Stopper:
    """The handler of Ctrl-C and SIGTERM: stop cleanly, so workers and staging are cleaned up, but never hang.

    The first signal asks the pipeline to stop at its next checkpoint (stopping.py says why it
    does not raise here), a CI runner's SIGTERM alike, and starts a clock; if stopping takes
    longer than ``STOP_GRACE``, or a second signal comes, the process exits at once. What that
    leaves is what a killed run leaves: its workers see their parent gone and stop themselves,
    the next run removes its staging folder, and the report folder is swapped in one rename,
    so the previous report is whole.
    """

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self.stopping = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.stopping:
            self._exit("a second interrupt")
        self.stopping = True
        stopping.request()
        threading.Thread(target=self._deadline, name="archreport-stop", daemon=True).start()

    def _deadline(self) -> None:
        time.sleep(STOP_GRACE)
        self._exit(f"stopping took over {STOP_GRACE:g} s")

    def _exit(self, why: str) -> None:
        sys.stderr.write(
            f"{self.prog}: interrupted; exiting at once after {why}. The previous report, if any, is "
            "unchanged; worker processes stop themselves.\n"
        )
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)


def main(cli_args: Sequence[str] | None = None, prog: str = "archreport") -> int:
    args_list = list(sys.argv[1:] if cli_args is None else cli_args)
    if threading.current_thread() is not threading.main_thread():
        return _main(args_list, prog)  # only the main thread receives signals
    stopper = _Stopper(prog)
    stopping.reset()
    previous = {signum: signal.signal(signum, stopper) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _main(args_list, prog)
    finally:
        stopping.reset()
        for signum, handler in previous.items():
            if handler is not None:  # None: installed outside Python, nothing to put back
                signal.signal(signum, handler)


def _show_warning(
    others: Callable[..., None], message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
) -> None:
    """archreport's own warnings as one ``WARNING`` line; the rest as ``others`` shows them."""
    if issubclass(category, ArchreportWarning):
        print(f"WARNING {message}", file=sys.stderr, flush=True)
    else:
        others(message, category, *args, **kwargs)


def _main(args_list: list[str], prog: str) -> int:
    verbose = "-v" in args_list or "--verbose" in args_list
    started = time.perf_counter()
    try:
        parser = build_parser(prog)
        args = parser.parse_args(args_list)
        if args.schema:
            import json

            from archreport.manifest.schema import json_schema

            print(json.dumps(json_schema(), indent=2))
            return EXIT_OK
        if args.manifest is None:
            parser.error("the following arguments are required: manifest")
        if args.jobs is not None and args.jobs < 1:
            raise UsageError(f"{prog}: --jobs {args.jobs}: expected a positive number of worker processes.")
        formats = None if args.formats is None else [f.strip() for f in args.formats.split(",") if f.strip()]
        if formats == []:  # `--format "$FORMATS"` with the variable unset: as the manifest's formats = []
            raise UsageError(f"--format {args.formats!r}: expected html and/or pdf, e.g. --format html,pdf.")
        from archreport.pipeline import generate

        progress = _Progress(args.quiet)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                report = generate(
                    args.manifest, args.output_dir, only=args.only, formats=formats, jobs=args.jobs,
                    use_cache=not args.no_cache, compare=args.compare, executor=args.executor,
                    progress=progress,
                )  # fmt: skip
        finally:
            progress.close()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; the previous report, if any, is unchanged.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ArchreportError as exc:
        if verbose:
            traceback.print_exc()
        print(f"ERROR {exc}", file=sys.stderr)
        return exc.exit_code
    failed = len(report.failed)
    expfail = len(report.expectation_failures)
    try:
        if args.profile:
            _print_profile(report)
        if not args.quiet:
            ok = len(report.models) - failed
            out = os.path.relpath(report.output_dir)
            print(
                f"{_count(len(report.models), 'model')}: {ok} ok, {failed} failed, {_count(expfail, 'expectation failure')}; "
                f"{time.perf_counter() - started:.1f} s. Report: {out}",
                flush=True,
            )
    except BrokenPipeError:  # the report is written; its exit code still says how the models did
        stdout_closed()
    if verbose:
        for m in report.failed:
            if m.details:
                print(f"--- {m.name}: worker traceback or output ---\n{m.details.rstrip()}", file=sys.stderr)
    return EXIT_FAILED if failed or expfail else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="python -m archreport"))
