"""Packed crops on disk and the tables that point at them: what a dataset reads, not how.

Each video's crops are one uint8 ``.npy`` array ``T x H x W x 3`` (``helpers.frames``): ``packed_shape``
reads its header only; ``attach_crop_paths`` / ``attach_context_paths`` add the file of each video of a table;
``stage_locally`` copies a crops folder from a mounted Drive to the VM's disk.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import frames

CROP_PATH_COLUMN = "crop_path"
CONTEXT_PATH_COLUMN = "context_path"


def packed_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Shape of a ``.npy`` file, read from its header only (no data, no memory map kept open); a file whose
    size does not match its header (empty, cut short) is a ``frames.DamagedArrayError`` naming it."""
    return frames.array_shape(path)


def select_frames(n_frames: int, frames_per_video: int | None) -> np.ndarray:
    """Indices of ``frames_per_video`` frames spread evenly over ``n_frames`` (all when ``None`` or more)."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    if frames_per_video is None or frames_per_video >= n_frames:
        return np.arange(n_frames, dtype=np.int64)
    return np.unique(np.linspace(0, n_frames - 1, num=max(1, frames_per_video)).round().astype(np.int64))


def attach_crop_paths(videos: pd.DataFrame, crops_dir: str | os.PathLike, kind: str = "face",
                      drop_missing: bool = True) -> pd.DataFrame:
    """``videos`` with a ``crop_path`` column pointing at each video's packed crops in ``crops_dir`` (the
    folder of one extraction configuration, ``helpers.frames.Extraction.root``).

    Videos without crops (no face found, undecodable) are dropped with a warning (or kept with an empty
    path when ``drop_missing=False``).
    """
    table = videos.copy()
    table[CROP_PATH_COLUMN] = [str(frames.video_files(Path(crops_dir), s, c)[kind])
                               for s, c in zip(table["subject"].astype(str), table["code"].astype(str))]
    exists = table[CROP_PATH_COLUMN].map(lambda p: Path(p).exists())
    if not exists.all():
        lost = table.loc[~exists, ["subject", "code"]].astype(str).agg("/".join, axis=1).tolist()
        warnings.warn(f"{len(lost)} video(s) have no crops in {crops_dir} and are left out: {', '.join(lost[:8])}"
                      + (" ..." if len(lost) > 8 else ""), stacklevel=2)
        if drop_missing:
            table = table[exists]
        else:
            table.loc[~exists, CROP_PATH_COLUMN] = ""
    return table.reset_index(drop=True)


def attach_context_paths(videos: pd.DataFrame, crops_dir: str | Path) -> pd.DataFrame:
    """``videos`` (with ``crop_path``) plus ``context_path``; videos without a context crop are dropped."""
    with_context = attach_crop_paths(videos.drop(columns=[CROP_PATH_COLUMN], errors="ignore"),
                                              crops_dir, "context", drop_missing=False)
    table = videos.reset_index(drop=True).copy()
    table[CONTEXT_PATH_COLUMN] = with_context[CROP_PATH_COLUMN].to_numpy()
    return table[table[CONTEXT_PATH_COLUMN] != ""].reset_index(drop=True)


def stage_locally(crops_dir: str | os.PathLike, local_root: str | os.PathLike,
                  patterns: tuple[str, ...] = ("*.face.npy", "*.context.npy", "*.json", "*.csv")) -> Path:
    """Copy a crops folder to a local disk (``<local_root>/<folder name>``) and return the copy.

    On Colab the crops live on the mounted Google Drive, where random reads of memory-mapped files are
    slow; training reads from a local copy instead. Files already copied (same size) are skipped, so
    calling this again costs only a directory listing.
    """
    source = Path(crops_dir)
    target = Path(local_root) / source.name
    for pattern in patterns:
        for path in source.rglob(pattern):
            if path.name.startswith("."):
                continue  # temporary files of an extraction in progress
            destination = target / path.relative_to(source)
            if destination.exists() and destination.stat().st_size == path.stat().st_size:
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = destination.with_name(f".{destination.name}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, destination)  # a disconnect never leaves a truncated file under the real name
    return target




def crop_statistics(videos: pd.DataFrame, frames_per_video: int = 4) -> dict[str, list[float]]:
    """Per-channel ``{"mean": [r, g, b], "std": [r, g, b]}`` (0..1 units) of the packed crops of ``videos``
    (a ``crop_path`` column), from ``frames_per_video`` evenly spaced crops of each: what a fold normalises
    with, measured on its *training* crops only (face crops, as the model sees them; no test subject)."""
    total, squares, count = np.zeros(3), np.zeros(3), 0
    for path in videos[CROP_PATH_COLUMN]:
        array = np.load(path, mmap_mode="r")
        pixels = np.asarray(array[select_frames(len(array), frames_per_video)], dtype=np.float64).reshape(-1, 3) / 255
        total += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
        count += len(pixels)
    if count == 0:
        raise ValueError("no crops to measure the channel statistics on: the table has no videos")
    mean = total / count
    return {"mean": mean.tolist(), "std": np.sqrt(np.maximum(squares / count - np.square(mean), 1e-12)).tolist()}
