"""Cost curves: a model's FLOPs and memory at several sequence lengths and batch sizes (``[model.sweep]``).

Each point is one more traced call of the built model at that point's shapes
(the build does not depend on them), counted as the report's own totals are.
A sequence length applies to every input whose first dimension after the batch
the model leaves open (a transformer's ``token_ids`` and ``padding_mask``,
both sides of an encoder-decoder); inputs of a fixed size (an image) keep it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archreport.data import SweepPoint
from archreport.manifest.schema import Sweep
from archreport.model import keras_compat
from archreport.model.analyse import analyse
from archreport.model.inputs import model_inputs


def _shapes_at(
    model: Any,
    length: int | None,
    inputs: Mapping[str, Sequence[int]] | None,
    input_shapes: Sequence[Sequence[int]] | None,
) -> tuple[dict[str, tuple[int, ...]] | None, list[str]]:
    """The declared input shapes (by name) with the open sequence dimension set to ``length``, and the
    names of the inputs it was set on."""
    declared = model_inputs(model, keras_compat.model_kind(model))
    named: dict[str, tuple[Any, ...]] = {}
    for i, spec in enumerate(declared):
        dims: tuple[Any, ...] = tuple(spec.shape[1:])
        if inputs and spec.name in inputs:
            dims = tuple(inputs[spec.name])
        elif input_shapes and i < len(input_shapes):
            dims = tuple(input_shapes[i])
        named[spec.name] = dims
    if length is None:
        return ({k: tuple(v) for k, v in named.items()} if (inputs or input_shapes) else None), []
    swept = [spec.name for spec in declared if len(spec.shape) >= 2 and spec.shape[1] is None]
    for name in swept:
        named[name] = (length, *named[name][1:])
    return {k: tuple(v) for k, v in named.items()}, swept


def points(
    model: Any,
    slug: str,
    sweep: Sweep,
    *,
    batch_size: int,
    inputs: Mapping[str, Sequence[int]] | None,
    input_shapes: Sequence[Sequence[int]] | None,
    input_values: Mapping[str, Any] | None = None,
) -> tuple[list[SweepPoint], list[str]]:
    """Every point of ``sweep``, in order, and warnings (a sequence length with no input to set it on)."""
    found: list[SweepPoint] = []
    warnings: list[str] = []
    for batch, length in sweep.points(batch_size):
        shapes, swept = _shapes_at(model, length, inputs, input_shapes)
        if length is not None and not swept:
            warnings.append(
                "[model.sweep] sequence_length has nothing to set: no input of this model leaves its length "
                "open (each input's first dimension after the batch is fixed)."
            )
            return [], warnings
        totals = analyse(model, slug, batch_size=batch, inputs=shapes, input_values=input_values).totals
        found.append(
            SweepPoint(
                batch_size=batch,
                sequence_length=length,
                flops=totals.flops,
                active_flops=totals.active_flops,
                flops_lower_bound=totals.flops_lower_bound,
                activation_bytes=totals.activation_bytes,
                kv_cache_bytes=totals.kv_cache_bytes,
                inference_peak_bytes=totals.inference_by_precision.get("float32"),
                inference_peak_bytes_bfloat16=totals.inference_by_precision.get("bfloat16"),
                training_bytes=totals.training_bytes,
                training_bytes_mixed=totals.training_bytes_mixed,
            )
        )
    return found, warnings
