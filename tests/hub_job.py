"""Analyse keras-hub registry entries (tests/hub_families.py) as archreport does, beside XLA's count.

Run in a fresh process (it chooses Keras's JAX backend before Keras is imported):

    python -m tests.hub_job llama3 mixtral          # one JSON line per family
    python -m tests.hub_job --peak llama3           # and XLA's compiled peak beside the inference peak

With ``--peak``, each line also holds XLA's own liveness peak ("xla_live_peak": the most bytes
its schedule holds at once, from the live ranges it dumps with ``--xla_dump_to``): the compiled
peak less the gaps of its heap packing (docs/numbers.md, D-FINE).

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
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "jax"

from tests import analyse_job  # imports no Keras: the backend above still holds


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


def analyse_family(name: str, peak: bool = False, dump: Path | None = None) -> dict[str, Any]:
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
    # The same forward pass lowered by JAX with every weight abstract, once for XLA's FLOPs and peak.
    lowered = analyse_job.lowered(model, analysis, values)
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
        "kv_cache_bytes_per_token": totals.kv_cache_bytes_per_token,
        "unknown_shapes": sum(
            1 for r in analysis.rows if r.called and ("?" in r.output_shape or not r.output_shape)
        ),
        "warnings": analysis.warnings,
        "xla_flops": int(lowered.cost_analysis()["flops"]),
        # Compiling a published size takes seconds to minutes: only with --peak.
        **(_xla_peaks(model, analysis, lowered, dump) if peak else {}),
        "build_seconds": round(built, 2),
        "analyse_seconds": round(analysed, 2),
        "peak_rss": _peak_rss(),
    }


_LIVE_PEAK = re.compile(r"Stack trace breakdown for peak usage: ([0-9 ]+) bytes")


def _xla_peaks(model: Any, analysis: Any, lowered: Any, dump: Path | None) -> dict[str, int | None]:
    """XLA's compiled peak and its liveness peak (from the compile's dump in ``dump``, which
    main() named to XLA), both with the weights the compiled function prunes added back."""
    memory = analyse_job.xla_memory(model, analysis, lowered)
    live = None
    if dump is not None:
        found = sorted(dump.glob("*jit_forward*cpu_after_optimizations-live-range.txt"))
        matched = _LIVE_PEAK.search(found[-1].read_text(encoding="utf-8")) if found else None
        if matched:
            live = int(matched.group(1).replace(" ", "")) + memory["pruned"]
        for stale in dump.iterdir():  # a published size dumps megabytes: one family's at a time
            if stale.is_file():
                stale.unlink()
    return {"xla_peak": analyse_job.xla_peak(memory), "xla_live_peak": live}


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main(names: list[str]) -> None:
    """``names``: the families, and ``--peak`` for XLA's compiled peak beside archreport's too."""
    peak = "--peak" in names
    dump = Path(tempfile.mkdtemp(prefix="archreport-xla-dump-")) if peak else None
    if dump is not None:  # before JAX starts its backend, which reads XLA_FLAGS once
        os.environ["XLA_FLAGS"] = (
            f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump} --xla_dump_hlo_module_re=jit_forward"
        ).strip()
    from archreport.model import keras_compat

    keras_compat.enable_shape_only()
    for name in (n for n in names if n != "--peak"):
        try:
            found = analyse_family(name, peak=peak, dump=dump)
        except Exception as exc:
            found = {"family": name, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"}
        print(json.dumps(found), flush=True)
    if dump is not None:
        shutil.rmtree(dump, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
