"""Where the outputs of an extraction go on disk and how they are written (atomically).

The file names of a configuration's folder (``config.json``, ``videos.csv``, ``manifest.csv``), the
columns of the frame tables, the files of one video (:func:`video_files`) and the writers that put a file
in place only when it is complete (a temporary name, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    and ``.summary.json``."""
    folder = Path(out_dir) / str(subject)
    return {"face": folder / f"{code}.face.npy", "context": folder / f"{code}.context.npy",
            "landmarks": folder / f"{code}.landmarks.npy",
            "frames": folder / f"{code}.frames.csv", "summary": folder / f"{code}.summary.json"}


def _write_atomically(path: Path, write: Callable[[Any], None]) -> None:
    """Write through ``write(file)`` into a temporary file next to ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_array(path: Path, array: np.ndarray) -> Path:
    """Save a ``.npy`` atomically (a killed run never leaves a truncated array under the final name)."""
    _write_atomically(Path(path), lambda file: np.save(file, array, allow_pickle=False))
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
