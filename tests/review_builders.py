"""Builders for the review tests (issue 28), copied beside their manifests as ``towers.py``.

``tower`` stacks identical residual blocks, each a nested functional model, so adding one
is a repeat and changing one's kernel is a changed block. ``mobilenet_v2`` is
keras.applications' MobileNetV2 with one layer's kernel changed through its config.
"""

import keras
from keras import layers


def _block(i, width, kernel):
    inputs = keras.Input((16, 16, width), name=f"block_{i}_in")
    y = layers.Conv2D(width, kernel, padding="same", name=f"block_{i}_conv")(inputs)
    y = layers.BatchNormalization(name=f"block_{i}_bn")(y)
    out = layers.Add(name=f"block_{i}_add")([inputs, y])
    return keras.Model(inputs, out, name=f"block_{i}")


def tower(blocks=3, width=8, classes=10, kernel_block=None, kernel=3):
    """stem -> block_0 ... block_{blocks-1} -> pool -> head; block ``kernel_block`` has a ``kernel`` kernel."""
    inputs = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(width, 3, padding="same", name="stem")(inputs)
    for i in range(blocks):
        x = _block(i, width, kernel if i == kernel_block else 3)(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(classes, name="head")(x)
    return keras.Model(inputs, outputs, name="tower")


def mobilenet_v2(changed=None, kernel=5):
    """MobileNetV2 (weights=None); the layer named ``changed`` gets a ``kernel`` x ``kernel`` kernel."""
    model = keras.applications.MobileNetV2(weights=None)
    if changed is None:
        return model
    config = model.get_config()
    for layer in config["layers"]:
        if layer["config"]["name"] == changed:
            layer["config"]["kernel_size"] = [kernel, kernel]
    return keras.Model.from_config(config)
