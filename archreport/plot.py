"""``plot_model``: Keras's function, with archreport's drawing.

Same signature, same defaults and the same label texts as
``keras.utils.plot_model``, so a script changes one import. The drawing is
archreport's: deterministic, escaped, and laid out with fallbacks, so models on
which Graphviz aborts under ``splines="ortho"`` (EfficientNetB0, Xception) are
drawn instead of crashing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

from .dot import RANKDIRS, SPLINES_MODES, DiagramOptions, model_to_dot
from .graphviz import FORMATS, RASTER_FORMATS, DiagramError, layout, unsupported

FILE_FORMATS = (*FORMATS, "dot")


def plot_model(
    model: Any,
    to_file: str | Path = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs: Any,
) -> Any:
    """Draw ``model`` into ``to_file``, as ``keras.utils.plot_model`` does.

    The format follows the file's extension: ``.png`` (the default when there is
    none), ``.svg``, ``.pdf``, ``.dot`` (the Graphviz source), or another raster
    format this machine's Graphviz writes (``.jpg``, ``.gif``, ``.webp``, ``.bmp``).

    Returns:
        For a PNG, an ``IPython.display.Image`` of it when IPython can be imported (a
        notebook shows it inline); otherwise None.

    Raises:
        ValueError: the model is not built, an argument is not one Keras takes, or the
            extension is not a format archreport (or this machine's Graphviz) writes.
        DiagramError: Graphviz is missing, failed in every layout mode, or wrote an empty
            image (a WebP past 16,383 pixels a side).
    """
    if not model.built:
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` or by calling "
            "the model on a batch of data."
        )
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    target = Path(to_file)
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
        dpi=dpi,
        splines=cast(Any, splines),
    )
    source = model_to_dot(model, options, id_prefix="")
    with tempfile.TemporaryDirectory(prefix="archreport-plot-") as folder:
        drawn = layout(source, Path(folder), formats=("svg",) if fmt == "dot" else (fmt,), options=options)
        if fmt in drawn.missing:
            raise DiagramError(f"{target.name}: {drawn.missing[fmt]}")
        produced = Path(folder) / ("diagram.dot" if fmt == "dot" else drawn.files[fmt])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced, target)
    if fmt != "png":
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    image: Any = display.Image  # untyped in IPython (and unknown to mypy where IPython is not installed)
    # By data, not file name: IPython guesses the format from the extension, which may be missing.
    return image(data=target.read_bytes(), format="png")


__all__ = ["RASTER_FORMATS", "DiagramError", "plot_model"]
