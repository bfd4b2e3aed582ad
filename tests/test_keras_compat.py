"""archreport.model.keras_compat, function by function: every Keras internal archreport relies on.

A Keras release that moves one of them fails exactly one test here, which names it.
The shape-only hooks need a process of Keras's numpy backend, so they run in one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest
from keras import layers

from archreport.model import keras_compat as kc
from tests.helpers import ROOT


def _functional() -> keras.Model:
    inputs = keras.Input((4,), name="x")
    hidden = layers.Dense(3, name="d1")(inputs)
    return keras.Model(inputs, layers.Dense(2, name="d2")(hidden + 1.0), name="f")


class _Sub(keras.Model):
    def __init__(self) -> None:
        super().__init__(name="sub")
        self.d = layers.Dense(2, name="d")

    def call(self, x):  # type: ignore[no-untyped-def]
        return self.d(x)


def test_model_kind_and_graphs() -> None:
    functional = _functional()
    sequential = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    sub = _Sub()
    sub.build((None, 4))
    assert [kc.model_kind(m) for m in (functional, sequential, sub)] == [
        "functional",
        "sequential",
        "subclassed",
    ]
    assert kc.is_graph_model(functional) and kc.is_graph_model(sequential) and not kc.is_graph_model(sub)
    assert not kc.is_graph_model(layers.Dense(2))
    assert kc.graph_of(functional) is functional and kc.graph_of(sub) is None
    assert kc.model_kind(kc.graph_of(sequential)) == "functional"


def test_graph_operations_include_inline_ops() -> None:
    names = [type(op).__name__ for op in kc.graph_operations(_functional())]
    assert names == ["InputLayer", "Dense", "Add", "Dense"]


def test_calls_nodes_and_producers() -> None:
    shared = layers.Dense(2, name="shared")
    a, b = keras.Input((2,)), keras.Input((2,))
    first = keras.Model(a, shared(a))
    keras.Model(b, shared(b))  # a second model calls the same layer
    assert len(kc.inbound_nodes(shared)) == 2
    assert kc.calls_in_graph(first, shared) == kc.inbound_nodes(shared)[:1]
    assert kc.node_in_graph(first, shared, 0) and not kc.node_in_graph(first, shared, 1)
    made_by = kc.producer(first.outputs[0])
    assert made_by is not None and made_by[0] is shared and made_by[1:] == (0, 0)
    input_layer = kc.producer(first.inputs[0])
    assert input_layer is not None and type(input_layer[0]).__name__ == "InputLayer"
    assert kc.producer(keras.KerasTensor((1, 2))) is None


def test_tracked_layers_and_their_attribute_names() -> None:
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    mha(keras.Input((3, 8)), keras.Input((3, 8)))
    tracked = kc.tracked_layers(mha)
    assert {type(t).__name__ for t in tracked} >= {"EinsumDense", "Softmax", "Dropout"}
    names = kc.tracked_attribute_names(mha)
    assert {"_query_dense", "_key_dense", "_value_dense", "_output_dense"} <= set(names.values())
    query, key, value, output = kc.attention_projections(mha)
    assert [names[id(x)] for x in (query, key, value, output)] == [
        "_query_dense",
        "_key_dense",
        "_value_dense",
        "_output_dense",
    ]
    assert kc.tracked_layers(object()) == []


def test_inputs_structure_and_build_shapes() -> None:
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    model = keras.Model({"a": a, "b": b}, layers.Concatenate()([a, b]))
    assert sorted(kc.inputs_structure(model)) == ["a", "b"]
    sub = _Sub()
    assert kc.build_input_shapes(sub) is None
    sub.build((None, 4))
    assert kc.build_input_shapes(sub) == [(None, 4)]
    assert kc.inputs_structure(sub) is None


def test_dtypes() -> None:
    assert [kc.dtype_bytes(d) for d in ("float32", "bfloat16", "float16", "int8", "bool", "int64")] == [
        4,
        2,
        2,
        1,
        1,
        8,
    ]
    assert kc.standardize_dtype(None) == "float32" and kc.standardize_dtype(float) == "float32"


def test_detached_nodes_leave_the_graph_as_it_was() -> None:
    dense = layers.Dense(2)
    keras.Model(inputs := keras.Input((4,)), dense(inputs))
    before = len(kc.inbound_nodes(dense))
    with kc.detached_nodes():
        dense(keras.KerasTensor((1, 4)))
    assert len(kc.inbound_nodes(dense)) == before
    dense(keras.KerasTensor((1, 4)))  # outside the block, Keras records the call as usual
    assert len(kc.inbound_nodes(dense)) == before + 1


def test_intercept_symbolic_calls_sees_layers_and_ops_and_records_no_node() -> None:
    model = _functional()
    seen: list[str] = []

    def on_layer(layer, args, kwargs, default):  # type: ignore[no-untyped-def]
        seen.append(layer.name)
        return layer.call(*args, **kwargs)

    def on_op(op, args, kwargs):  # type: ignore[no-untyped-def]
        seen.append(type(op).__name__)
        return op.compute_output_spec(*args, **kwargs)

    before = {id(op): len(kc.inbound_nodes(op)) for op in kc.graph_operations(model)}
    with kc.intercept_symbolic_calls(on_layer, on_op):
        model(keras.KerasTensor((1, 4)))
    assert seen[:2] == ["f", "ConvertToTensor"] and "d1" in seen and "Add" in seen and "Matmul" in seen
    assert before == {id(op): len(kc.inbound_nodes(op)) for op in kc.graph_operations(model)}


class _UserDense(layers.Layer):
    """A user's layer that shares a Keras layer's name: no rule may count it as that layer."""

    def call(self, x):  # type: ignore[no-untyped-def]
        return x


_UserDense.__name__ = "Dense"


class _UserOp(keras.Operation):
    def compute_output_spec(self, x):  # type: ignore[no-untyped-def]
        return x


_UserOp.__name__ = "Einsum"


def _ops_seen(fn, shapes):  # type: ignore[no-untyped-def]
    """Every op a call of ``fn`` on symbolic inputs runs, and what each traced op returned."""
    seen: list[tuple[object, object]] = []

    def on_layer(layer, args, kwargs, default):  # type: ignore[no-untyped-def]
        return layer.call(*args, **kwargs)

    def on_op(op, args, kwargs):  # type: ignore[no-untyped-def]
        outputs = kc.op_output_spec(op, args, kwargs)
        seen.append((op, outputs))
        return outputs

    with kc.intercept_symbolic_calls(on_layer, on_op):
        fn(*(keras.KerasTensor(s) for s in shapes))
    return seen


def test_keras_class_names_only_keras_own_ops_and_layers() -> None:
    def fn(q, k, v):  # type: ignore[no-untyped-def]
        scores = keras.ops.softmax(keras.ops.einsum("bthd,bshd->bhts", q, k))
        return (
            keras.ops.silu(scores),
            keras.ops.dot_product_attention(q, k, v),
            keras.ops.matmul(scores, keras.ops.transpose(v, (0, 2, 1, 3))),
        )

    seen = _ops_seen(fn, [(1, 5, 2, 4), (1, 7, 2, 4), (1, 7, 2, 3)])
    names = {kc.keras_class(op) for op, _ in seen}
    assert {("op", "Einsum"), ("op", "Softmax"), ("op", "Silu"), ("op", "DotProductAttention")} <= names
    assert ("op", "Matmul") in names
    assert kc.keras_class(layers.Dense(2)) == ("layer", "Dense")
    assert kc.keras_class(layers.MultiHeadAttention(2, 4)) == ("layer", "MultiHeadAttention")
    assert kc.keras_class(_UserDense()) is None
    assert kc.keras_class(_UserOp()) is None
    assert kc.keras_class(object()) is None


def test_every_flops_rule_names_a_class_keras_defines() -> None:
    """A rule keyed by a name Keras no longer uses would silently count nothing: name it here."""
    from keras.src.ops.operation import Operation

    from archreport.model import flops

    defined: dict[str, set[str]] = {"op": set(), "layer": set()}
    for module in list(sys.modules.values()):
        for value in list(vars(module).values()) if module is not None else []:
            if isinstance(value, type) and issubclass(value, Operation):
                family = kc.keras_class(value)
                if family is not None:
                    defined[family[0]].add(family[1])
    assert sorted(set(flops.OP_RULES) - defined["op"]) == []
    assert sorted(set(flops._COUNTERS) - defined["layer"]) == []


def test_op_output_spec_gives_attention_the_value_head_size() -> None:
    # Keras 3.15's own spec gives attention x V the query's head size (4); the value's is 3.
    [(op, output)] = _ops_seen(keras.ops.dot_product_attention, [(1, 5, 2, 4), (1, 7, 2, 4), (1, 7, 2, 3)])
    assert kc.keras_class(op) == ("op", "DotProductAttention")
    assert tuple(output.shape) == (1, 5, 2, 3) and output.dtype == "float32"
    [(_, same)] = _ops_seen(keras.ops.dot_product_attention, [(1, 5, 2, 4), (1, 7, 2, 4), (1, 7, 2, 4)])
    assert tuple(same.shape) == (1, 5, 2, 4)


def test_symbolic_weights_make_ops_on_weights_symbolic_and_restore_everything() -> None:
    dense = layers.Dense(2)
    dense.build((None, 3))
    with kc.symbolic_weights():
        value = dense.kernel.value
        assert kc.is_symbolic(value) and tuple(value.shape) == (3, 2)
        assert kc.is_symbolic(keras.ops.reshape(dense.kernel, (6,)))  # an op on a weight runs symbolically
        assert kc.is_symbolic(-dense.kernel)
        [converted] = kc.weights_as_symbolic([dense.kernel])
        assert kc.is_symbolic(converted)
    assert not kc.is_symbolic(dense.kernel.value)
    assert not kc.is_symbolic(keras.ops.reshape(dense.kernel, (6,)))


def test_symbolic_tensor() -> None:
    t = kc.symbolic_tensor((1, 2), "int32", name="t")
    assert kc.is_symbolic(t) and tuple(t.shape) == (1, 2) and t.dtype == "int32"


def test_model_from_architecture_honours_safe_mode() -> None:
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    rebuilt = kc.model_from_architecture("json", model.to_json(), safe_mode=True)
    assert rebuilt.count_params() == model.count_params()
    config = json.loads(model.to_json())
    assert kc.model_from_architecture("keras", json.dumps(config), safe_mode=True).count_params() == 10
    lam = keras.Sequential([keras.Input((4,)), layers.Lambda(lambda x: x * 2)])
    with pytest.raises(ValueError, match="safe_mode"):
        kc.model_from_architecture("json", lam.to_json(), safe_mode=True)


SHAPE_ONLY = textwrap.dedent("""
    import json, numpy as np, jax, keras
    from keras import ops
    from archreport.model import keras_compat as kc
    kc.enable_shape_only()

    class Stochastic(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # A constructor computing on constants (Swin's drop-path rates): needs their values.
            self.rates = [float(x) for x in ops.linspace(0.0, 0.1, 3)]

    def build():
        inputs = keras.Input((50_000,))
        Stochastic()
        return keras.Model(inputs, keras.layers.Dense(50_000)(inputs))  # 10 GB of float32 weights

    model = kc.build_shape_only(build)
    kernel = model.layers[-1].kernel
    seen = jax.eval_shape(lambda: kernel.value)
    with kc.watching_weight_reads("/nowhere") as reads:
        values = kernel.numpy()  # read here, outside the watched folder: not the builder's
    out = {
        "params": model.count_params(), "held": kernel._value is None,
        "traced": [list(seen.shape), str(seen.dtype)],
        "strides": list(values.strides), "stand_in": type(kernel.__array__()).__name__ == "ShapeOnlyArray",
        "zero": float(values.view(np.ndarray).max()), "outside": list(reads.names),
        # VmHWM, not ru_maxrss: that starts from the test process's peak, carried over exec.
        "rss_gb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]) / 2**20,
    }
    print(json.dumps(out))
""")


def test_enable_shape_only_builds_without_weight_values() -> None:
    """A 10 GB Dense builds holding no weight: read in a JAX trace it is abstract, read as NumPy a
    zero-stride view; a constructor that computes on constants gets their values."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [sys.executable, "-c", SHAPE_ONLY], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("rss_gb") < 1.5
    assert out == {
        "params": 50_000 * 50_000 + 50_000, "held": True, "traced": [[50_000, 50_000], "float32"],
        "strides": [0, 0], "stand_in": True, "zero": 0.0, "outside": [],
    }  # fmt: skip


def test_enable_shape_only_refuses_another_backend() -> None:
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
        kc.enable_shape_only()
