"""The video index: one row per video with labels and metadata, its CSV, its cache, identical files.

:func:`index_videos` probes every video found by :func:`helpers.data.layout.scan` (in threads; a bad video
is a row with ``readable=False``), :func:`identical_files` finds videos with the same bytes, and
:func:`save_index` / :func:`load_index` / :func:`cached_index` keep the table with its dtypes (pandas 2 and
3). :func:`usable_rows` is the mask of the videos everything after indexing uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from helpers import labels, profiles, results, video
from helpers.data.common import DatasetError, file_md5
from helpers.data.layout import Video, scan

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


def _probe_one(path: str) -> tuple[dict, str]:
    """(metadata, "") or ({}, why it cannot be read): a bad video must never stop the indexing."""
    try:
        return asdict(video.probe(path)), ""
    except video.VideoReadError as error:
        return {}, error.reason
    except Exception as error:  # noqa: BLE001 - anything a broken file can trigger is reported, not raised
        return {}, f"{type(error).__name__}: {error}"


def _probe_all(paths: list[str], workers: int, progress: bool) -> list[tuple[dict, str]]:
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


def _identical_to(videos: list[Video]) -> list[str]:
    """For each video, the keys of the *other* videos with the same bytes (space-separated), or ""."""
    key_of = {video.path: video_key(video.subject, video.code) for video in videos}
    others = {path: "" for path in key_of}
    for group in identical_files(video.path for video in videos):
        for path in group:
            others[path] = " ".join(key_of[other] for other in group if other != path)
    return [others[video.path] for video in videos]


def _index_frame(videos: list[Video], probes: list[tuple[dict, str]] | None) -> pd.DataFrame:
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


def as_bool(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes"))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The index's dtypes, the same after building and after reading the CSV (pandas 2 and 3)."""
    frame = frame.copy()
    for column in _STRING_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str)
    for column in _BOOL_COLUMNS:
        frame[column] = as_bool(frame[column])
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
    videos = scan(Path(root)).videos
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
    videos = scan(root).videos
    current = {(str(item.path), item.path.stat().st_size) for item in videos}
    if cache.is_file():
        try:
            cached = load_index(cache)
        except (DatasetError, ValueError, KeyError) as error:
            print(f"ignoring the unreadable index cache {profiles.display_path(cache)} ({error}): re-indexing")
        else:
            if set(zip(cached["path"], cached["size"].astype(int))) == current:
                return cached
            print(f"the videos under {profiles.display_path(root)} changed since {profiles.display_path(cache)} was written: re-indexing")
    probes = _probe_all([str(item.path) for item in videos], workers, progress)
    index = _index_frame(videos, probes)
    save_index(index, cache)
    return index


def text_column(index: pd.DataFrame, column: str) -> pd.Series:
    """A text column of the index as str, all "" when the frame predates the column (hand-made frames)."""
    if column not in index.columns:
        return pd.Series("", index=index.index, dtype=object)
    return index[column].fillna("").astype(str)


def usable_rows(index: pd.DataFrame) -> pd.Series:
    """Boolean mask of the videos to extract, train and evaluate on: readable, and not identical to another."""
    if "usable" in index.columns:
        return as_bool(index["usable"])
    return as_bool(index["readable"]) & (text_column(index, "identical_to") == "")
