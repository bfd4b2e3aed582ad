"""The output folder: who owns it, staging a new report beside it, swapping it in, file modes.

A report folder is replaced whole on every run, so archreport must be sure it
destroys nothing of the user's (issue 10, item 3). Only the ``.archreport``
marker proves ownership, and it lists every entry archreport wrote: a folder
holding anything else (a ``thesis.tex``, or notes a user added to an old report)
is refused and left untouched.

The new report is written into ``.<name>.staging-*`` beside the target and
swapped in at the end. The run holds an ``flock`` on a lock file inside its
staging folder, so the next run can tell the staging folders of dead runs (the
parent was SIGKILLed, or killed by the OOM killer) from live ones and remove
only those (item 12); the kernel drops the lock when its holder dies, whatever
its pid is reused for.

Every report file and folder gets the mode a new file gets in the report
folder, like any file a tool writes (item 4): the umask's, or the folder's
default ACL's. ``mkstemp`` and ``mkdtemp`` would make them 0600 and 0700,
unreadable to a web server serving CI artifacts or to colleagues on a share.
The report folder itself keeps the mode (setgid and sticky bits included),
group and ACLs of the folder it replaces (issue 25, item 1): a folder made
0700, or shared with a team through its group, stays so. The staging folder is
given them before anything is written into it, so what is created inside
inherits the group and the default ACL as it would in the folder itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from archreport.errors import OutputError, UsageError, with_output

MARKER = ".archreport"
MARKER_VERSION = 2
LOCK = ".archreport-staging.lock"  # inside a staging folder; flocked by the run that owns it
# A staging folder without a lock file is either being created this instant or was
# left by a run killed in that instant; the pid in its name decides, after this grace.
_UNLOCKED_GRACE = 10.0
_SHOWN = 10  # foreign files named in a refusal; the rest are counted
# The top level of a report folder written by an archreport without the file list.
_LEGACY = re.compile(r"report\.(html|pdf|json)|models/")
_umask_lock = threading.Lock()


# -- modes ----------------------------------------------------------------
def current_umask() -> int:
    """The process's umask, read without changing it where /proc allows (no race with other threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def apply_umask(folder: Path) -> None:
    """Give every file and folder under ``folder`` (not itself) the mode a new one gets there.

    That is the umask's mode, or the one ``folder``'s default ACL gives; folders keep the
    setgid bit the kernel passes down. Files copied from the cache keep the modes they had
    when cached, and tools may create private files; the published report must not depend
    on either.
    """
    file_mode, dir_mode = _new_modes(folder)
    dir_mode |= folder.stat().st_mode & stat.S_ISGID
    for root, dirs, files in os.walk(folder, onerror=_raise):
        for names, mode in ((dirs, dir_mode), (files, file_mode)):
            for name in names:
                path = Path(root, name)
                if not path.is_symlink():
                    path.chmod(mode)


def _new_modes(folder: Path) -> tuple[int, int]:
    """The modes (file, folder) the kernel gives a new file or folder in ``folder``."""
    default = _xattr(folder, _DEFAULT_ACL)
    if default is None:
        mask = current_umask()
        return 0o666 & ~mask, 0o777 & ~mask
    # POSIX.1e: a new file's permission bits are its default ACL's owner, mask (else group)
    # and other entries; the umask is not applied.
    perms = {}
    for offset in range(4, len(default) - 7, 8):  # a 4-byte version, then (tag u16, perm u16, id u32) entries
        tag, perm = int.from_bytes(default[offset : offset + 2], "little"), default[offset + 2]
        perms[tag] = perm & 0o7
    group = perms.get(_ACL_MASK, perms.get(_ACL_GROUP_OBJ, 0))
    mode = perms.get(_ACL_USER_OBJ, 0) << 6 | group << 3 | perms.get(_ACL_OTHER, 0)
    return mode & 0o666, mode & 0o777


# -- the report folder's own attributes ----------------------------------------------
_ACCESS_ACL, _DEFAULT_ACL = "system.posix_acl_access", "system.posix_acl_default"
_ACL_USER_OBJ, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x04, 0x10, 0x20  # linux/posix_acl_xattr.h


def _xattr(path: Path, name: str) -> bytes | None:
    """An extended attribute, or None where it is not set or the system has none."""
    if not hasattr(os, "getxattr"):  # not Linux
        return None
    try:
        return os.getxattr(path, name)
    except OSError:  # ENODATA: not set; ENOTSUP: no ACLs on this file system
        return None


@dataclass(frozen=True)
class Kept:
    """What the report folder keeps when a new report replaces it: mode bits, group, ACLs."""

    mode: int  # permission bits with the setgid and sticky bits
    gid: int
    acls: tuple[tuple[str, bytes], ...]  # (extended attribute, value)

    @classmethod
    def of(cls, folder: Path) -> Kept | None:
        """The attributes of ``folder``, or None when it is not a folder (a new one follows the umask)."""
        try:
            st = folder.stat()
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None
        acls = tuple((n, v) for n in (_ACCESS_ACL, _DEFAULT_ACL) if (v := _xattr(folder, n)) is not None)
        return cls(stat.S_IMODE(st.st_mode), st.st_gid, acls)

    def give(self, folder: Path, out: Path) -> None:
        """Make ``folder`` (new, ours) look like ``out`` did: its group, then its ACLs and mode.

        Raises:
            UsageError: the group cannot be kept (this user is not in it) and it grants more than
                others get: the new report would be open to this user's own group instead.
            OSError: the file system refused.
        """
        if folder.stat().st_gid != self.gid:
            try:
                os.chown(folder, -1, self.gid)
            except PermissionError:
                if self.mode & stat.S_ISGID or (self.mode >> 3) & 0o7 != self.mode & 0o7:
                    raise UsageError(
                        f"output folder {out} belongs to group {_group_name(self.gid)}, which you are not "
                        "in: the new report would not keep that group, and would be open to your own group "
                        "instead. Ask the folder's owner to add you to the group, or choose another folder "
                        f"{with_output()}."
                    ) from None
        for name, value in self.acls:  # the access ACL sets the mode's group bits from its mask
            os.setxattr(folder, name, value)
        folder.chmod(self.mode)  # after chown: chmod keeps setgid only for a member of the group


def _group_name(gid: int) -> str:
    import grp

    try:
        return f"{grp.getgrgid(gid).gr_name!r}"
    except KeyError:
        return str(gid)


def _raise(exc: OSError) -> None:
    raise exc


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write via a temporary file in the same folder and ``os.replace``; the file gets the umask's mode."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f"{sibling_prefix(path.name, '')}{secrets.token_hex(4)}")
        try:
            # 0o666 here, the umask applied by the kernel: what open() gives any new file.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:  # a failed write() names no file: say which one
            raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- ownership --------------------------------------------------------------
def _entries(folder: Path) -> list[str]:
    """Every entry under ``folder``, relative, folders with a trailing slash; symlinks are not followed."""
    found = []
    for root, dirs, files in os.walk(folder, onerror=_raise):
        rel = Path(root).relative_to(folder)
        for name in dirs:
            is_link = Path(root, name).is_symlink()
            found.append((rel / name).as_posix() + ("" if is_link else "/"))
        found.extend((rel / name).as_posix() for name in files)
    return sorted(found)


def _clear_command(out: Path) -> str:
    return f"rm -r -- {shlex.quote(str(out))}"


def check_folder(out: Path) -> None:
    """Refuse an output folder that may hold anything archreport did not write.

    Raises:
        UsageError: ``out`` is a file, holds entries its marker does not list, or was
            written by an archreport whose marker listed no files; nothing is touched.
        OutputError: ``out`` cannot be read.
    """
    if out.is_file():
        raise UsageError(f"output folder {out} is a file; give a folder {with_output()}.")
    if not out.is_dir():
        return
    if os.path.ismount(out):  # a volume mounted into a CI container, say: it was exit 3 after building
        raise UsageError(
            f"output folder {out} is a mount point: archreport writes each report beside its folder and "
            f"swaps it in whole, and a mount point cannot be swapped. Use a folder inside it "
            f"{with_output()}, e.g. {out / 'report'}."
        )
    try:
        # The top level first: a user's big folder without a marker is refused without walking it.
        top = sorted(e.name + ("/" if e.is_dir() and not e.is_symlink() else "") for e in out.iterdir())
        top = [e for e in top if e not in (MARKER, LOCK)]
        marker_text = (out / MARKER).read_text(encoding="utf-8") if (out / MARKER).is_file() else None
        if not top and marker_text is None:
            return  # an empty folder: nothing to lose
        if marker_text is None and "report.json" not in top:
            _refuse(out, top)
        listed = None if marker_text is None else _listed(marker_text)
        entries = [] if listed is None else [e for e in _entries(out) if e not in (MARKER, LOCK)]
    except OSError as exc:
        raise OutputError(
            f"output folder {out} cannot be read ({_reason(exc)}); choose another {with_output()}."
        ) from None
    if listed is None:
        why = (
            f"holds a report.json but no {MARKER} marker listing the files archreport wrote (an older "
            "archreport wrote it, or something else did)"
            if marker_text is None
            else f"was written by an older archreport, whose {MARKER} marker does not list the files it wrote"
        )
        never = [e for e in top if not _LEGACY.fullmatch(e)]
        also = (
            f" It holds {_names(never)}, which no archreport report has: move them elsewhere first."
            if never
            else ""
        )
        raise UsageError(
            f"output folder {out} {why}, so archreport cannot tell its files from yours and leaves the folder "
            f"untouched.{also} If nothing else in it is yours, clear it with `{_clear_command(out)}` and run "
            f"again, or choose another folder {with_output()}."
        )
    foreign = [e for e in entries if e not in listed]
    if foreign:
        _refuse(out, foreign)


def _listed(marker_text: str) -> set[str] | None:
    """The entries a marker lists, or None for a marker without a list (older archreport)."""
    try:
        data = json.loads(marker_text)
    except ValueError:  # not JSON, or a number longer than Python reads
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def _top(entries: list[str]) -> list[str]:
    """The entries not inside another listed folder: a user's folder of 500 files is named once."""
    folders = {e for e in entries if e.endswith("/")}
    return [
        e
        for e in entries
        if not any(
            "/".join(e.split("/")[:i]) + "/" in folders for i in range(1, e.rstrip("/").count("/") + 1)
        )
    ]


def _names(entries: list[str]) -> str:
    more = f" and {len(entries) - _SHOWN} more" if len(entries) > _SHOWN else ""
    return ", ".join(entries[:_SHOWN]) + more


def _refuse(out: Path, foreign: list[str]) -> NoReturn:
    raise UsageError(
        f"output folder {out} holds files archreport did not write: {_names(_top(foreign))}. archreport "
        "replaces its output folder whole, so it leaves this one untouched: move those files elsewhere, or "
        f"choose an empty or new folder {with_output()}."
    )


def marker_text(folder: Path) -> str:
    """The marker for a finished staging folder: every entry in it, so the next run knows what is ours."""
    entries = [e for e in _entries(folder) if e not in (MARKER, LOCK)]
    return (
        json.dumps(
            {
                "archreport": "archreport wrote this folder and replaces it whole on every run; it refuses "
                "to if the folder holds anything not listed in files.",
                "marker_version": MARKER_VERSION,
                "files": entries,
            },
            indent=1,
        )
        + "\n"
    )


# -- write errors -------------------------------------------------------------
def _reason(exc: OSError, out: Path | None = None) -> str:
    text = exc.strerror or str(exc)
    name = exc.filename
    if name and out is not None:
        name = _as_published(Path(os.fsdecode(name)), out)
    return f"{text}: {name}" if name else text


_TEMP_NAME = re.compile(r"\.(.+)\.[0-9a-f]{8}")


def _as_published(path: Path, out: Path) -> Path:
    """A path inside a staging folder as the user will know it: ``out/report.html``, not its temp file."""
    prefix = _staging_prefix(out.name)
    for i, part in enumerate(path.parts):
        if part.startswith(prefix):
            path = out.joinpath(*path.parts[i + 1 :])
            break
    match = _TEMP_NAME.fullmatch(path.name)
    return path.with_name(match.group(1)) if match else path


def _first_error(exc: OSError) -> OSError:
    """shutil.copytree gathers its errors as text in one shutil.Error: the first, as an OSError again."""
    errors = exc.args[0] if isinstance(exc, shutil.Error) and exc.args else None
    if isinstance(errors, list) and errors and len(errors[0]) == 3:
        _src, dst, why = errors[0]
        match = re.match(r"\[Errno (\d+)\] ([^:]+)", str(why))
        if match:
            return OSError(int(match.group(1)), match.group(2), dst)
        return OSError(None, str(why), dst)
    return exc


@contextlib.contextmanager
def writing(out: Path) -> Iterator[None]:
    """Turn an OSError while writing the report (disk full, permissions), or while reading its parts
    back from the staging folder, into an OutputError."""
    try:
        yield
    except OSError as raised:
        exc = _first_error(raised)
        hint = {
            errno.ENOSPC: "the disk is full; free some space",
            errno.EDQUOT: "the disk quota is used up; free some space",
            errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
        }.get(exc.errno or 0, "the file system refused the write")
        raise OutputError(
            f"the report could not be written to {out} ({_reason(exc, out)}): {hint}, or choose another folder "
            f"{with_output()}. The previous report, if any, is unchanged."
        ) from exc


# -- staging ------------------------------------------------------------------
def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return 0  # /proc unreadable: assume it runs
    return int(stat.rpartition(")")[2].split()[19])  # field 22; the name in () may hold spaces


def _running(pid: int, started: int) -> bool:
    if not Path("/proc/self/stat").exists():  # no /proc (macOS): the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    now = _start_time(pid)
    return now is not None and now in (started, 0)


def _is_dead(folder: Path, prefix: str) -> bool:
    """Whether ``folder`` is the staging folder of a run that no longer exists."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    except OSError:
        return False  # someone else's: leave it
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its run holds the lock
        except OSError:
            return False
        finally:
            os.close(fd)  # also drops the lock just taken: nobody else wants it
        return True
    # No lock file yet: a run between mkdir and flock, or one killed right there.
    pid, _, rest = folder.name.removeprefix(prefix).partition(".")
    started = rest.partition("-")[0]
    if not (pid.isdigit() and started.isdigit()):
        return False  # an older archreport's mkdtemp name: nothing proves its run is gone
    try:
        age = time.time() - folder.stat().st_mtime
    except OSError:
        return False
    return age > _UNLOCKED_GRACE and not _running(int(pid), int(started))


# A file name's longest length on Linux, macOS and the BSDs, in bytes.
NAME_MAX = 255
_SUFFIX_ROOM = 40  # what follows a sibling's prefix: a pid, a start time and a token


def sibling_prefix(name: str, tag: str) -> str:
    """``.<name>.<tag>``, the start of a hidden sibling's name, with room for ``_SUFFIX_ROOM`` bytes
    after it: a long ``name`` is cut, and a digest of it added (issue 25, item 10)."""
    prefix = f".{name}.{tag}"
    if len(os.fsencode(prefix)) + _SUFFIX_ROOM <= NAME_MAX:
        return prefix
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    room = NAME_MAX - _SUFFIX_ROOM - len(f".-{digest}.{tag}".encode())
    return f".{os.fsencode(name)[:room].decode('utf-8', 'ignore')}-{digest}.{tag}"


def _staging_prefix(name: str) -> str:
    return sibling_prefix(name, "staging-")


def remove_dead_staging(out: Path) -> list[Path]:
    """Remove the staging folders beside ``out`` whose runs are dead; return them."""
    prefix = _staging_prefix(out.name)
    removed = []
    with contextlib.suppress(OSError):
        # Escaped: the folder's name is a name, not a pattern ("[ab]" would miss its own, "*" match others').
        for folder in sorted(out.parent.glob(glob.escape(prefix) + "*")):
            if folder.is_dir() and not folder.is_symlink() and _is_dead(folder, prefix):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A new staging folder beside ``out``, locked for this run; removed when the block ends.

    Raises:
        OutputError: the folder cannot be created.
    """
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_staging(out)
        kept = Kept.of(out)
        pid = os.getpid()
        name = f"{_staging_prefix(out.name)}{pid}.{_start_time(pid) or 0}-{secrets.token_hex(4)}"
        folder = out.parent / name
        folder.mkdir(0o777)  # the umask applies, unlike mkdtemp's 0700
        lock = -1
        try:
            if kept is not None:
                kept.give(folder, out)
            lock = os.open(folder / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            fcntl.flock(lock, fcntl.LOCK_EX)
        except BaseException:
            if lock >= 0:
                os.close(lock)
            shutil.rmtree(folder, ignore_errors=True)
            raise
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # after a swap it holds the previous report
        os.close(lock)


def publish(folder: Path, out: Path) -> None:
    """Mark ``folder`` as archreport's, give its files the modes new files get in it, and swap it into ``out``.

    ``out`` is checked again first: a file added to it during the run is not lost.
    """
    check_folder(out)
    atomic_write(folder / MARKER, marker_text(folder))
    apply_umask(folder)
    _swap_into_place(folder, out)
    # The lock file travelled with the folder; the lock itself stays held until staging() ends.
    with contextlib.suppress(OSError):
        (out / LOCK).unlink()


_RENAME_EXCHANGE = 2


def _swap_into_place(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` in one step, so a reader never sees half a report."""
    if not out.exists():
        os.replace(staging, out)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    at_fdcwd = -100
    if (
        renameat2 is not None
        and renameat2(at_fdcwd, os.fsencode(staging), at_fdcwd, os.fsencode(out), _RENAME_EXCHANGE) == 0
    ):
        return  # staging now holds the old report; staging() removes it
    # No atomic exchange here (another OS or file system): two renames, with the old report kept until the new one is in place.
    old = out.with_name(f"{sibling_prefix(out.name, 'old-')}{os.getpid()}")
    os.replace(out, old)
    os.replace(staging, out)
    with contextlib.suppress(OSError):
        shutil.rmtree(old)


__all__ = [
    "MARKER",
    "Kept",
    "apply_umask",
    "atomic_write",
    "check_folder",
    "current_umask",
    "publish",
    "remove_dead_staging",
    "sibling_prefix",
    "staging",
    "writing",
]
