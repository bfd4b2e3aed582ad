"""A model's totals: parameters, FLOPs (executed and active), coverage, and memory by liveness.

Parameters and parameter memory are exact (Keras's own count, each weight once).
FLOPs are the sum the layer table adds up; a mixture-of-experts model also gets
what a top-k inference computes (moe.py). Memory has three readings, each for
a question people ask:

* **inference** (by liveness, memory.py): parameters + inputs + the most
  activation memory held at once, per precision (as built, 16-bit floats, int8
  weights), with the KV cache of every traced token: what a GPU must hold;
* **activations**: every tensor the pass makes, as if none were freed: what
  training keeps for the backward pass;
* **training with Adam**: weights, gradients and two moments per trainable
  parameter (16 bytes in float32), non-trainable weights once, plus the
  activations; *mixed*, the same with 16-bit activations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from archreport.data import LayerRow, Totals
from archreport.model import keras_compat, memory, moe
from archreport.model.rows import Rows, longest_path, numel, unique_weights, weight_bytes, weight_count
from archreport.model.trace import Call, Shape, Trace

# How a float parameter is stored at each precision the report gives the inference peak for.
PRECISIONS = {"float32": 4, "bfloat16": 2, "int8 weights": 1}


@dataclass
class Figures:
    """Totals with the rows they were counted from (rows gain MoE and peak fields here)."""

    totals: Totals
    rows: list[LayerRow]
    warnings: list[str]


def training_bytes(model: Any, activation_bytes: int, half_activations: int) -> tuple[int, int]:
    """Adam: weights, gradients and two moments per trainable parameter (16 bytes in float32);
    non-trainable weights once; plus the activations kept for the backward pass."""
    trainable = weight_bytes(model.trainable_weights)
    frozen = weight_bytes(model.non_trainable_weights)
    return 4 * trainable + frozen + activation_bytes, 4 * trainable + frozen + half_activations


def bytes_by_dtype(weights: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in unique_weights(weights):
        dtype = keras_compat.standardize_dtype(w.dtype)
        out[dtype] = out.get(dtype, 0) + math.prod(w.shape) * keras_compat.dtype_bytes(dtype)
    return dict(sorted(out.items()))


def params_at(weights: list[Any], precision: str) -> int:
    """Parameter bytes with every float parameter stored at ``precision``; others as they are."""
    total = 0
    for w in unique_weights(weights):
        dtype = keras_compat.standardize_dtype(w.dtype)
        size = keras_compat.dtype_bytes(dtype)
        if dtype.startswith(("float", "bfloat")):
            size = min(size, PRECISIONS[precision])
        total += math.prod(w.shape) * size
    return total


def _kv_bytes(per_token: int | None, tokens: int | None, *, half: bool) -> int | None:
    if per_token is None or tokens is None:
        return None
    return tokens * (per_token // 2 if half and per_token % 2 == 0 else per_token)


def compute(
    model: Any,
    kind: str,
    walker: Rows,
    traced: Trace | None,
    shapes: list[Shape],
    input_dtypes: list[str],
    batch_size: int,
    tokens: int | None,
    warnings: list[str],
) -> Figures:
    """The model's totals from its walked rows and traced call; ``warnings`` gain what bounds them."""
    root = traced.call if traced is not None else None
    rows = walker.rows
    flops, lower_bound, counted = _flops(kind, walker, root, shapes, warnings)
    act, half = (
        walker.call_memory(root)
        if root is not None
        else (walker.graph_activation_bytes, walker.graph_half_activation_bytes)
    )
    if walker.memory_unknown:
        warnings.append("Activation memory is a lower bound: " + "; ".join(walker.memory_unknown) + ".")
    open_dims = any(d is None for s in shapes for d in s[1:])
    memory_lower_bound = open_dims or root is None or bool(walker.memory_unknown)
    input_bytes = sum(
        numel(s) * keras_compat.dtype_bytes(d) for s, d in zip(shapes, input_dtypes, strict=True)
    )
    param_bytes = weight_bytes(model.weights)
    training, training_mixed = training_bytes(model, act, half)
    kv = [r.kv_cache_bytes_per_token for r in rows if r.kv_cache_bytes_per_token]
    per_token = sum(kv) if kv else None

    routed = moe.find(root, walker.call_flops) if root is not None else []
    active_flops = active_params = None
    if routed:
        saved = moe.saved_flops(routed)
        rows = _with_active_flops(rows, walker, saved)
        active_flops = flops - sum(saved.values()) if flops is not None else None
        active_params = model.count_params() - moe.inactive_params(routed)

    peak = memory.peak(root) if root is not None else None
    peak_layer: str | None = None
    by_precision: dict[str, int] = {}
    if peak is not None:
        rows, peak_layer = _with_peak(rows, walker, peak)
        for precision in PRECISIONS:
            half_acts = precision != "float32"
            kv_bytes = _kv_bytes(per_token, tokens, half=half_acts) or 0
            held = peak.half_bytes if half_acts else peak.bytes
            by_precision[precision] = params_at(model.weights, precision) + input_bytes + held + kv_bytes

    called = [r for r in rows if r.called and r.class_name != "InputLayer"]
    exact = [r for r in called if r.flops is not None]
    totals = Totals(
        params=model.count_params(),
        trainable_params=weight_count(model.trainable_weights),
        non_trainable_params=weight_count(model.non_trainable_weights),
        param_bytes=param_bytes,
        flops=flops,
        flops_lower_bound=lower_bound,
        memory_lower_bound=memory_lower_bound,
        macs=None if flops is None else flops // 2,
        activation_bytes=act,
        input_bytes=input_bytes,
        inference_bytes=param_bytes + input_bytes + act,
        layers=len(model.layers),
        depth=longest_path(rows) if kind != "subclassed" else 0,
        batch_size=batch_size,
        training_bytes=training,
        training_bytes_mixed=training_mixed,
        flops_per_token=(flops / tokens) if tokens and flops is not None and not lower_bound else None,
        kv_cache_bytes_per_token=per_token,
        param_bytes_by_dtype=bytes_by_dtype(model.weights),
        active_flops=active_flops,
        active_params=active_params,
        flops_coverage=_share(counted, counted + walker.uncounted) if root is not None else 0.0,
        layer_coverage=_share(len(exact), len(called)) if root is not None else 0.0,
        inference_peak_bytes=by_precision.get("float32"),
        peak_activation_bytes=peak.bytes if peak is not None else None,
        peak_layer=peak_layer,
        kv_cache_bytes=_kv_bytes(per_token, tokens, half=False),
        inference_by_precision=by_precision,
    )
    return Figures(totals, rows, warnings)


def _share(part: int, whole: int) -> float:
    return 1.0 if whole <= 0 else round(part / whole, 6)


def _flops(
    kind: str, walker: Rows, root: Call | None, shapes: list[Shape], warnings: list[str]
) -> tuple[int | None, bool, int]:
    """The model's FLOPs, whether they are only a lower bound, and how many were counted."""
    top = [r for r in walker.rows if r.depth == 0]
    if root is not None:
        counted = walker.call_flops(root)
        known = sum(r.flops or 0 for r in top) if kind != "subclassed" else (counted or 0)
    else:
        counted, known = None, 0
    lower_bound = counted is None or walker.bound
    if walker.unknown:
        warnings.append("FLOPs are a lower bound: " + "; ".join(walker.unknown) + ".")
    open_dims = [walker.shape_text(s) for s in shapes if any(d is None for d in s[1:])]
    if open_dims:
        lower_bound = True
        warnings.append(
            f"The input shape {', '.join(open_dims)} has unknown dimensions besides the batch: FLOPs and "
            "memory are computed as if each were 1, so they are far too low. Declare them with [model.inputs] "
            "or input_shapes (or build the model with a fixed input shape)."
        )
    if root is None and kind == "subclassed":
        return None, True, 0
    if root is None:
        lower_bound = True
    value = counted if counted is not None else known
    return value, lower_bound, value


def _calls_of(walker: Rows, row: LayerRow) -> list[Call]:
    found: list[Call] = []
    for call in walker.row_calls.get(row.index, []):
        found.extend([call] if call.kind == "op" or not call.children else memory.steps(call))
    return found


def _with_active_flops(rows: list[LayerRow], walker: Rows, saved: dict[int, int]) -> list[LayerRow]:
    """Rows with ``active_flops`` where a top-k inference does less than the graph executes."""
    out = []
    for row in rows:
        less = sum(saved.get(id(step), 0) for step in _calls_of(walker, row))
        out.append(replace(row, active_flops=row.flops - less) if less and row.flops is not None else row)
    return out


def _with_peak(rows: list[LayerRow], walker: Rows, peak: memory.Peak) -> tuple[list[LayerRow], str | None]:
    """Rows with the bytes of their tensors live at the peak, and the (deepest) row running at it."""
    out, at, depth = [], None, -1
    for row in rows:
        steps = _calls_of(walker, row)
        live = sum(peak.live.get(id(step), 0) for step in steps)
        if peak.step is not None and any(step is peak.step for step in steps) and row.depth > depth:
            at, depth = row.path, row.depth
        out.append(replace(row, live_at_peak_bytes=live) if live else row)
    return out, at
