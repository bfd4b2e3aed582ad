"""What the parent accepts of a model's result, from a worker or from the cache (issue 25, item 2).

A worker is not a trusted part of the parent: a local one parses untrusted model
files (h5py, zip), and a cluster worker is another machine. What comes back is
written under ``models/<slug>/`` and read again to assemble the report, so before
anything is written the parent checks it: every file name is one of the few names
archreport writes for that model (never ``../x`` or ``/etc/x``), each file is of
a bounded size, the report sections are what they claim to be (gzip of UTF-8
text that inflates to a bounded size, a PDF), the report's data has the types the report needs, and its diagrams point
at its own files. A result that fails is that model's failure; a cache entry
that fails is a miss.

These checks bound what a wrong result can make the parent do; code running in a
worker already runs as the user (docs/security.md).
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Mapping

from archreport.data import SECTION_FILES, SECTIONS, DiagramInfo, ModelReport
from archreport.manifest import ModelSpec

# A diagram of a few thousand layers is a few MB; a section, its diagram's tiles and table. The
# packed HTML section is held to the same size once inflated: the page's script inflates it.
MAX_FILE_BYTES = 256 * 2**20
OVERVIEW = "overview"
OVERVIEW_FORMATS = ("svg", "pdf")  # what model/job.py draws a block overview in
SECTION_HTML, SECTION_PDF = f"{SECTIONS}/{SECTION_FILES['html']}", f"{SECTIONS}/{SECTION_FILES['pdf']}"
_CHUNK = 1 << 20


def expected_files(spec: ModelSpec) -> frozenset[str]:
    """Every file name a result for ``spec`` may hold, relative to ``models/<slug>/``."""
    names = {"diagram.dot", *(f"diagram.{fmt}" for fmt in spec.diagram_formats)}
    names |= {f"{OVERVIEW}/diagram.dot", *(f"{OVERVIEW}/diagram.{fmt}" for fmt in OVERVIEW_FORMATS)}
    return frozenset({*names, SECTION_HTML, SECTION_PDF})


def refusal(spec: ModelSpec, report: ModelReport, files: Mapping[str, bytes]) -> str | None:
    """Why a result for ``spec`` cannot be used (one sentence), or None when it can."""
    expected = expected_files(spec)
    for name, data in files.items():
        if not isinstance(name, str) or name not in expected:
            return (
                f"it holds a file named {name!r}, which is not one archreport writes for a model "
                f"(expected {', '.join(sorted(expected))})"
            )
        if not isinstance(data, bytes):
            return f"its file {name} is {type(data).__name__}, not bytes"
        if len(data) > MAX_FILE_BYTES:
            return f"its file {name} is {len(data):,} bytes, over the limit of {MAX_FILE_BYTES // 2**20} MiB"
    html = files.get(SECTION_HTML)
    if html is not None and (problem := _packed_text_problem(html)) is not None:
        return f"its {SECTION_HTML} {problem}"
    pdf = files.get(SECTION_PDF)
    if pdf is not None and not pdf.startswith(b"%PDF-"):
        return f"its {SECTION_PDF} is not a PDF"
    if report.slug != spec.slug:
        return f"its report is for the model folder {report.slug!r}, not {spec.slug!r}"
    for folder, info in (("", report.diagram), (f"{OVERVIEW}/", report.overview)):
        for fmt, path in _diagram_files(info).items():
            name = f"{folder}diagram.{fmt}"
            if path != f"models/{spec.slug}/{name}" or name not in files:
                return f"its diagram's {fmt} file is {path!r}, not one of the files it holds"
    return None


def _packed_text_problem(data: bytes) -> str | None:
    """Why ``data`` is not one gzip member of UTF-8 text within ``MAX_FILE_BYTES`` (inflated in
    chunks, so a gzip bomb stops at the limit), or None."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = codecs.getincrementaldecoder("utf-8")()
    size = 0
    try:
        while not inflate.eof:
            chunk = inflate.decompress(data, _CHUNK)
            data = inflate.unconsumed_tail
            if not chunk and not data:
                break  # cut short
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                return f"inflates to over {MAX_FILE_BYTES // 2**20} MiB"
            text.decode(chunk)
        text.decode(b"", final=True)
    except zlib.error:
        return "is not gzip"
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    if not inflate.eof or inflate.unused_data:
        return "is not one whole gzip member"
    return None


def _diagram_files(info: DiagramInfo | None) -> dict[str, str]:
    return {} if info is None else info.files


def validated(report: ModelReport) -> ModelReport:
    """``report`` as the cache would give it back: every field of the type the report needs.

    Raises:
        ValueError: a field is not (pydantic's ValidationError is a ValueError).
    """
    return ModelReport.from_dict(report.to_dict())


__all__ = ["MAX_FILE_BYTES", "expected_files", "refusal", "validated"]
