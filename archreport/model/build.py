"""Build one Keras model from its manifest spec (in a worker process).

Builders are imported from the folder the task's sources were written into
(manifest/sources.py); model files are rebuilt from their architecture alone, so no
weight is ever read.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from archreport.errors import ModelError
from archreport.manifest import ModelSpec
from archreport.manifest.sources import Architecture

TRUST_HINT = (
    "Set `trust = true` on this model in the manifest to load it anyway; only that model's "
    "worker process turns Keras's safe mode off."
)


def build(
    spec: ModelSpec, base_dir: str, architecture: Architecture | None = None, *, shape_only: bool = False
) -> Any:
    """Return the built ``keras.Model`` for ``spec``; builders are looked up in ``base_dir`` first.

    ``shape_only``: build it without weight values, inside an abstract JAX trace
    (:func:`keras_compat.build_shape_only`), in a process set up for it.

    Raises:
        ModelError: the builder cannot be found or called, or returns no built model; the model
            file's architecture cannot be read or is refused.
        Exception: whatever a builder raises, as it is.
    """
    _check_backend(spec)
    import keras

    # Keras names layers from a per-process counter; clearing it makes
    # `dense`, `dense_1`, ... independent of what this worker built before.
    keras.backend.clear_session()
    _restore_keras_config()
    if spec.kind == "file" and architecture is None:
        raise ModelError(f"the task for {spec.target!r} carries no architecture.")

    def make() -> Any:
        if spec.kind == "builder":
            return _call_builder(spec, base_dir)
        if spec.kind == "application":
            return _application(spec)
        assert architecture is not None
        return _load_architecture(spec, architecture)

    if shape_only:
        from archreport.model import keras_compat

        model = keras_compat.build_shape_only(make)
    else:
        model = make()
    if not isinstance(model, keras.Model):
        raise ModelError(
            f"{spec.kind} {spec.target!r} returned {type(model).__module__}.{type(model).__qualname__}, "
            "not a keras.Model."
        )
    if not model.built:
        raise ModelError(
            f"{spec.kind} {spec.target!r} returned a model that is not built; give it an Input or call "
            "model.build(input_shape) before returning it."
        )
    return model


# Keras's global settings as this process found them, before any builder ran. A worker builds
# several models, and clear_session() does not reset these: a builder that switches to
# channels_first or float16 would otherwise change the next model's shapes and dtypes, and so
# make the report depend on which models shared a worker (-j, a cluster's scheduling).
_KERAS_CONFIG: dict[str, Any] = {}


def _restore_keras_config() -> None:
    import keras

    if not _KERAS_CONFIG:
        _KERAS_CONFIG.update(
            floatx=keras.config.floatx(),
            epsilon=keras.config.epsilon(),
            image_data_format=keras.config.image_data_format(),
        )
    keras.config.set_floatx(_KERAS_CONFIG["floatx"])
    keras.config.set_epsilon(_KERAS_CONFIG["epsilon"])
    keras.config.set_image_data_format(_KERAS_CONFIG["image_data_format"])


# A real build on these backends needs their package (shape-only builds and TensorFlow are dependencies).
_BACKEND_PACKAGES = {"jax": "jax", "torch": "torch"}


def _check_backend(spec: ModelSpec) -> None:
    package = _BACKEND_PACKAGES.get(spec.backend)
    if package is not None and importlib.util.find_spec(package) is None:
        raise ModelError(
            f"backend = {spec.backend!r} builds the model with Keras's {spec.backend} backend, which needs "
            f"{package}; it is not installed. Install it with: python -m pip install {package}"
        )


def resolve_builder(spec: ModelSpec, base_dir: str) -> Any:
    module_name, _, qualname = spec.target.partition(":")
    # Builders are looked up beside the manifest (where the task's sources were written) first.
    if base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ModelError(
                f"builder {spec.target!r}: module {module_name!r} not found beside the manifest or on the Python path."
            ) from None
        raise ModelError(f"builder {spec.target!r}: importing {module_name!r} failed: {exc}") from exc
    for part in qualname.split("."):
        if not hasattr(obj, part):
            import difflib

            close = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ModelError(
                f"builder {spec.target!r}: {getattr(obj, '__name__', obj)!r} has no attribute {part!r}{hint}."
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(
            f"builder {spec.target!r} is not callable: it is {type(obj).__name__} {obj!r:.60}; "
            "expected a function or class that returns a keras.Model."
        )
    return obj


def _call_builder(spec: ModelSpec, base_dir: str) -> Any:
    fn = resolve_builder(spec, base_dir)
    try:
        inspect.signature(fn).bind(*spec.args, **spec.kwargs)
    except TypeError as exc:
        raise ModelError(
            f"builder {spec.target!r} cannot take args={spec.args!r} kwargs={spec.kwargs!r}: {exc}. "
            f"Its signature is {spec.target.partition(':')[2]}{inspect.signature(fn)}."
        ) from None
    except ValueError:
        pass  # no signature (a builtin): let the call itself say what is wrong
    return fn(*spec.args, **spec.kwargs)


def _tuples(kwargs: dict[str, Any]) -> dict[str, Any]:
    # TOML has arrays, Keras wants tuples for shapes.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def _application(spec: ModelSpec) -> Any:
    import keras

    fn = getattr(keras.applications, spec.target, None)
    if fn is None:
        raise ModelError(f"keras.applications has no model {spec.target!r} in Keras {keras.__version__}.")
    kwargs = _tuples(spec.kwargs)
    kwargs.setdefault("weights", None)  # nothing is downloaded unless the user asks
    return fn(**kwargs)


def _load_architecture(spec: ModelSpec, architecture: Architecture) -> Any:
    import keras

    from archreport.model import keras_compat

    name = Path(spec.target).name
    if spec.trust:
        # Only ever reached in a worker process of its own (see runners/worker.py), so
        # this cannot weaken another model's load.
        keras.config.enable_unsafe_deserialization()
    try:
        return keras_compat.model_from_architecture(
            architecture.fmt, architecture.text, safe_mode=not spec.trust
        )
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "unsafe" in text:
            raise ModelError(
                f"{name} contains a Lambda layer with Python code, which could run anything "
                f"when loaded, so archreport refused it (Keras safe mode). {TRUST_HINT}"
            ) from None
        raise ModelError(f"cannot load {name}: {text}") from None
    except (TypeError, KeyError) as exc:
        raise ModelError(f"cannot load {name}: {type(exc).__name__}: {exc}") from None
