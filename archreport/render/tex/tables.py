"""summary.tex and <slug>-layers.tex: booktabs tables to \\input into a paper.

Numbers are set right-aligned with a thin space between groups of three digits
(``1\\,256\\,080``, as SI and ISO 80000 write them), in plain ``r`` columns: only
booktabs and longtable are needed, no siunitx, and a count reads the same in the
table as in the text (numbers.tex). Names, classes and shapes are in typewriter,
escaped by escape.mono, so every one of them is searchable in the paper's PDF.
"""

from __future__ import annotations

from archreport import units
from archreport.data import ModelReport, Report
from archreport.render.layer_rows import PrintedRow, printed_rows
from archreport.render.tex.escape import PREAMBLE, mono, text

_NEEDS = (
    "\\ifdefined\\toprule\\else\\PackageError{{archreport}}{{{file} needs \\protect\\usepackage{{booktabs}}"
    " in the preamble}}{{}}\\fi"
)


def grouped(value: int) -> str:
    """1256080 -> ``1\\,256\\,080``."""
    return f"{value:,}".replace(",", "\\,")


def _short(value: float | None, unit: str = "", lower_bound: bool = False) -> str:
    """13095520 -> ``13.1\\,M``: three significant digits and an SI prefix (KiB, MiB for bytes)."""
    if value is None:
        return "n/a"
    shown = units.nbytes(int(value)) if unit == "B" else units.si(value)
    return ("$\\geq$\\," if lower_bound else "") + shown.replace(" ", "\\,")


def _header(what: str, version: str) -> list[str]:
    made = f" by archreport {version}" if version else ""
    return [f"% {what}, written{made}. Do not edit: rerun archreport.", PREAMBLE]


def summary_tex(report: Report) -> str:
    """One booktabs tabular of every model: params, FLOPs, parameter memory, depth (no float, no caption)."""
    lines = [
        *_header("Every model of the report", report.versions.get("archreport", "")),
        "% Needs \\usepackage{booktabs}. Put it in a table float with your caption:",
        "%   \\begin{table}\\centering\\caption{...}\\input{summary.tex}\\end{table}",
        _NEEDS.format(file="summary.tex"),
        "\\begin{tabular}{@{}lrrrr@{}}",
        "\\toprule",
        "Model & Params & FLOPs & Param memory & Depth \\\\",
        "\\midrule",
    ]
    for m in report.models:
        t = m.totals
        if not m.ok or t is None:
            lines.append(f"{text(m.name)} & \\multicolumn{{4}}{{l@{{}}}}{{failed}} \\\\")
            continue
        cells = [
            text(m.name),
            _short(t.params),
            _short(t.flops, lower_bound=t.flops_lower_bound),
            _short(t.param_bytes, "B"),
            str(t.depth),
        ]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    batch = {m.totals.batch_size for m in report.models if m.totals is not None}
    if batch:
        at = "batch size " + ", ".join(str(b) for b in sorted(batch))
        lines.append(
            f"% FLOPs: one forward pass at {at}, 2 per multiply-add; M, G: powers of 1000; MiB: of 1024."
        )
    return "\n".join(lines) + "\n"


def _name_cell(row: PrintedRow) -> str:
    indent = f"\\hspace*{{{row.depth}em}}" if row.depth else ""
    if row.count > 1:  # a run of identical blocks: first--last, times how many
        return f"{indent}{mono(row.name)}--{mono(row.last)} ($\\times${row.count})"
    return indent + mono(row.name)


def layers_tex(model: ModelReport, *, nested: bool = False, version: str = "") -> str:
    """The model's layer table as a longtable with booktabs rules, top level unless ``nested``."""
    rows = printed_rows(model, nested=nested)
    which = "every layer, nested" if nested else "top-level layers"
    head = "Layer & Type & Output shape & Params & FLOPs \\\\"
    lines = [
        *_header(f"{' '.join(model.name.split())}: {which}", version),
        "% Needs \\usepackage{booktabs,longtable}. A longtable breaks across pages and is not a float;",
        "% for a caption, write \\caption{...}\\\\ in it or a line above it.",
        _NEEDS.format(file=f"{model.slug}-layers.tex"),
        "\\ifdefined\\longtable\\else\\PackageError{archreport}{"
        f"{model.slug}-layers.tex needs \\protect\\usepackage{{longtable}} in the preamble}}{{}}\\fi",
        "\\begin{longtable}{@{}lllrr@{}}",
        "\\toprule",
        head,
        "\\midrule",
        "\\endfirsthead",
        "\\toprule",
        head,
        "\\midrule",
        "\\endhead",
        "\\midrule",
        "\\multicolumn{5}{r@{}}{\\footnotesize continued on the next page} \\\\",
        "\\endfoot",
        "\\bottomrule",
        "\\endlastfoot",
    ]
    for row in rows:
        flops = grouped(row.flops) if row.flops is not None else ("n/a" if row.called else "not called")
        cells = [_name_cell(row), mono(row.class_name), mono(row.output_shape), grouped(row.params), flops]
        lines.append(" & ".join(cells) + " \\\\")
    t = model.totals
    if t is not None:
        flops = "n/a" if t.flops is None else ("$\\geq$\\," if t.flops_lower_bound else "") + grouped(t.flops)
        lines += ["\\midrule", f"Total ({t.layers} layers) & & & {grouped(t.params)} & {flops} \\\\"]
    lines.append("\\end{longtable}")
    return "\n".join(lines) + "\n"
