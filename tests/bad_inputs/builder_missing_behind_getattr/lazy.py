"""A module whose names are partly lazy: reading it cannot prove a name missing."""

from tiny import build


def __getattr__(name):
    if name == "lazy_build":
        return build
    raise AttributeError(f"module 'lazy' has no attribute {name!r}")
