"""Stage 1, the manifest: read and check the TOML file (schema.py declares it), and read each model's sources.

Nothing here imports Keras. The loader's names are this package's API.
"""

from archreport.manifest.loader import (
    DIAGRAM_KEYS,
    EXPECT_KEYS,
    MODEL_KEYS,
    PDF_PROFILES,
    REPORT_FORMATS,
    REPORT_KEYS,
    TOP_KEYS,
    Manifest,
    ModelSpec,
    TexTable,
    application_names,
    key_text,
    load,
    slugify,
    unique_slugs,
)

__all__ = [
    "DIAGRAM_KEYS", "EXPECT_KEYS", "MODEL_KEYS", "PDF_PROFILES", "REPORT_FORMATS", "REPORT_KEYS", "TOP_KEYS",
    "Manifest", "ModelSpec", "TexTable", "application_names", "key_text", "load", "slugify", "unique_slugs",
]  # fmt: skip
