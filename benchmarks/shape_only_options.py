"""Shape-only builds: Keras's numpy backend or JAX's StatelessScope (issue 11).

Four ways of building the same models, each in a fresh subprocess per repetition, the
options alternating inside every repetition:

  a  numpy backend + ``archreport.model.keras_compat.enable_shape_only()`` (what archreport does)
  b  jax backend, every model built inside ``keras.StatelessScope(initialize_variables=False)``;
     layers infer shapes through Keras's JAX ``compute_output_spec`` (``jax.eval_shape``)
  b0 jax backend inside a plain ``keras.StatelessScope()``: Keras initialises every deferred
     variable when the outermost scope exits (not in the default set; ``--options a,b,b0,c,d``)
  c  jax backend, plain (real weights), as a reference
  d  tensorflow backend, plain (real weights): the reference for params and shapes

Each child reports, as JSON: import times (the backend's packages, then keras), the build time
of each model (imports excluded), the peak RSS of the process (VmHWM) after the builds and
after the analyses, ``count_params()``, output shapes, how many variables hold memory, how many
convolutions ran on concrete arrays, and any error. For a and b it also times
``archreport.model.analyse.analyse(model, "m")`` on every model (rebuilt, untimed) and keeps its
totals, so the two can be compared. The Llama-3-8B-shaped backbone runs only for a and b: a
real build needs 32 GB of float32 weights.

    python benchmarks/shape_only_options.py [--reps 3] [--options a,b,c,d] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import hashlib
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

OPTIONS = {
    "a": "numpy + enable_shape_only()",
    "b": "jax + StatelessScope(initialize_variables=False)",
    "b0": "jax + StatelessScope() (default: initialises on exit)",
    "c": "jax, real weights",
    "d": "tensorflow, real weights",
}
BACKEND = {"a": "numpy", "b": "jax", "b0": "jax", "c": "jax", "d": "tensorflow"}
# What each Keras backend imports that Keras itself does not: timed before `import keras`.
# (Keras's numpy backend imports jax and scipy when it loads.)
BACKEND_MODULES = {"numpy": ["numpy", "jax", "scipy"], "jax": ["jax"], "tensorflow": ["tensorflow"]}
ZOO = [
    "MobileNetV2",
    "ResNet50",
    "DenseNet121",
    "EfficientNetB0",
    "InceptionV3",
    "NASNetMobile",
    "ConvNeXtTiny",
    "Xception",
    "VGG16",
    "MobileNetV3Small",
]
CUSTOM_CONV = "tests.models:custom_conv_model"
LLAMA_8B = "tests.models:llama_8b"
LLAMA_INPUTS = {"token_ids": [2048], "padding_mask": [2048]}
GROUPS = {"zoo": [*ZOO, CUSTOM_CONV], "llama8b": [LLAMA_8B]}
ANALYSED = {"a", "b"}  # the shape-only candidates
GROUP_OPTIONS = {"zoo": ["a", "b", "b0", "c", "d"], "llama8b": ["a", "b"]}
CONV_OPS = ("conv", "depthwise_conv", "conv_transpose")
CONCRETE_TYPES = {"ndarray", "EagerTensor", "ArrayImpl"}  # numpy, TensorFlow eager, JAX


# -- the child: one option, one group of models --------------------------------------


def _vm_hwm() -> int:
    """This process's peak resident memory in bytes (ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _build(name: str) -> Any:
    import keras

    if ":" not in name:
        return getattr(keras.applications, name)(weights=None)
    module, _, qualname = name.partition(":")
    return getattr(importlib.import_module(module), qualname)()


@contextlib.contextmanager
def _scope(option: str) -> Iterator[None]:
    import keras

    if option == "b":
        with keras.StatelessScope(initialize_variables=False):
            yield
    elif option == "b0":
        with keras.StatelessScope():
            yield
    else:
        yield


def _held_bytes(variable: Any) -> int:
    """Bytes of memory behind a variable's value: 0 for JAX's deferred or archreport's zero-stride ones."""
    value = variable._value
    if value is None:  # deferred by a StatelessScope: nothing allocated
        return 0
    strides = getattr(value, "strides", None)
    if strides is not None and len(strides) and not any(strides):  # a zero-stride numpy view
        return 0
    return math.prod(variable.shape) * _itemsize(variable.dtype)


def _itemsize(dtype: str) -> int:
    import numpy as np

    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _watch_kernels(counts: dict[str, int]) -> None:
    """Count the backend's convolutions that run on concrete arrays (not symbolic tensors or tracers)."""
    from keras.src import backend

    for op in CONV_OPS:
        original = getattr(backend.nn, op, None)
        if original is None:
            continue

        def wrapped(inputs: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if type(inputs).__name__ in CONCRETE_TYPES:
                counts["concrete"] += 1
            else:
                counts["symbolic"] += 1
            return _original(inputs, *args, **kwargs)

        setattr(backend.nn, op, wrapped)


def child(option: str, group: str, analyse_models: bool) -> dict[str, Any]:
    backend_name = BACKEND[option]
    os.environ["KERAS_BACKEND"] = backend_name
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    out: dict[str, Any] = {"option": option, "group": group, "models": {}}

    started = time.perf_counter()
    for module in BACKEND_MODULES[backend_name]:
        importlib.import_module(module)
    out["import_backend_s"] = time.perf_counter() - started
    started = time.perf_counter()
    import keras

    out["import_keras_s"] = time.perf_counter() - started
    started = time.perf_counter()
    if option == "a":
        from archreport.model import keras_compat

        keras_compat.enable_shape_only()
    out["enable_s"] = time.perf_counter() - started
    if group == "llama8b":
        started = time.perf_counter()
        import keras_hub  # noqa: F401  (it imports TensorFlow, whatever the backend)

        out["import_keras_hub_s"] = time.perf_counter() - started
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    out["versions"] = {
        m: sys.modules[m].__version__ for m in ("keras", "jax", "numpy", "tensorflow") if m in sys.modules
    }
    gc.collect()
    gc.freeze()  # as archreport's worker does after its imports (clear_session runs a full collection)
    out["rss_after_import"] = _vm_hwm()

    kernels = {"concrete": 0, "symbolic": 0}
    _watch_kernels(kernels)
    for name in GROUPS[group]:
        keras.backend.clear_session()
        kernels.update(concrete=0, symbolic=0)
        row: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            with _scope(option):
                model = _build(name)
                if option in ("b", "b0"):
                    row["deferred_inside_scope"] = sum(v._value is None for v in model.variables)
            row["build_s"] = time.perf_counter() - started
            row["params"] = int(model.count_params())
            row["output_shapes"] = [list(t.shape) for t in keras.tree.flatten(model.outputs)]
            row["variables"] = len(model.variables)
            row["uninitialised"] = sum(v._value is None for v in model.variables)
            row["held_bytes"] = sum(_held_bytes(v) for v in model.variables)
            row["rss_now"] = _current_rss()
        except Exception as e:  # a failure is a result
            row["build_s"] = time.perf_counter() - started
            row["error"] = f"{type(e).__name__}: {str(e)[:400]}"
        row["kernels"] = dict(kernels)
        out["models"][name] = row
        model = None
    out["rss_after_builds"] = _vm_hwm()

    if analyse_models and option in ANALYSED:
        from archreport.model.analyse import analyse

        for name in GROUPS[group]:
            row = out["models"][name]
            if "error" in row:
                continue
            keras.backend.clear_session()
            with _scope(option):
                model = _build(name)
            started = time.perf_counter()
            try:
                result = analyse(model, "m", inputs=LLAMA_INPUTS if name == LLAMA_8B else None)
                row["analyse_s"] = time.perf_counter() - started
                row["totals"] = dataclasses.asdict(result.totals)
                rows = json.dumps([dataclasses.asdict(r) for r in result.rows], sort_keys=True, default=str)
                row["rows_digest"] = hashlib.sha256(rows.encode()).hexdigest()[:16]
                row["analysis_output_shapes"] = result.output_shapes
            except Exception as e:
                row["analyse_s"] = time.perf_counter() - started
                row["analyse_error"] = f"{type(e).__name__}: {str(e)[:400]}"
            row["uninitialised_after_analyse"] = sum(v._value is None for v in model.variables)
            model = None
        out["rss_after_analyses"] = _vm_hwm()
    return out


def _current_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# -- the parent: repetitions, alternation, summary ------------------------------------------


def run_child(option: str, group: str, analyse_models: bool, timeout: float) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep),
    }
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", option, "--group", group]
    if not analyse_models:
        command.append("--no-analyse")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"option": option, "group": group, "failed": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"option": option, "group": group, "wall_s": wall, "failed": f"exit {done.returncode}",
                "stderr": done.stderr[-3000:]}  # fmt: skip
    result = json.loads(lines[-1])
    result["wall_s"] = wall
    return result


def _median(values: list[float]) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    return f"{med:.2f} [{min(values):.2f}–{max(values):.2f}]"


def _gb(values: list[int]) -> list[float]:
    return [v / 1e9 for v in values]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per option and group: medians [min–max] over repetitions, and agreement with TensorFlow."""
    ok = [r for r in runs if "failed" not in r]
    reference = {
        name: row for r in ok if r["option"] == "d" for name, row in r["models"].items() if "error" not in row
    }
    analysed_a = {
        name: row for r in ok if r["option"] == "a" for name, row in r["models"].items() if "totals" in row
    }
    summary: dict[str, Any] = {}
    for key in sorted({(r["option"], r["group"]) for r in runs}):
        option, group = key
        mine = [r for r in ok if (r["option"], r["group"]) == key]
        if not mine:
            summary[f"{option}/{group}"] = {
                "failed": [r.get("failed") for r in runs if (r["option"], r["group"]) == key]
            }
            continue
        last = mine[-1]
        models = last["models"]
        built = [n for n, row in models.items() if "error" not in row]
        same_params = [n for n in built if n in reference and models[n]["params"] == reference[n]["params"]]
        same_shapes = [
            n for n in built if n in reference and models[n]["output_shapes"] == reference[n]["output_shapes"]
        ]
        same_analysis = [
            n for n in built if n in analysed_a and models[n].get("totals") == analysed_a[n]["totals"]
            and models[n].get("rows_digest") == analysed_a[n]["rows_digest"]
        ]  # fmt: skip
        summary[f"{option}/{group}"] = {
            "option": OPTIONS[option],
            "reps": len(mine),
            "import_backend_s": _median([r["import_backend_s"] for r in mine]),
            "import_keras_s": _median([r["import_keras_s"] for r in mine]),
            "import_total_s": _median(
                [r["import_backend_s"] + r["import_keras_s"] + r["enable_s"] for r in mine]
            ),
            "import_keras_hub_s": _median(
                [r["import_keras_hub_s"] for r in mine if "import_keras_hub_s" in r]
            ),
            "build_sum_s": _median([sum(row["build_s"] for row in r["models"].values()) for r in mine]),
            "analyse_sum_s": _median(
                [
                    sum(row["analyse_s"] for row in r["models"].values() if "analyse_s" in row)
                    for r in mine
                    if any("analyse_s" in row for row in r["models"].values())
                ]
            ),
            "rss_after_import_gb": _median(_gb([r["rss_after_import"] for r in mine])),
            "peak_rss_builds_gb": _median(_gb([r["rss_after_builds"] for r in mine])),
            "peak_rss_with_analyses_gb": _median(
                _gb([r["rss_after_analyses"] for r in mine if "rss_after_analyses" in r])
            ),
            "wall_s": _median([r["wall_s"] for r in mine]),
            "tensorflow_imported": last["tensorflow_imported"],
            "built": f"{len(built)}/{len(models)}",
            "errors": {n: row["error"] for n, row in models.items() if "error" in row},
            "analyse_errors": {
                n: row["analyse_error"] for n, row in models.items() if "analyse_error" in row
            },
            "params_as_tensorflow": f"{len(same_params)}/{len([n for n in built if n in reference])}",
            "shapes_as_tensorflow": f"{len(same_shapes)}/{len([n for n in built if n in reference])}",
            "analysis_as_a": f"{len(same_analysis)}/{len([n for n in built if n in analysed_a])}",
            "weight_bytes_held": sum(row.get("held_bytes", 0) for row in models.values()),
            "uninitialised_variables": f"{sum(row.get('uninitialised', 0) for row in models.values())}"
            f"/{sum(row.get('variables', 0) for row in models.values())}",
            "concrete_convolutions": {n: row["kernels"]["concrete"] for n, row in models.items()},
            "per_model_build_s": {
                n: statistics.median([r["models"][n]["build_s"] for r in mine]) for n in models
            },
            "per_model_params": {n: row.get("params") for n, row in models.items()},
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--options", default="a,b,c,d", help="a,b,b0,c,d (b0: a plain StatelessScope())")
    parser.add_argument("--groups", default="zoo,llama8b")
    parser.add_argument("--no-analyse", action="store_true", help="skip archreport's analysis step")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per child")
    parser.add_argument("--json", type=Path, help="where to write everything measured")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.group, not args.no_analyse)))
        return

    options = args.options.split(",")
    jobs = [(o, g) for g in args.groups.split(",") for o in options if o in GROUP_OPTIONS[g]]
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()}", flush=True)
    runs: list[dict[str, Any]] = []
    for rep in range(args.reps):
        # Alternate: each repetition starts one option later, so machine noise reaches every option.
        shift = rep % len(jobs)
        for option, group in jobs[shift:] + jobs[:shift]:
            result = run_child(option, group, not args.no_analyse, args.timeout)
            result["rep"] = rep
            result["load"] = os.getloadavg()
            runs.append(result)
            status = result.get("failed") or f"{result['wall_s']:.1f} s"
            print(
                f"rep {rep + 1}/{args.reps} {option}/{group}: {status}, load {result['load'][0]:.2f}",
                flush=True,
            )
    summary = summarise(runs)
    record = {
        "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%dT%H:%M:%SZ}",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "args": vars(args) | {"json": str(args.json) if args.json else None},
        "summary": summary,
        "runs": runs,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
