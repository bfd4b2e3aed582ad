"""Write tiny Keras model files whose Lambda layer would create a canary file if its code ever ran.

Usage: python make_lambda_models.py OUT_DIR CANARY_DIR

OUT_DIR gets lambda.keras, lambda.h5 and trusted.keras. Each Lambda, if deserialised
unsafely and called, creates CANARY_DIR/canary-<name> (the canary the tests look for).
Building the models here calls the Lambdas once, so the canaries are removed afterwards.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras


def canary_lambda(canary: Path):
    # The path is a constant of the code object, so it survives marshal/base64 serialisation.
    return eval(f"lambda x: (open({str(canary)!r}, 'w').close(), x)[1]")


def model_with_lambda(canary: Path) -> keras.Model:
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    outputs = keras.layers.Lambda(canary_lambda(canary), name="payload")(hidden)
    return keras.Model(inputs, outputs, name="lambda_model")


def main() -> None:
    out, canaries = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    canaries.mkdir(parents=True, exist_ok=True)
    model_with_lambda(canaries / "canary-keras").save(out / "lambda.keras")
    model_with_lambda(canaries / "canary-h5").save(out / "lambda.h5")
    model_with_lambda(canaries / "canary-trusted").save(out / "trusted.keras")
    for name in ("canary-keras", "canary-h5", "canary-trusted"):
        (canaries / name).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
