"""``plot_model``: Keras's function, with archreport's drawing.

Same signature, same defaults and the same label texts as
``keras.utils.plot_model``, so a script changes one import. The drawing is
archreport's: deterministic, escaped, and laid out with fallbacks, so models on
which Graphviz aborts under ``splines="ortho"`` (EfficientNetB0, Xception) are
drawn instead of crashing.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

from archreport.diagram.dot import RANKDIRS, SPLINES_MODES, DiagramOptions
from archreport.diagram.layout import (
    FORMATS,
    GRAPHVIZ_DEFAULT_DPI,
    RASTER_FORMATS,
    DiagramError,
    layout,
    unsupported,
)
from archreport.errors import OutputError
from archreport.model.graph import model_to_dot

FILE_FORMATS = (*FORMATS, "dot")
# The images a notebook shows inline (IPython.display.Image embeds these); Keras returns one for
# every extension but .pdf, and then fails on .svg and .dot.
INLINE_FORMATS = ("png", "jpg", "jpeg", "gif", "webp")


def plot_model(
    model: Any,
    to_file: str | Path = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: float | None = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs: Any,
) -> Any:
    """Draw ``model`` into ``to_file``, as ``keras.utils.plot_model`` does.

    The format follows the file's extension: ``.png`` (the default when there is
    none), ``.svg``, ``.pdf``, ``.dot`` (the Graphviz source), or another raster
    format this machine's Graphviz writes (``.jpg``, ``.gif``, ``.webp``, ``.bmp``).

    ``to_file`` may start with ``~`` (the home folder); missing folders are created.
    ``dpi=None`` draws at Graphviz's default, 96 dpi, as Keras's ``dpi=None`` does.

    Returns:
        For a PNG, JPEG, GIF or WebP, an ``IPython.display.Image`` of it when IPython can
        be imported (a notebook shows it inline); otherwise None.

    Raises:
        TypeError: ``model`` is not a Keras model (or layer), or ``to_file`` or ``dpi`` is
            not a value of the right kind.
        ValueError: the model is not built, an argument is not one Keras takes, or the
            extension is not a format archreport (or this machine's Graphviz) writes.
        DiagramError: Graphviz is missing, failed in every layout mode, or wrote an empty
            image (a WebP past 16,383 pixels a side).
        OutputError: the file could not be written (a folder in the way, permissions).
    """
    keras = sys.modules.get("keras")  # a Keras object exists only once Keras is imported
    if keras is None or not isinstance(model, keras.Layer):
        raise TypeError(
            f"plot_model draws a keras.Model; model is {type(model).__module__}.{type(model).__qualname__}."
        )
    if not isinstance(to_file, str | os.PathLike):
        raise TypeError(
            f"to_file is {to_file!r}: expected a file name (str or pathlib.Path), e.g. 'model.png'."
        )
    dpi = _dpi(dpi)
    if not model.built:
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` or by calling "
            "the model on a batch of data."
        )
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    target = Path(to_file).expanduser()  # as a shell would: else a folder named "~" appears here
    fmt = target.suffix[1:].lower() or "png"
    if fmt not in FILE_FORMATS:
        raise ValueError(
            f"plot_model cannot write {target.name!r}: the extension {target.suffix!r} is not one of "
            f"{', '.join('.' + f for f in FILE_FORMATS)}."
        )
    if unsupported((fmt,)):
        raise ValueError(
            f"plot_model cannot write {target.name!r}: this machine's Graphviz does not write {fmt} images; "
            "use .png, .svg or .pdf."
        )
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir={rankdir!r}: expected one of {', '.join(RANKDIRS)}.")
    if splines not in SPLINES_MODES:
        raise ValueError(f"splines={splines!r}: expected one of {', '.join(SPLINES_MODES)}.")
    options = DiagramOptions(
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
        expand_nested=expand_nested,
        rankdir=cast(Any, rankdir),
        dpi=cast(Any, dpi),  # a whole number, or a float Graphviz takes as well
        splines=cast(Any, splines),
    )
    source = model_to_dot(model, options, id_prefix="")
    with tempfile.TemporaryDirectory(prefix="archreport-plot-") as folder:
        drawn = layout(source, Path(folder), formats=("svg",) if fmt == "dot" else (fmt,), options=options)
        if fmt in drawn.missing:
            raise DiagramError(f"{target.name}: {drawn.missing[fmt]}")
        produced = Path(folder) / ("diagram.dot" if fmt == "dot" else drawn.files[fmt])
        data = produced.read_bytes()
    _write(target, data)
    if fmt not in INLINE_FORMATS:
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    image: Any = display.Image  # untyped in IPython (and unknown to mypy where IPython is not installed)
    try:
        # By data, not file name: IPython guesses the format from the extension, which may be missing.
        return image(data=data, format=fmt)
    except ValueError:  # an IPython too old to embed this format (WebP before 8.x): the file is written
        return None


def _dpi(dpi: Any) -> float:
    """``dpi`` checked; None is Graphviz's default, which Keras's ``dpi=None`` gets.

    Raises:
        TypeError: not a number.
        ValueError: not positive.
    """
    if dpi is None:
        return GRAPHVIZ_DEFAULT_DPI
    if not isinstance(dpi, numbers.Real) or isinstance(dpi, bool):
        raise TypeError(f"dpi is {dpi!r}: expected a number of dots per inch, e.g. 200, or None (96).")
    value = float(dpi)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"dpi is {dpi!r}: expected a positive number of dots per inch, e.g. 200.")
    # A whole number stays one: it is written into -Gdpi=, and the report compares it with 96.
    return int(value) if value.is_integer() else value


def _write(target: Path, data: bytes) -> None:
    """Replace ``target`` whole (a reader never sees half an image), creating its folders.

    Raises:
        OutputError: it could not be written.
    """
    from archreport.store.outputs import atomic_write

    try:
        atomic_write(target, data)
    except OSError as exc:
        raise OutputError(f"plot_model cannot write {target}: {exc.strerror or exc}.") from None


__all__ = ["RASTER_FORMATS", "DiagramError", "plot_model"]
