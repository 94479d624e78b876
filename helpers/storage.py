"""Writing files safely: atomic writes, a full disk told apart from other write errors, one process per folder.

Every artifact is written to a temporary file next to its final name and renamed into place
(:func:`atomic_write`), so a killed process never leaves half a file under a real name. A write that fails
because the disk (or a quota, e.g. Google Drive's) is full raises :class:`DiskFullError`, which says how much
space is free and how much the write needed, wherever the failure surfaced: ``ENOSPC``/``EDQUOT`` anywhere in
the exception chain (torch's ``inline_container.cc`` error carries it as its cause), or numpy's short write
(an ``OSError`` without errno) when the folder is out of space. :class:`FolderLock` lets one process at a time
work in a folder (an extraction's crops, a run's results): a second one waits or is refused, told who holds it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

#: errno values of a full disk or an exhausted quota
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: an OSError without errno counts as a full disk when less than this is left beyond what the write needed
FREE_SPACE_MARGIN = 1 << 20
LOCK_FILE = ".lock"


class DiskFullError(RuntimeError):
    """The disk filled up during a write; what was written before stays (the message says what to do)."""


class FolderLockedError(RuntimeError):
    """Another process works in the folder; the message names it and how to remove a lock it left behind."""


def free_bytes(folder: Path | str) -> int:
    """Free bytes on the file system of ``folder`` (or of its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _exception_chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def is_disk_full(error: BaseException, folder: Path | str, need_bytes: int = 0) -> bool:
    """Does ``error`` (raised while writing into ``folder``) mean that the disk is full? ENOSPC or EDQUOT
    anywhere in its chain; or an ``OSError`` without errno (numpy's "N requested and M written") or torch's
    failed archive write, while ``folder`` has less than ``need_bytes`` plus a megabyte free."""
    chain = list(_exception_chain(error))
    if any(isinstance(link, OSError) and link.errno in DISK_FULL_ERRNOS for link in chain):
        return True
    unexplained = any((isinstance(link, OSError) and link.errno is None)
                      or (isinstance(link, RuntimeError) and "inline_container" in str(link)) for link in chain)
    if not unexplained:
        return False
    try:
        return free_bytes(folder) < need_bytes + FREE_SPACE_MARGIN
    except OSError:
        return False


def disk_full_error(folder: Path | str, need_bytes: int, what: str = "") -> DiskFullError:
    """The error of a full disk: free space, space needed, what was being written and what to do."""
    try:
        free = f"{free_bytes(folder) / 2**20:.1f} MB free"
    except OSError:
        free = "no free space known"
    return DiskFullError(
        f"disk full: {free} in {folder}, need about {max(need_bytes, 1) / 2**20:.1f} MB"
        f"{f' to write {what}' if what else ''}. Free some space there (or write to another disk) and run "
        "again: everything finished before is kept and is not redone")


@contextmanager
def disk_full_stops(folder: Path | str, need_bytes: int | Callable[[], int] = 0, what: str = "") -> Iterator[None]:
    """Turn a write error caused by a full disk into :class:`DiskFullError` naming ``folder``; other errors
    pass unchanged. ``need_bytes``: the size of the write, or a function returning it once it failed."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        need = need_bytes() if callable(need_bytes) else need_bytes
        if is_disk_full(error, folder, need):
            raise disk_full_error(folder, need, what) from error
        raise


def atomic_write(path: Path | str, write: Callable[[BinaryIO], Any], fsync: bool = True,
                 need_bytes: int = 0) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place, so that a killed
    process never leaves half a file behind; a full disk raises :class:`DiskFullError` naming the folder.
    ``fsync=False`` skips flushing to the device (the rename alone keeps half files away); ``need_bytes``:
    the size of the file, when known (the error says how much space the write needed)."""
    path = Path(path)
    with disk_full_stops(path.parent, need_bytes, path.name):  # a full disk may refuse even an empty file
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")

    def needed() -> int:  # what the failed write had put down so far, or the size of the file it replaces
        sizes = [need_bytes, Path(temporary).stat().st_size if Path(temporary).exists() else 0,
                 path.stat().st_size if path.exists() else 0]
        return max(sizes)

    try:
        with disk_full_stops(path.parent, needed, path.name):
            with os.fdopen(handle, "wb") as file:
                write(file)
                if fsync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------------
# One process per folder
# --------------------------------------------------------------------------------------------------


_HELD_HERE: set[str] = set()  # the lock files this process holds (their real paths)
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
PID_NAMESPACE_LINK = "/proc/self/ns/pid"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def process_table() -> dict[str, str]:
    """What tells this process table apart from another machine's or container's: the host name, the kernel's
    boot id and the pid namespace (the last two where Linux says them)."""
    table = {"host": socket.gethostname()}
    try:
        table["boot_id"] = BOOT_ID_FILE.read_text().strip()
    except OSError:
        pass
    try:
        table["pid_namespace"] = os.readlink(PID_NAMESPACE_LINK)
    except OSError:
        pass
    return table


def _same_process_table(holder: dict[str, Any]) -> bool:
    """Was ``holder`` written by a process whose pid can be looked up from here? The same host, and the same
    boot id and pid namespace where both sides recorded them (containers may share a fixed host name)."""
    here = process_table()
    return all(holder.get(key) == value for key, value in here.items() if key == "host" or key in holder)


class FolderLock:
    """An exclusive lock on ``folder``: the file ``<folder>/.lock``, holding the holder's pid, host, boot id,
    start time and command, written to a temporary file and then linked into place (the link fails when the
    lock exists, so a lock file is never seen empty), and touched every ``HEARTBEAT_S`` seconds while held. A
    lock that is not touched for ``STALE_AFTER_S`` (its machine is gone, e.g. a Colab VM that disconnected,
    or its pid was reused), or whose holder is a dead process of this machine, is taken over; a live holder
    makes :meth:`acquire` wait up to ``wait_s`` seconds, then raise :class:`FolderLockedError` naming it and
    how to remove its lock by hand."""

    HEARTBEAT_S = 60.0
    STALE_AFTER_S = 600.0

    def __init__(self, folder: Path | str, what: str, wait_s: float = 0.0, poll_s: float = 0.5):
        self.folder, self.what, self.wait_s, self.poll_s = Path(folder), what, wait_s, poll_s
        self.path = self.folder / LOCK_FILE
        self.held = False
        self.token = ""
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _key(self) -> str:
        return os.path.realpath(self.path)

    def _holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # cut by a crash, or written in place where links are not supported

    def _stale(self, holder: dict[str, Any]) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        if not holder:  # an empty lock file: stale once older than a few seconds (its writer died)
            return age > 10
        if age > self.STALE_AFTER_S:  # not touched by its holder: gone, or its pid reused by another process
            return True
        if _same_process_table(holder):
            if holder.get("pid") == os.getpid():  # a pid reused by a restarted kernel, unless this process holds it
                return self._key() not in _HELD_HERE
            return not _process_alive(int(holder.get("pid", -1)))
        return False  # another machine's lock, touched recently

    def _take_over(self, holder: dict[str, Any]) -> None:
        """Remove a stale lock, unless another process replaced it meanwhile (then it is put back)."""
        aside = self.path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = {}
        if moved != holder:
            try:
                os.link(aside, self.path)  # someone else's fresh lock: give it back
            except FileExistsError:
                pass
            except OSError:  # no hard links here: put it back unless a third process took the name meanwhile
                if not self.path.exists():
                    os.replace(aside, self.path)
        aside.unlink(missing_ok=True)

    def _content(self) -> str:
        return json.dumps({"pid": os.getpid(), **process_table(), "what": self.what, "token": self.token,
                           "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "command": " ".join(sys.argv)[:500]})

    def _create(self) -> bool:
        """Create the lock file with this process's content in one step; False when it exists."""
        with disk_full_stops(self.folder, what=str(self.path)):
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f"{LOCK_FILE}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "w") as file:
                    file.write(self._content())
                try:
                    os.link(temporary, self.path)
                    return True
                except FileExistsError:
                    return False
                except OSError:  # a file system without hard links: create in place (briefly empty)
                    return self._create_in_place()
            finally:
                Path(temporary).unlink(missing_ok=True)

    def _create_in_place(self) -> bool:
        try:
            handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(handle, "w") as file:
                file.write(self._content())
        except BaseException:
            self.path.unlink(missing_ok=True)  # never leave an empty lock behind
            raise
        return True

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.token = uuid.uuid4().hex
        deadline, waited = time.monotonic() + self.wait_s, False
        while not self._create():
            holder = self._holder()
            if holder is None:
                continue
            if self._stale(holder):
                self._take_over(holder)
                continue
            if time.monotonic() >= deadline:
                raise FolderLockedError(self._refusal(holder)) from None
            if not waited:
                print(f"waiting up to {self.wait_s:.0f} s for {self.folder}: {self._refusal(holder)}",
                      file=sys.stderr)
                waited = True
            time.sleep(self.poll_s)
        self.held = True
        _HELD_HERE.add(self._key())
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._touch, name=f"lock {self.folder}", daemon=True)
        self._heartbeat.start()
        return self

    def _touch(self) -> None:
        while not self._stop.wait(self.HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass  # a lock taken over meanwhile, or a disk gone: nothing to keep alive

    def _refusal(self, holder: dict[str, Any]) -> str:
        who = (f"process {holder.get('pid')} on {holder.get('host')} since {holder.get('started')} "
               f"({holder.get('command') or 'no command recorded'})" if holder else "a process that is starting")
        return (f"{self.folder} is in use: {holder.get('what') or self.what} by {who}. Wait for it to finish "
                f"and run again. If that process no longer runs (a Colab session that disconnected, another "
                f"machine; such a lock is taken over {self.STALE_AFTER_S / 60:.0f} minutes after its last "
                f"sign of life), delete {self.path} and run again")

    def release(self) -> None:
        self._stop.set()
        if self.held:
            _HELD_HERE.discard(self._key())
            holder = self._holder()
            if holder and holder.get("token") == self.token:
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
