"""Architecture diff against a baseline report.json (``--compare``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archreport.checks import blocks
from archreport.errors import UsageError, compare_argument

# What a changed layer is: its class, shapes and parameters, and the settings a review looks for
# (a kernel size, strides, an activation, a dtype, a layer frozen or unfrozen).
_LAYER_FIELDS = (
    "class_name", "input_shapes", "output_shape", "params", "kernel", "strides", "activation", "dtype",
    "trainable",
)  # fmt: skip
_TOTAL_FIELDS = (
    "params",
    "trainable_params",
    "non_trainable_params",
    "flops",
    "param_bytes",
    "activation_bytes",
    "active_flops",
    "inference_peak_bytes",
)


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline: a report.json, or a report folder holding one."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{compare_argument(path)}: no report.json there.") from None
    except (OSError, ValueError) as exc:  # not JSON, not UTF-8, or a number longer than Python reads
        raise UsageError(f"{compare_argument(path)}: cannot read {file}: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise UsageError(
            f"{compare_argument(path)}: {file} is not an archreport report.json (no 'models' list)."
        )
    _check_schema(data.get("schema_version"), f"{compare_argument(path)}: {file}")
    for i, model in enumerate(data["models"]):
        problem = _model_problem(model)
        if problem is not None:
            raise UsageError(
                f"{compare_argument(path)}: {file}, models[{i}]{problem}; it is not a report.json archreport "
                "wrote (or it was edited). Give an earlier report.json or report folder."
            )
    return data


# The report.json schema versions a baseline may have (render/exports.py writes SCHEMA_VERSION): every
# report.json so far is schema 1. A later schema reads older baselines through an upgrade step here.
READABLE_SCHEMAS = (1,)


def _check_schema(version: Any, where: str) -> None:
    """Refuse a baseline whose ``schema_version`` this archreport cannot compare with (issue 25, item 8).

    Raises:
        UsageError: it is missing, not a whole number, newer, or one no archreport wrote.
    """
    newest = max(READABLE_SCHEMAS)
    whole = isinstance(version, int) and not isinstance(version, bool)
    if whole and version in READABLE_SCHEMAS:
        return
    if whole and version > newest:
        raise UsageError(
            f"{where} has schema_version {version}, from a newer archreport; this one reads schema {newest}. "
            "Upgrade archreport, or compare with a baseline this version wrote."
        )
    found = "no schema_version" if version is None else f"schema_version {version!r}"
    raise UsageError(
        f"{where} has {found}; every report.json archreport wrote has schema_version "
        f"{', '.join(map(str, READABLE_SCHEMAS))} (a whole number), so this one is not one, or was edited. "
        "Give a report.json or report folder archreport wrote."
    )


def _model_problem(model: Any) -> str | None:
    """What in a baseline's model entry compare() cannot read, as ``.key: expected ...``, or None."""
    if not isinstance(model, dict):
        return f": expected an object, found {type(model).__name__}"
    if not isinstance(model.get("name"), str):
        return f".name: expected a string, found {type(model.get('name')).__name__}"
    for key, kind, name in (("totals", dict, "an object"), ("layers", list, "a list")):
        value = model.get(key)
        if value is not None and not isinstance(value, kind):
            return f".{key}: expected {name} or null, found {type(value).__name__}"
    return None


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item.get("name", ""): item for item in items if isinstance(item, dict)}


def layer_paths(rows: list[dict[str, Any]]) -> list[str]:
    """Each row's full path (``outer/inner/name``), the key rows are compared by.

    Names repeat among sub-layer rows (every MultiHeadAttention has ``query``,
    ``key`` and ``value``), so a name alone would let later rows overwrite earlier
    ones (issue 10, item 9). Rows that carry a ``path`` give it; for older
    report.json files it is rebuilt from the row order (children follow their
    parent) and each row's ``depth`` and ``parent``.
    """
    paths: list[str] = []
    enclosing: list[tuple[str, str]] = []  # (name, path) of the rows around the current one, outermost first
    latest: dict[str, str] = {}  # name -> path of the last row of that name
    for row in rows:
        name = str(row.get("name", ""))
        parent = row.get("parent")
        depth = row.get("depth")
        if isinstance(depth, int) and depth >= 0:
            del enclosing[depth:]
        if parent is None:
            prefix = ""
        elif enclosing and enclosing[-1][0] == parent:
            prefix = enclosing[-1][1]
        else:  # no usable depth: the last row of the parent's name encloses this one
            prefix = latest.get(str(parent), str(parent))
        path = str(row.get("path") or (f"{prefix}/{name}" if prefix else name))
        paths.append(path)
        enclosing.append((name, path))
        latest[name] = path
    return _unique(paths)


def _unique(paths: list[str]) -> list[str]:
    """Tell apart rows that still share a path (a layer listed twice) by their order: ``x``, ``x#2``."""
    seen: dict[str, int] = {}
    out = []
    for path in paths:
        seen[path] = seen.get(path, 0) + 1
        out.append(path if seen[path] == 1 else f"{path}#{seen[path]}")
    return out


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """What changed between two report.json documents, model by model and layer by layer.

    Layers are matched by their full path; ``layers_added``, ``layers_removed`` and
    each ``layers_changed`` entry's ``name`` give that path. Each changed model also
    has its block-level diff (checks/blocks.py): ``graph``, both sides' nodes and edges
    for the visual diff; ``repeats``, the runs of identical blocks that gained or lost
    some; and ``rewired``, the blocks fed by other blocks than before.
    """
    old, new = _by_name(baseline["models"]), _by_name(current["models"])
    models = [entry for name in new if name in old if (entry := _model_changes(name, old[name], new[name]))]
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    return {
        "baseline_generated": baseline.get("generated"),
        "models_added": added,
        "models_removed": removed,
        "models_changed": models,
        "unchanged": not (added or removed or models),
    }


def _model_changes(name: str, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """One model's changes, or None when nothing changed."""
    rows_a = [r for r in a.get("layers") or [] if isinstance(r, dict)]
    rows_b = [r for r in b.get("layers") or [] if isinstance(r, dict)]
    paths_a, paths_b = layer_paths(rows_a), layer_paths(rows_b)
    la, lb = dict(zip(paths_a, rows_a, strict=True)), dict(zip(paths_b, rows_b, strict=True))
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
        # A figure an older baseline did not have yet (report.json only gains keys) is no change.
        if (f in ta or not ta) and ta.get(f) != tb.get(f)
    }
    entry: dict[str, Any] = {
        "name": name,
        "status": [a.get("status"), b.get("status")] if a.get("status") != b.get("status") else None,
        "layers_added": [n for n in lb if n not in la],
        "layers_removed": [n for n in la if n not in lb],
        "layers_changed": changed,
        "totals": deltas,
    }
    graph: dict[str, Any] | None = None
    repeats: list[dict[str, Any]] = []
    rewired: list[str] = []
    if rows_a and rows_b:
        sides = blocks.rows_of(rows_a, paths_a), blocks.rows_of(rows_b, paths_b)
        graph, repeats, rewired = blocks.diff(*sides, {str(c["name"]) for c in changed})
        repeats += blocks.nested_repeats(
            _list(a.get("repeated_blocks")), _list(b.get("repeated_blocks")), *sides
        )
    if not (
        entry["status"] or entry["layers_added"] or entry["layers_removed"] or changed or deltas or rewired
    ):
        return None
    return {**entry, "repeats": repeats, "rewired": rewired, "graph": graph}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _delta(before: Any, after: Any) -> Any:
    if isinstance(before, int | float) and isinstance(after, int | float):
        return after - before
    return None
