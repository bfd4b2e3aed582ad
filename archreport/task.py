"""One model's work as a runner hands it to a worker (:class:`Task`), and what comes back (:class:`TaskResult`).

A :class:`Task` carries everything the work needs, so it can run in a local
worker process or on another machine: the model's spec, its sources' contents
(manifest/sources.py), the backend to build with, and its limits. The worker
runs it with :func:`archreport.model.job.execute`, which returns a
:class:`TaskResult` holding plain data and the files it wrote, as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archreport.data import ModelReport
from archreport.manifest import ModelSpec, schema
from archreport.manifest.sources import Architecture, SourceFile

# What can build a task: every backend the manifest may name but "auto", which the runner resolves
# to shape-only first and to TensorFlow when that cannot build the model.
BACKENDS = tuple(b for b in schema.BACKENDS if b != "auto")
# Shape-only builds run on Keras's JAX backend, abstractly (model/keras_compat.py: enable_shape_only).
KERAS_BACKEND = {"shape-only": "jax", "tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@dataclass(frozen=True)
class Render:
    """Which report sections the worker renders for its model (a PDF section needs the page size)."""

    page_size: str = "A4"
    html: bool = True
    pdf: bool = True
    profile: str = "full"  # the PDF's: "full" or "compact" (no tiles, the top-level layer table)


@dataclass(frozen=True)
class Task:
    spec: ModelSpec
    backend: str = "shape-only"  # what builds it: one of BACKENDS
    files: tuple[SourceFile, ...] = ()  # builder modules, relative to the manifest's folder
    architecture: Architecture | None = None  # a model file's architecture
    fallback_reason: str | None = None  # set when "auto" retries a model for real: why shape-only failed
    param_bytes: int | None = None  # weight memory a real build will allocate, when shape-only learnt it
    timeout: float = 600.0
    memory_limit: int | None = None  # bytes; None: the runner's default
    render: Render | None = None  # the report sections to render in the worker, beside the analysis
    # A core of the machine it runs on would sit idle meanwhile (the local runner has fewer
    # workers than cores): Graphviz may lay out a fallback there (diagram.layout).
    spare_core: bool = False

    @property
    def isolated(self) -> bool:
        """Whether the task needs a process of its own (a model that opted out of safe mode)."""
        return self.spec.trust


@dataclass
class TaskResult:
    report: ModelReport | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # relative to models/<slug>/
    # Set when a shape-only build could not run this model and "auto" should build it for real.
    fallback: str | None = None
    param_bytes: int | None = None
    # Set by the runner (archreport.runners), not by execute(): a failure comes back as data, never as an
    # exception a distributed engine would retry.
    error: str | None = None  # why the model failed: raised, crashed, timed out, out of memory, refused
    details: str = ""  # a traceback or the worker's last output, shown with -v
    versions: dict[str, str] = field(default_factory=dict)  # fingerprint.runtime() where it ran
    ran_on: str = ""  # where it ran, for messages: "this machine", a Dask worker's host and address
