"""The inference peak by liveness: the most activation memory a forward pass holds at once.

Walks the traced pass in the order it ran, one step per op (or per layer whose
inside was not traced): each step allocates its outputs, and a tensor is freed
after the last step that reads it. The largest sum of live tensors is the peak.
The model's inputs are held throughout (they are counted apart, as input
memory) and its outputs to the end. An op that only views its input (a reshape,
a cast to the dtype it has) allocates nothing: its output shares its input's
memory and keeps it alive. A fused ``dot_product_attention`` holds two of
its score tensors at once while it runs, an interpolating ``resize`` two
tensors of its own (JAX's einsum and transpose).

What a compiler does better, and this does not: it fuses elementwise chains, so
their intermediates never exist, and it may reorder independent work. So this
peak is an estimate of what an unfused, in-order run holds; docs/numbers.md
states the band against XLA's own buffer assignment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from archreport.model import keras_compat
from archreport.model.trace import Call, Shape

# Ops whose output is a view of their input's data in NumPy, TensorFlow and JAX alike.
VIEW_OPS = frozenset({"ConvertToTensor", "Reshape", "ExpandDims", "Squeeze", "StopGradient"})


def is_view(call: Call) -> bool:
    """Whether an op call returns a view of its input (or its input itself): it allocates nothing."""
    found = keras_compat.keras_class(call.obj) if call.kind == "op" else None
    if found is None:
        return False
    return found[1] in VIEW_OPS or (found[1] == "Cast" and same_dtype(call))


def same_dtype(call: Call) -> bool:
    """Whether an op returns its one input's dtype (a cast to the same dtype returns its input)."""
    dtypes = {keras_compat.standardize_dtype(t.dtype) for t in call.in_tensors}
    return len(call.in_tensors) == 1 and dtypes == set(call.output_dtypes)


def tensor_bytes(shape: Shape, dtype: str, *, half: bool = False) -> int:
    """Bytes of a tensor; ``half``: a float wider than 16 bits held in 16 (bfloat16 or float16)."""
    size = keras_compat.dtype_bytes(dtype)
    if half and dtype.startswith(("float", "bfloat")) and size > 2:
        size = 2
    count = 1
    for d in shape:
        count *= d or 1
    return count * size


def attention_scores(call: Call) -> list[tuple[Shape, str]]:
    """The score tensors a fused ``dot_product_attention`` makes inside itself: QK^T, the scaled
    scores and the softmax (batch x query heads x T x S each), as Keras's TensorFlow, NumPy and
    JAX backends compute them. Flash attention makes none."""
    if getattr(call.obj, "flash_attention", None) or not call.output_dtypes:
        return []
    query, key = call.operands.get("query"), call.operands.get("key")
    if not (isinstance(query, tuple) and isinstance(key, tuple) and len(query) == len(key) == 4):
        return []
    scores: Shape = (query[0], query[2], query[1], key[1])
    return 3 * [(scores, call.output_dtypes[0])]


def resize_temporaries(call: Call) -> list[tuple[Shape, str]]:
    """The tensors an interpolating ``resize`` (bilinear, bicubic, lanczos...) makes inside itself
    as JAX computes it: one einsum contracting each resized axis with a weight matrix, so the image
    resized along the first axis, then the result in the einsum's axis order before its transpose
    into place (XLA's CPU buffer assignment shows both). Nearest-neighbour resizing gathers: none."""
    found = keras_compat.keras_class(call.obj) if call.kind == "op" else None
    if found != ("op", "Resize") or getattr(call.obj, "interpolation", "nearest") == "nearest":
        return []
    if not (call.inputs and call.outputs and call.output_dtypes) or len(call.inputs[0]) != len(
        call.outputs[0]
    ):
        return []
    source, result = call.inputs[0], call.outputs[0]
    resized = [i for i, (m, n) in enumerate(zip(source, result, strict=True)) if m != n]
    if not resized:
        return []
    dtype = call.output_dtypes[0]
    temporaries = [(result, dtype)]
    if len(resized) > 1:  # opt_einsum contracts the axis that leaves the smaller tensor first
        first = min(resized, key=lambda i: (result[i] or 1) / (source[i] or 1))
        temporaries.append((tuple(result[i] if i == first else d for i, d in enumerate(source)), dtype))
    return temporaries


def steps(call: Call) -> Iterator[Call]:
    """The innermost calls under ``call`` in the order they ran: ops, and layers not traced inside."""
    for child in call.children:
        if child.kind == "op" or not child.children:
            yield child
        else:
            yield from steps(child)


@dataclass
class Peak:
    """The largest sum of live tensors during the pass (the model's inputs aside)."""

    bytes: int = 0
    half_bytes: int = 0  # the same walk with float tensors in 16 bits (its peak may be elsewhere)
    step: Call | None = None  # the step at the peak (of the full-precision walk)
    # id(step) -> bytes of that step's outputs still live at the peak: which layers hold it.
    live: dict[int, int] = field(default_factory=dict)


def _walk(root: Call, *, half: bool) -> tuple[int, Call | None, dict[int, int]]:
    order = list(steps(root))
    owner: dict[int, int] = {}  # id(tensor) -> id(the tensor that owns its memory)
    size: dict[int, int] = {}  # owning tensor -> bytes
    made_by: dict[int, Call] = {}  # owning tensor -> the step that allocated it
    last: dict[int, int] = {}  # owning tensor -> index of the last step that reads it

    def root_of(tensor: object) -> int:
        return owner.get(id(tensor), id(tensor))

    for i, step in enumerate(order):
        for t in step.in_tensors:
            last[root_of(t)] = i
        if is_view(step):  # of a tensor the pass made, or of a weight: allocates nothing either way
            for t in step.out_tensors:
                owner[id(t)] = root_of(step.in_tensors[0]) if step.in_tensors else id(t)
            continue
        for t, shape, dtype in zip(step.out_tensors, step.outputs, step.output_dtypes, strict=False):
            owner[id(t)] = id(t)
            size[id(t)] = tensor_bytes(shape, dtype, half=half)
            made_by[id(t)] = step
            last.setdefault(id(t), i)
    kept = {root_of(t) for t in root.out_tensors}  # the model's outputs: held to the end

    live: dict[int, int] = {}
    peak, at, snapshot = 0, None, {}
    for i, step in enumerate(order):
        for t in step.out_tensors:
            key = root_of(t)
            if made_by.get(key) is step:
                live[key] = size[key]
        # Of its three score tensors, a fused attention holds two at once (each elementwise step
        # reads one and writes the next); training keeps all three (Rows.call_memory).
        inside = attention_scores(step)[:2] + resize_temporaries(step)
        transient = sum(tensor_bytes(s, d, half=half) for s, d in inside)
        total = sum(live.values()) + transient
        if total > peak:
            peak, at, snapshot = total, step, dict(live)
        for key in [k for k in live if k not in kept and last.get(k, -1) <= i]:
            del live[key]
    by_step: dict[int, int] = {}
    for key, value in snapshot.items():
        by_step[id(made_by[key])] = by_step.get(id(made_by[key]), 0) + value
    return peak, at, by_step


def peak(root: Call) -> Peak:
    """The inference peak of a traced pass, at the dtypes it ran in and with float tensors in 16 bits."""
    full, step, live = _walk(root, half=False)
    half, _, _ = _walk(root, half=True)
    return Peak(bytes=full, half_bytes=half, step=step, live=live)
