"""Where the subject folders are, and what each subject folder holds (with the SASE-FE naming quirks).

:func:`find_dataset_root` finds the folder holding ``<subject>/<CODE>.MP4`` under an extraction or a mounted
Drive folder; :func:`scan` walks it once: the videos to index (:class:`Video`, variant spellings such as
``D2N2S`` under their canonical code) and every other entry with the reason it is not used. Hidden and
``_``-prefixed entries are never data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import labels, profiles
from helpers.data.common import DatasetError, preview, subject_sort_key

VIDEO_SUFFIX = ".mp4"  # compared case-insensitively


def _is_ignored(path: Path) -> bool:
    """Hidden and ``_``-prefixed entries (``.DS_Store``, ``__MACOSX``, ``._N2H.MP4``) are never data."""
    return path.name.startswith((".", "_"))


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
        listing = preview(names, 15) if names else "(it is empty)"
    hint = ""
    if _has_videos(path):
        hint = f" {path} itself holds videos: it looks like one subject's folder, pass its parent {path.parent}."
    return (
        f"no SASE-FE videos found under {path}: expected <root>/<subject>/<CODE>.MP4 (e.g. "
        f"{profiles.DATASET_DIRNAME}/1/N2H.MP4, codes {', '.join(labels.CODES)}). Found: {listing}.{hint}"
    )


@dataclass(frozen=True)
class Video:
    """One video file that :func:`scan` found, under its canonical code."""

    subject: str
    code: str  # canonical spelling
    path: Path
    mapped_from: str  # the variant spelling in the file name (``D2N2S``), "" for a code in any case


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` found under a root: the videos to index and the entries it does not use."""

    videos: list[Video]  # in subject then code order
    unknown: list[dict]  # rows of LayoutReport.unknown


def scan(root: Path) -> Scan:
    """Walk ``root/<subject>/`` once: the videos to index, and every other entry with a reason."""
    root = Path(root).expanduser().absolute()  # absolute paths in the index work from any notebook folder
    if not root.is_dir():
        raise DatasetError(f"the dataset folder {root} does not exist or is not a folder")
    videos: list[Video] = []
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
            videos.append(Video(subject, code, chosen, chosen.stem if _is_variant_name(chosen) else ""))
            others += [_unknown_row(subject, extra, _duplicate_reason(extra, chosen, code))
                       for extra in duplicates]
        unknown += others
    return Scan(videos, unknown)


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

