"""Analyse keras-hub registry entries (tests/hub_families.py) as archreport does, beside XLA's count.

Run in a fresh process (it chooses Keras's JAX backend before Keras is imported):

    python -m tests.hub_job llama3 mixtral          # one JSON line per family
    python -m tests.hub_job --peak llama3           # and XLA's compiled peak beside the inference peak

Each family is built shape-only by archreport's own build (keras_compat.build_shape_only),
analysed at the entry's inputs (model/analyse.py), and the same forward pass is lowered
with every weight abstract for XLA's FLOPs (``cost_analysis``). Each line holds the
family's totals, how many of its rows have an unknown shape, XLA's FLOPs, seconds, and
the process's peak RSS so far; or an "error". Keras's session is cleared between families.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "jax"


def _inputs(model: Any, entry: Any) -> dict[str, list[int]] | None:
    """The entry's inputs by the model's own input names (a single unnamed image input by position)."""
    from archreport.model import keras_compat
    from archreport.model.inputs import model_inputs

    names = [i.name for i in model_inputs(model, keras_compat.model_kind(model))]
    given = {k: list(v) for k, v in entry.inputs.items()}
    if set(given) <= set(names):
        return given
    if len(names) == len(given):  # the registry's "images" for an input Keras named itself
        return dict(zip(names, given.values(), strict=True))
    raise ValueError(f"inputs {sorted(given)} do not name the model's inputs {names}")


def _renamed(model: Any, entry: Any, name: str) -> str:
    """An entry's input name as the model calls it (see :func:`_inputs`)."""
    given = _inputs(model, entry) or {}
    return name if name in given else list(given)[list(entry.inputs).index(name)]


def xla_flops(model: Any, analysis: Any, constants: dict[str, Any] | None = None) -> int:
    """XLA's FLOPs of the same forward pass at the analysis's shapes, every weight abstract."""
    return int(_lowered(model, analysis, constants).cost_analysis()["flops"])


def _lowered(model: Any, analysis: Any, constants: dict[str, Any] | None) -> Any:
    """The model's forward pass at the analysis's shapes, lowered by JAX with every weight abstract.

    ``constants``: inputs given a value (by name), constants of the function as of the trace;
    what is computed from them alone is folded, as the trace folds it.
    """
    import contextlib

    import jax
    from keras import tree

    from archreport.model import keras_compat

    variables = list(model.variables)
    values = [keras_compat.abstract_array(tuple(v.shape), v.dtype) for v in variables]
    batch = analysis.totals.batch_size
    shapes = [
        tuple(batch if d == "None" else int(d) for d in text[1:-1].split(", ") if d)
        for text in analysis.input_shapes
    ]
    flat = [
        keras_compat.abstract_array(s, str(t.dtype))
        for s, t in zip(shapes, tree.flatten(model.inputs), strict=True)
    ]

    from archreport.model.inputs import model_inputs

    names = [i.name for i in model_inputs(model, keras_compat.model_kind(model))]
    given = {
        i: keras_compat.constant_input(constants[n], shapes[i], str(t.dtype))
        for i, (n, t) in enumerate(zip(names, tree.flatten(model.inputs), strict=True))
        if constants and n in constants
    }

    def forward(values: list[Any], inputs: list[Any]) -> Any:
        folding = jax.ensure_compile_time_eval() if given else contextlib.nullcontext()
        with keras_compat.stateless_scope(variables, values), folding:
            structure = keras_compat.inputs_structure(model)
            inputs = [given.get(i, x) for i, x in enumerate(inputs)]
            packed = tree.pack_sequence_as(structure, inputs) if structure is not None else inputs
            return model(packed[0] if structure is None and len(inputs) == 1 else packed)

    return jax.jit(forward).trace(values, flat).lower()


def xla_peak(model: Any, analysis: Any, constants: dict[str, Any] | None = None) -> int:
    """XLA's peak for the same forward pass, from its buffer assignment on the CPU backend:
    argument + output + temp - alias, plus the weights the compiled function prunes (see
    tests/analyse_job.py). Compiling a published size takes seconds to minutes: only with --peak."""
    import math

    from archreport.model import keras_compat
    from tests.analyse_job import XLA_OPTIONS

    lowered = _lowered(model, analysis, constants)
    memory = lowered.compile(XLA_OPTIONS).memory_analysis()
    held = sum(math.prod(v.shape) * keras_compat.dtype_bytes(v.dtype) for v in model.weights)
    held += analysis.totals.input_bytes
    pruned = max(0, int(held) - int(memory.argument_size_in_bytes))
    return int(
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
        + pruned
    )


def analyse_family(name: str, peak: bool = False) -> dict[str, Any]:
    import keras

    from archreport.model import keras_compat
    from archreport.model.analyse import analyse
    from archreport.model.inputs import model_inputs
    from tests import hub_families as hf

    entry = hf.BY_NAME[name]
    keras.backend.clear_session()
    started = time.perf_counter()
    model = keras_compat.build_shape_only(lambda: hf.build(entry))
    built = time.perf_counter() - started
    shapes = _inputs(model, entry)
    values = {_renamed(model, entry, k): v for k, v in entry.input_values.items()} or None
    analysis = analyse(model, name, inputs=shapes, input_values=values)
    analysed = time.perf_counter() - started - built
    totals = analysis.totals
    return {
        "family": name,
        "params": int(model.count_params()),
        "trainable": sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights),
        "declared_inputs": {
            i.name: list(i.shape[1:]) for i in model_inputs(model, keras_compat.model_kind(model))
        },
        "stated_inputs": shapes,  # the entry's inputs by the model's names
        "output_shapes": analysis.output_shapes,
        "flops": totals.flops,
        "flops_lower_bound": totals.flops_lower_bound,
        "flops_coverage": totals.flops_coverage,
        "active_flops": totals.active_flops,
        "active_params": totals.active_params,
        "inference_peak_bytes": totals.inference_peak_bytes,
        "unknown_shapes": sum(
            1 for r in analysis.rows if r.called and ("?" in r.output_shape or not r.output_shape)
        ),
        "warnings": analysis.warnings,
        "xla_flops": xla_flops(model, analysis, values),
        **({"xla_peak": xla_peak(model, analysis, values)} if peak else {}),
        "build_seconds": round(built, 2),
        "analyse_seconds": round(analysed, 2),
        "peak_rss": _peak_rss(),
    }


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main(names: list[str]) -> None:
    """``names``: the families, and ``--peak`` for XLA's compiled peak beside archreport's too."""
    from archreport.model import keras_compat

    keras_compat.enable_shape_only()
    peak = "--peak" in names
    for name in (n for n in names if n != "--peak"):
        try:
            found = analyse_family(name, peak=peak)
        except Exception as exc:
            found = {"family": name, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"}
        print(json.dumps(found), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
