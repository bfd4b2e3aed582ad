"""Mixture-of-experts layers: what the graph executes, and what a top-k inference computes.

keras-hub's Mixtral, Qwen-MoE, Qwen3-MoE and gpt-oss blocks run every expert on
every token (one batched einsum over an expert axis) and then multiply by a
routing matrix that is zero outside each token's top k. The FLOPs the traced
graph executes are therefore those of a dense model; an inference that computes
only the chosen experts does k/E of the per-expert work. People quote MoE models
by that active cost, and by their active parameters.

A routed layer is one that declares how many experts it has and how many each
token uses (``num_experts`` and ``top_k``, or the other spellings below), and
that holds expert weights: weights whose first dimension is the number of
experts. Within it, an op is per-expert when it reads an expert weight or a
per-expert tensor (one whose first dimension is the expert axis, made by a
per-expert op); the sum over experts at the end is per-expert too. Per-expert
work scales by k/E; the router, normalisations and the rest do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archreport.model.memory import steps
from archreport.model.trace import Call

EXPERTS = ("num_experts", "num_local_experts", "n_experts", "n_routed_experts")
CHOSEN = ("top_k", "num_experts_per_tok", "experts_per_token", "num_selected_experts")


@dataclass
class Routed:
    """One routed layer's call: its experts, and the executed FLOPs of its per-expert ops."""

    call: Call
    experts: int
    chosen: int
    expert_params: int
    per_expert: dict[int, int] = field(default_factory=dict)  # id(op call) -> executed FLOPs

    @property
    def share(self) -> float:
        """The share of per-expert work a top-k inference does."""
        return self.chosen / self.experts


def _declared(obj: Any, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _routing(obj: Any) -> tuple[int, int] | None:
    experts, chosen = _declared(obj, EXPERTS), _declared(obj, CHOSEN)
    if experts is None or chosen is None or chosen >= experts:
        return None
    return experts, chosen


def _expert_weights(layer: Any, experts: int) -> list[Any]:
    weights = {id(w): w for w in getattr(layer, "weights", [])}.values()
    return [w for w in weights if len(w.shape) >= 2 and w.shape[0] == experts]


def find(root: Call, flops_of: Any) -> list[Routed]:
    """Every routed layer's call under ``root`` (the innermost that declares routing), with the
    executed FLOPs of its per-expert ops. ``flops_of(call)`` counts one op call (None: unknown)."""
    found: list[Routed] = []

    def routes(call: Call) -> tuple[int, int, list[Any]] | None:
        """The layer's routing and expert weights, when it declares one and holds the other."""
        routing = _routing(call.obj) if call.kind == "layer" else None
        if routing is None:
            return None
        weights = _expert_weights(call.obj, routing[0])
        return (*routing, weights) if weights else None

    def visit(call: Call) -> None:
        here = routes(call)
        # The innermost such layer: a decoder block declares its experts too, and so may a
        # router (gpt-oss's), which holds no expert weights.
        if here is not None and not any(routes(c) for c in call.walk() if c is not call):
            experts, chosen, weights = here
            found.append(_routed(call, experts, chosen, weights, flops_of))
            return
        for child in call.children:
            if child.kind == "layer":
                visit(child)

    visit(root)
    return found


def _routed(call: Call, experts: int, chosen: int, weights: list[Any], flops_of: Any) -> Routed:
    expert_ids = {id(w) for w in weights}
    routed = Routed(call, experts, chosen, sum(_count(w.shape) for w in weights))
    per_expert: set[int] = set()  # ids of per-expert tensors
    for step in steps(call):
        reads_experts = any(id(w) in expert_ids for w in step.weights) or any(
            id(t) in per_expert for t in step.in_tensors
        )
        if not reads_experts:
            continue
        routed.per_expert[id(step)] = flops_of(step) or 0
        for tensor, shape in zip(step.out_tensors, step.outputs, strict=False):
            if shape and shape[0] == experts:
                per_expert.add(id(tensor))
    return routed


def _count(shape: Any) -> int:
    total = 1
    for d in shape:
        total *= int(d)
    return total


def saved_flops(routed: list[Routed]) -> dict[int, int]:
    """id(op call) -> the FLOPs a top-k inference does not do of that op."""
    return {key: value - round(value * r.share) for r in routed for key, value in r.per_expert.items()}


def inactive_params(routed: list[Routed]) -> int:
    """Parameters a top-k inference does not use: each routed layer's unchosen share of its experts."""
    return sum(r.expert_params - round(r.expert_params * r.share) for r in routed)
