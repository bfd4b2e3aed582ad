"""The plain data that flows between stages.

Keras objects never leave the worker: everything downstream (templates, JSON,
CSV, the cache, comparisons) sees only these dataclasses. A worker process
hands them back to the parent pickled; the cache and report.json hold them as
JSON.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

# A model's rendered report sections, in its folder beside its diagrams: cached with them, and
# left out of the report folder once report.html and report.pdf are assembled.
SECTIONS = ".sections"
# Their files in that folder, by format: the HTML fragment packed as report.html stores it (gzip), the PDF section.
SECTION_FILES = {"html": "section.html.gz", "pdf": "section.pdf"}


@dataclass(frozen=True)
class OpRow:
    """One ``keras.ops`` operation a layer's own ``call`` ran (not inside a sub-layer)."""

    name: str  # the op as keras.ops spells it: "einsum", "softmax", "add"
    input_shapes: list[str]
    output_shape: str
    flops: int | None  # None: no rule for this op


@dataclass(frozen=True)
class LayerRow:
    """One row of a model's layer table (a layer, or a nested model, at some depth)."""

    index: int
    name: str
    class_name: str
    depth: int
    parent: str | None
    input_shapes: list[str]
    output_shape: str  # as Keras's summary writes it, e.g. "(None, 28, 28, 20)"
    params: int
    trainable_params: int
    non_trainable_params: int
    trainable: bool
    dtype: str
    kernel: str | None = None  # "5x5"
    strides: str | None = None  # "1x1"
    activation: str | None = None
    flops: int | None = None  # None: the counter does not know this layer type
    activation_bytes: int | None = None
    connected_to: list[str] = field(default_factory=list)
    param_percent: float = 0.0
    has_children: bool = False
    counted_in_parent: bool = False  # below a layer (not a nested model): its FLOPs are also in its parent's
    anchor: str = ""  # HTML id of this row; diagram nodes link here
    path: str = ""  # layer names from the top model down, joined by "/" (unique, unlike names)
    called: bool = True  # False: a tracked sub-layer the traced pass never called (no shape, no FLOPs)
    ops: list[OpRow] = field(default_factory=list)  # the ops this layer's own call ran
    flops_note: str | None = None  # why FLOPs are unknown
    kv_cache_bytes_per_token: int | None = None  # attention layers: keys and values cached per token
    active_flops: int | None = None  # inside a mixture-of-experts layer: what a top-k inference computes
    live_at_peak_bytes: int | None = None  # its tensors still held when the inference peak occurs


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    flops: int | None
    flops_lower_bound: bool
    macs: int | None
    activation_bytes: int  # every tensor the traced pass made (analyse._Rows.call_memory), not the rows' sum
    input_bytes: int
    inference_bytes: int
    layers: int
    depth: int
    batch_size: int = 1  # FLOPs and activation memory are at this batch size
    training_bytes: int = 0  # Adam: 16 bytes per float32 trainable parameter, plus activations
    training_bytes_mixed: int = 0  # the same with half-precision activations (mixed_float16)
    flops_per_token: float | None = None  # sequence models: FLOPs / (batch size x sequence length)
    kv_cache_bytes_per_token: int | None = None  # sum over attention layers
    param_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    # The memory figures computed from shapes (MEMORY_FIGURES) may be too low: an input has open
    # dimensions (computed as 1), or some call could not be traced (only its outputs count).
    memory_lower_bound: bool = False
    # Mixture-of-experts models: the FLOPs and parameters of a top-k inference (None: not routed).
    active_flops: int | None = None
    active_params: int | None = None
    # The share of the FLOPs (estimated) and of the called layers that a rule counted exactly.
    flops_coverage: float = 1.0
    layer_coverage: float = 1.0
    # Inference by liveness: parameters + inputs + the most activation memory held at once (peak).
    inference_peak_bytes: int | None = None
    peak_activation_bytes: int | None = None
    peak_layer: str | None = None  # the layer (path) running when the peak occurs
    kv_cache_bytes: int | None = None  # keys and values of every token traced (batch x length)
    # The inference peak per precision ("float32", "bfloat16", "int8 weights"), KV cache included.
    inference_by_precision: dict[str, int] = field(default_factory=dict)


# The Totals figures each lower-bound flag covers. Parameter counts and parameter bytes are exact.
FLOPS_FIGURES = frozenset({"flops", "macs", "flops_per_token", "active_flops"})
MEMORY_FIGURES = frozenset(
    {"activation_bytes", "input_bytes", "inference_bytes", "training_bytes", "training_bytes_mixed",
     "inference_peak_bytes", "peak_activation_bytes", "kv_cache_bytes"}
)  # fmt: skip


@dataclass(frozen=True)
class BlockNode:
    """One step inside a repeated block, in the order it ran: a sub-layer, an op, or the block's input/output."""

    name: str
    kind: str  # "input" | "output" | "layer" | "op"
    class_name: str
    output_shape: str
    flops: int | None
    anchor: str | None = None  # the sub-layer's row in the first block


@dataclass(frozen=True)
class RepeatedBlock:
    """A run of identical blocks (a transformer's N layers): the first one's inside, drawn once, times N."""

    parent: str | None  # the row path the blocks sit in (None: the model's top level)
    names: list[str]  # every block of the run, in order
    class_name: str
    params_each: int
    flops_each: int | None
    anchor: str  # the first block's row
    nodes: list[BlockNode] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)  # data flow between nodes, by index

    @property
    def count(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class SweepPoint:
    """The model's cost at one batch size and sequence length of a ``[model.sweep]``."""

    batch_size: int
    sequence_length: int | None  # None: the model has no open sequence dimension
    flops: int | None
    active_flops: int | None  # mixture-of-experts models only
    flops_lower_bound: bool
    activation_bytes: int  # every tensor the pass makes: what training keeps
    kv_cache_bytes: int | None
    inference_peak_bytes: int | None  # by liveness, at the dtypes built, KV cache included
    inference_peak_bytes_bfloat16: int | None  # 16-bit float weights and activations
    training_bytes: int  # Adam, float32
    training_bytes_mixed: int  # Adam, float32 variables and 16-bit activations


@dataclass(frozen=True)
class DiagramInfo:
    mode: str | None  # splines mode that worked; None when no diagram could be drawn
    attempts: list[str]
    width_pt: float
    height_pt: float
    files: dict[str, str]  # format -> path relative to the report folder
    note: str | None = None


@dataclass(frozen=True)
class Expectation:
    """One declared assumption checked against the analysis."""

    key: str  # the manifest's key path below [model.expect]: "params", "layers.flatten.output_shape"
    expected: Any  # as the manifest wrote it (a tolerance as {"value", "rel_tol", "abs_tol"})
    actual: Any
    ok: bool  # held, or unknown and accepted (accept_lower_bound = true)
    # "held" | "violated" | "unknown": a FLOPs lower bound can prove a limit broken, never kept.
    status: str = "held"
    message: str = ""  # one sentence: what was expected, what was found
    layer: str | None = None  # the layer name or path a per-layer expectation names
    anchor: str | None = None  # that layer's row (LayerRow.anchor), for the HTML to highlight


@dataclass
class ModelReport:
    """Everything the report shows about one model."""

    name: str
    slug: str
    source: dict[str, Any]
    description: str | None
    status: str  # "ok" | "failed"
    error: str | None = None
    totals: Totals | None = None
    layers: list[LayerRow] = field(default_factory=list)
    input_shapes: list[str] = field(default_factory=list)
    output_shapes: list[str] = field(default_factory=list)
    diagram: DiagramInfo | None = None
    overview: DiagramInfo | None = None  # block overview of a large model
    warnings: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    cached: bool = False
    kind: str = "functional"  # functional | sequential | subclassed
    backend: str = ""  # what built it: "shape-only", "tensorflow", "jax", "torch"
    backend_note: str | None = None  # why it was not built shape-only, when auto fell back
    repeated_blocks: list[RepeatedBlock] = field(default_factory=list)
    sweep: list[SweepPoint] = field(default_factory=list)  # [model.sweep]'s points, in order
    details: str = ""  # a failed worker's traceback or last output: shown with -v, not in the report

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists, field by field as ``dataclasses.asdict`` gives them.

        pydantic's serializer (compiled) does it about ten times faster than ``asdict``, which
        deep-copies every value of every layer row: 40 ms of a warm re-run of six models
        (issue 13). ``warnings=False``: a value that is not of its field's type is written as
        it is, as ``asdict`` would, not warned about.
        """
        data: dict[str, Any] = _report_adapter().dump_python(self, warnings=False)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelReport:
        """The report back from ``to_dict`` (the cache's JSON), nested dataclasses and all."""
        report: ModelReport = _report_adapter().validate_python(data)
        return report


@dataclass
class Report:
    title: str
    generated: str  # ISO 8601, UTC
    versions: dict[str, str]
    models: list[ModelReport]
    page_size: str = "A4"
    changes: dict[str, Any] | None = None  # --compare result
    timings: dict[str, float] = field(default_factory=dict)  # report-wide stages (render_html, ...)
    wall_time: float = 0.0
    output_dir: str = ""
    pdf_profile: str = "full"  # "full" or "compact" (issue 29)

    @property
    def failed(self) -> list[ModelReport]:
        return [m for m in self.models if not m.ok]

    @property
    def expectation_failures(self) -> list[tuple[ModelReport, Expectation]]:
        return [(m, e) for m in self.models for e in m.expectations if not e.ok]


@functools.cache
def _report_adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(ModelReport)
