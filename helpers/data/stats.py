"""Per-channel pixel mean and std of the videos, for normalising the network inputs.

:func:`channel_stats` decodes a few evenly spaced frames of each readable video (through
:mod:`helpers.video`, looked up at call time) and skips videos that fail to decode.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers import video
from helpers.data.common import DatasetError
from helpers.data.index import as_bool

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
    rows = index[as_bool(index["readable"])]
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
