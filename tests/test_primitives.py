"""FLOPs of JAX primitives as an abstract trace counts them, against XLA's own count or an analytic one.

XLA's ``cost_analysis`` of the same function is the reference where it counts the same work;
where its CPU lowering does other work (a ragged matmul becomes one dense matmul per group),
the test writes the count out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from archreport.model import primitives  # noqa: E402


def spec(*shape: int, dtype: str = "float32") -> Any:
    return jax.ShapeDtypeStruct(shape, dtype)


def counted(fn: Callable[..., Any], *args: Any) -> tuple[int, int, dict[str, None]]:
    """(FLOPs counted, output elements left uncounted, primitives without a rule) of ``fn``."""
    costs = primitives.costs(jax.make_jaxpr(fn)(*args))
    unknown: dict[str, None] = {}
    for cost in costs.values():
        unknown.update(cost.unknown)
    return sum(c.flops for c in costs.values()), sum(c.uncounted for c in costs.values()), unknown


def xla(fn: Callable[..., Any], *args: Any) -> int:
    return int(jax.jit(fn).trace(*args).lower().cost_analysis()["flops"])


CASES = {
    "matmul": (lambda a, b: a @ b, (spec(4, 32, 64), spec(64, 16))),
    "conv": (
        lambda x, k: jax.lax.conv_general_dilated(
            x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        ),
        (spec(1, 12, 12, 3), spec(3, 3, 3, 8)),
    ),
    "elementwise": (lambda a, b: (a + b) * a - b / a, (spec(8, 8), spec(8, 8))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_primitive_is_counted_as_xla_counts_it(name: str) -> None:
    fn, args = CASES[name]
    flops, uncounted, unknown = counted(fn, *args)
    assert (uncounted, unknown) == (0, {})
    assert flops == xla(fn, *args)


def test_a_sum_counts_one_per_input_element() -> None:
    # TensorFlow's profiler's convention; XLA counts n - 1 additions per reduced row.
    fn = lambda a: jnp.sum(a, axis=-1)  # noqa: E731
    assert counted(fn, spec(16, 32)) == (16 * 32, 0, {})
    assert xla(fn, spec(16, 32)) == 16 * 31


def test_a_loop_counts_its_body_once_per_iteration() -> None:
    # XLA's cost analysis counts a loop's body once, whatever its trip count.
    step = 2 * 4 * 8 * 8

    def scan(c: Any, xs: Any) -> Any:
        return jax.lax.scan(lambda c, x: (c @ x, None), c, xs)[0]

    def fori(x: Any, w: Any) -> Any:
        return jax.lax.fori_loop(0, 7, lambda i, x: x @ w, x)

    assert counted(scan, spec(4, 8), spec(5, 8, 8)) == (5 * step, 0, {})
    # A fori_loop with literal bounds is a while loop: its counter's addition runs each time too.
    assert counted(fori, spec(4, 8), spec(8, 8)) == (7 * step + 7, 0, {})
    assert xla(fori, spec(4, 8), spec(8, 8)) == step + 2


def test_stacking_and_tiling_move_data_and_count_nothing() -> None:
    def fn(a: Any, b: Any) -> Any:
        return jnp.tile(jnp.stack([a, b]), (2, 1, 1))

    assert counted(fn, spec(3, 4), spec(3, 4)) == (0, 0, {})


def test_the_costliest_branch_of_a_cond_is_counted() -> None:
    def fn(p: Any, a: Any) -> Any:
        return jax.lax.cond(p, lambda a: a @ a, lambda a: a + 1.0, a)

    assert counted(fn, spec(dtype="bool"), spec(6, 6))[0] == 2 * 6 * 6 * 6


def test_a_ragged_matmul_counts_each_row_against_its_own_group_only() -> None:
    # 12 routed tokens of width 8, 3 experts of 8 -> 5: each token meets one expert's matrix.
    # XLA's CPU lowering multiplies every token by every expert (3x as much, and more).
    def fn(x: Any, w: Any, groups: Any) -> Any:
        return jax.lax.ragged_dot(x, w, groups)

    args = (spec(12, 8), spec(3, 8, 5), spec(3, dtype="int32"))
    flops, uncounted, _ = counted(fn, *args)
    assert (flops, uncounted) == (2 * 12 * 8 * 5, 0)
    assert xla(fn, *args) >= 3 * flops


def test_an_fft_counts_five_n_log_n_per_transform() -> None:
    def fn(x: Any) -> Any:
        return jnp.fft.fft(x, axis=-1)

    flops, uncounted, _ = counted(fn, spec(6, 64, dtype="complex64"))
    assert (flops, uncounted) == (6 * 5 * 64 * math.log2(64), 0)


def test_a_primitive_without_a_rule_is_named_and_its_outputs_kept_as_the_gap() -> None:
    def fn(a: Any) -> Any:
        return jnp.linalg.cholesky(a @ a.T) + a

    flops, uncounted, unknown = counted(fn, spec(5, 5))
    assert "cholesky" in unknown and uncounted >= 25
    assert flops >= 2 * 5 * 5 * 5 + 25
