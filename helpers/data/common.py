"""What every module of :mod:`helpers.data` shares: the error, natural subject order and report text.

:class:`DatasetError` (every failure a user can fix), :func:`subject_sort_key` / :func:`sorted_subjects`
(``"2"`` before ``"10"``), :func:`format_bytes`, :func:`file_md5` (archives and identical videos),
:func:`preview` (long lists in one line) and ``MOUNT_HINT`` (the way out when Google Drive will not serve
a file).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

MOUNT_HINT = (
    "copy the file to your own Drive, mount Drive in Colab (from google.colab import drive; "
    "drive.mount('/content/drive')) and set DATASET_DIR to the extracted folder instead"
)


class DatasetError(RuntimeError):
    """The dataset cannot be downloaded, extracted, found, indexed or split; the message says what to do."""


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


def preview(items: list[str], limit: int = 8) -> str:
    """``a, b, c and 12 more``: keeps reports readable when 600 things go wrong at once."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
