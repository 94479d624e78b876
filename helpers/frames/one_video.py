"""One video: decode, detect, track, crop and fit its landmarks in one pass, and write its files.

:func:`extract_video` is what a worker process runs (it must stay importable at module level, for the
"spawn" start method); :func:`is_finished` tells whether a video's outputs are complete and current.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import storage, video
from helpers.frames.config import ExtractionConfig, sampled_indices
from helpers.frames.detectors import cached_detector, detect_face
from helpers.frames.landmarks import LandmarkFit, LandmarksUnavailable, VideoLandmarks, cached_predictor, no_fit
from helpers.frames.storage import (FRAME_COLUMNS, array_shape, file_size, save_array, save_json, save_table,
                                    video_files)
from helpers.frames.tracking import StreamingTracker, box_sources, crops_for, track_to_boxes
from helpers.storage import DiskFullError

Frame = tuple[int, float, np.ndarray]  # frame index, seconds, RGB pixels
#: decode_ahead holds a video's kept frames whole only up to this size (SASE-FE's 20 HD frames: 55 MB)
DECODE_AHEAD_BYTES = 256 * 2**20


def _frames_table(subject: Any, code: str, meta: list[tuple[int, float]], raw: np.ndarray,
                  scores: np.ndarray, evaluated: np.ndarray, track: np.ndarray,
                  sources: np.ndarray, fits: list[LandmarkFit]) -> pd.DataFrame:
    raw_boxes, boxes = np.asarray(raw, float).reshape(-1, 4), track_to_boxes(track)
    fits = fits if len(fits) == len(meta) else [no_fit()] * len(meta)
    table = pd.DataFrame({
        "subject": str(subject), "code": code, "position": np.arange(len(meta)),
        "frame": [index for index, _ in meta], "time_s": [seconds for _, seconds in meta],
        "evaluated": evaluated, "detected": ~np.isnan(raw_boxes).any(axis=1), "score": scores,
        "raw_x": raw_boxes[:, 0], "raw_y": raw_boxes[:, 1], "raw_w": raw_boxes[:, 2], "raw_h": raw_boxes[:, 3],
        "x": boxes[:, 0], "y": boxes[:, 1], "w": boxes[:, 2], "h": boxes[:, 3],
        "box_source": pd.Series(sources, dtype=object),
        "interocular": [fit.interocular for fit in fits], "landmarks_ok": [fit.ok for fit in fits],
    })
    table["fell_back"] = table["box_source"] == "fallback"
    return table[list(FRAME_COLUMNS)]


def extract_video(path: str | Path, out_dir: str | Path, subject: Any, code: str,
                  config: ExtractionConfig, decode_threads: int | None = None,
                  decoded: Future | None = None) -> dict[str, Any]:
    """Extract one video; returns its summary row (also written as ``<CODE>.summary.json``, last).

    Never raises for a bad video (status ``error``, with a message naming the file) or a video without
    a face (status ``no_face``); raises :class:`DiskFullError` when the disk is full. ``decode_threads``:
    FFmpeg's threads (None: every core, for a process that extracts alone); ``decoded``: the future of
    :func:`decode_ahead` for this video, when a thread decoded it already. The outputs depend on neither.
    """
    started = time.perf_counter()
    files = video_files(Path(out_dir), subject, code)
    summary: dict[str, Any] = {"subject": str(subject), "code": code, "path": str(path), "status": "error",
                               "frames": 0, "evaluated": 0, "detected": 0, "detection_rate": float("nan"),
                               "tracked": 0, "fell_back": 0, "landmarks_ok": 0, "landmark_seconds": 0.0,
                               "landmark_keyframes": 0, "fps": float("nan"), "step": 0,
                               "error": "", "seconds": 0.0, "config": config.fingerprint,
                               "source_bytes": file_size(path)}
    try:
        with storage.disk_full_stops(Path(out_dir), what=f"the crops of {path}"):
            _extract_frames(Path(path), files, subject, code, config, summary, decode_threads, decoded)
    except (DiskFullError, LandmarksUnavailable):
        raise  # the disk or the environment, not this video: every other video would fail the same way
    except OSError as error:
        summary.update(status="error", error=f"{type(error).__name__}: {error} ({path})")
    except video.VideoReadError as error:
        summary.update(status="error", error=str(error))
    except Exception as error:  # noqa: BLE001 - one broken video must not stop hundreds of others
        summary.update(status="error", error=f"{type(error).__name__} while extracting {path}: {error}")
    summary["seconds"] = round(time.perf_counter() - started, 4)
    save_json(files["summary"], summary)
    return summary


@dataclass
class _VideoTrack:
    """What extraction learns about one video's kept frames, in order."""

    meta: list[tuple[int, float]] = field(default_factory=list)  # (frame index, seconds)
    raw: list[np.ndarray] = field(default_factory=list)  # detected box or NaNs
    scores: list[float] = field(default_factory=list)
    evaluated: list[bool] = field(default_factory=list)  # did the detector run on this frame?
    smoothed: list[np.ndarray] = field(default_factory=list)  # track rows of the frames cropped so far
    fits: list[LandmarkFit] = field(default_factory=list)  # landmarks of the frames cropped so far
    landmark_seconds: float = 0.0  # time spent fitting them (the rest of ``seconds`` is decoding, detection, crops)
    landmark_keyframes: int = 0  # frames whose landmarks were fitted and checked in full (VideoLandmarks)

    @property
    def detected(self) -> np.ndarray:
        return ~np.isnan(np.asarray(self.raw, float).reshape(-1, 4)).any(axis=1)

    @property
    def detection_rate(self) -> float:
        return float(self.detected.sum() / max(1, sum(self.evaluated)))

    def fell_back(self, position: int, reach: int) -> bool:
        """Is this frame's box source ``fallback`` (:func:`box_sources` on the frames within ``reach``)? Exact
        once the frames up to ``position + reach`` are in (the tracker waits for more than that)."""
        low = max(0, position - reach)
        near = slice(low, position + reach + 1)
        detected = ~np.isnan(np.asarray(self.raw[near], float).reshape(-1, 4)).any(axis=1)
        return box_sources(np.asarray(self.evaluated[near]), detected, reach)[position - low] == "fallback"


def kept_frames(path: str | Path, config: ExtractionConfig, step: int, total_frames: int,
                decode_threads: int | None = None) -> Generator[Frame, None, None]:
    """The kept frames of a video, decoded as extraction decodes them: ``decode_threads`` FFmpeg threads (None:
    every core), skipping the frames nothing needs (``benchmarks/extraction.py`` times this alone: the limit)."""
    threads = video.decode_threads() if decode_threads is None else decode_threads
    return video.iter_frames(path, config.window[0], config.window[1], step, total_frames=total_frames,
                             threads=threads, skip_unkept=True)


def decode_ahead(path: str | Path, config: ExtractionConfig,
                 decode_threads: int | None = None) -> tuple[video.VideoInfo, list[Frame] | None]:
    """Probe a video and decode its kept frames, in a thread while the previous video is cropped and its
    landmarks fitted (decoding releases the GIL, so it runs on the core that would wait). The frames are
    None (decoded later, while detecting) where they would take more than DECODE_AHEAD_BYTES."""
    info = video.probe(path)
    count = len(sampled_indices(info.frames, info.fps, config))
    if count * info.width * info.height * 3 > DECODE_AHEAD_BYTES:
        return info, None
    with closing(kept_frames(path, config, config.step_for(info.fps), info.frames, decode_threads)) as frames:
        return info, list(frames)


def _decode_detect_crop(path: Path, config: ExtractionConfig, step: int, total_frames: int,
                        decode_threads: int | None = None, decoded: list[Frame] | None = None,
                        ) -> tuple[_VideoTrack, dict[str, list[np.ndarray]]]:
    """One pass over the video: detect on the kept frames, crop each frame (and fit its landmarks, in the
    original frame's pixels) as soon as its box is final."""
    detector = cached_detector(config)
    landmarks = VideoLandmarks(cached_predictor(), config.landmark_keyframe_every) if config.landmarks else None
    tracker = StreamingTracker(config)
    track = _VideoTrack()
    waiting: deque[np.ndarray] = deque()  # decoded frames whose box is not final yet (at most ~lookahead)
    crops: dict[str, list[np.ndarray]] = {kind: [] for kind in config.kinds}
    previous = None  # the last detected box: the next search starts near it

    def crop_ready(final: bool = False) -> None:
        for position, row in tracker.ready(final):
            frame = waiting.popleft()
            for kind, crop in crops_for(frame, row, config).items():
                crops[kind].append(crop)
            if landmarks is not None:
                started = time.perf_counter()
                track.fits.append(landmarks.fit(frame, row, track.fell_back(position, config.detect_every)))
                track.landmark_seconds += time.perf_counter() - started
            track.smoothed.append(row)

    source = nullcontext(decoded) if decoded is not None else closing(  # closing stops the decoder
        kept_frames(path, config, step, total_frames, decode_threads))
    with source as frames:
        for position, (index, seconds, frame) in enumerate(frames):
            run_detector = position % config.detect_every == 0
            found = detect_face(frame, detector, config, previous) if run_detector else None
            box, score = found if found is not None else (None, float("nan"))
            previous = box if box is not None else previous
            track.meta.append((index, seconds))
            track.raw.append(box if box is not None else np.full(4, np.nan))
            track.scores.append(score)
            track.evaluated.append(run_detector)
            tracker.push(box)
            waiting.append(frame)
            crop_ready()
    if tracker.any_detection:
        crop_ready(final=True)
    track.landmark_keyframes = landmarks.keyframes if landmarks is not None else 0
    return track, crops


def _extract_frames(path: Path, files: dict[str, Path], subject: Any, code: str, config: ExtractionConfig,
                    summary: dict[str, Any], decode_threads: int | None = None,
                    decoded: Future | None = None) -> None:
    """Extract one video, filling ``summary`` in; writes the crops and landmarks (if any face) and the frames table."""
    info, frames = decoded.result() if decoded is not None else (video.probe(path), None)
    step = config.step_for(info.fps)
    summary.update(fps=info.fps, step=step)
    track, crops = _decode_detect_crop(path, config, step, info.frames, decode_threads, frames)
    if not track.meta:
        raise video.VideoReadError(path, f"no frames in the window {config.window[0]:.0%}-{config.window[1]:.0%}")
    evaluated, detected = np.asarray(track.evaluated), track.detected
    summary.update(frames=len(track.meta), evaluated=int(evaluated.sum()), detected=int(detected.sum()),
                   detection_rate=round(track.detection_rate, 4))
    if not detected.any() or track.detection_rate < config.min_detection_rate:
        summary.update(status="no_face", error=f"a face was found in {detected.sum()} of the {evaluated.sum()} "
                       f"frames the detector ran on ({path.name})")
        rows, sources = np.full((len(track.meta), 3), np.nan), np.full(len(track.meta), "fallback", dtype=object)
        track.fits = []  # no box, no landmarks: NaN and not ok in the frames table
    else:
        rows, sources = np.asarray(track.smoothed), box_sources(evaluated, detected, config.detect_every)
        for kind, images in crops.items():
            save_array(files[kind], np.stack(images))
        if config.landmarks:
            save_array(files["landmarks"], np.stack([fit.points for fit in track.fits]).astype(np.float32))
        summary.update(status="ok", tracked=int((sources == "tracked").sum()),
                       fell_back=int((sources == "fallback").sum()),
                       landmarks_ok=int(sum(fit.ok for fit in track.fits)),
                       landmark_seconds=round(track.landmark_seconds, 4),
                       landmark_keyframes=track.landmark_keyframes)
        if config.whole_video_landmarks:
            _whole_video_landmarks(path, files, subject, code, config, summary, info.frames, decode_threads)
    table = _frames_table(subject, code, track.meta, np.asarray(track.raw), np.asarray(track.scores), evaluated,
                          rows, sources, track.fits)
    save_table(files["frames"], table)


def _whole_video_landmarks(path: Path, files: dict[str, Path], subject: Any, code: str, config: ExtractionConfig,
                           summary: dict[str, Any], total_frames: int, decode_threads: int | None) -> None:
    """A second pass over every frame of the whole video (detect, track, fit the landmarks; no crops kept):
    ``<CODE>.whole.landmarks.npy`` and its frames table ``<CODE>.whole.frames.csv``."""
    whole = config.whole_video()
    track, _ = _decode_detect_crop(path, whole, 1, total_frames, decode_threads)
    evaluated, detected = np.asarray(track.evaluated), track.detected
    if detected.any():
        rows, sources = np.asarray(track.smoothed), box_sources(evaluated, detected, whole.detect_every)
        save_array(files["whole_landmarks"], np.stack([fit.points for fit in track.fits]).astype(np.float32))
    else:
        rows, sources = np.full((len(track.meta), 3), np.nan), np.full(len(track.meta), "fallback", dtype=object)
        track.fits = []
        save_array(files["whole_landmarks"], np.full((len(track.meta), 68, 2), np.nan, dtype=np.float32))
    save_table(files["whole_frames"], _frames_table(subject, code, track.meta, np.asarray(track.raw),
                                                    np.asarray(track.scores), evaluated, rows, sources, track.fits))
    summary.update(whole_frames=len(track.meta), whole_landmarks_ok=int(sum(fit.ok for fit in track.fits)),
                   whole_landmark_seconds=round(track.landmark_seconds, 4))


def is_finished(out_dir: str | Path, subject: Any, code: str, config: ExtractionConfig,
                path: str | Path | None = None) -> bool:
    """True when a video's summary says it was extracted with ``config`` (from a file of the same size
    as ``path``, when given: another dataset with the same names is not mistaken for this one) and its
    files are all there, with as many crops (and landmarks, with ``config.landmarks``) as the summary
    says (only the ``.npy`` headers are read, and checked against the files' sizes: a cut file is redone)."""
    files = video_files(Path(out_dir), subject, code)
    try:
        summary = json.loads(files["summary"].read_text())
        if summary.get("config") != config.fingerprint or summary.get("status") not in ("ok", "no_face"):
            return False
        if path is not None and summary.get("source_bytes") != file_size(path):
            return False
        if not files["frames"].exists():
            return False
        if summary["status"] == "ok":
            packed = config.kinds + (("landmarks",) if config.landmarks else ())
            whole = (not config.whole_video_landmarks or files["whole_frames"].exists()
                     and array_shape(files["whole_landmarks"])[0] == summary.get("whole_frames"))
            return whole and all(array_shape(files[kind])[0] == summary["frames"] for kind in packed)
        return True
    except (OSError, ValueError, KeyError):  # DamagedArrayError is a ValueError: the video is redone
        return False
