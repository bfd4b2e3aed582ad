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


def _profile(model: Any) -> Any:
    """Run the TF profiler's float-op count on ``model``'s frozen graph at
    batch size 1 and return its (op-view) result proto."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph,
    )

    specs = [tf.TensorSpec([1, *inp.shape[1:]], inp.dtype) for inp in model.inputs]
    single = len(specs) == 1

    @tf.function
    def forward(*args: Any) -> Any:
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


def profiler_flops(model: Any) -> int:
    """Total float ops the TF profiler reports for one forward pass of ``model``
    at batch size 1 (frozen inference graph)."""
    return int(_profile(model).total_float_ops)


def profiler_op_flops(model: Any) -> dict[str, int]:
    """Per-op-type breakdown (op type -> FLOPs); handy when a test fails."""
    # The "op" view nests each op type under the previous one, so walk down.
    result: dict[str, int] = {}
    stack = list(_profile(model).children)
    while stack:
        node = stack.pop()
        if node.float_ops:
            result[node.name] = int(node.float_ops)
        stack.extend(node.children)
    return result


def archreport_flops(model: Any) -> int | None:
    """The model's FLOPs as the report gives them (one traced call at batch size 1), or None when a
    lower bound."""
    from archreport.analyse import analyse

    totals = analyse(model, "m").totals
    return None if totals.flops_lower_bound else totals.flops
