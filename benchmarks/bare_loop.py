"""Variant (a) of bench.py: the bare Keras loop a user would write, in ONE process.

    python benchmarks/bare_loop.py MODELS.json RESULT.json PNG_DIR

MODELS.json is a list of {"name", "application" | "builder", "args", "kwargs"}. For each model:
build it (weights=None for applications), ``keras.utils.plot_model(model, to_file=PNG,
show_shapes=True)`` and ``model.summary()``. A failure is caught per model, timed up to the point
where it happened, recorded, and the loop goes on. Per-model times go to RESULT.json.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path


def main(models_path: str, result_path: str, png_dir: str) -> int:
    started = time.perf_counter()
    import keras

    import_s = time.perf_counter() - started
    models = json.loads(Path(models_path).read_text())
    sys.path.insert(0, str(Path(models_path).resolve().parent))
    out = Path(png_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, spec in enumerate(models):
        row: dict = {"name": spec["name"], "ok": True, "error": None}
        stage = "build"
        t = time.perf_counter()
        try:
            if "application" in spec:
                model = getattr(keras.applications, spec["application"])(
                    weights=None, **spec.get("kwargs", {})
                )
            else:
                module, _, qualname = spec["builder"].partition(":")
                fn = importlib.import_module(module)
                for part in qualname.split("."):
                    fn = getattr(fn, part)
                model = fn(*spec.get("args", []), **spec.get("kwargs", {}))
            row["build"] = time.perf_counter() - t
            row["layers"] = len(model.layers)
            stage = "plot_model"
            t = time.perf_counter()
            try:
                keras.utils.plot_model(model, to_file=str(out / f"model_{i}.png"), show_shapes=True)
            except Exception as exc:  # record and go on, as a user's loop would need to
                row["ok"] = False
                row["error"] = f"plot_model: {type(exc).__name__}: {exc}".strip()
                row["traceback_tail"] = traceback.format_exc()[-600:]
            row["plot_model"] = time.perf_counter() - t
            stage = "summary"
            t = time.perf_counter()
            model.summary()
            row["summary"] = time.perf_counter() - t
        except Exception as exc:
            row["ok"] = False
            row[stage] = time.perf_counter() - t
            row["error"] = f"{stage}: {type(exc).__name__}: {exc}"
        results.append(row)
        sys.stdout.flush()
    Path(result_path).write_text(
        json.dumps(
            {"import_keras": import_s, "total": time.perf_counter() - started, "models": results}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
