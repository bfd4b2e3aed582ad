"""A tiny builder for the bad-inputs corpus."""

import keras


def build(units=4):
    inputs = keras.Input((3,), name="x")
    return keras.Model(inputs, keras.layers.Dense(units, name="dense")(inputs))


def explode():
    raise RuntimeError("the builder blew up on purpose")


NOT_CALLABLE = 3
COMPUTED = int("3")  # not a literal: only importing the module shows it is not callable
