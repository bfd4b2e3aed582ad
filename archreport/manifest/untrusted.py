"""Reading an untrusted model file in bounded memory and time (issue 25, item 4).

A model file comes from anywhere (a download, a colleague, a pull request), and
the parent reads its architecture before any worker runs. Every read here is
bounded before it allocates, and a file that breaks a bound fails that model
only, with one line:

* a file is read only if it is a regular file (a FIFO would block, /dev/zero
  never ends), and at most ``limit`` bytes of it;
* a zip archive's central directory is sized from its end record before
  ``zipfile`` reads it, and a member is inflated in small chunks up to the
  limit: ``ZipFile.read`` inflates a member whole first and only then cuts it to
  the size its header declares, which a zip bomb sets to a few KB;
* an HDF5 attribute's size is read from its header before its value, in a
  child process limited in time and memory (libhdf5 trusts what a file says);
* JSON nesting depth is counted before ``json.loads``, which recurses once per
  level (a 633-byte config of nested arrays was an uncaught RecursionError), and
  so are its objects and arrays, which take many times the text's size once parsed.
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import IO, BinaryIO

from archreport.errors import signal_name

# A Sequential nested in a Sequential adds three levels: 256 is a model nested about 80 deep
# (MobileNetV2's config nests 11).
MAX_JSON_DEPTH = 256
# A .keras archive holds a config, metadata and one weights file (and a few assets).
MAX_ZIP_ENTRIES = 10_000
MAX_CENTRAL_DIRECTORY = 16 * 2**20
_CHUNK = 1 << 20

# Parsed JSON takes many times its text's size: NASNetLarge's 1 MB config holds about 20,000.
MAX_JSON_CONTAINERS = 1_000_000
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class Refused(ValueError):
    """A bound was broken, or the file is not what its name says; the message is one sentence."""


def read_file(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit``.

    Raises:
        Refused: it is not a regular file, or it is larger.
        OSError: it cannot be read.
    """
    with _open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise Refused(f"it is {size:,} bytes, over the limit of {limit // 2**20} MiB")
        return _capped(fh, limit)


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (a FIFO is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused("it is not a regular file")
    return os.fdopen(fd, "rb")


def _capped(fh: IO[bytes], limit: int, what: str = "it") -> bytes:
    """Everything ``fh`` gives, read in chunks, refused as soon as it passes ``limit``."""
    chunks, size = [], 0
    while chunk := fh.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise Refused(f"{what} is larger than {limit // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def zip_member(path: Path, name: str, limit: int) -> bytes:
    """The member ``name`` of the zip archive at ``path``, at most ``limit`` bytes once inflated.

    Raises:
        Refused: the archive's directory is too large, or the member is missing or too large.
        zipfile.BadZipFile, OSError, EOFError, zlib.error, ...: it is not a readable archive.
    """
    with _open_regular(path) as fh:
        entries, size = _central_directory(fh)
        if entries > MAX_ZIP_ENTRIES or size > MAX_CENTRAL_DIRECTORY:
            raise Refused(
                f"its zip directory lists {entries:,} entries in {size:,} bytes, over the limit of "
                f"{MAX_ZIP_ENTRIES:,} entries and {MAX_CENTRAL_DIRECTORY // 2**20} MiB"
            )
        fh.seek(0)
        with zipfile.ZipFile(fh) as archive:
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise Refused(f"the archive holds no {name}") from None
            if info.file_size > limit:
                raise Refused(
                    f"its {name} declares {info.file_size:,} bytes, over the limit of {limit // 2**20} MiB"
                )
            with archive.open(info) as member:
                # Chunks, not read(): zipfile inflates up to 2 GiB in one call before cutting to the
                # declared size. A member larger than declared then fails its CRC check.
                return _capped(member, limit, f"its {name}")


def _central_directory(fh: BinaryIO) -> tuple[int, int]:
    """(entries, bytes) of a zip archive's central directory, from its end record (zip64 too)."""
    end = fh.seek(0, os.SEEK_END)
    tail_size = min(end, 22 + 0xFFFF)  # the end record, and a comment of at most 64 KiB
    fh.seek(end - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise zipfile.BadZipFile("File is not a zip file")
    entries, size = struct.unpack("<HI", tail[at + 10 : at + 16])
    if (entries == 0xFFFF or size == 0xFFFFFFFF) and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        (offset,) = struct.unpack("<Q", tail[at - 12 : at - 4])
        fh.seek(offset)
        record = fh.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, size = struct.unpack("<QQ", record[32:48])
    return entries, size


# libhdf5 (C) trusts the sizes and offsets in a file: a crafted one made it loop for ever (a global
# heap's free space set to 0) or allocate gigabytes. So an .h5 file is read in a child process of its
# own, which stops at these limits, and hands back at most the attribute.
H5_SECONDS = 4.0
H5_MEMORY = 2**30
_H5_CHILD = """
import json, resource, sys
limit_memory, path, name, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))
def answer(**kwargs):
    sys.stdout.write(json.dumps(kwargs, ensure_ascii=False))
    sys.exit(0)
try:
    import h5py
    with h5py.File(path, "r") as f:
        # HDF5 reads an attribute's value as soon as it is opened, or even looked for (a 300 MB one
        # took 1.75 GB): the space the root's attributes take is read first, from the object header
        # and the attribute heap's sizes.
        info = h5py.h5o.get_info(f.id)
        stored = info.hdr.space.total + info.meta_size.attr.heap_size + info.meta_size.attr.index_size
        if stored > limit:
            answer(refused=f"its attributes take {stored:,} bytes, over the limit of {limit // 2**20} MiB")
        if name not in f.attrs:
            answer(value=None)
        attribute = f.attrs.get_id(name)
        if attribute.shape not in ((), (1,)) or h5py.check_string_dtype(attribute.dtype) is None:
            answer(refused=f"its {name} is not one string")
        # A variable-length string lies elsewhere in the file, and only reading it says how long it is.
        if attribute.dtype.kind == "O" and f.id.get_filesize() > limit:
            answer(refused=f"its {name} is a variable-length string in a file over {limit // 2**20} MiB")
        value = f.attrs[name]
    if not isinstance(value, (bytes, str)):  # a one-element array
        value = value.reshape(-1)[0]
    answer(value=value.decode("utf-8") if isinstance(value, bytes) else str(value))
except Exception as exc:
    text = " ".join(str(exc).split())[:200]
    answer(error=f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
"""


def h5_attribute(path: Path, name: str, limit: int) -> str | None:
    """A string attribute of the HDF5 file's root group, at most ``limit`` bytes; None when absent.

    Read in a child process limited to ``H5_SECONDS`` and ``H5_MEMORY``, with the attribute's size
    checked from the file's header before its value is read.

    Raises:
        Refused: it is not one string, or it is larger, or libhdf5 cannot read the file within the
            limits (or at all).
    """
    _open_regular(path).close()
    command = [sys.executable, "-I", "-c", _H5_CHILD, str(H5_MEMORY), os.fspath(path), name, str(limit)]
    try:
        proc = subprocess.run(command, capture_output=True, timeout=H5_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise Refused(f"libhdf5 did not read it within {H5_SECONDS:g} s") from None
    if proc.returncode != 0:
        why = signal_name(-proc.returncode) if proc.returncode < 0 else f"exit {proc.returncode}"
        raise Refused(f"libhdf5 could not read it ({why})")
    answer = json.loads(proc.stdout)
    if "value" not in answer:
        raise Refused(answer.get("refused") or answer.get("error") or "libhdf5 could not read it")
    value = answer["value"]
    if value is not None and len(value) > limit:
        raise Refused(f"its {name} is larger than {limit // 2**20} MiB")
    return value if isinstance(value, str) or value is None else str(value)


def check_json(text: str, max_depth: int = MAX_JSON_DEPTH, max_containers: int = MAX_JSON_CONTAINERS) -> None:
    """Refuse JSON nested deeper than ``max_depth``, or holding more objects and arrays than
    ``max_containers``, before it is parsed.

    Counted on the brackets outside strings (a regular expression removes the rest at C
    speed): a few ms for a 1 MB config.

    Raises:
        Refused: it is.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    containers = len(brackets) - brackets.count("]") - brackets.count("}")
    if containers > max_containers:
        raise Refused(
            f"its config holds {containers:,} objects and arrays, over the limit of {max_containers:,}"
        )
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise Refused(f"its config nests deeper than {max_depth} levels")
        else:
            depth -= 1


__all__ = [
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "Refused",
    "check_json",
    "h5_attribute",
    "read_file",
    "zip_member",
]
