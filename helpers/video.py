"""Video input/output with PyAV (torchvision 0.29 has no video IO; OpenCV cannot write H.264 here).

Every function raises :class:`VideoReadError` naming the file when a video cannot be read, so that a
caller processing many videos can report the bad one and carry on with the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


class VideoReadError(RuntimeError):
    """A video file is missing, truncated, corrupt or has no video stream."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"cannot read video {self.path}: {reason}. Check that the file was copied completely "
            "(re-download or re-extract it), or remove it: the other videos are processed without it."
        )


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int
    duration: float  # seconds
    width: int
    height: int


def probe(path: os.PathLike | str) -> VideoInfo:
    """Read a video's metadata; counts frames by demuxing when the container does not store the count."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(path, "it has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = int(stream.frames or 0)
            if frames == 0:
                frames = sum(1 for packet in container.demux(stream) if packet.size)
            if frames == 0:
                raise VideoReadError(path, "it contains no frames")
            duration = frames / fps if fps else 0.0
            return VideoInfo(fps, frames, duration, stream.codec_context.width, stream.codec_context.height)
    except VideoReadError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoReadError(path, str(error)) from error


def iter_frames(
    path: os.PathLike | str,
    start: float = 0.0,
    end: float = 1.0,
    step: int = 1,
    total_frames: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, timestamp_s, rgb_uint8_HxWx3)`` for every ``step``-th frame in ``[start, end)``.

    ``start`` and ``end`` are fractions of the video's length (0.4, 0.9 keeps the 40-90 % window).
    Decoding stops after the window, so the tail of a long video is never decoded.
    """
    path = Path(path)
    if total_frames is None:
        total_frames = probe(path).frames
    first, stop = int(round(start * total_frames)), int(round(end * total_frames))
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            time_base = float(stream.time_base) if stream.time_base else 0.0
            fps = float(stream.average_rate or 0) or 1.0
            for index, frame in enumerate(container.decode(stream)):
                if index >= stop:
                    break
                if index < first or (index - first) % step:
                    continue
                seconds = frame.pts * time_base if frame.pts is not None and time_base else index / fps
                yield index, seconds, frame.to_ndarray(format="rgb24")
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoReadError(path, str(error)) from error


def read_frames(path: os.PathLike | str, start: float = 0.0, end: float = 1.0, step: int = 1) -> np.ndarray:
    """All frames of a window as one ``T x H x W x 3`` uint8 array."""
    frames = [rgb for _, _, rgb in iter_frames(path, start, end, step)]
    if not frames:
        raise VideoReadError(path, f"no frames in the window {start:.0%}-{end:.0%}")
    return np.stack(frames)


def write_video(path: os.PathLike | str, frames: Iterable[np.ndarray], fps: float, crf: int = 20) -> Path:
    """Encode RGB uint8 frames as H.264 MP4, atomically (a killed write leaves no half file behind), the same
    bytes for the same frames."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with av.open(str(partial), mode="w", format="mp4") as container:
            stream = None
            for rgb in frames:
                if stream is None:
                    stream = container.add_stream("libx264", rate=_fps_fraction(fps))
                    stream.height, stream.width = rgb.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    # mbtree=0: x264's macroblock-tree rate control (in FFmpeg 8 / PyAV 18) made the same frames
                    # encode differently from run to run, depending on what else the process had allocated
                    # (decoded pixels up to 23 levels apart); without it the output is the same every time
                    stream.options = {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"}
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                container.mux(stream.encode(frame))
            if stream is None:
                raise ValueError(f"no frames given for {path}")
            container.mux(stream.encode(None))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _fps_fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def frames_at(path: os.PathLike | str, fractions: Iterable[float]) -> list[np.ndarray]:
    """Frames at given fractions of a video's length (0.0 = first frame), decoded in one pass."""
    total = probe(path).frames
    wanted = {min(total - 1, int(fraction * total)) for fraction in fractions}
    picked = {}
    for index, _, rgb in iter_frames(path, 0.0, (max(wanted) + 1) / total, 1, total):
        if index in wanted:
            picked[index] = rgb
    return [picked[min(total - 1, int(fraction * total))] for fraction in fractions]
