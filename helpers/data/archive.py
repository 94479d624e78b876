"""What a downloaded file really is, and extracting archives without writing outside their folder.

:func:`sniff` reads the first bytes (file names and HTTP headers can lie), :func:`check_archive_file` turns
a web page, a RAR or an empty file into an error that says what happened; :func:`safe_extract` checks every
member of a zip or tar before writing anything and marks a finished extraction with ``EXTRACTED_MARKER``.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from helpers.data.common import MOUNT_HINT, DatasetError, format_bytes

EXTRACTED_MARKER = ".extracted.json"  # written last into a finished extraction

# --- archive sniffing: what did we actually get? --------------------------------------------------

ARCHIVE_KINDS = frozenset({"zip", "tar", "gzip", "bzip2", "xz"})
KIND_NAMES = {
    "html": "a web page", "rar": "a RAR archive", "7z": "a 7-Zip archive", "empty": "an empty file",
    "unknown": "not a zip or tar archive",
}


def sniff(path: Path) -> str:
    """What a file is, from its first bytes (file names and HTTP headers can lie)."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if not head:
        return "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"Rar!"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        return "html"
    return "tar" if tarfile.is_tarfile(path) else "unknown"  # old tar formats have no magic bytes


def check_archive_file(path: Path, source: str, advice: str = "Check that the id is the archive's.") -> None:
    kind = sniff(path)
    if kind in ARCHIVE_KINDS:
        return
    if kind == "html":
        title = re.search(rb"<title>(.*?)</title>", path.read_bytes()[:65536], re.I | re.S)
        page = f" (page title: {title.group(1).decode(errors='replace').strip()!r})" if title else ""
        raise DatasetError(
            f"{source} arrived as a web page{page}, not as the archive. Google Drive sends a page instead "
            "of the file when it is not shared as 'Anyone with the link', when too many people downloaded "
            "it recently (quota: wait 24 h), or when the link is a folder or a Google Docs file. Open the "
            f"link in a private browser window to see which; or {MOUNT_HINT}."
        )
    if kind in ("rar", "7z"):
        raise DatasetError(f"{source} is {KIND_NAMES[kind]}: re-pack the dataset as .zip or .tar.gz.")
    raise DatasetError(
        f"{source} ({path.name}, {format_bytes(path.stat().st_size)}) is {KIND_NAMES.get(kind, kind)}: "
        f"expected a .zip or .tar(.gz) of the FakeTrue_DB folder. {advice}"
    )


@dataclass(frozen=True)
class _Member:
    name: str
    size: int
    link: str | None = None  # tar symlink target or hardlink source
    kind: str = "file"  # file, dir, symlink, hardlink, device


def safe_extract(archive: Path, destination: Path) -> Path:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``destination`` and return ``destination``.

    Refuses, before writing anything, any member with an absolute path or a ``..`` component, tar
    links pointing outside ``destination`` and device files (the error names the archive and member).
    Extracts into a temporary folder next to ``destination`` and renames it at the end, with a marker
    file inside, so that an interrupted extraction is never mistaken for a complete one; a second call
    for the same archive returns at once.
    """
    archive, destination = Path(archive), Path(destination)
    if not archive.is_file():
        raise DatasetError(f"cannot extract {archive}: the file does not exist")
    stamp = {"archive": archive.name, "size": archive.stat().st_size}
    if _already_extracted(archive, destination, stamp):
        return destination

    kind, members = _list_members(archive)
    for member in members:
        reason = _unsafe_reason(member)
        if reason:
            raise DatasetError(
                f"refusing to extract {archive}: member {member.name!r} {reason}. The archive is damaged or "
                "malicious; nothing was extracted. Re-create it from the FakeTrue_DB folder."
            )
    _check_space_for(archive, destination, sum(member.size for member in members))

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # left over by an interrupted extraction
    partial.mkdir()
    try:
        _extract_members(archive, kind, partial)
        (partial / EXTRACTED_MARKER).write_text(json.dumps(stamp), encoding="utf-8")
        if destination.exists():
            destination.rmdir()  # _already_extracted allowed only an empty folder here
        os.replace(partial, destination)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            free = shutil.disk_usage(destination.parent).free
            raise DatasetError(
                f"the disk filled up while extracting {archive} into {destination.parent}: it needs "
                f"{format_bytes(sum(m.size for m in members))}, {format_bytes(free)} is free. Free space "
                "or move the scratch folder (GENUINE_POSED_SCRATCH, else the work directory "
                "GENUINE_POSED_WORK) to a bigger disk, then run again."
            ) from error
        if isinstance(error, (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError)):
            raise DatasetError(
                f"cannot extract {archive}: {error}. The archive is damaged (an incomplete download?): "
                "delete it and download it again."
            ) from error
        raise
    return destination


def _already_extracted(archive: Path, destination: Path, stamp: dict) -> bool:
    """True when ``destination`` is the finished extraction of this archive; raises when it holds other things."""
    marker = destination / EXTRACTED_MARKER
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if previous == stamp:
            return True
        raise DatasetError(
            f"{destination} holds the extraction of {previous.get('archive', 'another archive')} "
            f"({previous.get('size', '?')} bytes), not of {archive.name} ({stamp['size']} bytes): delete "
            f"{destination} to extract the new archive."
        )
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise DatasetError(
            f"cannot extract {archive} into {destination}: it already exists and is not a finished "
            f"extraction (no {EXTRACTED_MARKER} inside). Move or delete it, then run again."
        )
    return False


def _list_members(archive: Path) -> tuple[str, list[_Member]]:
    """(``"zip"`` or ``"tar"``, the members) without extracting anything."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                return "zip", [
                    _Member(info.filename, info.file_size, kind="dir" if info.is_dir() else "file")
                    for info in handle.infolist()
                ]
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as handle:
                return "tar", [_tar_member(info) for info in handle.getmembers()]
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise DatasetError(
            f"cannot read {archive}: {error}. The archive is damaged (an incomplete download?): delete it "
            "and download it again."
        ) from error
    raise DatasetError(f"{archive} is not a zip or tar archive ({KIND_NAMES.get(sniff(archive), '?')}).")


def _tar_member(info: tarfile.TarInfo) -> _Member:
    if info.issym():
        return _Member(info.name, 0, info.linkname, "symlink")
    if info.islnk():
        return _Member(info.name, 0, info.linkname, "hardlink")
    if info.ischr() or info.isblk() or info.isfifo():
        return _Member(info.name, 0, None, "device")
    return _Member(info.name, info.size, None, "dir" if info.isdir() else "file")


def _is_absolute(name: str) -> bool:
    return name.startswith("/") or bool(re.match(r"[A-Za-z]:", name))


def _escapes(relative: str) -> bool:
    """Whether a normalised relative POSIX path leaves its folder."""
    return relative == ".." or relative.startswith("../")


def _unsafe_reason(member: _Member) -> str | None:
    """Why extracting ``member`` could write outside the destination, or None when it is safe."""
    name = member.name.replace("\\", "/")  # Windows-made zips may use backslashes
    if not name.strip("/"):
        return "has an empty name"
    if _is_absolute(name):
        return "has an absolute path"
    if ".." in name.split("/"):
        return "has a '..' path component (it would be written outside the destination)"
    if member.kind == "device":
        return "is a device or FIFO (a dataset archive has none)"
    if member.kind in ("symlink", "hardlink"):
        target = (member.link or "").replace("\\", "/")
        if _is_absolute(target):
            return f"is a {member.kind} to the absolute path {member.link!r}"
        # symlinks resolve from their own folder, hard links from the archive's root
        base = posixpath.dirname(name) if member.kind == "symlink" else ""
        if _escapes(posixpath.normpath(posixpath.join(base, target))):
            return f"is a {member.kind} pointing outside the destination ({member.link!r})"
    return None


def _check_space_for(archive: Path, destination: Path, needed: int) -> None:
    existing = next((folder for folder in [destination, *destination.parents] if folder.exists()), Path("."))
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise DatasetError(
            f"extracting {archive} needs {format_bytes(needed)} but only {format_bytes(free)} is free on "
            f"{existing}: free some space or move the scratch folder (GENUINE_POSED_SCRATCH, else the work "
            "directory GENUINE_POSED_WORK) to a bigger disk."
        )


def _extract_members(archive: Path, kind: str, target: Path) -> None:
    if kind == "zip":
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(target)
        return
    with tarfile.open(archive) as handle:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence
            handle.extractall(target, filter="data")
        else:  # pragma: no cover - older Pythons; members were checked above
            handle.extractall(target)

