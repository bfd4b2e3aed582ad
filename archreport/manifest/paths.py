"""Paths as a user writes them: ``~`` is the home folder everywhere (issue 25, item 6).

A shell expands ``~`` on the command line, but not in a manifest, a quoted
argument or a library call; without this, ``output_dir = "~/reports"`` made a
folder literally named ``~`` beside the manifest. Such a folder is a trap:
``rm -rf ~`` to clean it up deletes the home folder. So every path archreport
reads is expanded, and an output folder that would still create a folder whose
name starts with ``~`` (``~nosuchuser/x``, ``reports/~``) is refused.
"""

from __future__ import annotations

import os
from pathlib import Path


def expand(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` and ``~user`` expanded as a shell would (an unknown user stays as written)."""
    # os.path, not Path.expanduser: that raises RuntimeError for an unknown user.
    return Path(os.path.expanduser(os.fspath(path)))  # noqa: PTH111


def tilde_folder(path: Path, shown: str | None = None) -> str | None:
    """Why writing into ``path`` (expanded) is refused: it is, or would create, a folder whose name
    starts with ``~``; None when it would not. ``shown`` is the path as the user wrote it."""
    named = [p for p in (path, *path.parents) if p.name.startswith("~") and (p == path or not p.exists())]
    if not named:
        return None
    folder = named[-1].name
    return (
        f"{shown or os.fspath(path)!r} would make a folder named {folder!r}: `~` is the home folder only at "
        "the start of a path (`~name` only for a user that exists), and such a folder is a trap, since "
        f"`rm -rf {folder}` in a shell removes a home folder, not it. Write the path out in full"
    )


__all__ = ["expand", "tilde_folder"]
