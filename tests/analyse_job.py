"""Build and analyse models in a process of a chosen Keras backend; print the analyses as JSON.

The test process runs Keras on TensorFlow, and a process keeps its backend for
life, so shape-only analyses (the product's default) run here, in a subprocess:

    python -m tests.analyse_job shape-only < jobs.json > results.json

Each job: {"name", "builder": "module:qualname" or "application:Name", "kwargs",
"inputs", "input_shapes", "batch_size"}. Each result: {"rows", "totals", "warnings",
"input_shapes", "output_shapes", "build_seconds"}, plus "max_rss" for the process.
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
    return {"results": results, "max_rss": _peak_rss()}


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
