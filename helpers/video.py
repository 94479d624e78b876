"""Video input/output with PyAV (torchvision 0.29 has no video IO; OpenCV cannot write H.264 here).

Every function raises :class:`VideoReadError` naming the file when a video cannot be read, so that a
caller processing many videos can report the bad one and carry on with the others.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
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


def stop_log_forwarding() -> None:
    """Keep FFmpeg's log messages out of Python, as PyAV does by default. torchvision <= 0.25 turns the
    forwarding on when imported (``av.logging.set_level(av.logging.ERROR)``); then a threaded decoder's
    threads wait for the GIL to log while the thread that holds it waits for them, and decoding hangs.
    Called before every video is opened, so that an import after ours cannot turn it back on in between."""
    if av.logging.get_level() is not None:
        av.logging.set_level(None)


def _open(path: Path, **options) -> av.container.Container:
    stop_log_forwarding()
    return av.open(str(path), **options)


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
        with _open(path) as container:
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


def decode_threads(processes: int = 1, cores: int | None = None) -> int:
    """FFmpeg decoding threads for each of ``processes`` decoding at once: the cores shared out, at least one
    (2 processes on 2 cores decode single-threaded: more threads would only contend for the same cores)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, processes))


def iter_frames(
    path: os.PathLike | str,
    start: float = 0.0,
    end: float = 1.0,
    step: int = 1,
    total_frames: int | None = None,
    threads: int | None = None,
    skip_unkept: bool = False,
) -> Generator[tuple[int, float, np.ndarray], None, None]:
    """Yield ``(frame_index, timestamp_s, rgb_uint8_HxWx3)`` for every ``step``-th frame in ``[start, end)``.

    ``start`` and ``end`` are fractions of the video's length (0.4, 0.9 keeps the 40-90 % window).
    Decoding stops after the last kept frame, so the tail of a long video is never decoded; the frames
    in between are decoded (H.264 needs them) but only the kept ones are converted to RGB.

    ``threads``: FFmpeg's decoding threads (frame threading, which speeds up any H.264 stream; slice
    threading only helps files encoded in several slices); None lets FFmpeg choose (one per core).
    ``skip_unkept``: the decoder skips the frames that are neither kept nor referenced by other frames
    (H.264's non-reference frames: a third to a half of the frames of a stream with B-frames). The kept
    frames are bit-identical whatever the threads and the skipping; frames are numbered by timestamp
    then, as a full decode numbers them (without usable timestamps nothing is skipped).
    """
    path = Path(path)
    if total_frames is None:
        total_frames = probe(path).frames
    first, stop = int(round(start * total_frames)), int(round(end * total_frames))
    last = first + max(0, stop - 1 - first) // step * step  # the last kept frame: nothing after it is decoded
    kept = range(first, last + 1, step)
    yielded = -1
    try:
        ranks = _display_ranks(path, total_frames) if skip_unkept and step > 1 else None
        try:
            for index, seconds, rgb in _decode(path, kept, stop, threads, ranks):
                yielded = index
                yield index, seconds, rgb
        except _Misnumbered:  # the timestamps do not number the frames as a full decode does: do one
            for index, seconds, rgb in _decode(path, kept, stop, threads, None):
                if index > yielded:
                    yield index, seconds, rgb
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoReadError(path, str(error)) from error


class _Misnumbered(Exception):
    """A decoded frame's timestamp is not where the packets' timestamps put it."""


def _decode(path: Path, kept: range, stop: int, threads: int | None,
            ranks: dict[int, int] | None) -> Iterator[tuple[int, float, np.ndarray]]:
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads is not None:
            stream.codec_context.thread_count = max(1, int(threads))
        # swscale's own threads (0: one per core, a new pool per frame) would compete for the cores that
        # the decoder and the other processes use; one thread converts a frame to the same pixels
        convert = {"format": "rgb24"} if threads is None else {"format": "rgb24", "threads": 1}
        time_base = float(stream.time_base) if stream.time_base else 0.0
        fps = float(stream.average_rate or 0) or 1.0
        numbered = enumerate(container.decode(stream)) if ranks is None else _skipping(container, stream, kept, ranks)
        for index, frame in numbered:
            if index >= stop:
                break
            if index not in kept:
                continue
            seconds = frame.pts * time_base if frame.pts is not None and time_base else index / fps
            yield index, seconds, frame.to_ndarray(**convert)
            if index >= kept[-1]:
                break


def _display_ranks(path: Path, total_frames: int) -> dict[int, int] | None:
    """Each frame's display index by its timestamp, from the packets alone (no decoding), or None when the
    timestamps cannot tell (missing, repeated, packets to discard, not one packet per frame)."""
    with _open(path) as container:
        stamps = []
        for packet in container.demux(container.streams.video[0]):
            if not packet.size:
                continue
            if packet.pts is None or packet.is_discard or packet.is_corrupt:
                return None
            stamps.append(packet.pts)
    if len(stamps) != total_frames or len(set(stamps)) != len(stamps):
        return None
    return {stamp: rank for rank, stamp in enumerate(sorted(stamps))}


def _skipping(container: av.container.InputContainer, stream: av.video.stream.VideoStream, kept: range,
              ranks: dict[int, int]) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(display index, frame)`` of the frames decoded, the decoder told to skip the non-reference frames
    that are not kept (nothing depends on them, so every other frame decodes to the same pixels)."""
    codec, skipping, previous = stream.codec_context, False, -1
    for packet in container.demux(stream):
        if packet.pts is not None and (ranks.get(packet.pts, -1) not in kept) != skipping:
            skipping = not skipping
            codec.skip_frame = "NONREF" if skipping else "DEFAULT"
        for frame in packet.decode():
            index = ranks.get(frame.pts, -1) if frame.pts is not None else -1
            # a full decode numbers the frames it outputs: the first is 0 and none of the kept is missing
            # (a frame the decoder drops by itself would shift that numbering)
            if index <= previous or (previous < 0 < index) or _next_kept(kept, previous) < index:
                raise _Misnumbered(f"frame at {frame.pts} numbered {index} after {previous}")
            previous = index
            yield index, frame


def _next_kept(kept: range, index: int) -> int:
    """The first kept frame after ``index``."""
    if index < kept.start:
        return kept.start
    return kept.start + ((index - kept.start) // kept.step + 1) * kept.step


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
        with _open(partial, mode="w", format="mp4") as container:
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
