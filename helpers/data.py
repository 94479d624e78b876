"""Get SASE-FE onto the disk, index it, check it and split it by subject.

The one call a notebook needs is :func:`prepare_dataset`; the pieces it is made of are public so that
each can be tested and reused:

1. **get the files**: :func:`download_from_drive` (gdown, resumable, checksum) and :func:`safe_extract`
   (refuses archives that would write outside their folder), or a folder (or archive) on a mounted Google
   Drive; :func:`find_dataset_root` then finds the folder that holds the subject folders. Where the dataset
   came from is recorded in the work folder (``dataset.json``), so later notebooks need no parameter;
2. **index**: :func:`index_videos` makes one row per video (labels from :mod:`helpers.labels`, metadata
   from :func:`helpers.video.probe`); an unreadable video is a row with ``readable=False``, never a crash;
   known variant spellings of a code (``D2N2S.MP4``) are indexed under the canonical code, and videos
   with the same bytes as another (:func:`identical_files`) are marked, not ``usable``;
3. **check**: :func:`validate_layout` reports missing, unknown, unreadable, renamed and identical files
   (the real SASE-FE has 643 of the 648 possible videos: missing ones are normal);
4. **split**: :func:`make_splits` / :func:`ensure_splits` assign every *subject* to one fold, once, and
   save the result, so that every notebook uses the same folds and no person is ever in both the
   training and the test side;
5. **normalise**: :func:`channel_stats` measures the per-channel pixel mean and std.

Layout: ``<root>/<subject>/<CODE>.MP4`` (``.mp4`` and any capitalisation of the code are accepted).
Importing this module has no side effects; gdown is imported only when something is downloaded.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import posixpath
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import labels, profiles, results, video

#: The columns of the video index, in order.
INDEX_COLUMNS: tuple[str, ...] = (
    "subject", "code", "emotion", "genuine", "authenticity", "label", "emotion_label", "path", "size",
    "fps", "frames", "duration", "width", "height", "readable", "error", "mapped_from", "identical_to",
    "usable",
)
_STRING_COLUMNS = ("subject", "code", "emotion", "authenticity", "path", "error", "mapped_from", "identical_to")
_BOOL_COLUMNS = ("genuine", "readable", "usable")
_INT_COLUMNS = ("label", "emotion_label", "size")
_NULLABLE_INT_COLUMNS = ("frames", "width", "height")  # missing (<NA>) for unreadable videos
_FLOAT_COLUMNS = ("fps", "duration")

VIDEO_SUFFIX = ".mp4"  # compared case-insensitively
EXTRACTED_MARKER = ".extracted.json"  # written last into a finished extraction
SOURCE_HINT = "set DATASET_DIR or SASE_FE_DRIVE_ID in the parameters cell"
_DRIVE_ID = re.compile(r"[-\w]{10,}")
_MOUNT_HINT = (
    "copy the file to your own Drive, mount Drive in Colab (from google.colab import drive; "
    "drive.mount('/content/drive')) and set DATASET_DIR to the extracted folder instead"
)


class DatasetError(RuntimeError):
    """The dataset cannot be downloaded, extracted, found, indexed or split; the message says what to do."""


# --------------------------------------------------------------------------------------------------
# Small shared utilities
# --------------------------------------------------------------------------------------------------


def subject_sort_key(subject: str) -> tuple:
    """Natural sort key: ``"2"`` before ``"10"`` and ``"S02"`` before ``"S10"``."""
    parts = re.split(r"(\d+)", str(subject))
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in parts if part)


def sorted_subjects(subjects: Iterable[str]) -> list[str]:
    """Unique subjects in natural order."""
    return sorted({str(subject) for subject in subjects}, key=subject_sort_key)


def format_bytes(size: float) -> str:
    """``1536`` -> ``'1.5 KB'`` (decimal units, like file managers and Google Drive)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def file_md5(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks (archives are gigabytes)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_ignored(path: Path) -> bool:
    """Hidden and ``_``-prefixed entries (``.DS_Store``, ``__MACOSX``, ``._N2H.MP4``) are never data."""
    return path.name.startswith((".", "_"))


def _preview(items: list[str], limit: int = 8) -> str:
    """``a, b, c and 12 more``: keeps reports readable when 600 things go wrong at once."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


# --------------------------------------------------------------------------------------------------
# 1. Download from Google Drive
# --------------------------------------------------------------------------------------------------


def parse_drive_id(file_id_or_url: str) -> str:
    """The file id in a bare id, a ``.../file/d/<id>/view`` link or a ``...?id=<id>`` link."""
    text = str(file_id_or_url).strip()
    if "/" in text or "?" in text:
        if "/folders/" in text:
            raise DatasetError(
                f"{text!r} is a Google Drive *folder* link; gdown downloads single files. Zip the "
                f"FakeTrue_DB folder and share the zip, or {_MOUNT_HINT}."
            )
        import warnings

        from gdown.parse_url import parse_url  # imported here: only downloads need gdown

        with warnings.catch_warnings():  # gdown 5 warns about /view links; we only want the id
            warnings.simplefilter("ignore")
            file_id, _ = parse_url(text if "://" in text else f"https://{text}")
        if not file_id:
            raise DatasetError(
                f"{text!r} is not a Google Drive file link: use a link like "
                "https://drive.google.com/file/d/<id>/view or the bare file id."
            )
        text = file_id
    if not _DRIVE_ID.fullmatch(text):
        raise DatasetError(
            f"{file_id_or_url!r} is not a Google Drive file id (ids are 25-44 letters, digits, '-' and "
            "'_'): copy the link from Share > Copy link and paste it whole."
        )
    return text


def download_from_drive(
    file_id_or_url: str,
    destination: Path,
    md5: str | None = None,
    quiet: bool = False,
    retries: int = 3,
) -> Path:
    """Download a Google Drive file (the SASE-FE archive) to ``destination`` and return that path.

    * ``file_id_or_url``: a bare id, a ``https://drive.google.com/file/d/<id>/view`` or ``?id=`` link.
    * Skips the download when ``destination`` exists and matches ``md5`` (or, without ``md5``, is an
      archive); a mismatching file is downloaded again.
    * Resumable: gdown keeps the bytes received so far in ``<destination>.download<random>.part``; a new
      call after a disconnect continues from there. Network hiccups inside one call are retried
      ``retries`` times, also from where they stopped.
    * ``destination`` only ever appears complete and verified (archive magic bytes, then ``md5``):
      the download lands next to it and is renamed at the end.

    Every failure is a :class:`DatasetError` naming the file id and what to do.
    """
    file_id = parse_drive_id(file_id_or_url)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists() and _can_reuse(destination, md5, quiet):
        return destination

    # gdown moves its finished .part file to `staged`; only a verified file is renamed to `destination`.
    staged = destination.with_name(destination.name + ".download")
    _gdown_fetch(file_id, staged, quiet=quiet, retries=retries)
    try:
        _check_archive_file(staged, f"Google Drive file {file_id}")
        if md5:
            _check_md5(staged, md5, f"Google Drive file {file_id}")
    except DatasetError:
        staged.unlink(missing_ok=True)  # complete but wrong: a retry must download it again
        raise
    os.replace(staged, destination)
    return destination


def _can_reuse(destination: Path, md5: str | None, quiet: bool) -> bool:
    """True when an existing download is the right file; otherwise delete it so it is fetched again."""
    if md5:
        actual = file_md5(destination)
        if actual == md5.strip().lower():
            return True
        reason = f"its md5 is {actual}, expected {md5.strip().lower()}"
    else:
        kind = _sniff(destination)
        if kind in _ARCHIVE_KINDS:
            return True
        reason = f"it is not an archive ({_KIND_NAMES.get(kind, kind)})"
    if not quiet:
        print(f"{destination} exists but {reason}: downloading it again")
    destination.unlink()
    return False


def _gdown_fetch(file_id: str, output: Path, quiet: bool, retries: int) -> None:
    """Run gdown and turn each of its failures into a :class:`DatasetError` that says what to do."""
    import gdown
    import requests

    progress: dict[str, int | None] = {}
    options = {
        "id": file_id,
        "output": str(output),
        "quiet": quiet,
        "resume": True,
        "retries": retries,
        "progress": lambda done, total: progress.update(done=done, total=total),
    }
    # gdown 5 (which Colab may have) lacks `retries` and `progress`: pass only what it knows.
    options = _supported_options(gdown.download, options)
    download_error = getattr(gdown.exceptions, "DownloadError", ())
    cancelled = getattr(gdown.exceptions, "DownloadCancelled", ())
    try:
        gdown.download(**options)
    except gdown.exceptions.FileURLRetrievalError as error:
        raise _retrieval_error(file_id, str(error)) from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        raise _retrieval_error(file_id, f"HTTP {status}: {error}", status) from error
    except requests.RequestException as error:  # before OSError: requests' errors are OSErrors
        raise _interrupted_error(file_id, output, error) from error
    except cancelled as error:
        raise _interrupted_error(file_id, output, error) from error
    except download_error as error:
        raise _interrupted_error(file_id, output, error) from error
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise _disk_full_error(file_id, output, progress.get("total")) from error
        raise DatasetError(
            f"cannot write the download of Google Drive file {file_id} to {output.parent}: {error}. "
            "Check that the folder is writable (and that Drive is still mounted)."
        ) from error


def _supported_options(function, options: dict) -> dict:
    import inspect

    accepted = inspect.signature(function).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in accepted.values()):
        return options
    return {name: value for name, value in options.items() if name in accepted}


def _retrieval_error(file_id: str, detail: str, status: int | None = None) -> DatasetError:
    lowered = detail.lower()
    if status == 429 or "too many users" in lowered or "quota" in lowered or "24 hours" in lowered:
        return DatasetError(
            f"Google Drive refuses to serve file {file_id} now: too many downloads of it recently (its "
            f"download quota is exceeded). Wait up to 24 h and run again, or {_MOUNT_HINT}.\n"
            f"Google Drive said: {detail}"
        )
    return DatasetError(
        f"cannot download Google Drive file {file_id}: the id is wrong or the file is not public. Check "
        "the id, and share the file as 'Anyone with the link' (Share > General access). If it is "
        f"shared and the id is right, its download quota may be exceeded: wait 24 h, or {_MOUNT_HINT}.\n"
        f"gdown said: {detail}"
    )


def _partial_files(output: Path) -> list[Path]:
    """gdown's resumable leftovers: ``<name><8 random characters>.part`` next to ``output``."""
    if not output.parent.is_dir():
        return []
    return sorted(output.parent.glob(f"{_glob_escape(output.name)}*.part"))


def _glob_escape(text: str) -> str:
    """Escape glob wildcards in a literal file name."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _interrupted_error(file_id: str, output: Path, error: BaseException) -> DatasetError:
    parts = _partial_files(output)
    kept = (
        f"The {format_bytes(sum(part.stat().st_size for part in parts))} received so far are kept in "
        f"{', '.join(str(part) for part in parts)}: running again resumes from there (delete it to "
        "start over)."
        if parts
        else "Run again to retry."
    )
    return DatasetError(
        f"the download of Google Drive file {file_id} did not finish ({type(error).__name__}: {error}). "
        f"{kept}"
    )


def _disk_full_error(file_id: str, output: Path, total: int | None) -> DatasetError:
    free = shutil.disk_usage(output.parent).free
    needed = f"the archive is {format_bytes(total)}" if total else "the archive size is unknown"
    return DatasetError(
        f"the disk is full while downloading Google Drive file {file_id} to {output.parent}: {needed}, "
        f"and extracting it needs about as much again; {format_bytes(free)} is free. Free some space or "
        "point the scratch folder (GENUINE_POSED_SCRATCH, else the work directory GENUINE_POSED_WORK) to a "
        "bigger disk, then run again (the download resumes)."
    )


def _check_md5(path: Path, expected: str, source: str) -> None:
    expected = expected.strip().lower()
    actual = file_md5(path)
    if actual != expected:
        raise DatasetError(
            f"{source} downloaded to {path} has md5 {actual}, expected {expected}: the download is damaged "
            "or the file on Drive is a different version. The bad file was deleted; run again to download "
            "it again, or correct (or remove) the md5 value if the archive on Drive was changed on purpose."
        )


# --- archive sniffing: what did we actually get? --------------------------------------------------

_ARCHIVE_KINDS = frozenset({"zip", "tar", "gzip", "bzip2", "xz"})
_KIND_NAMES = {
    "html": "a web page", "rar": "a RAR archive", "7z": "a 7-Zip archive", "empty": "an empty file",
    "unknown": "not a zip or tar archive",
}


def _sniff(path: Path) -> str:
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


def _check_archive_file(path: Path, source: str, advice: str = "Check that the id is the archive's.") -> None:
    kind = _sniff(path)
    if kind in _ARCHIVE_KINDS:
        return
    if kind == "html":
        title = re.search(rb"<title>(.*?)</title>", path.read_bytes()[:65536], re.I | re.S)
        page = f" (page title: {title.group(1).decode(errors='replace').strip()!r})" if title else ""
        raise DatasetError(
            f"{source} arrived as a web page{page}, not as the archive. Google Drive sends a page instead "
            "of the file when it is not shared as 'Anyone with the link', when too many people downloaded "
            "it recently (quota: wait 24 h), or when the link is a folder or a Google Docs file. Open the "
            f"link in a private browser window to see which; or {_MOUNT_HINT}."
        )
    if kind in ("rar", "7z"):
        raise DatasetError(f"{source} is {_KIND_NAMES[kind]}: re-pack the dataset as .zip or .tar.gz.")
    raise DatasetError(
        f"{source} ({path.name}, {format_bytes(path.stat().st_size)}) is {_KIND_NAMES.get(kind, kind)}: "
        f"expected a .zip or .tar(.gz) of the FakeTrue_DB folder. {advice}"
    )


# --------------------------------------------------------------------------------------------------
# 2. Safe extraction
# --------------------------------------------------------------------------------------------------


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
    raise DatasetError(f"{archive} is not a zip or tar archive ({_KIND_NAMES.get(_sniff(archive), '?')}).")


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


# --------------------------------------------------------------------------------------------------
# 3. Find the folder that holds the subject folders
# --------------------------------------------------------------------------------------------------


def video_code(path: Path) -> str | None:
    """Canonical code of a ``<CODE>.mp4`` file name (any case, or a known variant spelling such as
    ``D2N2S.MP4``: see ``labels.CODE_VARIANTS``), or None for anything else."""
    path = Path(path)
    resolved = labels.resolve_code(path.stem) if path.suffix.lower() == VIDEO_SUFFIX else None
    return resolved[0] if resolved else None


def _is_variant_name(path: Path) -> bool:
    resolved = labels.resolve_code(Path(path).stem)
    return bool(resolved and resolved[1])


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(
            (child for child in folder.iterdir() if child.is_dir() and not _is_ignored(child)),
            key=lambda child: subject_sort_key(child.name),
        )
    except OSError:  # unreadable folder on a flaky mount: simply not a candidate
        return []


def _has_videos(folder: Path) -> bool:
    try:
        return any(video_code(item) and not _is_ignored(item) for item in folder.iterdir())
    except OSError:
        return False


def _subject_folder_count(folder: Path) -> int:
    return sum(_has_videos(child) for child in _subfolders(folder))


def find_dataset_root(path: Path | str, max_depth: int = 2) -> Path:
    """The folder under ``path`` that holds the subject folders (``<root>/<subject>/<CODE>.MP4``).

    ``path`` may be that folder, an extraction folder containing ``FakeTrue_DB``, or one wrapper
    folder above that (``max_depth`` levels are searched). ``__MACOSX``, hidden and ``_`` folders are
    ignored. The shallowest folder with subject folders wins (the most subjects, then the name
    ``FakeTrue_DB``, break ties). Raises :class:`DatasetError` listing what is there otherwise.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(
            f"the dataset folder {path} does not exist. On Colab, mount Drive first "
            "(from google.colab import drive; drive.mount('/content/drive')) and check the path "
            "(it usually starts with /content/drive/MyDrive/)."
        )
    if not path.is_dir():
        raise DatasetError(
            f"{path} is a file, not a folder: extract the archive first, or give it to prepare_dataset as "
            "dataset_dir (DATASET_DIR), which extracts it."
        )
    level = [path]
    for _ in range(max_depth + 1):
        scored = [(_subject_folder_count(folder), folder) for folder in level]
        found = [(count, folder) for count, folder in scored if count]
        if found:
            best = max(found, key=lambda item: (item[0], item[1].name == profiles.DATASET_DIRNAME))
            return best[1]
        level = [child for folder in level for child in _subfolders(folder)]
    raise DatasetError(_not_found_message(path))


def _not_found_message(path: Path) -> str:
    try:
        entries = sorted(path.iterdir(), key=lambda item: item.name.lower())
    except OSError as error:
        entries, listing = [], f"(cannot list it: {error})"
    else:
        names = [f"{entry.name}/" if entry.is_dir() else entry.name for entry in entries]
        listing = _preview(names, 15) if names else "(it is empty)"
    hint = ""
    if _has_videos(path):
        hint = f" {path} itself holds videos: it looks like one subject's folder, pass its parent {path.parent}."
    return (
        f"no SASE-FE videos found under {path}: expected <root>/<subject>/<CODE>.MP4 (e.g. "
        f"{profiles.DATASET_DIRNAME}/1/N2H.MP4, codes {', '.join(labels.CODES)}). Found: {listing}.{hint}"
    )


# --------------------------------------------------------------------------------------------------
# 4. Index the videos
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Video:
    subject: str
    code: str  # canonical spelling
    path: Path
    mapped_from: str  # the variant spelling in the file name (``D2N2S``), "" for a code in any case


@dataclass(frozen=True)
class _Scan:
    videos: list[_Video]  # in subject then code order
    unknown: list[dict]  # rows of LayoutReport.unknown


def _scan(root: Path) -> _Scan:
    """Walk ``root/<subject>/`` once: the videos to index, and every other entry with a reason."""
    root = Path(root).expanduser().absolute()  # absolute paths in the index work from any notebook folder
    if not root.is_dir():
        raise DatasetError(f"the dataset folder {root} does not exist or is not a folder")
    videos: list[_Video] = []
    unknown: list[dict] = []
    for folder in sorted(root.iterdir(), key=lambda item: subject_sort_key(item.name)):
        if _is_ignored(folder) or not folder.is_dir():
            continue  # top-level files (ground_truth.csv, synthetic.json, a README) are not subjects
        subject = folder.name
        by_code: dict[str, list[Path]] = {}
        others: list[dict] = []
        for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if _is_ignored(item):
                continue
            code = video_code(item) if item.is_file() else None
            if code:
                by_code.setdefault(code, []).append(item)
            else:
                others.append(_unknown_row(subject, item, _unknown_reason(item)))
        if not by_code:
            unknown.append(_unknown_row(subject, folder, "folder without SASE-FE videos"))
            continue
        for code in labels.CODES:
            if code not in by_code:
                continue
            # Prefer a code over a variant spelling, then the canonical spelling, so that the choice does
            # not depend on the file system order.
            chosen, *duplicates = sorted(
                by_code[code], key=lambda p: (_is_variant_name(p), p.name != f"{code}.MP4", p.name)
            )
            videos.append(_Video(subject, code, chosen, chosen.stem if _is_variant_name(chosen) else ""))
            others += [_unknown_row(subject, extra, _duplicate_reason(extra, chosen, code))
                       for extra in duplicates]
        unknown += others
    return _Scan(videos, unknown)


def _unknown_reason(item: Path) -> str:
    if item.is_dir():
        return "folder inside a subject folder"
    if item.suffix.lower() == VIDEO_SUFFIX:
        nearest = labels.nearest_codes(item.stem)
        return f"{item.stem!r} is not a SASE-FE code" + (f" (nearest: {', '.join(nearest)})" if nearest else "")
    return "not an .mp4 video"


def _duplicate_reason(extra: Path, chosen: Path, code: str) -> str:
    if _is_variant_name(extra):
        return f"duplicate of {chosen.name} ({extra.stem} is a variant spelling of {code})"
    return f"duplicate of {chosen.name}"


def _unknown_row(subject: str, item: Path, reason: str) -> dict:
    return {"subject": subject, "name": item.name, "path": str(item), "reason": reason}


def _probe_one(path: str) -> tuple[dict, str]:
    """(metadata, "") or ({}, why it cannot be read): a bad video must never stop the indexing."""
    try:
        return asdict(video.probe(path)), ""
    except video.VideoReadError as error:
        return {}, error.reason
    except Exception as error:  # noqa: BLE001 - anything a broken file can trigger is reported, not raised
        return {}, f"{type(error).__name__}: {error}"


def _probe_all(paths: list[str], workers: int, progress: bool) -> list[tuple[dict, str]]:
    from tqdm.auto import tqdm

    bar = dict(total=len(paths), desc="probing videos", unit="video", disable=not progress or not paths)
    if workers <= 1:
        return list(tqdm(map(_probe_one, paths), **bar))
    # Probing is I/O (a mounted Drive) plus FFmpeg code that releases the GIL: threads are enough.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(_probe_one, paths), **bar))


def identical_files(paths: Iterable[Path]) -> list[list[Path]]:
    """Groups of two or more files with the same bytes, each group and the groups in the order given.

    Only files whose sizes collide are read (and hashed): files of different sizes cannot be identical,
    and reading all 643 videos of SASE-FE again from a mounted Drive would take minutes. A file that
    cannot be read is left out of the comparison (indexing reports it as unreadable anyway).
    """
    paths = [Path(path) for path in paths]
    by_size: dict[int, list[Path]] = {}
    for path in paths:
        by_size.setdefault(path.stat().st_size, []).append(path)
    groups: list[list[Path]] = []
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        by_digest: dict[str, list[Path]] = {}
        for path in same_size:
            try:
                by_digest.setdefault(file_md5(path), []).append(path)
            except OSError:
                continue
        groups += [group for group in by_digest.values() if len(group) > 1]
    position = {path: number for number, path in enumerate(paths)}
    return sorted(groups, key=lambda group: position[group[0]])


def video_key(subject: str, code: str) -> str:
    """``"12/N2H"``: how reports and the ``identical_to`` column name one video of the index."""
    return f"{subject}/{code}"


def _identical_to(videos: list[_Video]) -> list[str]:
    """For each video, the keys of the *other* videos with the same bytes (space-separated), or ""."""
    key_of = {video.path: video_key(video.subject, video.code) for video in videos}
    others = {path: "" for path in key_of}
    for group in identical_files(video.path for video in videos):
        for path in group:
            others[path] = " ".join(key_of[other] for other in group if other != path)
    return [others[video.path] for video in videos]


def _index_frame(videos: list[_Video], probes: list[tuple[dict, str]] | None) -> pd.DataFrame:
    rows = []
    identical_to = _identical_to(videos)
    for position, item in enumerate(videos):
        info = labels.parse_code(item.code)
        metadata, error = probes[position] if probes is not None else ({}, "")
        rows.append({
            "subject": item.subject,
            "code": item.code,
            "emotion": info.emotion,
            "genuine": info.genuine,
            "authenticity": labels.AUTHENTICITY[info.authenticity_index],
            "label": info.label,
            "emotion_label": info.emotion_index,
            "path": str(item.path),
            "size": item.path.stat().st_size,
            **{key: metadata.get(key) for key in ("fps", "frames", "duration", "width", "height")},
            "readable": not error,
            "error": error,
            "mapped_from": item.mapped_from,
            "identical_to": identical_to[position],
            # The same bytes under two labels is label noise (or one recording on both sides of a fold):
            # no copy can be trusted, so none is used.
            "usable": not error and not identical_to[position],
        })
    return _typed(pd.DataFrame(rows, columns=list(INDEX_COLUMNS)))


def _as_bool(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes"))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The index's dtypes, the same after building and after reading the CSV (pandas 2 and 3)."""
    frame = frame.copy()
    for column in _STRING_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str)
    for column in _BOOL_COLUMNS:
        frame[column] = _as_bool(frame[column])
    for column in _INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    for column in _NULLABLE_INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame.reset_index(drop=True)


def index_videos(root: Path, probe: bool = True, workers: int = 4, progress: bool = True) -> pd.DataFrame:
    """One row per video under ``root/<subject>/``, sorted by subject (naturally) then code order.

    Columns (``INDEX_COLUMNS``): subject, code (canonical spelling), emotion, genuine, authenticity
    ("genuine"/"posed"), label (0-11, ``labels.CODES`` order), emotion_label (0-5), path, size (bytes),
    fps, frames, duration (s), width, height, readable, error (empty when fine), mapped_from (the variant
    spelling of the file name, e.g. ``D2N2S`` for code D2N2Sur; empty for a code), identical_to (the
    other ``subject/code`` videos with the same bytes, space-separated; empty when none), usable (readable
    and identical to no other video: what extraction, training and evaluation use).
    ``probe=False`` skips opening the videos: metadata is missing and ``readable`` is assumed True.
    Unreadable videos get ``readable=False`` and the reason in ``error``; nothing raises for them.
    """
    videos = _scan(Path(root)).videos
    probes = _probe_all([str(item.path) for item in videos], workers, progress) if probe else None
    return _index_frame(videos, probes)


def save_index(index: pd.DataFrame, path: Path) -> Path:
    """Write the index as CSV, atomically."""
    return results.write_csv(path, index)


def load_index(path: Path) -> pd.DataFrame:
    """Read an index CSV written by :func:`save_index` with the original dtypes (subject ``"01"`` stays text)."""
    numeric = {column: [""] for column in (*_INT_COLUMNS, *_NULLABLE_INT_COLUMNS, *_FLOAT_COLUMNS)}
    frame = pd.read_csv(path, dtype={column: str for column in _STRING_COLUMNS},
                        keep_default_na=False, na_values=numeric)
    missing = [column for column in INDEX_COLUMNS if column not in frame.columns]
    if missing:
        raise DatasetError(f"{path} is not a video index (missing columns {', '.join(missing)}): delete it")
    return _typed(frame[list(INDEX_COLUMNS)])


def cached_index(root: Path, cache: Path, workers: int = 4, progress: bool = True) -> pd.DataFrame:
    """:func:`index_videos`, reusing ``cache`` while the set of video files (path and size) is unchanged.

    Probing 643 videos on a mounted Drive takes minutes; listing them takes seconds. A cache written
    before a column was added to ``INDEX_COLUMNS`` cannot be read and is re-made.
    """
    root, cache = Path(root), Path(cache)
    videos = _scan(root).videos
    current = {(str(item.path), item.path.stat().st_size) for item in videos}
    if cache.is_file():
        try:
            cached = load_index(cache)
        except (DatasetError, ValueError, KeyError) as error:
            print(f"ignoring the unreadable index cache {cache} ({error}): re-indexing")
        else:
            if set(zip(cached["path"], cached["size"].astype(int))) == current:
                return cached
            print(f"the videos under {root} changed since {cache} was written: re-indexing")
    probes = _probe_all([str(item.path) for item in videos], workers, progress)
    index = _index_frame(videos, probes)
    save_index(index, cache)
    return index


# --------------------------------------------------------------------------------------------------
# 5. Validate the layout
# --------------------------------------------------------------------------------------------------


def _empty_rows(*columns: str) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass
class LayoutReport:
    """What is present, missing, unknown, unreadable, renamed and duplicated under a SASE-FE root."""

    root: Path
    subjects: list[str]
    n_videos: int
    missing: pd.DataFrame  # subject, code: pairs with no video
    unknown: pd.DataFrame  # subject, name, path, reason: entries of subject folders that are not videos
    unreadable: pd.DataFrame  # the index rows with readable == False
    # subject, name, code, path: files named with a variant spelling, indexed under their code
    mapped: pd.DataFrame = field(default_factory=lambda: _empty_rows("subject", "name", "code", "path"))
    # the index rows with the same bytes as another video (identical_to not empty): left out
    identical: pd.DataFrame = field(default_factory=lambda: _empty_rows(*INDEX_COLUMNS))

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_expected(self) -> int:
        return self.n_subjects * len(labels.CODES)

    @property
    def n_missing(self) -> int:
        return len(self.missing)

    @property
    def n_unknown(self) -> int:
        return len(self.unknown)

    @property
    def n_unreadable(self) -> int:
        return len(self.unreadable)

    @property
    def n_mapped(self) -> int:
        return len(self.mapped)

    @property
    def n_identical(self) -> int:
        """Videos that have the same bytes as at least one other (all of them are left out)."""
        return len(self.identical)

    @property
    def identical_groups(self) -> list[list[str]]:
        """``[["12/N2H", "12/N2S", "12/N2D"], ...]``: each set of identical videos once, in index order."""
        keys = [video_key(row.subject, row.code) for row in self.identical.itertuples()]
        position = {key: number for number, key in enumerate(keys)}
        groups: dict[tuple[str, ...], None] = {}
        for key, others in zip(keys, self.identical["identical_to"].astype(str)):
            members = sorted({key, *others.split()}, key=lambda member: position.get(member, len(keys)))
            groups.setdefault(tuple(members), None)
        return [list(group) for group in groups]

    @property
    def counts(self) -> dict[str, int]:
        return {"subjects": self.n_subjects, "videos": self.n_videos, "expected": self.n_expected,
                "missing": self.n_missing, "unknown": self.n_unknown, "unreadable": self.n_unreadable,
                "mapped": self.n_mapped, "identical": self.n_identical}

    @property
    def ok(self) -> bool:
        """Usable as is: at least one video and none unreadable (missing and unknown files are normal)."""
        return self.n_videos > 0 and self.n_unreadable == 0

    def summary(self) -> str:
        """A few lines for a human, e.g. ``643 of 648 videos present (5 missing: ...)``."""
        missing = [f"{row.subject}/{row.code}" for row in self.missing.itertuples()]
        unknown = [f"{row.subject}/{row.name} ({row.reason})" for row in self.unknown.itertuples()]
        unreadable = [
            f"{row.subject}/{Path(row.path).name} ({row.error})" for row in self.unreadable.itertuples()
        ]
        mapped = [f"{row.subject}/{row.name} -> {row.code}" for row in self.mapped.itertuples()]
        identical = [" = ".join(group) for group in self.identical_groups]
        lines = [
            f"SASE-FE layout of {self.root}: {self.n_subjects} subjects",
            f"  {self.n_videos} of {self.n_expected} videos present"
            + (f" ({self.n_missing} missing: {_preview(missing)})" if missing else " (none missing)"),
            f"  {self.n_unreadable} unreadable"
            + (f" (skipped; re-copy or remove them): {_preview(unreadable, 5)}" if unreadable else ""),
            f"  {self.n_unknown} unknown file{'s' if self.n_unknown != 1 else ''}"
            + (f" (ignored): {_preview(unknown)}" if unknown else ""),
            f"  {self.n_mapped} file name{'s' if self.n_mapped != 1 else ''} mapped to "
            f"{'their' if self.n_mapped != 1 else 'its'} code" + (f": {_preview(mapped)}" if mapped else ""),
            f"  {self.n_identical} identical video{'s' if self.n_identical != 1 else ''} under different labels"
            + (f", left out of training and evaluation: {_preview(identical, 5)}" if identical else ""),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def validate_layout(root: Path, index: pd.DataFrame) -> LayoutReport:
    """Compare ``index`` with the expected 12 codes per subject and list the files it does not use."""
    root = Path(root)
    subjects = sorted_subjects(index["subject"])
    present = set(zip(index["subject"].astype(str), index["code"].astype(str)))
    missing = pd.DataFrame(
        [(subject, code) for subject in subjects for code in labels.CODES if (subject, code) not in present],
        columns=["subject", "code"],
    )
    used = set(index["path"].astype(str))
    unknown = [row for row in _scan(root).unknown if row["path"] not in used]
    unknown_frame = pd.DataFrame(unknown, columns=["subject", "name", "path", "reason"])
    unreadable = index[~_as_bool(index["readable"])].reset_index(drop=True)
    renamed = index[_text(index, "mapped_from") != ""].reset_index(drop=True)
    mapped = pd.DataFrame(
        {"subject": renamed["subject"].astype(str), "name": [Path(path).name for path in renamed["path"]],
         "code": renamed["code"].astype(str), "path": renamed["path"].astype(str)},
        columns=["subject", "name", "code", "path"],
    ).reset_index(drop=True)
    identical = index[_text(index, "identical_to") != ""].reset_index(drop=True)
    return LayoutReport(root, subjects, len(index), missing, unknown_frame, unreadable, mapped, identical)


def _text(index: pd.DataFrame, column: str) -> pd.Series:
    """A text column of the index as str, all "" when the frame predates the column (hand-made frames)."""
    if column not in index.columns:
        return pd.Series("", index=index.index, dtype=object)
    return index[column].fillna("").astype(str)


def usable_rows(index: pd.DataFrame) -> pd.Series:
    """Boolean mask of the videos to extract, train and evaluate on: readable, and not identical to another."""
    if "usable" in index.columns:
        return _as_bool(index["usable"])
    return _as_bool(index["readable"]) & (_text(index, "identical_to") == "")


# --------------------------------------------------------------------------------------------------
# 6. Subject-independent folds
# --------------------------------------------------------------------------------------------------


def make_splits(index: pd.DataFrame, n_folds: int, seed: int = 0) -> pd.DataFrame:
    """Assign every subject to one of ``n_folds`` folds: ``DataFrame(subject, fold)``.

    Subjects are shuffled with ``seed`` and dealt round-robin, so fold sizes differ by at most one
    subject and the same subjects and seed always give the same folds.
    """
    subjects = sorted_subjects(index["subject"])
    if n_folds < 2:
        raise DatasetError(f"n_folds must be at least 2, got {n_folds}")
    if len(subjects) < n_folds:
        raise DatasetError(
            f"cannot make {n_folds} subject-independent folds from {len(subjects)} subject(s) "
            f"({', '.join(subjects)}): every fold needs at least one subject. Use fewer folds or more subjects."
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    folds = {subjects[position]: rank % n_folds for rank, position in enumerate(order)}
    return pd.DataFrame({"subject": subjects, "fold": [folds[subject] for subject in subjects]}).astype(
        {"subject": str, "fold": "int64"}
    )


def save_splits(splits: pd.DataFrame, path: Path) -> Path:
    """Write the folds as CSV, atomically."""
    return results.write_csv(path, splits[["subject", "fold"]])


def load_splits(path: Path) -> pd.DataFrame:
    """Read folds written by :func:`save_splits` (subjects stay text: ``"01"`` is not ``1``)."""
    path = Path(path)
    splits = pd.read_csv(path, dtype={"subject": str}, keep_default_na=False)
    if list(splits.columns[:2]) != ["subject", "fold"] or splits["subject"].duplicated().any():
        raise DatasetError(f"{path} is not a splits file (columns subject, fold; one row per subject): delete it")
    return splits[["subject", "fold"]].astype({"subject": str, "fold": "int64"})


def ensure_splits(index: pd.DataFrame, path: Path, n_folds: int, seed: int = 0) -> pd.DataFrame:
    """The saved folds at ``path``, created on first use; never silently re-split.

    Every notebook must use the same folds, so an existing file whose subjects or number of folds
    differ from ``index`` is an error saying what differs (delete the file to re-split on purpose).
    """
    path = Path(path)
    if not path.exists():
        splits = make_splits(index, n_folds, seed)
        save_splits(splits, path)
        return splits
    splits = load_splits(path)
    wanted, saved = set(sorted_subjects(index["subject"])), set(splits["subject"])
    problems = []
    if wanted - saved:
        problems.append(f"subjects not in the file: {_preview(sorted_subjects(wanted - saved))}")
    if saved - wanted:
        problems.append(f"subjects in the file but not in the data: {_preview(sorted_subjects(saved - wanted))}")
    saved_folds = splits["fold"].nunique()
    if saved_folds != n_folds:
        problems.append(f"the file has {saved_folds} folds, {n_folds} are asked for")
    if problems:
        raise DatasetError(
            f"the saved folds in {path} do not match this dataset: {'; '.join(problems)}. Every notebook "
            "must use the same folds, so they are not re-made silently: if the dataset changed on purpose, "
            "delete the file to re-split (and re-run the notebooks that trained on the old folds)."
        )
    return splits


def fold_subjects(splits: pd.DataFrame, fold: int) -> tuple[list[str], list[str]]:
    """(training subjects, test subjects) of ``fold``, each in natural order."""
    folds = sorted(int(value) for value in splits["fold"].unique())
    if int(fold) not in folds:
        raise ValueError(f"fold {fold} does not exist; the splits have folds {folds}")
    is_test = splits["fold"].astype(int) == int(fold)
    return sorted_subjects(splits.loc[~is_test, "subject"]), sorted_subjects(splits.loc[is_test, "subject"])


def split_index(index: pd.DataFrame, splits: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, test rows) of ``index`` for ``fold``; no subject is ever on both sides."""
    train_subjects, test_subjects = fold_subjects(splits, fold)
    unassigned = set(index["subject"].astype(str)) - set(train_subjects) - set(test_subjects)
    if unassigned:
        raise DatasetError(
            f"subjects without a fold: {_preview(sorted_subjects(unassigned))}; re-create the splits"
        )
    subjects = index["subject"].astype(str)
    train = index[subjects.isin(train_subjects)].reset_index(drop=True)
    test = index[subjects.isin(test_subjects)].reset_index(drop=True)
    overlap = set(train["subject"]) & set(test["subject"])
    if overlap:  # not `assert`: this must hold under `python -O` too
        raise AssertionError(f"subjects on both sides of fold {fold}: {sorted(overlap)}")
    return train, test


# --------------------------------------------------------------------------------------------------
# 7. The one call of every notebook
# --------------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """An indexed, validated and split SASE-FE (or synthetic) dataset."""

    root: Path
    index: pd.DataFrame
    report: LayoutReport
    splits: pd.DataFrame
    profile: profiles.Profile

    @property
    def n_folds(self) -> int:
        return int(self.splits["fold"].nunique())

    @property
    def readable(self) -> pd.DataFrame:
        """The index without the unreadable videos (still with the identical ones: see ``usable``)."""
        return self.index[self.index["readable"]].reset_index(drop=True)

    @property
    def usable(self) -> pd.DataFrame:
        """The index rows that frame extraction, training and evaluation use: readable videos whose bytes
        are not those of another video (identical files under different labels are label noise)."""
        return self.index[usable_rows(self.index)].reset_index(drop=True)

    def fold(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training rows, test rows) of the usable videos for ``fold``."""
        return split_index(self.usable, self.splits, fold)

    def describe(self) -> str:
        """A short text for the top of a notebook."""
        readable = self.readable
        sizes = self.splits.groupby("fold")["subject"].count().tolist()
        identical = self.report.n_identical
        left_out = f", {identical} identical under different labels left out" if identical else ""
        text = (
            f"profile {self.profile.name} ({'synthetic' if self.profile.uses_synthetic_data else 'real'} "
            f"SASE-FE) at {self.root}: {self.report.n_subjects} subjects, {self.report.n_videos} videos "
            f"({self.report.n_unreadable} unreadable, {self.report.n_missing} missing{left_out}); "
            f"{self.n_folds} subject-independent folds of {'/'.join(map(str, sizes))} subjects"
        )
        if len(readable):
            text += (
                f"; median {readable['fps'].median():g} fps, {readable['duration'].median():.1f} s, "
                f"{int(readable['width'].median())}x{int(readable['height'].median())} px"
            )
        return text

    def __str__(self) -> str:
        return self.describe()


def prepare_dataset(
    profile: str,
    paths: profiles.RunPaths | None = None,
    drive_id: str | None = None,
    dataset_dir: Path | str | None = None,
    md5: str | None = None,
    workers: int = 4,
    keep_archive: bool = False,
) -> Dataset:
    """Get, index, validate and split the dataset of ``profile``; prints the layout report.

    * synthetic profiles (``smoke``, ``demo``): generated under ``paths.dataset`` if missing;
    * ``full``: ``dataset_dir`` if given: the folder holding the subject folders (or one above it), e.g.
      on a mounted Drive, or a .zip/.tar(.gz) of it, extracted into ``paths.extraction`` (the archive
      itself is left alone); else the archive ``drive_id`` is downloaded into ``paths.downloads`` and
      extracted into ``paths.extraction`` (once: the download is deleted after a successful extraction
      unless ``keep_archive``). ``md5`` checks the archive before it is extracted.
      Where the dataset came from is recorded in ``paths.dataset_record``; a call without ``drive_id``
      and ``dataset_dir`` (notebooks 03-05) uses that record, and locates the dataset the same way again
      (e.g. re-extracts the archive when a new Colab VM lost the extracted copy). Arguments win over the
      record, and update it.

    The index is cached in ``paths.index`` (re-made when the video files change) and the folds are
    saved once in ``paths.splits`` with ``profile.n_folds`` folds.
    """
    spec = profiles.get_profile(profile)
    paths = paths or profiles.paths_for(profile)
    if paths.profile != spec.name:
        raise ValueError(f"paths are for profile {paths.profile!r}, not {spec.name!r}")
    root = _locate_root(spec, paths, drive_id, dataset_dir, md5, workers, keep_archive)
    index = cached_index(root, paths.index, workers=workers)
    report = validate_layout(root, index)
    print(report.summary())
    if report.n_videos == 0:
        raise DatasetError(f"no videos found under {root}: nothing to work with")
    splits = ensure_splits(index, paths.splits, spec.n_folds)
    return Dataset(root, index, report, splits, spec)


def _locate_root(
    spec: profiles.Profile,
    paths: profiles.RunPaths,
    drive_id: str | None,
    dataset_dir: Path | str | None,
    md5: str | None,
    workers: int,
    keep_archive: bool,
) -> Path:
    if spec.synthetic is not None:
        if drive_id or dataset_dir:
            print(f"profile {spec.name} uses synthetic data: DATASET_DIR / SASE_FE_DRIVE_ID are ignored")
        # imported here: generating needs image libraries that the real-data path does not
        synthetic = importlib.import_module("helpers.synthetic")
        return find_dataset_root(synthetic.ensure_dataset(paths.dataset, spec.synthetic, workers=workers))
    if drive_id or dataset_dir:
        source = _source(drive_id, dataset_dir, md5)
        root = _locate_real(paths, source, keep_archive)
    else:
        source = _recorded_source(paths, md5)
        try:
            root = _locate_real(paths, source, keep_archive)
        except DatasetError as error:
            raise DatasetError(
                f"the dataset location recorded in {paths.dataset_record} ({_describe_source(source)}) does "
                f"not work now: {error}\nTo use another location, {SOURCE_HINT} (this updates the record)."
            ) from error
    _record_source(paths, source, root)
    return root


def _source(drive_id: str | None, dataset_dir: Path | str | None, md5: str | None) -> dict:
    """What the record keeps: the parsed Drive id, the absolute DATASET_DIR (notebooks run from other
    folders than the one the path was typed in) and the md5."""
    return {
        "drive_id": parse_drive_id(drive_id) if drive_id else None,
        "dataset_dir": str(Path(dataset_dir).expanduser().absolute()) if dataset_dir else None,
        "md5": md5.strip().lower() if md5 else None,
    }


def _describe_source(source: dict) -> str:
    if source.get("dataset_dir"):
        return f"DATASET_DIR {source['dataset_dir']}"
    return f"SASE_FE_DRIVE_ID {source.get('drive_id')}"


def read_dataset_record(paths: profiles.RunPaths) -> dict | None:
    """The content of ``paths.dataset_record`` (drive_id, dataset_dir, md5, root, recorded_at), None when
    no notebook has recorded the dataset's location yet."""
    path = paths.dataset_record
    if not path.is_file():
        return None
    try:
        record = results.read_json(path)
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"cannot read the dataset record {path} ({error}): delete it, and {SOURCE_HINT} of notebook 01 "
            "to record the location again."
        ) from error
    if not isinstance(record, dict) or not (record.get("drive_id") or record.get("dataset_dir")):
        raise DatasetError(
            f"{path} is not a dataset record (it names neither a drive_id nor a dataset_dir): delete it, and "
            f"{SOURCE_HINT} of notebook 01 to record the location again."
        )
    return record


def _recorded_source(paths: profiles.RunPaths, md5: str | None) -> dict:
    record = read_dataset_record(paths)
    if record is None:
        raise DatasetError(
            f"profile {paths.profile} needs the real SASE-FE, and no notebook has recorded where it is yet "
            f"({paths.dataset_record} does not exist): {SOURCE_HINT}. DATASET_DIR: the FakeTrue_DB folder, or "
            "a .zip/.tar.gz of it, e.g. on a mounted Drive (/content/drive/MyDrive/...); SASE_FE_DRIVE_ID: "
            "the id or link of a zip of FakeTrue_DB on Google Drive, shared as 'Anyone with the link'. "
            "Notebook 01 records the location in the work directory for the later notebooks: run it first "
            "with one of the two set (and the same work directory)."
        )
    return {"drive_id": record.get("drive_id"), "dataset_dir": record.get("dataset_dir"),
            "md5": md5.strip().lower() if md5 else record.get("md5")}


def _record_source(paths: profiles.RunPaths, source: dict, root: Path) -> None:
    """Write the record when what it says changes (not on every call: it may live on a mounted Drive)."""
    wanted = {**source, "root": str(root)}
    try:
        previous = read_dataset_record(paths)
    except DatasetError:
        previous = None  # unreadable: replaced by the good one
    if previous is not None and {key: previous.get(key) for key in wanted} == wanted:
        return
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results.write_json(paths.dataset_record, {**wanted, "profile": paths.profile, "recorded_at": stamp})


def _locate_real(paths: profiles.RunPaths, source: dict, keep_archive: bool) -> Path:
    """The root of the real SASE-FE from ``source`` (a folder, an archive file, or a Drive id)."""
    if source["dataset_dir"]:
        location = Path(source["dataset_dir"])
        if location.is_file():
            return find_dataset_root(_extract_archive_file(location, paths.extraction, source["md5"]))
        return find_dataset_root(location)
    file_id = source["drive_id"]
    archive = paths.downloads / f"sase-fe-{file_id}.archive"
    extracted = _extracted_archive_name(paths.extraction)
    if extracted is not None and extracted != archive.name:  # say so before downloading gigabytes
        raise DatasetError(
            f"{paths.extraction} holds the extraction of {extracted}, not of Google Drive file {file_id}: "
            "delete that folder to use the new archive."
        )
    if extracted is None:
        download_from_drive(file_id, archive, md5=source["md5"])
        safe_extract(archive, paths.extraction)
        if not keep_archive:
            archive.unlink()  # the marker in paths.extraction records that this archive is extracted
    return find_dataset_root(paths.extraction)


def _extract_archive_file(archive: Path, destination: Path, md5: str | None) -> Path:
    """Extract an archive the user gave as DATASET_DIR (never deleting it: it is the user's copy)."""
    _check_archive_file(
        archive, f"DATASET_DIR {archive}", "Set DATASET_DIR to the FakeTrue_DB folder or to a .zip/.tar.gz of it."
    )
    if md5 and _extracted_archive_name(destination) != archive.name:  # checked once, before extracting
        actual = file_md5(archive)
        if actual != md5:
            raise DatasetError(
                f"DATASET_DIR {archive} has md5 {actual}, expected {md5}: the copy is damaged or another "
                "version of the archive; nothing was extracted. Copy it again, or correct (or remove) the md5."
            )
    return safe_extract(archive, destination)


def _extracted_archive_name(destination: Path) -> str | None:
    try:
        return json.loads((destination / EXTRACTED_MARKER).read_text(encoding="utf-8")).get("archive")
    except (OSError, ValueError, AttributeError):
        return None


# --------------------------------------------------------------------------------------------------
# 8. Channel statistics for normalisation
# --------------------------------------------------------------------------------------------------


def _sample_frames(path: str, total_frames: int | None, count: int) -> Iterator[np.ndarray]:
    """``count`` frames spread evenly over a video; stops decoding after the last one."""
    if not total_frames:
        total_frames = video.probe(path).frames
    wanted = set(np.linspace(0, total_frames - 1, num=min(count, total_frames)).round().astype(int).tolist())
    last = max(wanted)
    for frame_index, _, rgb in video.iter_frames(path, total_frames=total_frames):
        if frame_index in wanted:
            yield rgb
        if frame_index >= last:
            return


def channel_stats(
    index: pd.DataFrame,
    frames_per_video: int = 4,
    max_videos: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Per-channel ``{"mean": [r, g, b], "std": [r, g, b]}`` of the pixels, in 0..1 units.

    Uses ``frames_per_video`` evenly spaced frames of each readable video (``max_videos`` of them,
    picked with ``seed``, when given). Videos that fail to decode are skipped.
    """
    from tqdm.auto import tqdm

    rows = index[_as_bool(index["readable"])]
    if max_videos is not None and len(rows) > max_videos:
        rows = rows.sample(n=max_videos, random_state=seed)
    total, total_squares, count = np.zeros(3), np.zeros(3), 0
    for row in tqdm(list(rows.itertuples()), desc="channel statistics", unit="video", disable=not progress):
        frames = None if pd.isna(row.frames) else int(row.frames)
        try:
            for rgb in _sample_frames(row.path, frames, frames_per_video):
                pixels = rgb.reshape(-1, 3).astype(np.float64) / 255.0
                total += pixels.sum(axis=0)
                total_squares += np.square(pixels).sum(axis=0)
                count += len(pixels)
        except video.VideoReadError as error:
            print(f"skipping {row.path}: {error.reason}")
    if count == 0:
        raise DatasetError("no frame could be read for the channel statistics: are all videos unreadable?")
    mean = total / count
    std = np.sqrt(np.maximum(total_squares / count - np.square(mean), 0.0))
    return {"mean": mean.tolist(), "std": std.tolist()}
