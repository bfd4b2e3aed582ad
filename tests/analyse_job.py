"""Build and analyse models in a process of a chosen Keras backend; print the analyses as JSON.

The test process runs Keras on TensorFlow, and a process keeps its backend for
life, so shape-only analyses (the product's default) run here, in a subprocess:

    python -m tests.analyse_job shape-only < jobs.json > results.json

Each job: {"name", "builder": "module:qualname" or "application:Name", "kwargs",
"inputs", "input_shapes", "input_values", "batch_size", "xla"}. Each result: {"rows", "totals", "warnings",
"input_shapes", "output_shapes", "build_seconds"}, plus "max_rss" for the process. With
"xla": true (JAX only), also XLA's own count of the same function at the same shapes:
{"xla": {"flops", "argument", "output", "temp", "alias", "pruned"}} (see :func:`xla`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

BACKENDS = {"shape-only": "jax", "tensorflow": "tensorflow", "jax": "jax"}


def run(backend: str, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    os.environ["KERAS_BACKEND"] = BACKENDS[backend]
    import keras

    from archreport.model import keras_compat
    from archreport.model.analyse import analyse

    if backend == "shape-only":
        keras_compat.enable_shape_only()
    results: dict[str, Any] = {}
    for job in jobs:
        keras.backend.clear_session()
        started = time.perf_counter()
        source, _, name = job["builder"].partition(":")
        if source == "application":
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in job.get("kwargs", {}).items()}
            builder: Any = functools.partial(getattr(keras.applications, name), weights=None, **kwargs)
        else:
            builder = importlib.import_module(source)
            for part in name.split("."):
                builder = getattr(builder, part)
            builder = functools.partial(builder, **job.get("kwargs", {}))
        model = keras_compat.build_shape_only(builder) if backend == "shape-only" else builder()
        built = time.perf_counter() - started
        result = analyse(
            model,
            "m",
            batch_size=job.get("batch_size", 1),
            inputs=job.get("inputs"),
            input_shapes=job.get("input_shapes"),
            input_values=job.get("input_values"),
        )
        results[job["name"]] = {
            "rows": [dataclasses.asdict(r) for r in result.rows],
            "totals": dataclasses.asdict(result.totals),
            "warnings": result.warnings,
            "input_shapes": result.input_shapes,
            "output_shapes": result.output_shapes,
            "build_seconds": built,
            "count_params": int(model.count_params()),
        }
        if job.get("xla"):
            results[job["name"]]["xla"] = xla(model, result)
    return {"results": results, "max_rss": _peak_rss()}


# XLA's CPU defaults distort its buffer assignment as a reference: YNNPACK fusion hides the
# intermediates of the dots it packs, and the default scheduler runs independent work early.
XLA_OPTIONS = {
    "xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
    "xla_cpu_experimental_ynn_fusion_type": "",
}


def lowered(model: Any, analysis: Any, constants: dict[str, Any] | None = None) -> Any:
    """The model's forward pass at the analysis's input shapes, lowered by JAX with every weight
    abstract: nothing is allocated.

    ``constants``: inputs given a value (by the model's input names), constants of the function
    as of the trace; what is computed from them alone is folded, as the trace folds it.
    """
    import contextlib

    import jax
    from keras import tree

    from archreport.model import keras_compat
    from archreport.model.inputs import model_inputs

    variables = list(model.variables)
    values = [keras_compat.abstract_array(tuple(v.shape), v.dtype) for v in variables]
    batch = analysis.totals.batch_size
    # The traced shapes as the report writes them, "(None, 28, 28, 1)": None is the batch.
    shapes = [
        tuple(batch if d == "None" else int(d) for d in text[1:-1].split(", ") if d)
        for text in analysis.input_shapes
    ]
    dtypes = [str(t.dtype) for t in tree.flatten(model.inputs)]
    flat = [keras_compat.abstract_array(s, d) for s, d in zip(shapes, dtypes, strict=True)]
    names = [i.name for i in model_inputs(model, keras_compat.model_kind(model))] if constants else []
    given = {
        i: keras_compat.constant_input(constants[n], shapes[i], dtypes[i])
        for i, n in enumerate(names)
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


def xla_memory(model: Any, analysis: Any, lowered: Any) -> dict[str, int]:
    """XLA's buffer assignment of a lowered pass, compiled on the CPU backend (seconds to minutes
    at a published size).

    "pruned": weight and input bytes the compiled function does not take because the graph
    never reads them (a backbone's untied output embedding); a peak that holds every weight
    adds them back.
    """
    import math

    from archreport.model import keras_compat

    memory = lowered.compile(XLA_OPTIONS).memory_analysis()
    held = sum(math.prod(v.shape) * keras_compat.dtype_bytes(v.dtype) for v in model.weights)
    held += analysis.totals.input_bytes
    return {
        "argument": int(memory.argument_size_in_bytes),
        "output": int(memory.output_size_in_bytes),
        "temp": int(memory.temp_size_in_bytes),
        "alias": int(memory.alias_size_in_bytes),
        "pruned": max(0, int(held) - int(memory.argument_size_in_bytes)),
    }


def xla_peak(memory: dict[str, int]) -> int:
    """XLA's peak: argument + output + temp - alias, plus the weights the compiled function prunes."""
    return memory["argument"] + memory["output"] + memory["temp"] - memory["alias"] + memory["pruned"]


def xla(model: Any, analysis: Any) -> dict[str, int]:
    """XLA's FLOPs (``cost_analysis``) and buffer assignment (:func:`xla_memory`) of the model's
    forward pass at the analysis's input shapes."""
    found = lowered(model, analysis)
    return {"flops": int(found.cost_analysis()["flops"]), **xla_memory(model, analysis, found)}


def _peak_rss() -> int:
    """This process's peak resident memory, in bytes.

    From /proc, not getrusage: Linux carries ru_maxrss across fork and exec, so a child of a
    large test process would report its parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], json.load(sys.stdin))))
