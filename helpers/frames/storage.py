"""Where the outputs of an extraction go on disk and how they are written (atomically).

The file names of a configuration's folder (``config.json``, ``videos.csv``, ``manifest.csv``), the
columns of the frame tables, the files of one video (:func:`video_files`) and the writers that put a file
in place only when it is complete (a temporary name, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import storage

CONFIG_FILE = "config.json"
VIDEOS_FILE = "videos.csv"
MANIFEST_FILE = "manifest.csv"
TEMPORARY_SUFFIX = ".tmp"
#: Columns of ``<CODE>.frames.csv`` and ``manifest.csv``: raw_* is the detector's box (NaN where it did not
#: run or found nothing), x/y/w/h the smoothed square box the crop is centred on (before the margin);
#: interocular is the landmarks' outer-eye-corner distance in pixels and landmarks_ok whether they passed
#: the checks of :mod:`helpers.frames.landmarks` (NaN and False where none were fitted).
FRAME_COLUMNS = ("subject", "code", "position", "frame", "time_s", "evaluated", "detected", "score", "raw_x",
                 "raw_y", "raw_w", "raw_h", "x", "y", "w", "h", "box_source", "fell_back", "interocular",
                 "landmarks_ok")


def video_files(out_dir: Path, subject: Any, code: str) -> dict[str, Path]:
    """Where one video's outputs go: ``<out>/<subject>/<CODE>.{face,context,landmarks}.npy``, ``.frames.csv``
    and ``.summary.json``; with whole-video landmarks, ``.whole.landmarks.npy`` and ``.whole.frames.csv``."""
    folder = Path(out_dir) / str(subject)
    return {"face": folder / f"{code}.face.npy", "context": folder / f"{code}.context.npy",
            "landmarks": folder / f"{code}.landmarks.npy",
            "frames": folder / f"{code}.frames.csv", "summary": folder / f"{code}.summary.json",
            "whole_landmarks": folder / f"{code}.whole.landmarks.npy",
            "whole_frames": folder / f"{code}.whole.frames.csv"}


class DamagedArrayError(ValueError):
    """A crops or landmarks ``.npy`` is empty, cut short or unreadable; the message names it and what to do."""


def array_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Shape of a ``.npy`` file from its header, checked against the file's size (the data is not read):
    an empty, cut or garbled file is a :class:`DamagedArrayError` naming it and what to do."""
    path = Path(path)
    redo = ("extract it again: run the extraction again (notebook 02, or python -m helpers.frames), which "
            "redoes every video whose files are damaged, or delete the file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version not in ((1, 0), (2, 0)):  # rarer header versions: numpy checks the size itself
                return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(file)
            expected = file.tell() + int(np.prod(shape)) * dtype.itemsize
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as error:
        raise DamagedArrayError(f"{path} is damaged ({type(error).__name__}: {error}; {path.stat().st_size} "
                                f"bytes): {redo}") from error
    if size != expected:
        raise DamagedArrayError(f"{path} is damaged: {size} bytes, its header says {expected}: {redo}")
    return tuple(shape)


def _write_atomically(path: Path, write: Callable[[Any], None], need_bytes: int = 0) -> None:
    """Write through ``write(file)`` into a temporary file next to ``path``, then rename it into place (no
    fsync: the rename alone keeps half files away; a full disk is a ``DiskFullError``)."""
    storage.atomic_write(path, write, fsync=False, need_bytes=need_bytes)


def save_array(path: Path, array: np.ndarray) -> Path:
    """Save a ``.npy`` atomically (a killed run never leaves a truncated array under the final name)."""
    _write_atomically(Path(path), lambda file: np.save(file, array, allow_pickle=False), array.nbytes + 128)
    return Path(path)


def save_table(path: Path, table: pd.DataFrame) -> None:
    # not results.write_csv: its fsync per file costs more than the rest of a small video's work, and
    # the rename alone already guarantees that a killed run leaves no half-written file behind
    _write_atomically(path, lambda file: file.write(table.to_csv(index=False).encode()))


def save_json(path: Path, content: dict[str, Any]) -> None:
    _write_atomically(path, lambda file: file.write(json.dumps(content, indent=1, default=str).encode()))


def file_size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return -1
