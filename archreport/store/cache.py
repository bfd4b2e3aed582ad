"""A content-addressed cache of analysed models, and of the assembled PDF.

An entry holds a model's report data, its diagram files and its rendered
report sections (an HTML fragment and a PDF section). Its key hashes everything
the result depends on: the spec (source, args, kwargs, diagram options,
backend, batch size and declared input shapes), the contents of the builder
modules a task ships or the model file's architecture (manifest/sources.py), what the
sections are rendered for (page size, formats), archreport's code and
templates, the fonts the PDF embeds, and the versions in
``fingerprint.versions()`` (archreport, Keras, TensorFlow, JAX, Graphviz,
WeasyPrint) plus pikepdf's. Looking an entry up imports no TensorFlow.

The cache also keeps the last few assembled report.pdf files, before their time
stamp (``documents/``): a re-run that changed nothing the PDF shows only stamps
the time, and lays nothing out (issue 13).

A cache may be shared by a group (a CI runner pool, a team's share): like the
report, its folders and files get the umask's modes and, in a setgid folder, the
folder's group, so every user of the group hits what another stored (issue 25,
item 7). A cache that cannot be written is an :class:`~archreport.errors.ArchreportWarning`
once per run, not a silent rebuild every time. An entry is used only if it
passes the checks a worker's result does (store/results.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from archreport.data import ModelReport
from archreport.errors import ArchreportWarning
from archreport.manifest import ModelSpec
from archreport.manifest.sources import Architecture, SourceFile
from archreport.store import results
from archreport.store.fingerprint import code_digest, rendering

CACHE_FORMAT = 2  # 2: entries hold the rendered sections
DOCUMENTS = "documents"  # assembled report.pdf files before their time stamp, by document_key
KEEP_DOCUMENTS = 3  # the newest few: a project switching between a few manifests or formats still hits
# Model entries unused this long are deleted: every archreport, Keras or font upgrade leaves a
# whole set of entries behind that no key will ask for again.
KEEP_UNUSED_DAYS = 30
_KEY = re.compile(r"[0-9a-f]{64}")
# put()'s temporary folders (_temporary()): a run killed while storing an entry leaves one behind.
# Older than a day, no run is still writing it.
_TEMPORARY = re.compile(r"\.tmp-[a-z0-9_]{8}")
KEEP_TEMPORARY_DAYS = 1
# In an entry: the sha256 of every file under files/. A cached diagram or report section that
# was truncated or changed after it was stored must not reach a report.
DIGESTS = "files.sha256.json"
# How long each model took to build the last time, by slug: the longest starts first (issue 26).
TIMES = "times.json"
KEEP_TIMES = 1000  # models remembered; a folder's manifests rarely hold more
_TIMES_LIMIT = 1 << 20  # bytes read of it at most


def cache_key(
    spec: ModelSpec,
    versions: dict[str, str],
    files: tuple[SourceFile, ...] = (),
    architecture: Architecture | None = None,
    render: Any = None,
) -> str:
    """The entry's address: a hash of everything that could change the model's result.

    ``render`` is the task's ``task.Render`` (what its report sections are rendered for), or None.
    """
    parts: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "versions": versions,
        "code": code_digest(),
        "render": None if render is None else {**asdict(render), **rendering()},
        "spec": {
            "kind": spec.kind,
            "target": _portable(spec),
            "args": spec.args,
            "kwargs": spec.kwargs,
            "trust": spec.trust,
            "slug": spec.slug,
            "diagram": asdict(spec.diagram),
            "diagram_formats": list(spec.diagram_formats),
            **{key: _plain(getattr(spec, key, None)) for key in _SHAPE_KEYS},
            "sweep": asdict(spec.sweep) if spec.sweep is not None else None,
        },
        "files": {f.path: f.sha256 for f in files},
        "architecture": architecture.sha256 if architecture is not None else None,
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def document_key(front_matter: str, sections: Mapping[str, bytes], page_size: str) -> str:
    """The address of an assembled report.pdf before its time stamp: a hash of all it is made of.

    Args:
        front_matter: the report-level pages' HTML (print.html.j2: title, versions, summary,
            changes, charts, the models' headers).
        sections: each ok model's PDF section, by slug, in report order.
        page_size: the page size.
    """
    h = hashlib.sha256()
    parts = {
        "format": CACHE_FORMAT,
        "code": code_digest(),
        "page_size": page_size,
        # What lays out, assembles and subsets: each can change the bytes of the same input.
        "weasyprint": _version("weasyprint"),
        "rendering": rendering(),
    }
    h.update(json.dumps(parts, sort_keys=True).encode() + b"\0")
    h.update(front_matter.encode() + b"\0")
    for slug, data in sections.items():
        h.update(slug.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _version(distribution: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# What changes the analysis besides the source: the backend that builds it and the shapes it is traced at.
_SHAPE_KEYS = ("backend", "batch_size", "inputs", "input_shapes", "input_values")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _portable(spec: ModelSpec) -> str:
    """A model file's path relative to the manifest, so moving the project keeps its cache valid."""
    if spec.kind == "file":
        return Path(os.path.relpath(spec.target, spec.base_dir)).as_posix()
    return spec.target


def _temporary(parent: Path, suffix: str = "") -> Path:
    """A new name for a temporary entry or document in ``parent``, matching ``_TEMPORARY``."""
    return parent / f".tmp-{secrets.token_hex(4)}{suffix}"


def _new_folder(parent: Path) -> Path:
    """A new temporary folder in ``parent`` with the umask's mode (mkdtemp's is 0700) and, in a
    setgid folder, its group."""
    while True:
        folder = _temporary(parent)
        try:
            folder.mkdir(0o777)
        except FileExistsError:
            continue
        return folder


def _write(path: Path, data: bytes) -> None:
    """A new file with the umask's mode (mkstemp's is 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _copy_files(source: Path, target: Path) -> dict[str, str]:
    """Copy every file under ``source`` into ``target`` as new files; return their digests.

    Not shutil.copytree: it would carry the staging folder's modes and ACLs into a shared cache.
    """
    digests = {}
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                name = path.relative_to(source).as_posix()
                data = path.read_bytes()
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                _write(target / name, data)
                digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def _load(entry: Path) -> tuple[ModelReport, dict[str, bytes]] | None:
    """An entry's report and files (relative name -> bytes), or None when any of it is unreadable
    or differs from its digests."""
    try:
        report = ModelReport.from_dict(json.loads((entry / "report.json").read_text(encoding="utf-8")))
        digests = json.loads((entry / DIGESTS).read_text(encoding="utf-8"))
        if not isinstance(digests, dict):
            return None
        files = {}
        for name, digest in digests.items():
            parts = Path(name).parts
            if not isinstance(digest, str) or Path(name).is_absolute() or ".." in parts or not parts:
                return None  # not a digest list this cache wrote
            data = (entry / "files" / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                return None
            files[name] = data
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return report, files


def _usable(entry: Path, spec: ModelSpec | None) -> tuple[ModelReport, dict[str, bytes]] | None:
    """An entry as :func:`_load` reads it, if it is a model that built and passes the checks a
    worker's result for ``spec`` does."""
    loaded = _load(entry)
    if loaded is None or not loaded[0].ok:
        return None
    if spec is not None and results.refusal(spec, *loaded) is not None:
        return None
    return loaded


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.warned = False  # an unwritable cache is said once per run

    def get(self, key: str, model_dir: Path, spec: ModelSpec | None = None) -> ModelReport | None:
        """Write a cached entry's files into ``model_dir`` and return its report, or None.

        An entry that cannot be read, or whose files differ from the digests it was stored
        with (a truncated diagram or report section), is a miss: the model is rebuilt and
        :meth:`put` replaces the entry. So is one that fails the checks a worker's result
        for ``spec`` must pass (store/results.py). Only writing into ``model_dir`` may raise.
        """
        entry = self.root / key[:2] / key
        loaded = _usable(entry, spec)
        if loaded is None:
            return None
        report, files = loaded
        for name, data in files.items():
            path = model_dir / name
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            except OSError as exc:  # a failed write() names no file: the caller's message says which
                raise OSError(exc.errno, exc.strerror, os.fspath(exc.filename or path)) from exc
        with contextlib.suppress(OSError):
            os.utime(entry)  # used now: kept by prune()
        report.cached = True
        return report

    def prune(self, *, days: float = KEEP_UNUSED_DAYS, now: float | None = None) -> list[str]:
        """Delete the model entries not used for ``days`` days; return their keys.

        Only folders shaped like this cache's entries (``ab/abcd...`` holding a report.json)
        are touched, and the temporary folders of entries a killed run was storing (older than
        a day); anything else in the folder is left alone.
        """
        now = time.time() if now is None else now
        cutoff = now - days * 86400
        abandoned = now - KEEP_TEMPORARY_DAYS * 86400
        removed = []
        for shard in self.root.glob("[0-9a-f][0-9a-f]"):
            try:
                entries = list(shard.iterdir())
            except OSError:  # not a folder, or not ours to read: nothing of the cache's to prune there
                continue
            for entry in entries:
                if _TEMPORARY.fullmatch(entry.name):
                    with contextlib.suppress(OSError):
                        if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < abandoned:
                            shutil.rmtree(entry, ignore_errors=True)
                    continue
                if not (_KEY.fullmatch(entry.name) and entry.name[:2] == shard.name):
                    continue
                try:
                    stale = (entry / "report.json").is_file() and entry.stat().st_mtime < cutoff
                except OSError:
                    continue
                if stale:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry.name)
        return removed

    def put(self, key: str, report: ModelReport, model_dir: Path, spec: ModelSpec | None = None) -> None:
        """Store an entry atomically; a cache that cannot be written is a warning, not an error.

        An existing entry that :meth:`get` could not use for ``spec`` (damaged, or failing the
        checks) is replaced; a usable one is kept.
        """
        final = self.root / key[:2] / key
        try:
            if final.exists() and _usable(final, spec) is not None:
                return
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = _new_folder(final.parent)
            try:
                digests = _copy_files(model_dir, tmp / "files")
                data = report.to_dict()
                data["cached"] = False
                # In the report's own key order: a cached model must come back exactly as it was
                # made, or a report that mixes cached and new models would differ from a cold one.
                _write(tmp / "report.json", json.dumps(data).encode())
                _write(tmp / DIGESTS, json.dumps(digests).encode())
                if final.exists():  # damaged: set it aside first, os.replace cannot replace a full folder
                    aside = _temporary(final.parent)
                    os.replace(final, aside)  # within its shard: no write permission on the entry needed
                    shutil.rmtree(aside, ignore_errors=True)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            self._warn(exc)

    def _warn(self, exc: OSError) -> None:
        """Say once per run that the cache cannot be written, and why."""
        if self.warned:
            return
        self.warned = True
        where = f": {exc.filename}" if exc.filename else ""
        warnings.warn(
            f"the cache {self.root} cannot be written ({exc.strerror or exc}{where}), so models it does not "
            "hold are built again on every run. Make it writable (a cache shared by a group: a setgid "
            "folder, and a umask such as 002 for everyone who runs archreport), or use --no-cache.",
            ArchreportWarning,
            stacklevel=3,
        )

    def times(self) -> dict[str, float]:
        """How long each model took the last time it was built (seconds, by slug); {} when nobody knows."""
        try:
            with (self.root / TIMES).open("rb") as fh:
                data = json.loads(fh.read(_TIMES_LIMIT))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            slug: float(seconds)
            for slug, seconds in data.items()
            if isinstance(slug, str)
            and isinstance(seconds, (int, float))
            and not isinstance(seconds, bool)
            and seconds >= 0
        }

    def note_times(self, times: Mapping[str, float]) -> None:
        """Record how long models took to build (by slug), keeping the newest KEEP_TIMES; never fatal."""
        if not times:
            return
        known = self.times()
        for slug, seconds in times.items():
            known.pop(slug, None)
            known[slug] = round(seconds, 3)
        kept = dict(list(known.items())[-KEEP_TIMES:])
        with contextlib.suppress(OSError):  # a hint: a cache that cannot be written says so on its entries
            tmp = _temporary(self.root, ".json")
            try:
                _write(tmp, json.dumps(kept).encode())
                os.replace(tmp, self.root / TIMES)
            finally:
                tmp.unlink(missing_ok=True)  # left only when the write failed

    def get_document(self, key: str) -> bytes | None:
        """A stored document (:func:`document_key`), or None."""
        path = self.root / DOCUMENTS / f"{key}.pdf"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: pruned last
        return data

    def put_document(self, key: str, data: bytes) -> None:
        """Store a document atomically and keep the newest few; a cache that cannot be written is a warning."""
        folder = self.root / DOCUMENTS
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = _temporary(folder, ".pdf")
            try:
                _write(tmp, data)
                os.replace(tmp, folder / f"{key}.pdf")
            finally:
                tmp.unlink(missing_ok=True)  # left only when the write failed
            self._prune_documents(folder)
        except OSError as exc:
            self._warn(exc)

    @staticmethod
    def _prune_documents(folder: Path) -> None:
        """Delete all but the KEEP_DOCUMENTS most recently used documents: each is a whole report.pdf."""
        dated = []
        for path in folder.glob("*.pdf"):
            if not path.name.startswith("."):
                with contextlib.suppress(OSError):  # another run may have pruned it already
                    dated.append((path.stat().st_mtime_ns, path.name, path))
        for _, _, path in sorted(dated, reverse=True)[KEEP_DOCUMENTS:]:
            with contextlib.suppress(OSError):
                path.unlink()
