"""A branching functional model (a residual block) and a model with a nested Sequential."""

import keras
from keras import layers


def residual_block(input_shape=(32, 32, 3), filters=16, classes=10):
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(filters, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    shortcut = x
    y = layers.Conv2D(filters, 3, padding="same", name="block_conv1")(x)
    y = layers.BatchNormalization(name="block_bn1")(y)
    y = layers.Activation("relu", name="block_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name="block_conv2")(y)
    y = layers.BatchNormalization(name="block_bn2")(y)
    x = layers.Add(name="block_add")([shortcut, y])
    x = layers.Activation("relu", name="block_out")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="residual_block")


def nested_classifier(input_shape=(64, 64, 3), classes=5):
    features = keras.Sequential(
        [
            layers.Conv2D(8, 3, activation="relu", name="conv_a"),
            layers.MaxPooling2D(name="pool_a"),
            layers.Conv2D(16, 3, activation="relu", name="conv_b"),
            layers.GlobalMaxPooling2D(name="pool_b"),
        ],
        name="features",
    )
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = features(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="nested_classifier")
