"""The library for models in memory: ``describe`` one model, or ``report`` several into a report folder.

    import archreport

    d = archreport.describe(model)        # in a notebook, the cell shows it
    d.to_html("model.html"); d.to_pdf("model.pdf"); d.to_dataframe()
    archreport.report({"LeNet": model, "Bigger": build_bigger}, "reports/")

Both analyse exactly what a manifest run analyses (api and command share
archreport.model.job.analyse_and_draw and the pipeline). A live model is analysed in this
process, on the Keras backend that built it, with no time or memory limit;
see inprocess.py for which callables go to worker processes instead.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from archreport import manifest
from archreport.data import LayerRow, ModelReport, Report, Totals
from archreport.errors import OutputError, UsageError, library_arguments
from archreport.manifest import schema
from archreport.manifest.schema import Sweep
from archreport.model import job, keras_compat
from archreport.runners import inprocess

DEFAULT_TITLE = "Architecture report"
PAGE_SIZES = ("A4", "Letter")


def _whole(value: Any) -> bool:
    # numbers.Integral: NumPy's integers too (np.prod(...), array.shape arithmetic), as Keras takes them.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise UsageError(f"{what} is {value!r}: expected a shape without the batch dimension, e.g. (128,).")
    shape = tuple(value)
    if not all(_whole(d) and d > 0 for d in shape):
        raise UsageError(f"{what} is {value!r}: expected positive whole numbers, e.g. (128,).")
    return tuple(int(d) for d in shape)


def _inputs(
    inputs: Mapping[str, Sequence[int]] | Sequence[Sequence[int]] | None,
) -> tuple[dict[str, tuple[int, ...]] | None, tuple[tuple[int, ...], ...] | None]:
    """``inputs`` by name (a mapping) or by position (a sequence of shapes), checked."""
    if inputs is None:
        return None, None
    if isinstance(inputs, Mapping):
        if not inputs:
            raise UsageError("inputs is empty: give each open input's shape, e.g. {'token_ids': (128,)}.")
        return {str(k): _shape(v, f"inputs[{k!r}]") for k, v in inputs.items()}, None
    shapes = tuple(_shape(v, f"inputs[{i}]") for i, v in enumerate(_shape_list(inputs)))
    if not shapes:
        raise UsageError("inputs is empty: give each input's shape, e.g. [(128,), (128,)].")
    return None, shapes


def _shape_list(inputs: Any) -> list[Any]:
    if isinstance(inputs, str | bytes) or not isinstance(inputs, Iterable):
        raise UsageError(
            f"inputs is {inputs!r}: expected shapes by input name ({{'token_ids': (128,)}}) or by "
            "position ([(128,), (128,)]), each without the batch dimension."
        )
    return list(inputs)


def _batch_size(value: Any) -> int:
    if not _whole(value) or value < 1:
        raise UsageError(f"batch_size is {value!r}: expected a whole number of at least 1.")
    return int(value)


def _path(value: Any, what: str) -> Path:
    """A path argument, ``~`` expanded as a shell would (else a folder named "~" appears here).

    Raises:
        UsageError: it is not a str or path.
    """
    if not isinstance(value, str | os.PathLike):
        raise UsageError(f"{what} is {value!r}: expected a path (str or pathlib.Path).")
    return Path(value).expanduser()


def _writable_folder(target: Path) -> None:
    """Refuse ``target`` before rendering when the folder it goes in cannot be written.

    Only that folder (or the nearest that exists: missing ones are created) matters: one file
    is replaced in place, not a report folder swapped in beside it.

    Raises:
        OutputError: it is not a folder, or not writable.
    """
    from archreport.environment import nearest_existing

    folder = nearest_existing(target.parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: {folder} is not a folder this process may write to.")


class Description:
    """One analysed model: the data a report holds about it (``.report``) and its diagram files.

    A notebook shows it as the summary, the zoomable diagram and the layer table;
    ``print`` gives a plain-text table like ``model.summary()``.
    """

    def __init__(self, report: ModelReport, files: dict[str, bytes]) -> None:
        self.report = report  # the same data as a manifest's model in report.json
        self.files = files  # the diagram files, by path below the model's folder: "diagram.svg", ...

    @property
    def name(self) -> str:
        return self.report.name

    @property
    def totals(self) -> Totals:
        assert self.report.totals is not None  # describe() raises instead of returning a failed model
        return self.report.totals

    @property
    def layers(self) -> list[LayerRow]:
        return self.report.layers

    @property
    def svg(self) -> str | None:
        """The diagram as SVG (Graphviz's file as written), or None when Graphviz could not draw it."""
        data = self.files.get("diagram.svg")
        return None if data is None else data.decode("utf-8")

    def __repr__(self) -> str:
        from archreport.render.notebook import summary_text

        return summary_text(self.report)

    def _repr_html_(self) -> str:
        from archreport.render.notebook import render_html

        return render_html(self.report, self.files)

    def to_dataframe(self) -> Any:
        """The layer table as a ``pandas.DataFrame``, one row per layer, typed columns.

        Counts are ``Int64``; FLOPs and output memory are ``<NA>`` where unknown, never 0;
        text is ``string``; flags are ``boolean``; shapes of several inputs and the
        layers a row is connected to are lists.

        A nested model has its own row, holding its layers' params, and then a row per
        layer (``depth`` 1 and more): the rows at ``depth == 0`` add up to
        ``model.count_params()``, all the rows together count nested layers twice.
        """
        from archreport.render.exports import LAYER_COLUMNS

        return _frame(self.layers, LAYER_COLUMNS)  # layers.csv's columns, typed

    def _as_report(self) -> Report:
        from archreport.pipeline import generated_time
        from archreport.store import fingerprint

        return Report(
            title=self.name,
            generated=generated_time(),
            versions=fingerprint.versions(),
            models=[self.report],
        )

    def to_html(self, path: str | Path) -> Path:
        """Write a one-model report.html to ``path``: self-contained, like the command's.

        Returns:
            The path written.

        Raises:
            RenderError: the report could not be rendered.
            OutputError: the file could not be written.
        """
        from archreport.render import html_report
        from archreport.render.notebook import NO_FILE_LINKS_CSS, without_file_links, write_files
        from archreport.render.templating import jinja_environment

        target = _path(path, "path")
        _writable_folder(target)
        report = self._as_report()
        model = report.models[0] = without_file_links(self.report)  # one file, no folder beside it
        env = jinja_environment()
        with tempfile.TemporaryDirectory(prefix="archreport-html-") as folder:
            write_files(Path(folder), model.slug, self.files)
            packed = html_report.pack(html_report.render_section_html(model, Path(folder), env))
        html = html_report.assemble_html(report, {model.slug: packed}, env, extra_css=NO_FILE_LINKS_CSS)
        _write(target, html)
        return target

    def to_pdf(self, path: str | Path, *, page_size: str = "A4") -> Path:
        """Write a one-model report.pdf to ``path``.

        Returns:
            The path written.

        Raises:
            SystemDependencyError: WeasyPrint or its libraries are missing.
            RenderError: the report could not be rendered.
            OutputError: the file could not be written.
        """
        from archreport import environment
        from archreport.render.notebook import write_files
        from archreport.render.pdf import document
        from archreport.render.templating import jinja_environment

        if page_size not in PAGE_SIZES:
            raise UsageError(f"page_size is {page_size!r}: expected one of {', '.join(PAGE_SIZES)}.")
        target = _path(path, "path")
        environment.check_dependencies(("pdf",))
        _writable_folder(target)
        report = self._as_report()
        report.page_size = page_size
        with tempfile.TemporaryDirectory(prefix="archreport-pdf-") as folder:
            write_files(Path(folder), self.report.slug, self.files)
            data = document.pdf_report(report, Path(folder), jinja_environment())
        _write(target, data)
        return target


_INT = {"index", "depth", "params", "trainable_params", "non_trainable_params", "flops", "activation_bytes",
        "kv_cache_bytes_per_token", "active_flops", "live_at_peak_bytes"}  # fmt: skip
_BOOL = {"trainable", "called"}
_LISTS = {"input_shapes", "connected_to"}


def _frame(rows: list[LayerRow], columns: list[str]) -> Any:
    import pandas as pd

    data = {col: [getattr(r, col) for r in rows] for col in columns}
    frame = pd.DataFrame(data, columns=columns)
    for col in columns:
        if col in _INT:
            frame[col] = frame[col].astype("Int64")
        elif col in _BOOL:
            frame[col] = frame[col].astype("boolean")
        elif col == "param_percent":
            frame[col] = frame[col].astype("Float64")
        elif col not in _LISTS:
            frame[col] = frame[col].astype("string")
    return frame


def _write(target: Path, data: str | bytes) -> None:
    from archreport.store.outputs import atomic_write

    try:
        atomic_write(target, data)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}.") from None


def _sweep(sweep: Mapping[str, Sequence[int]] | None) -> Sweep | None:
    """``describe``'s sweep as the manifest's ``[model.sweep]``.

    Raises:
        UsageError: it names another key, or a value is not a list of positive whole numbers.
    """
    if sweep is None:
        return None
    if not isinstance(sweep, Mapping) or set(sweep) - {"sequence_length", "batch_size"}:
        raise UsageError(
            f"sweep={sweep!r}: expected a mapping of sequence_length and/or batch_size to lists of positive "
            'whole numbers, e.g. sweep={"sequence_length": [512, 2048]}.'
        )
    try:
        return schema.validate_sweep(dict(sweep))
    except schema.SchemaError as exc:
        key = ".".join(str(k) for k in exc.key[3:])  # inside the wrapper's model.0.sweep
        raise UsageError(f"sweep={dict(sweep)!r}: {key + ': ' if key else ''}{exc.message}") from None


def describe(
    model: Any,
    *,
    inputs: Mapping[str, Sequence[int]] | Sequence[Sequence[int]] | None = None,
    batch_size: int = 1,
    sweep: Mapping[str, Sequence[int]] | None = None,
) -> Description:
    """Analyse a built ``keras.Model`` in this process: what a manifest run reports about it.

    The model is traced symbolically, on the Keras backend that built it, and never
    changed; nothing runs on real data. The diagram uses the manifest's defaults
    (shapes and layer names shown).

    Args:
        model: a built ``keras.Model``.
        inputs: shapes for inputs the model leaves open (a transformer's sequence length),
            without the batch dimension: by input name (``{"token_ids": (128,)}``) or by
            position (``[(128,), (128,)]``).
        batch_size: the batch of FLOPs and activation memory.
        sweep: cost curves, as a manifest's ``[model.sweep]``: ``{"sequence_length": [512, 2048],
            "batch_size": [1, 8]}`` (either key may be left out).

    Returns:
        The analysed model; a notebook shows it, ``print`` tabulates it.

    Raises:
        UsageError: ``inputs`` or ``batch_size`` is not a valid value.
        ModelError: ``model`` is not a built keras.Model, or cannot be traced at these shapes.
        SystemDependencyError: Graphviz's ``dot`` is missing.
    """
    from archreport import environment

    by_name, by_position = _inputs(inputs)
    batch = _batch_size(batch_size)
    curves = _sweep(sweep)
    inprocess.check_built(model, "model")
    environment.check_dependencies(())  # nothing but temporary folders is written
    name = str(model.name)
    spec = inprocess.spec(
        name, manifest.slugify(name), inprocess.describe_value(model),
        batch_size=batch, inputs=by_name, input_shapes=by_position, sweep=curves,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="archreport-describe-") as folder:
        analysed = job.analyse_and_draw(model, spec, Path(folder), backend=keras_compat.backend_name())
        files = job.model_files(Path(folder), spec.slug)
    return Description(analysed, files)


def report(
    models: Mapping[str, Any],
    output_dir: str | Path,
    *,
    title: str | None = None,
    formats: Iterable[str] = ("html", "pdf"),
    compare: str | Path | None = None,
    pdf: str = "full",
) -> Report:
    """Write the report folder the command writes, for models in memory.

    ``report.html``, ``report.pdf``, ``report.json`` and each model's files, with the
    command's guarantees: the folder is swapped in whole, and one archreport did not
    write is refused untouched. A model that fails is reported, not raised.

    A ``keras.Model`` and a lambda, closure or ``__main__`` function (a notebook's) are
    analysed here, one after another, with **no time or memory limit**: a model that
    hangs hangs this call. A function or class a worker can import by name
    (``mymodels.build``) is built in a worker process instead, shape-only first,
    with the command's limits; a ``keras.applications`` function
    (``keras.applications.MobileNetV2``) is built there as a manifest's
    ``application``, without weights.

    Args:
        models: model names to a built ``keras.Model`` or to a callable that takes no
            arguments and returns one. The names head the report's sections.
        output_dir: the report folder.
        title: the report's title; default "Architecture report".
        formats: report formats, "html", "pdf" and/or "tex" (the LaTeX kit in tex/, with
            ``[report.tex]``'s defaults); ``report.json`` is always written.
        compare: an earlier ``report.json`` or report folder: adds "Changes since baseline".
        pdf: report.pdf's profile: "full", or "compact" (totals, overview and top-level layers).

    Returns:
        The report's data; the files are in ``output_dir`` when this returns.

    Raises:
        UsageError: ``models``, ``formats`` or ``output_dir`` is not valid; nothing was built.
        SystemDependencyError: Graphviz or WeasyPrint is missing; nothing was built.
        RenderError: the report could not be rendered.
        OutputError: the report could not be written; the previous one is kept.
    """
    from archreport.pipeline import generate_specs
    from archreport.runners.worker import memory_limit_from_env

    started = time.perf_counter()
    fmts = tuple([formats] if isinstance(formats, str) else formats)
    for fmt in fmts:
        if fmt not in manifest.REPORT_FORMATS:
            raise UsageError(f"formats has {fmt!r}: expected 'html', 'pdf' and/or 'tex'.")
    if pdf not in manifest.PDF_PROFILES:
        raise UsageError(f"pdf is {pdf!r}: expected 'full' or 'compact'.")
    if title is not None and not isinstance(title, str):
        raise UsageError(f"title is {title!r}: expected a string, e.g. 'My architectures'.")
    output_dir = _path(output_dir, "output_dir")
    if compare is not None:
        compare = _path(compare, "compare")
    if not isinstance(models, Mapping) or not models:
        raise UsageError(
            "models must be a non-empty mapping of names to keras.Model objects or zero-argument callables, "
            f"got {models!r:.80}."
        )
    names = list(models)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"models has the key {name!r}: every model needs a name (a non-empty string).")
    slugs = manifest.unique_slugs(names)
    kinds = [inprocess.live_or_builder(name, models[name]) for name in names]
    for name, (kind, _, _) in zip(names, kinds, strict=True):
        if kind == "builder" or not inprocess.keras_model(models[name]):
            inprocess.zero_argument(name, models[name])
    with contextlib.ExitStack() as stack:
        specs, here = [], {}
        for name, slug, found in zip(names, slugs, kinds, strict=True):
            kind, target, folder = found
            if kind == "builder" and folder is None:  # installed: the worker imports it, nothing to ship
                folder = stack.enter_context(inprocess.nothing_to_ship())
            specs.append(inprocess.spec(name, slug, target, kind=kind, base_dir=folder or "."))
            if kind == inprocess.LIVE:
                here[slug] = models[name]
        runner = inprocess.InProcessRunner(
            here, builders=len(specs) - len(here), memory_limit=memory_limit_from_env()
        )
        try:
            with library_arguments():  # its messages say output_dir= and compare=, not -o and --compare
                return generate_specs(
                    specs, output_dir, title=title or DEFAULT_TITLE, formats=fmts, executor=runner,
                    compare=compare, started=started, pdf=pdf,
                )  # fmt: skip
        except BaseException:
            runner.shutdown(cancel=True)
            raise
        finally:
            runner.shutdown()


__all__ = ["Description", "describe", "report"]
