"""Ctrl-C and SIGTERM, turned into KeyboardInterrupt only where stopping is safe.

Python raises KeyboardInterrupt at whatever bytecode the main thread is running, and a
``with lock:`` block is not safe against that: the exception can land after the lock is
taken and before the block that releases it, and the clean-up that follows (cancelling the
workers' futures, emptying the pool's queue) then waits forever on the lock. So the command's
signal handler only asks (:func:`request`), and the pipeline stops at its own checkpoints
(:func:`checkpoint`): while it waits for models, and between the stages after them.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


def request() -> None:
    """Ask the running pipeline to stop at its next checkpoint."""
    _requested.set()


def checkpoint() -> None:
    """Raise KeyboardInterrupt if a stop was asked for.

    Raises:
        KeyboardInterrupt: :func:`request` was called.
    """
    if _requested.is_set():
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a request (a new run in the same process starts clean)."""
    _requested.clear()
