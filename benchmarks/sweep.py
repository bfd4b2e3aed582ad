"""What a cost curve costs: Llama-3-8B's sweep of 4 sequence lengths against one analysis.

Issue 24 asks that a sweep of 4 lengths take at most 4x a single point. In one process,
Llama-3-8B (tests/models.py) is built shape-only once, then timed alternately: one
analysis at 2,048 tokens (what the report does without a sweep), and the sweep of
[512, 1024, 2048, 4096] tokens (what [model.sweep] adds). Medians of alternating pairs.

    python benchmarks/sweep.py            # 5 pairs
    python benchmarks/sweep.py --pairs 9

Results also go to benchmarks/results/sweep-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["KERAS_BACKEND"] = "jax"

LENGTHS = (512, 1024, 2048, 4096)
POINT = 2048


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()

    from archreport.manifest.schema import Sweep
    from archreport.model import keras_compat, sweep
    from archreport.model.analyse import analyse
    from tests import models

    keras_compat.enable_shape_only()
    model = keras_compat.build_shape_only(models.llama_8b)
    inputs = {"token_ids": [POINT], "padding_mask": [POINT]}
    curve = Sweep(sequence_length=LENGTHS)

    def one() -> Any:
        return analyse(model, "llama", inputs=inputs).totals

    def four() -> Any:
        return sweep.points(model, "llama", curve, batch_size=1, inputs=inputs, input_shapes=None)[0]

    one(), four()  # warm: the first trace compiles JAX's tracing caches
    singles: list[float] = []
    sweeps: list[float] = []
    for _ in range(args.pairs):
        for timed, into in ((one, singles), (four, sweeps)):
            started = time.perf_counter()
            timed()
            into.append(time.perf_counter() - started)
    points = four()
    found = {
        "machine": f"{_cpu_name()}, {os.cpu_count()} cores",
        "load": os.getloadavg()[0],
        "single_seconds": statistics.median(singles),
        "sweep_seconds": statistics.median(sweeps),
        "ratio": statistics.median(s / o for s, o in zip(sweeps, singles, strict=True)),
        "points": [{"sequence_length": p.sequence_length, "flops": p.flops} for p in points],
    }
    print(
        f"Llama-3-8B on {found['machine']} (1-minute load {found['load']:.1f}), medians of {args.pairs} pairs:"
    )
    print(f"  one analysis at {POINT} tokens: {found['single_seconds']:.2f} s")
    print(f"  sweep of {list(LENGTHS)}: {found['sweep_seconds']:.2f} s ({found['ratio']:.2f}x one analysis)")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"sweep-{stamp}.json").write_text(json.dumps(found, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
