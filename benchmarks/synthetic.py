"""Synthetic models of a chosen depth for the scaling suite of bench.py.

Both builders return a built model with exactly ``n`` layers besides the input:

- ``chain(n)``: a Sequential chain alternating small ``Dense(width)`` and ``Activation`` layers.
- ``residual(n)``: a functional model of residual blocks ``x = Add()([x, Dense(width)(x)])``,
  so every other node has two incoming edges (a branching graph, as in ResNets).

They are referenced from generated manifests as ``builder = "synthetic:chain"``; bench.py copies
this file beside those manifests (archreport looks builders up beside the manifest first).
"""

from __future__ import annotations

import sys
from typing import Any


def _deep_enough(n: int) -> None:
    # Keras builds its graph map recursively (keras/src/ops/function.py: _build_map_helper, a few
    # frames per layer): with Python's default limit of 1000 a 3200-layer model raises RecursionError
    # in Keras itself, before archreport sees it. A user with such a model has to do the same.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * n + 1000))


def chain(n: int, width: int = 8) -> Any:
    import keras

    _deep_enough(n)
    layers: list[Any] = [keras.Input((width,))]
    for i in range(n):
        layers.append(keras.layers.Dense(width) if i % 2 == 0 else keras.layers.Activation("relu"))
    return keras.Sequential(layers, name=f"chain_{n}")


def residual(n: int, width: int = 8) -> Any:
    import keras

    _deep_enough(n)
    inputs = keras.Input((width,))
    x = inputs
    made = 0
    while made < n:
        if n - made >= 2:
            y = keras.layers.Dense(width)(x)
            x = keras.layers.Add()([x, y])
            made += 2
        else:
            x = keras.layers.Activation("relu")(x)
            made += 1
    return keras.Model(inputs, x, name=f"residual_{n}")
