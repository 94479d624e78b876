"""Reading the crops back: one video's packed crops and landmarks, the manifest and video tables, clip positions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import results
from helpers.frames.config import KINDS, ExtractionConfig
from helpers.frames.landmarks import to_crop_coordinates
from helpers.frames.storage import MANIFEST_FILE, VIDEOS_FILE, array_shape, video_files


def load_crops(crops_dir: str | Path, subject: Any, code: str, kind: str = "face", mmap: bool = True) -> np.ndarray:
    """The crops of one video, ``T x size x size x 3`` uint8 (memory-mapped: nothing is read until used)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    files = video_files(Path(crops_dir), subject, code)
    if not files[kind].exists():
        reason = ""
        if files["summary"].exists():
            summary = results.read_json(files["summary"])
            reason = f": its status is {summary['status']!r} {summary.get('error', '')}".rstrip()
        elif kind == "context":
            reason = ": context crops were disabled (context_scale=None) or the video was never extracted"
        raise FileNotFoundError(f"no {kind} crops for {subject}/{code} in {crops_dir}{reason}")
    array_shape(files[kind])  # an empty or cut file: DamagedArrayError naming it, not numpy's EOFError
    return np.load(files[kind], mmap_mode="r" if mmap else None, allow_pickle=False)


def load_landmarks(crops_dir: str | Path, subject: Any, code: str) -> np.ndarray:
    """The 68 landmarks of every kept frame of one video, ``T x 68 x 2`` float32 (x, y in the pixels of the
    original frame; NaN where none were fitted), in the order of its crops. Whether each frame's fit passed
    the checks is ``landmarks_ok`` in its frames table; ``landmarks.to_crop_coordinates`` maps them into the crops."""
    files = video_files(Path(crops_dir), subject, code)
    if not files["landmarks"].exists():
        reason = ": the video was never extracted"
        if files["summary"].exists():
            summary = results.read_json(files["summary"])
            reason = (f": its status is {summary['status']!r} {summary.get('error', '')}".rstrip()
                      if summary["status"] != "ok" else
                      ": it was extracted with landmarks=False, or the file was removed (extract it again)")
        raise FileNotFoundError(f"no landmarks for {subject}/{code} in {crops_dir}{reason}")
    array_shape(files["landmarks"])
    return np.load(files["landmarks"], allow_pickle=False).astype(np.float32, copy=False)


def crops_with_landmarks(crops_dir: str | Path, subject: Any, code: str, config: ExtractionConfig,
                         count: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` face crops spread evenly over one video, their landmarks in the crops' pixels and whether
    each fit passed its checks: what is needed to draw the landmarks on the crops and see them fit."""
    crops = load_crops(crops_dir, subject, code)
    table = pd.read_csv(video_files(Path(crops_dir), subject, code)["frames"])
    positions = np.linspace(0, len(crops) - 1, min(count, len(crops))).round().astype(int)
    points = to_crop_coordinates(load_landmarks(crops_dir, subject, code)[positions], table.iloc[positions], config)
    return np.asarray(crops[positions]), points, table["landmarks_ok"].to_numpy(bool)[positions]


def load_manifest(crops_dir: str | Path) -> pd.DataFrame:
    """One row per crop (``position`` is its row in the video's ``.npy``)."""
    return pd.read_csv(Path(crops_dir) / MANIFEST_FILE, dtype={"subject": str, "code": str})


def load_videos(crops_dir: str | Path) -> pd.DataFrame:
    """One row per video: status, frames, detection rate, fallbacks, error, seconds."""
    return pd.read_csv(Path(crops_dir) / VIDEOS_FILE, dtype={"subject": str, "code": str, "error": str},
                       keep_default_na=False, na_values={"detection_rate": [""], "fps": [""]})


def clip_indices(n_frames: int, clip_len: int, stride: int = 1, mode: str = "uniform", n_clips: int = 1,
                 hop: int | None = None, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Positions (into one video's crops) of clips of ``clip_len`` frames taken every ``stride`` frames.

    Returns an ``n x clip_len`` int array. ``mode``:
    ``"uniform"``: ``n_clips`` clips spread evenly over the video (one clip: the centred one);
    ``"random"``: ``n_clips`` clips at random starts (training-time augmentation; ``rng`` seeds it);
    ``"all"``: every clip starting ``hop`` frames apart (default: back to back, no overlap).
    A video shorter than a clip repeats its last frame, so every clip has ``clip_len`` frames.
    """
    if n_frames < 1 or clip_len < 1 or stride < 1 or n_clips < 1:
        raise ValueError("n_frames, clip_len, stride and n_clips must be positive")
    span = (clip_len - 1) * stride + 1
    last_start = max(0, n_frames - span)
    if mode == "uniform":
        # one clip: the centred one; several: the first at the start, the last at the end
        starts = np.array([last_start // 2]) if n_clips == 1 else np.linspace(0, last_start, n_clips)
        starts = np.round(starts).astype(int)
    elif mode == "random":
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        starts = generator.integers(0, last_start + 1, size=n_clips)
    elif mode == "all":
        starts = np.arange(0, last_start + 1, hop or span)
    else:
        raise ValueError(f"mode must be 'uniform', 'random' or 'all', got {mode!r}")
    clips = starts[:, None] + stride * np.arange(clip_len)[None, :]
    return np.minimum(clips, n_frames - 1)
