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
  render/     write report.html, report.pdf, report.json, report.md and tex/ (render/pdf/, render/tex/)
  checks/     check [model.expect], compare with --compare's baseline and check its gates
  store/      cache each model's results, and swap the new report folder in whole

papers: `%(prog)s check-numbers NUMBERS.tex REPORT.json` exits 1 listing each macro of a
paper's numbers.tex that the report no longer gives (docs/papers.md)

documentation: the README, and docs/ in the source tree (command-line.md, manifest.md,
outputs.md, review.md, numbers.md, library.md, cluster.md, security.md, development.md, papers.md)
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
        "--format",
        dest="formats",
        help="report formats, comma-separated: html,pdf,tex (default: the manifest's)",
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
    p.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="FIGURE=CHANGE",
        help="fail (exit 1) when a model's figure changes more than this against --compare's baseline, "
        'e.g. --gate params=+1%% --gate param_bytes="+10 MiB"; overrides [report.gates] (see docs/review.md)',
    )
    p.add_argument("--profile", action="store_true", help="print per-model stage timings")
    # -- papers and reviews (issue 29) --
    p.add_argument(
        "--pdf",
        choices=("full", "compact"),
        help="report.pdf: full (every diagram tile and layer) or compact (totals, overview, top-level "
        "layers); default: the manifest's [report] pdf, else full",
    )
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
        if stage == "tex":
            self._show("writing the LaTeX kit (tex/) ...")
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


def _model_name(report: Any) -> str:
    from archreport.units import visible

    # A model's name is the user's text: terminal escapes in it would reach the terminal (clear
    # the screen, recolour what follows), a bidirectional control would reorder the line, and a
    # newline would split the model's one line. Shown escaped, as everywhere else (units.visible).
    return visible(report.name).replace("\n", " ").replace("\t", " ")


def _model_line(report: Any) -> str:
    name = _model_name(report)
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


# GitHub Actions shows a step's summary file up to this size, and none of it past it.
STEP_SUMMARY_LIMIT = 1024 * 1024


def job_summary(report_md: Path, prog: str) -> None:
    """Append report.md to ``$GITHUB_STEP_SUMMARY`` when it is set (GitHub Actions shows it on the run's page).

    When the summary would pass GitHub's 1 MiB limit (other steps' text counts too), a line
    saying where the report is goes there instead, if that fits. A summary that cannot be
    written is a warning: the report is written, and the exit code still says how the models did.
    """
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        path = Path(target)
        used = path.stat().st_size if path.exists() else 0
        for text in (
            report_md.read_text(encoding="utf-8"),
            f"archreport: the report summary did not fit in this job summary; see {report_md}.\n",
        ):
            added = ("\n" if used else "") + text
            if used + len(added.encode("utf-8")) <= STEP_SUMMARY_LIMIT:
                with path.open("a", encoding="utf-8") as summary:
                    summary.write(added)
                return
        print(
            f"{prog}: warning: GITHUB_STEP_SUMMARY ({target}) is full; report.md was not added.",
            file=sys.stderr,
        )
    except OSError as exc:
        print(
            f"{prog}: warning: could not append report.md to GITHUB_STEP_SUMMARY ({target}): {exc}",
            file=sys.stderr,
        )


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


# -- check-numbers (issue 29): its own parser, so `python -m archreport MANIFEST` stays as it was ----
CHECK_NUMBERS = "check-numbers"


def _check_numbers(args_list: list[str], prog: str) -> int:
    """``check-numbers NUMBERS REPORT``: 0 when every macro matches, 1 listing those that do not."""
    from archreport.render.tex.numbers import check_numbers

    p = _Parser(
        prog=f"{prog} {CHECK_NUMBERS}",
        description="Check that a paper's numbers.tex still says what report.json says: exit 1 listing "
        "each \\ar... macro whose value no longer matches, 0 when all do.",
    )
    p.add_argument("numbers", help="the paper's copy of numbers.tex (from the report folder's tex/)")
    p.add_argument("report", help="report.json, or the report folder holding it")
    args = p.parse_args(args_list)
    problems = check_numbers(Path(args.numbers), Path(args.report))
    if problems:
        print(f"{_count(len(problems), 'macro')} no longer match {args.report}:")
        for line in problems:
            print(f"  {line}")
        return EXIT_FAILED
    print(f"{args.numbers}: every \\ar macro matches {args.report}.")
    return EXIT_OK


def _main(args_list: list[str], prog: str) -> int:
    if args_list[:1] == [CHECK_NUMBERS] and not Path(CHECK_NUMBERS).is_file():
        try:
            return _check_numbers(args_list[1:], prog)
        except ArchreportError as exc:
            print(f"ERROR {exc}", file=sys.stderr)
            return exc.exit_code
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
            raise UsageError(
                f"--format {args.formats!r}: expected html, pdf and/or tex, e.g. --format html,pdf."
            )
        if args.no_cache and args.executor in (None, "local"):
            # Before the imports and the manifest: Keras's import in the template is the longest
            # step before any model builds, and without the cache every model is built. A run
            # that may find its models cached starts one only once it knows (on a warm run the
            # early start cost 0.25 s of CPU for nothing); a run that builds none stops it (pipeline).
            from archreport.runners.worker import start_template_early

            start_template_early()
        from archreport.checks.gates import from_command
        from archreport.pipeline import generate

        gate = from_command(args.gate) if args.gate else None
        progress = _Progress(args.quiet)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                report = generate(
                    args.manifest, args.output_dir, only=args.only, formats=formats, jobs=args.jobs,
                    use_cache=not args.no_cache, compare=args.compare, executor=args.executor,
                    progress=progress, gate=gate, pdf=args.pdf,
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
    finally:
        from archreport.runners.worker import discard_early_template

        discard_early_template()  # a run that failed before its models were looked up
    failed = len(report.failed)
    expfail = len(report.expectation_failures)
    job_summary(Path(report.output_dir) / "report.md", prog)
    try:
        if args.profile:
            _print_profile(report)
        if not args.quiet:
            for m, e in report.expectation_failures:  # gates are checked once every model is built
                if e.key.startswith("gates."):
                    print(f"GATE    {_model_name(m)}: {e.message}", flush=True)
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


def cli(prog: str = "archreport") -> int:
    """The command (``archreport``, ``python -m archreport``): :func:`main` in a process of its own.

    It tunes that process's garbage collection (runners/worker.py, tune_gc); ``main()`` called
    from a user's program leaves theirs alone.
    """
    import gc

    from archreport.runners.worker import tune_gc

    tune_gc()
    code = main(prog=prog)
    # The interpreter's last collection scans every object the run made (WeasyPrint's, pikepdf's):
    # 0.2 s at the end of a zoo run. Frozen, they are left to the system, which frees the memory.
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(cli(prog="python -m archreport"))
