"""report.md: the report as GitHub-flavoured Markdown, for a pull-request comment and a job summary.

Plain data in (the report.json document), text out. It reads from the top what a
reviewer needs first: the failed models and failed expectations (gates among them,
with their numbers), one table of every model with its deltas against the baseline,
then for each changed model what changed, block by block (a run of identical blocks
that grew reads "×5 → ×22", not as 170 new layers), then layer by layer.

GitHub refuses a comment over 65,536 characters, so the text is kept under
:data:`LIMIT` whatever the report's size: each list is cut at :data:`ITEMS` entries,
each model's changes get an equal share of what is left, and a last line says how
much was left out and where the whole of it is.

User text (model names, layer paths, errors) goes into code spans: in a code span
GitHub neither renders markup nor turns ``@name`` into a mention or ``#12`` into a
link, and inside a table a ``|`` is escaped so no name can break the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from archreport import units

LIMIT = 60_000  # characters; GitHub's comment limit is 65,536
ITEMS = 25  # entries per list before "... and N more"
LINE = 400  # characters per list entry
_TAIL = 600  # kept free for the closing line
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")

# The table's figures: report.json key, column title, how a value is shown.
FIGURES: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("params", "Params", units.si),
    ("flops", "FLOPs", units.flops),
    ("param_bytes", "Param memory", units.nbytes),
    ("inference_peak_bytes", "Inference peak", units.nbytes),
    ("activation_bytes", "Activations", units.nbytes),
)


def code(text: Any, *, table: bool = False, limit: int = 200) -> str:
    """``text`` as an inline code span that nothing in it can end or break.

    Line breaks become spaces, a long text keeps its start and end around "…", the
    fence is one backtick longer than the longest run inside, and in a table cell
    ``|`` is escaped (GFM splits cells before it reads code spans).
    """
    value = _CONTROL.sub(" ", units.visible(str(text))).strip()
    if len(value) > limit:
        half = (limit - 1) // 2
        value = value[:half] + "…" + value[-half:]
    if not value:
        return "` `"
    runs = [len(m) for m in re.findall(r"`+", value)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    if table:
        value = value.replace("|", "\\|")
    return f"{fence}{pad}{value}{pad}{fence}"


def prose(text: Any) -> str:
    """Plain text that Markdown shows as it is: its markup characters backslash-escaped.

    GitHub makes ``@name`` a mention after rendering, escaped or not; a zero-width space
    after the ``@`` keeps it text (a layer named after a team must not notify the team).
    """
    value = _CONTROL.sub(" ", units.visible(str(text))).strip()
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", value)
    return value.replace("@", "@\u200b")


def delta(before: Any, after: Any, show: Callable[[Any], str]) -> str:
    """`` ▲ +19.1 M (+74.6 %)``: the change with its sign, or "" when there is none to show."""
    if not _number(before) or not _number(after) or before == after:
        return ""
    change = after - before
    sign, arrow = ("+", "▲") if change > 0 else ("−", "▼")
    text = f" {arrow} {sign}{show(abs(change))}"
    if before:
        percent = abs(change) / abs(before) * 100
        text += f" ({sign}{percent:.1f} %)" if percent >= 0.1 else f" ({sign}{percent:.2g} %)"
    return text


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Page:
    """The text being written, and what was left out to keep it under the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.size = 0
        self.left_out = 0

    def room(self) -> int:
        return self.limit - _TAIL - self.size

    def add(self, *lines: str) -> bool:
        """Add the lines if they fit; False (and nothing added) if they do not."""
        size = sum(len(line) + 1 for line in lines)
        if size > self.room():
            return False
        self.lines.extend(lines)
        self.size += size
        return True

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def report_md(data: dict[str, Any], *, limit: int = LIMIT) -> str:
    """report.md from a report.json document (render/exports.report_dict).

    Args:
        data: the report.json document.
        limit: the most characters the text may have.
    """
    page = _Page(limit)
    models = [m for m in data.get("models") or [] if isinstance(m, dict)]
    changes = data.get("changes")
    page.add(f"## {prose(data.get('title') or 'Architecture report')}", "")
    page.add(_status_line(data, models, changes), "")
    _failures(page, models)
    _table(page, models, changes)
    if changes is not None:
        _changes(page, models, changes)
    while page.lines and not page.lines[-1]:
        page.lines.pop()
    page.lines += ["", _closing(page.left_out, data)]  # _TAIL keeps room for them
    return page.text()


def _status_line(data: dict[str, Any], models: list[dict[str, Any]], changes: Any) -> str:
    failed = [m for m in models if m.get("status") != "ok"]
    bad = sum(not e.get("ok", True) for m in models for e in m.get("expectations") or [])
    parts = [f"**{_count(len(models), 'model')}**: {len(models) - len(failed)} ok"]
    if failed:
        parts.append(f"**{len(failed)} failed**")
    if bad:
        parts.append(f"**{_count(bad, 'expectation')} failed**")
    line = ", ".join(parts)
    if isinstance(changes, dict):
        if changes.get("unchanged"):
            line += ". No architecture changes since the baseline"
        else:
            counts = [
                f"{len(changes.get(k) or [])} {word}"
                for k, word in (
                    ("models_changed", "changed"),
                    ("models_added", "added"),
                    ("models_removed", "removed"),
                )
                if changes.get(k)
            ]
            line += ". Since the baseline: " + ", ".join(counts)
        if changes.get("baseline_generated"):
            line += f" (baseline generated {prose(changes['baseline_generated'])})"
    return line + "."


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _failures(page: _Page, models: list[dict[str, Any]]) -> None:
    """The failed models and failed expectations (gates too), before anything else."""
    items = []
    for m in models:
        if m.get("status") != "ok":
            items.append(
                f"- ❌ {code(m.get('name'))} failed: {code(m.get('error') or 'no reason given', limit=300)}"
            )
        for e in m.get("expectations") or []:
            if not e.get("ok", True):
                items.append(
                    f"- ❌ {code(m.get('name'))} {code(e.get('key'))}: {prose(e.get('message') or '')}"
                )
    if not items:
        return
    page.add("### Failed", "")
    _items(page, items, "failures", share=page.room() // 3)
    page.add("")


def _items(page: _Page, items: list[str], what: str, *, share: int, cap: int = ITEMS) -> None:
    """Add list entries up to ``cap`` entries and ``share`` characters, then one "and N more" entry."""
    used = 0
    for n, item in enumerate(items):
        line = item if len(item) <= LINE else item[: LINE - 1] + "…"
        if n >= cap or used + len(line) > share or not page.add(line):
            rest = len(items) - n
            page.left_out += rest
            page.add(f"- … and {rest:,} more {what}")
            return
        used += len(line) + 1


def _table(page: _Page, models: list[dict[str, Any]], changes: Any) -> None:
    """One row per model (removed ones last) with its deltas against the baseline."""
    comparing = isinstance(changes, dict)
    changed = {c.get("name"): c for c in (changes or {}).get("models_changed") or []} if comparing else {}
    added = set((changes or {}).get("models_added") or []) if comparing else set()
    head = ["Model", "Status", *(["Change"] if comparing else []), *(title for _, title, _ in FIGURES)]
    align = ["---", "---", *(["---"] if comparing else []), *("---:" for _ in FIGURES)]
    rows: list[tuple[bool, str]] = []  # (worth showing first, the row)
    for m in models:
        name = m.get("name")
        bad = sum(not e.get("ok", True) for e in m.get("expectations") or [])
        if m.get("status") != "ok":
            status = "❌ failed"
        elif bad:
            status = f"❌ {_count(bad, 'expectation')} failed"
        else:
            status = "✅ ok"
        entry = changed.get(name)
        change = "🆕 new" if name in added else "✏️ changed" if entry else "–"
        totals = m.get("totals") or {}
        cells = [code(name, table=True, limit=80), status, *([change] if comparing else [])]
        for key, _, show in FIGURES:
            value = totals.get(key)
            text = _shown(key, value, totals, show)
            if entry and key in (entry.get("totals") or {}):
                before = entry["totals"][key].get("before")
                text += delta(before, value, show)
            cells.append(text)
        rows.append((m.get("status") != "ok" or bad > 0 or entry is not None or name in added, _row(cells)))
    for name in (changes or {}).get("models_removed") or [] if comparing else []:
        cells = [code(name, table=True, limit=80), "–", "🗑️ removed", *("" for _ in FIGURES)]
        rows.append((True, _row(cells)))
    page.add("### Models", "", _row(head), _row(align))
    table = sum(len(r) + 1 for _, r in rows)
    if table > page.room() // 2:  # the changes need room too: rows worth reading first, then the rest
        rows = [r for r in rows if r[0]] + [r for r in rows if not r[0]]
    for n, (_, row) in enumerate(rows):
        if not page.add(row):
            left = len(rows) - n
            page.left_out += left
            page.add("", f"{_count(left, 'more model')} left out of this table.")
            break
    page.add("")


def _shown(key: str, value: Any, totals: dict[str, Any], show: Callable[[Any], str]) -> str:
    if not totals:
        return ""
    bound = (
        totals.get("flops_lower_bound")
        if key == "flops"
        else totals.get("memory_lower_bound")
        if key in ("activation_bytes", "inference_peak_bytes")
        else False
    )
    return ("≥ " if bound and value is not None else "") + show(value)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _changes(page: _Page, models: list[dict[str, Any]], changes: dict[str, Any]) -> None:
    entries = [c for c in changes.get("models_changed") or [] if isinstance(c, dict)]
    added, removed = changes.get("models_added") or [], changes.get("models_removed") or []
    if not (entries or added or removed):
        return
    page.add("### Changes since the baseline", "")
    for label, names in (("Models added", added), ("Models removed", removed)):
        if names:
            shown = ", ".join(code(n, limit=80) for n in names[:ITEMS])
            more = f" and {len(names) - ITEMS:,} more" if len(names) > ITEMS else ""
            page.left_out += max(0, len(names) - ITEMS)
            page.add(f"**{label}:** {shown}{more}.", "")
    current = {m.get("name"): m for m in models}
    for n, entry in enumerate(entries):
        share = page.room() // (len(entries) - n)
        rows = {
            r.get("path"): r
            for r in (current.get(entry.get("name")) or {}).get("layers") or []
            if isinstance(r, dict)
        }
        if not page.add(f"#### {code(entry.get('name'), limit=80)}", ""):
            page.left_out += len(entries) - n
            return
        lines = list(_model_lines(entry, rows))
        if not lines:
            page.add("Totals changed only (see the table).", "")
            continue
        budget = share - 120
        for what, items in lines:
            if not items:
                continue
            before = page.size
            _items(page, items, what, share=max(budget, 200))
            budget -= page.size - before
        page.add("")


def _model_lines(entry: dict[str, Any], rows: dict[Any, dict[str, Any]]) -> Iterable[tuple[str, list[str]]]:
    """A changed model's lists, in reading order: repeats, changed, added, removed and rewired layers."""
    repeats = [r for r in entry.get("repeats") or [] if isinstance(r, dict)]
    covered = {p for r in repeats for p in [*(r.get("layers_added") or []), *(r.get("layers_removed") or [])]}
    status = entry.get("status")
    if status:
        yield "status changes", [f"- status: {prose(status[0])} → {prose(status[1])}"]
    yield "repeats", [_repeat(r) for r in repeats]
    yield "changed layers", [_changed(c) for c in entry.get("layers_changed") or []]
    added = _outermost([p for p in entry.get("layers_added") or [] if p not in covered])
    removed = _outermost([p for p in entry.get("layers_removed") or [] if p not in covered])
    yield "added layers", [_added(p, rows.get(p), inside) for p, inside in added.items()]
    yield "removed layers", [f"- ➖ removed {code(p)}{_inside(inside)}" for p, inside in removed.items()]
    yield (
        "rewired blocks",
        [f"- 🔀 {code(k)}: fed by other layers than before" for k in entry.get("rewired") or []],
    )


def _repeat(r: dict[str, Any]) -> str:
    grew = (r.get("after") or 0) > (r.get("before") or 0)
    layers = len(r.get("layers_added") or []) if grew else len(r.get("layers_removed") or [])
    last = r.get("last_after") if grew else r.get("last_before")
    what = f" ({prose(r['class_name'])})" if r.get("class_name") else ""
    sign = "+" if grew else "−"
    return (
        f"- 🔁 {code(r.get('first'))} … {code(last)}{what}: **×{r.get('before')} → ×{r.get('after')}** "
        f"({sign}{_count(layers, 'layer')})"
    )


def _changed(c: dict[str, Any]) -> str:
    parts = []
    for field, pair in (c.get("changes") or {}).items():
        a, b = [*pair, None, None][:2] if isinstance(pair, list) else (None, None)
        if field == "params" and _number(a) and _number(b):
            parts.append(f"params {a:,} → {b:,}")
        else:
            parts.append(
                f"{prose(field.replace('_', ' '))} {code(_plain(a), limit=60)} → {code(_plain(b), limit=60)}"
            )
    return f"- ✏️ {code(c.get('name'))}: " + "; ".join(parts)


def _outermost(paths: list[Any]) -> dict[str, int]:
    """Each path whose parent is not in ``paths`` too, with the number of paths inside it.

    A nested model or block that was added is one entry, not one per layer inside it.
    """
    listed = {str(p) for p in paths}
    out: dict[str, int] = {}
    for path in map(str, paths):
        parts = path.split("/")
        outer = next(
            ("/".join(parts[:n]) for n in range(1, len(parts)) if "/".join(parts[:n]) in listed), None
        )
        if outer is None:
            out.setdefault(path, 0)
        else:
            out[outer] = out.get(outer, 0) + 1
    return out


def _inside(n: int) -> str:
    return f" (and {_count(n, 'layer')} inside)" if n else ""


def _added(path: str, row: dict[str, Any] | None, inside: int) -> str:
    if row is None:
        return f"- ➕ added {code(path)}{_inside(inside)}"
    params = row.get("params")
    count = f", {params:,} params" if _number(params) else ""
    layers = f", {_count(inside, 'layer')} inside" if inside else ""
    return f"- ➕ added {code(path)} ({prose(row.get('class_name', ''))}, out {code(row.get('output_shape', ''), limit=60)}{count}{layers})"


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "none" if value is None else str(value)


def _closing(left_out: int, data: dict[str, Any]) -> str:
    version = prose(data.get("archreport_version") or "")
    where = "report.html and report.json (`changes`) in the report folder, which CI keeps as an artifact"
    if left_out:
        return (
            f"<sub>{left_out:,} more entries were left out to keep this under GitHub's comment limit; "
            f"the full report is {where}. archreport {version}</sub>"
        )
    return f"<sub>The full report (diagrams, every layer) is {where}. archreport {version}</sub>"
