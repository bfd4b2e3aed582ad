"""Runners: where tasks run. The contract is in base.py; this module picks a runner by address.

The local process pool (local.py) and a Dask cluster (dask.py) are imported only when a
run starts one: Dask is an optional dependency, and the contract must not depend on it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from archreport.errors import UsageError

if TYPE_CHECKING:
    from archreport.runners.base import LOCAL, Honours, Refused, Runner, check, failure, limits

# The contract's names load base.py (and the manifest's schema, pydantic) when first asked for,
# not with the package: the command starts a worker template from worker.py before that, and
# the template starts importing Keras sooner (issue 26).
_FROM_BASE = frozenset({"LOCAL", "Honours", "Refused", "Runner", "check", "failure", "limits"})


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        from archreport.runners import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LOCAL", "Honours", "Refused", "Runner", "check", "discard_early", "failure", "limits", "parse", "start",
]  # fmt: skip

_ADDRESS = re.compile(
    r"(dask|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})"
)


def parse(where: str, source: str, *, jobs: int | None = None) -> str:
    """``where`` checked: "local", or a Dask scheduler's address in Dask's own spelling ("tcp://", "tls://").

    Raises:
        UsageError: ``where`` is neither, or ``jobs`` was given for a cluster; ``source`` says where
            ``where`` came from.
    """
    from archreport.runners.base import LOCAL

    if where == LOCAL:
        return LOCAL
    found = _ADDRESS.fullmatch(where)
    if found is None or not 0 < int(found.group(3)) < 65536:
        raise UsageError(
            f"{source} {where!r}: expected local, dask://HOST:PORT or tls://HOST:PORT "
            "(a Dask scheduler's address, e.g. dask://127.0.0.1:8786)."
        )
    if jobs is not None:
        raise UsageError(
            f"-j {jobs} has no meaning on a Dask cluster ({source} is {where}): its workers decide how many "
            "models run at once (dask worker --nworkers/--nthreads). Leave -j out, or use --executor local."
        )
    scheme = "tcp" if found.group(1) == "dask" else "tls"
    return f"{scheme}://{found.group(2)}:{found.group(3)}"


def start(address: str, *, jobs: int | None, memory_limit: int | None, tasks: int) -> Runner:
    """The runner at ``address`` (from :func:`parse`), ready for ``tasks`` tasks.

    Raises:
        SystemDependencyError: Dask is not installed, or its scheduler cannot be reached.
    """
    from archreport.runners.base import LOCAL

    if address == LOCAL:
        from archreport.runners.local import LocalRunner

        return LocalRunner(min(jobs or os.cpu_count() or 1, max(1, tasks)), memory_limit=memory_limit)
    from archreport.runners import dask
    from archreport.store import fingerprint

    return dask.connect(address, fingerprint.runtime())


def discard_early() -> None:
    """Stop the worker template the command started before reading the manifest, if no pool took it.

    The command starts one early (worker.start_template_early); a run that builds nothing
    (every model cached), or builds elsewhere, has no use for it.
    """
    from archreport.runners import worker

    worker.discard_early_template()
