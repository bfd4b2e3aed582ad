"""FLOPs and outputs of the JAX primitives an abstract trace ran, by the call that ran them.

Keras's layer and op rules (flops.py) count what they know. Some work has no
such rule: a ``keras.ops`` control-flow op (``fori_loop``, ``scan``) whose body
is the user's, an op archreport has no rule for, or a layer's own ``jnp`` code.
An abstract trace (trace.py) records every primitive in a jaxpr, each under the
name scope of the call that ran it, so that work is counted here, primitive by
primitive, and attributed to the innermost recorded call.

The conventions are the ones flops.py follows (TensorFlow's profiler): 2 FLOPs
per multiply-add of a matmul or convolution, 1 per output element of an
arithmetic or comparison op, 2 per element of ``rsqrt``, 1 per input element
of a sum; exponentials, tanh, logistic, max-reductions and data movement count
0. A primitive outside both lists is not counted and makes its total a lower
bound; its output elements are kept as the size of what was left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archreport.model.trace import SCOPE

# One FLOP per output element (TensorFlow's profiler: Add, Sub, Mul, RealDiv, Maximum, Minimum, Pow,
# the comparisons, Neg, Square via integer_pow, Log).
_PER_OUTPUT = frozenset({
    "add", "add_any", "sub", "mul", "div", "max", "min", "pow", "integer_pow", "rem", "atan2", "nextafter",
    "eq", "ne", "lt", "le", "gt", "ge", "neg", "log", "log1p", "square", "sign",
})  # fmt: skip
_PER_INPUT = {"reduce_sum": 1, "argmax": 0, "argmin": 0, "rsqrt": 2, "cumsum": 1}
# Data movement, shapes, casts, randomness and the ops the profiler registers no FLOPs for.
_FREE = frozenset({
    "reshape", "broadcast_in_dim", "transpose", "convert_element_type", "squeeze", "expand_dims", "slice",
    "dynamic_slice", "dynamic_update_slice", "gather", "scatter", "scatter-add", "scatter_add", "concatenate",
    "pad", "select_n", "iota", "copy", "copy_p", "rev", "stop_gradient", "sharding_constraint", "bitcast_convert_type",
    "exp", "exp2", "expm1", "tanh", "logistic", "erf", "erfc", "erf_inv", "sin", "cos", "tan", "asin", "acos",
    "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "sqrt", "cbrt", "abs", "floor", "ceil", "round",
    "is_finite", "not", "and", "or", "xor", "shift_left", "shift_right_logical", "shift_right_arithmetic",
    "reduce_max", "reduce_min", "reduce_and", "reduce_or", "reduce_prod", "sort", "top_k", "clamp",
    "random_bits", "random_seed", "random_wrap", "random_unwrap", "random_fold_in", "random_split",
    "threefry2x32", "argsort", "cumlogsumexp", "cummax", "cummin", "cumprod", "real", "imag", "conj",
    "population_count", "clz", "split", "optimization_barrier", "device_put", "complex",
    "stack", "unstack", "tile", "broadcast_to", "zeros_like", "empty", "reduce_precision", "scatter-max",
    "scatter-min", "rng_bit_generator", "rng_uniform", "random_clone", "threefry4x32", "philox2x32", "philox4x32",
    "iota_2x32_shape", "pin", "unpin", "layout_constraint", "pvary", "reshard", "name", "shape_assertion",
    "dimension_size", "dim_as_value", "axis_index", "platform_index", "debug_callback", "debug_print",
    "create_token", "after_all", "mulhi", "lgamma", "digamma", "bessel_i0e", "bessel_i1e",
})  # fmt: skip
# Primitives that only call a sub-jaxpr once: their cost is their body's.
_INLINE = frozenset({"pjit", "jit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
                     "custom_vjp_call_jaxpr", "remat", "checkpoint", "custom_lin", "shard_map"})  # fmt: skip


@dataclass
class CallCost:
    """What the primitives directly under one recorded call (not under a deeper one) cost."""

    flops: int = 0
    uncounted: int = 0  # output elements of primitives no rule covers (a lower bound's gap)
    unknown: dict[str, None] = field(default_factory=dict)  # their names, in order
    by_primitive: dict[str, int] = field(default_factory=dict)  # primitive -> FLOPs
    output_bytes: int = 0  # what its primitives materialised (views aside), each time they ran
    half_bytes: int = 0  # the same, float outputs held in 16 bits


# Primitives whose output is a view of their input in XLA (a bitcast): they materialise nothing.
_VIEWS = frozenset({"reshape", "squeeze", "expand_dims", "bitcast_convert_type", "stop_gradient", "copy_p"})


def _itemsize(var: Any) -> int:
    dtype = getattr(getattr(var, "aval", None), "dtype", None)
    return int(getattr(dtype, "itemsize", 0) or 0)


def _half_itemsize(var: Any) -> int:
    dtype = getattr(getattr(var, "aval", None), "dtype", None)
    size = _itemsize(var)
    return 2 if size > 2 and getattr(dtype, "kind", "") == "f" else size


def _numel(var: Any) -> int:
    shape = getattr(getattr(var, "aval", None), "shape", ())
    return math.prod(int(d) for d in shape)


def _call_index(name_stack: Any) -> int:
    """The innermost ``§N`` scope in a primitive's name stack (0 when it ran under none)."""
    index = 0
    for part in str(name_stack).split("/"):
        if part.startswith(SCOPE) and part[len(SCOPE) :].isdigit():
            index = int(part[len(SCOPE) :])
    return index


def _subjaxprs(eqn: Any) -> list[Any]:
    found: list[Any] = []
    for value in eqn.params.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if hasattr(item, "eqns"):
                found.append(item)
            elif hasattr(item, "jaxpr") and hasattr(getattr(item, "jaxpr", None), "eqns"):
                found.append(item.jaxpr)
    return found


def flops_of(eqn: Any) -> int | None:
    """FLOPs of one primitive that has no sub-jaxpr, or None when no rule covers it."""
    name = eqn.primitive.name
    out = sum(_numel(v) for v in eqn.outvars)
    if name == "dot_general":
        (contracting, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return 2 * math.prod(int(lhs[i]) for i in contracting) * out
    if name == "ragged_dot_general":
        # Each row of the left operand meets one group's matrix (a mixture of experts' routed
        # tokens): a matmul of the output's size over the contracted dimensions.
        (contracting, _), _ = eqn.params["ragged_dot_dimension_numbers"].dot_dimension_numbers
        lhs = eqn.invars[0].aval.shape
        return 2 * math.prod(int(lhs[i]) for i in contracting) * out
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        spec = eqn.params["dimension_numbers"].rhs_spec  # (out channels, in channels, *spatial)
        per_output = math.prod(int(rhs[i]) for i in spec[1:])
        return 2 * per_output * out
    if name == "fft":
        # The usual radix-2 estimate, 5 N log2 N per transform of N points (neither TensorFlow's
        # profiler nor Keras has a rule); a real transform is half of it.
        points = math.prod(int(n) for n in eqn.params["fft_lengths"])
        transforms = sum(_numel(v) for v in eqn.invars[:1]) // max(1, points)
        real = "R" in str(eqn.params.get("fft_type", ""))
        return int(5 * points * math.log2(max(points, 2)) * transforms / (2 if real else 1))
    if name in _PER_OUTPUT:
        return out
    if name in _PER_INPUT:
        return _PER_INPUT[name] * sum(_numel(v) for v in eqn.invars[:1])
    if name in ("reduce_window_sum", "reduce_window_max", "reduce_window", "reduce_window_min"):
        # A pooling window: kernel area per pooled output, as MaxPool and AvgPool count.
        return math.prod(int(d) for d in eqn.params.get("window_dimensions", (1,))) * out
    if name in _FREE:
        return 0
    return None


def _walk(jaxpr: Any, stack: str, repeat: int) -> Iterator[tuple[Any, str, int]]:
    """Every primitive without a sub-jaxpr, with its full name stack and how often it runs."""
    for eqn in jaxpr.eqns:
        here = "/".join(p for p in (stack, str(eqn.source_info.name_stack)) if p)
        name = eqn.primitive.name
        subs = _subjaxprs(eqn)
        if not subs:
            yield eqn, here, repeat
        elif name == "scan":
            yield from _walk(subs[0], here, repeat * int(eqn.params["length"]))
        elif name == "cond":
            # One branch runs: the costliest (a bound that holds whichever it is).
            branches = [list(_walk(b, here, repeat)) for b in subs]
            yield from max(branches, key=lambda b: sum((flops_of(e) or 0) * r for e, _, r in b))
        elif name == "while":
            trips = _trip_count(eqn)
            for sub in subs:
                yield from _walk(sub, here, repeat * (trips or 1))
            if trips is None:
                yield eqn, here, repeat  # uncounted: how often the body runs is not known here
        else:
            if name not in _INLINE:
                yield eqn, here, 0  # recorded as run, costed through its body below
            for sub in subs:
                yield from _walk(sub, here, repeat)


def _trip_count(eqn: Any) -> int | None:
    """The iterations of a ``while`` whose counter runs between literal bounds (``fori_loop``), else None.

    JAX turns a ``fori_loop`` with static bounds into a ``scan``, whose length is known; a
    ``while`` left here usually depends on the data, and its body is then counted once.
    """
    cond = eqn.params.get("cond_jaxpr")
    inner = getattr(cond, "jaxpr", cond)
    if inner is None or len(inner.eqns) != 1 or inner.eqns[0].primitive.name != "lt":
        return None
    carry = eqn.invars[eqn.params.get("cond_nconsts", 0) + eqn.params.get("body_nconsts", 0) :]
    bounds = [getattr(v, "val", None) for v in carry[:2]]
    if len(bounds) < 2 or not all(isinstance(b, int) for b in bounds):
        return None
    lower, upper = bounds
    assert isinstance(lower, int) and isinstance(upper, int)
    return max(0, upper - lower)


def costs(closed_jaxpr: Any) -> dict[int, CallCost]:
    """The cost of the primitives under each recorded call (by index), each counted once."""
    found: dict[int, CallCost] = {}
    for eqn, stack, repeat in _walk(closed_jaxpr.jaxpr, "", 1):
        if repeat == 0:
            continue
        cost = found.setdefault(_call_index(stack), CallCost())
        if eqn.primitive.name not in _VIEWS:
            cost.output_bytes += repeat * sum(_numel(v) * _itemsize(v) for v in eqn.outvars)
            cost.half_bytes += repeat * sum(_numel(v) * _half_itemsize(v) for v in eqn.outvars)
        value = None if eqn.primitive.name == "while" else flops_of(eqn)
        if value is None:
            cost.uncounted += repeat * sum(_numel(v) for v in eqn.outvars)
            cost.unknown.setdefault(eqn.primitive.name)
            continue
        cost.flops += repeat * value
        if value:
            cost.by_primitive[eqn.primitive.name] = (
                cost.by_primitive.get(eqn.primitive.name, 0) + repeat * value
            )
    return found
