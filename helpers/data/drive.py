"""Download the SASE-FE archive from Google Drive: file ids and links, gdown, and what its failures mean.

:func:`parse_drive_id` accepts a bare id or a share link; :func:`download_from_drive` runs gdown (resumable,
retried, checked with :func:`helpers.data.archive.check_archive_file` and an optional md5) and turns each
of its failures (quota, not shared, interrupted, disk full) into a :class:`DatasetError` that says what to
do. gdown is imported only when something is downloaded.
"""

from __future__ import annotations

import errno
import inspect
import os
import re
import shutil
import warnings
from pathlib import Path

from helpers.data.archive import ARCHIVE_KINDS, KIND_NAMES, check_archive_file, sniff
from helpers.data.common import MOUNT_HINT, DatasetError, file_md5, format_bytes

_DRIVE_ID = re.compile(r"[-\w]{10,}")


def parse_drive_id(file_id_or_url: str) -> str:
    """The file id in a bare id, a ``.../file/d/<id>/view`` link or a ``...?id=<id>`` link."""
    text = str(file_id_or_url).strip()
    if "/" in text or "?" in text:
        if "/folders/" in text:
            raise DatasetError(
                f"{text!r} is a Google Drive *folder* link; gdown downloads single files. Zip the "
                f"FakeTrue_DB folder and share the zip, or {MOUNT_HINT}."
            )
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
        check_archive_file(staged, f"Google Drive file {file_id}")
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
        kind = sniff(destination)
        if kind in ARCHIVE_KINDS:
            return True
        reason = f"it is not an archive ({KIND_NAMES.get(kind, kind)})"
    if not quiet:
        print(f"{destination} exists but {reason}: downloading it again")
    destination.unlink()
    return False


def _gdown_fetch(file_id: str, output: Path, quiet: bool, retries: int) -> None:
    """Run gdown and turn each of its failures into a :class:`DatasetError` that says what to do."""
    import gdown
    import requests  # only for gdown's errors: imported with it

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
    accepted = inspect.signature(function).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in accepted.values()):
        return options
    return {name: value for name, value in options.items() if name in accepted}


def _retrieval_error(file_id: str, detail: str, status: int | None = None) -> DatasetError:
    lowered = detail.lower()
    if status == 429 or "too many users" in lowered or "quota" in lowered or "24 hours" in lowered:
        return DatasetError(
            f"Google Drive refuses to serve file {file_id} now: too many downloads of it recently (its "
            f"download quota is exceeded). Wait up to 24 h and run again, or {MOUNT_HINT}.\n"
            f"Google Drive said: {detail}"
        )
    return DatasetError(
        f"cannot download Google Drive file {file_id}: the id is wrong or the file is not public. Check "
        "the id, and share the file as 'Anyone with the link' (Share > General access). If it is "
        f"shared and the id is right, its download quota may be exceeded: wait 24 h, or {MOUNT_HINT}.\n"
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
