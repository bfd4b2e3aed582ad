"""Reference FLOPs from TensorFlow's (v1) graph profiler, for tests.

The model is traced at batch size 1, its variables frozen into constants, and
the resulting GraphDef handed to ``tf.compat.v1.profiler`` with the
``float_operation`` options. Only ops that have a registered "flops"
statistic are counted (see ``tensorflow/python/profiler/internal/
flops_registry.py`` and ``tensorflow/python/ops/nn_ops.py``); everything else
(e.g. Relu, Sigmoid, Tanh, FusedBatchNormV3, Conv3DBackpropInputV2) is 0.
"""

from __future__ import annotations

from typing import Any


def _profile(model: Any, shapes: list[tuple[int, ...]] | None = None) -> Any:
    """Run the TF profiler's float-op count on ``model``'s frozen graph at
    batch size 1 (inputs of these shapes, batch included, when given) and
    return its (op-view) result proto."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph,
    )

    inputs = list(model.inputs)
    given = shapes or [(1, *inp.shape[1:]) for inp in inputs]
    specs = [tf.TensorSpec(list(s), inp.dtype) for s, inp in zip(given, inputs, strict=True)]
    single = len(specs) == 1
    structure = getattr(model, "_inputs_struct", None)

    @tf.function
    def forward(*args: Any) -> Any:
        if isinstance(structure, dict):
            return model(keras.tree.pack_sequence_as(structure, list(args)), training=False)
        return model(args[0] if single else list(args), training=False)

    concrete = forward.get_concrete_function(*specs)
    _, graph_def = convert_variables_to_constants_v2_as_graph(concrete)
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"  # keep the test log quiet
        return tf.compat.v1.profiler.profile(
            graph=graph,
            run_meta=tf.compat.v1.RunMetadata(),
            cmd="op",
            options=opts,
        )


def profiler_flops(model: Any, shapes: list[tuple[int, ...]] | None = None) -> int:
    """Total float ops the TF profiler reports for one forward pass of ``model``
    at batch size 1 (frozen inference graph)."""
    return int(_profile(model, shapes).total_float_ops)


def profiler_op_flops(model: Any, shapes: list[tuple[int, ...]] | None = None) -> dict[str, int]:
    """Per-op-type breakdown (op type -> FLOPs); handy when a test fails."""
    # The "op" view nests each op type under the previous one, so walk down.
    result: dict[str, int] = {}
    stack = list(_profile(model, shapes).children)
    while stack:
        node = stack.pop()
        if node.float_ops:
            result[node.name] = int(node.float_ops)
        stack.extend(node.children)
    return result


def archreport_flops(model: Any) -> int | None:
    """The model's FLOPs as the report gives them (one traced call at batch size 1), or None when a
    lower bound."""
    from archreport.model.analyse import analyse

    totals = analyse(model, "m").totals
    return None if totals.flops_lower_bound else totals.flops
