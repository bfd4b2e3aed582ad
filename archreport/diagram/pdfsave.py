"""Reading and writing PDF bytes with pikepdf (qpdf), deterministically.

Graphviz's diagram.pdf files are saved through here, and so are the report's
sections and report.pdf (render/pdf/): the same bytes from the same inputs.
"""

from __future__ import annotations

import io

import pikepdf


def open_pdf(data: bytes) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(data))


def save_pdf(pdf: pikepdf.Pdf, *, final: bool) -> bytes:
    """Serialise ``pdf``; ``final`` packs objects into object streams (smaller, a little slower).

    The /ID is a digest of the content (qpdf's deterministic id), so the same inputs
    give the same bytes, as SOURCE_DATE_EPOCH promises.
    """
    out = io.BytesIO()
    pdf.save(
        out,
        deterministic_id=True,
        object_stream_mode=pikepdf.ObjectStreamMode.generate if final else pikepdf.ObjectStreamMode.preserve,
        compress_streams=True,
        recompress_flate=False,
    )
    return out.getvalue()
