"""Architecture diff against a baseline report.json (``--compare``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import UsageError

_LAYER_FIELDS = ("class_name", "input_shapes", "output_shape", "params")
_TOTAL_FIELDS = (
    "params",
    "trainable_params",
    "non_trainable_params",
    "flops",
    "param_bytes",
    "activation_bytes",
)


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline: a report.json, or a report folder holding one."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--compare {path}: no report.json there.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--compare {path}: cannot read {file}: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise UsageError(f"--compare {path}: {file} is not an archreport report.json (no 'models' list).")
    return data


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item.get("name", ""): item for item in items if isinstance(item, dict)}


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """What changed between two report.json documents, model by model and layer by layer."""
    old, new = _by_name(baseline["models"]), _by_name(current["models"])
    models = []
    for name in [n for n in new if n in old]:
        a, b = old[name], new[name]
        la, lb = _by_name(a.get("layers") or []), _by_name(b.get("layers") or [])
        changed = []
        for lname in [n for n in lb if n in la]:
            diffs = {
                f: [la[lname].get(f), lb[lname].get(f)]
                for f in _LAYER_FIELDS
                if la[lname].get(f) != lb[lname].get(f)
            }
            if diffs:
                changed.append({"name": lname, "changes": diffs})
        ta, tb = a.get("totals") or {}, b.get("totals") or {}
        deltas = {
            f: {"before": ta.get(f), "after": tb.get(f), "delta": _delta(ta.get(f), tb.get(f))}
            for f in _TOTAL_FIELDS
            if ta.get(f) != tb.get(f)
        }
        entry = {
            "name": name,
            "status": [a.get("status"), b.get("status")] if a.get("status") != b.get("status") else None,
            "layers_added": [n for n in lb if n not in la],
            "layers_removed": [n for n in la if n not in lb],
            "layers_changed": changed,
            "totals": deltas,
        }
        if entry["status"] or entry["layers_added"] or entry["layers_removed"] or changed or deltas:
            models.append(entry)
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    return {
        "baseline_generated": baseline.get("generated"),
        "models_added": added,
        "models_removed": removed,
        "models_changed": models,
        "unchanged": not (added or removed or models),
    }


def _delta(before: Any, after: Any) -> Any:
    if isinstance(before, int | float) and isinstance(after, int | float):
        return after - before
    return None
