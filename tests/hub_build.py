"""Build keras-hub registry entries (tests/hub_families.py) without allocating their weights.

Run in a fresh process: it sets the JAX backend before Keras is imported.

    python -m tests.hub_build llama3 mixtral          # one JSON line per family
    python -m tests.hub_build --recipe eval_shape --no-call swin_transformer

Each line holds the family's counts as built, its declared inputs, the output shapes of
one abstract call at the entry's input shapes, seconds, and the process's peak RSS so far;
or an "error" with the exception's first line. Families are built one after another, with
Keras's session cleared in between.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from tests import hub_families as hf


def build_abstractly(entry: hf.HubFamily, recipe: str) -> Any:
    """Construct the backbone so that no weight gets a value: how depends on the recipe.

    EVAL_SHAPE (the default): variables created in a StatelessScope keep no value, and
    construction runs inside jax.eval_shape, so every read of a variable is an abstract tracer.
    STATELESS: the same scope, told not to initialise its variables on exit, and no outer
    trace. Keras traces each layer's output spec itself, so only a read outside those traces
    allocates (the peak RSS would show it), while construction code that needs a concrete
    value (float() of an op's result, a NumPy conversion) works. TRACED: jax.eval_shape
    alone, for a model that creates a variable from a value, which a StatelessScope refuses:
    every variable is initialised inside the trace, to an abstract value.
    """
    import jax
    import keras

    holder: dict[str, Any] = {}

    def make() -> int:
        if recipe == hf.TRACED:
            holder["model"] = hf.build(entry)
        else:
            with keras.StatelessScope(initialize_variables=recipe == hf.EVAL_SHAPE):
                holder["model"] = hf.build(entry)
        return 0

    if recipe in (hf.EVAL_SHAPE, hf.TRACED):
        jax.eval_shape(make)
    elif recipe == hf.STATELESS:
        make()
    else:
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {hf.RECIPES}")
    return holder["model"]


def abstract_call(model: Any, entry: hf.HubFamily) -> Any:
    """Call the model at the entry's input shapes (batch 1) inside jax.eval_shape: its output shapes.

    Weights and inputs are ShapeDtypeStructs passed to model.stateless_call, so nothing is
    computed or allocated; it checks that the entry's inputs are the model's and fit it.
    An input with a value (entry.input_values) is a constant instead, and the call runs
    under jax.ensure_compile_time_eval(), so what the model derives from constants alone
    (int() of a grid size, a schedule of num_steps) is computed, while everything that
    touches a weight or another input stays abstract.
    """
    import jax
    import numpy as np

    if isinstance(model.input, dict):
        declared = dict(model.input)
    elif len(model.inputs) == 1:  # one input, unnamed in most image backbones: the entry's name stands
        declared = {next(iter(entry.inputs)): model.inputs[0]}
    else:
        declared = {t.name: t for t in model.inputs}
    if set(declared) != set(entry.inputs):
        raise ValueError(f"the model's inputs are {sorted(declared)}, the entry's {sorted(entry.inputs)}")
    values = {
        name: np.asarray([entry.input_values[name]], declared[name].dtype) for name in entry.input_values
    }
    specs = {
        name: jax.ShapeDtypeStruct((1, *entry.inputs[name]), t.dtype)
        for name, t in declared.items()
        if name not in values
    }
    trainable = [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in model.trainable_variables]
    non_trainable = [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in model.non_trainable_variables]

    def call(weights: list[Any], other: list[Any], inputs: dict[str, Any]) -> Any:
        inputs = {**inputs, **values}
        args: Any = inputs if isinstance(model.input, dict) else [inputs[name] for name in declared]
        if isinstance(args, list) and len(args) == 1:
            args = args[0]
        if not values:
            return model.stateless_call(weights, other, args)[0]
        with jax.ensure_compile_time_eval():
            return model.stateless_call(weights, other, args)[0]

    out = jax.eval_shape(call, trainable, non_trainable, specs)
    return jax.tree_util.tree_map(lambda a: list(a.shape[1:]), out)


def measure(entry: hf.HubFamily, recipe: str | None = None, call: bool = True) -> dict[str, Any]:
    """Build one entry abstractly (and call it): counts, declared inputs, output shapes, seconds."""
    import keras

    recipe = recipe or entry.recipe
    keras.backend.clear_session()
    started = time.perf_counter()
    model = build_abstractly(entry, recipe)
    result: dict[str, Any] = {
        "family": entry.family,
        "recipe": recipe,
        "params": model.count_params(),
        "trainable": sum(_size(w) for w in model.trainable_weights),
        "build_seconds": time.perf_counter() - started,
    }
    inputs = model.input if isinstance(model.input, dict) else {t.name: t for t in model.inputs}
    result["declared_inputs"] = {name: list(t.shape[1:]) for name, t in inputs.items()}
    if call:
        started = time.perf_counter()
        result["outputs"] = abstract_call(model, entry)
        result["call_seconds"] = time.perf_counter() - started
    return result


def _size(weight: Any) -> int:
    size = 1
    for dim in weight.shape:
        size *= int(dim)
    return size


def _peak_rss() -> int:
    """This process's peak resident memory, in bytes: VmHWM, since ru_maxrss starts from the
    peak of the process that started this one (Linux carries it over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.hub_build", description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="+", choices=sorted(hf.BY_NAME), metavar="FAMILY")
    parser.add_argument("--recipe", choices=hf.RECIPES, help="instead of each entry's own")
    parser.add_argument("--no-call", dest="call", action="store_false", help="build only")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    started = time.perf_counter()
    import keras_hub  # noqa: F401  (imports Keras, JAX and, when installed, TensorFlow)

    print(json.dumps({"imports_seconds": time.perf_counter() - started, "rss": _peak_rss()}), flush=True)
    for family in args.families:
        try:
            result = measure(hf.BY_NAME[family], args.recipe, args.call)
        except Exception as error:  # reported per family; the next one still runs
            result = {"family": family, "error": f"{type(error).__name__}: {error}".splitlines()[0][:500]}
        print(json.dumps({**result, "rss": _peak_rss()}), flush=True)


if __name__ == "__main__":
    main()
