"""One video: decode, detect, track and crop it in one pass, and write its files.

:func:`extract_video` is what a worker process runs (it must stay importable at module level, for the
"spawn" start method); :func:`is_finished` tells whether a video's outputs are complete and current.
"""

from __future__ import annotations

import errno
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import video
from helpers.frames.config import DiskFullError, ExtractionConfig
from helpers.frames.detectors import cached_detector, detect_face
from helpers.frames.storage import FRAME_COLUMNS, file_size, save_array, save_json, save_table, video_files
from helpers.frames.tracking import StreamingTracker, box_sources, crops_for, track_to_boxes


def _frames_table(subject: Any, code: str, meta: list[tuple[int, float]], raw: np.ndarray,
                  scores: np.ndarray, evaluated: np.ndarray, track: np.ndarray,
                  sources: np.ndarray) -> pd.DataFrame:
    raw_boxes, boxes = np.asarray(raw, float).reshape(-1, 4), track_to_boxes(track)
    table = pd.DataFrame({
        "subject": str(subject), "code": code, "position": np.arange(len(meta)),
        "frame": [index for index, _ in meta], "time_s": [seconds for _, seconds in meta],
        "evaluated": evaluated, "detected": ~np.isnan(raw_boxes).any(axis=1), "score": scores,
        "raw_x": raw_boxes[:, 0], "raw_y": raw_boxes[:, 1], "raw_w": raw_boxes[:, 2], "raw_h": raw_boxes[:, 3],
        "x": boxes[:, 0], "y": boxes[:, 1], "w": boxes[:, 2], "h": boxes[:, 3],
        "box_source": pd.Series(sources, dtype=object),
    })
    table["fell_back"] = table["box_source"] == "fallback"
    return table[list(FRAME_COLUMNS)]


def extract_video(path: str | Path, out_dir: str | Path, subject: Any, code: str,
                  config: ExtractionConfig) -> dict[str, Any]:
    """Extract one video; returns its summary row (also written as ``<CODE>.summary.json``, last).

    Never raises for a bad video (status ``error``, with a message naming the file) or a video without
    a face (status ``no_face``); raises :class:`DiskFullError` when the disk is full.
    """
    started = time.perf_counter()
    files = video_files(Path(out_dir), subject, code)
    summary: dict[str, Any] = {"subject": str(subject), "code": code, "path": str(path), "status": "error",
                               "frames": 0, "evaluated": 0, "detected": 0, "detection_rate": float("nan"),
                               "tracked": 0, "fell_back": 0, "fps": float("nan"), "step": 0,
                               "error": "", "seconds": 0.0, "config": config.fingerprint,
                               "source_bytes": file_size(path)}
    try:
        _extract_frames(Path(path), files, subject, code, config, summary)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(f"the disk is full while writing the crops of {path} into {out_dir}: "
                                f"{error}. Free some space and run again: finished videos are kept") from None
        summary.update(status="error", error=f"{type(error).__name__}: {error} ({path})")
    except video.VideoReadError as error:
        summary.update(status="error", error=str(error))
    except Exception as error:  # noqa: BLE001 - one broken video must not stop hundreds of others
        summary.update(status="error", error=f"{type(error).__name__} while extracting {path}: {error}")
    summary["seconds"] = round(time.perf_counter() - started, 4)
    try:
        save_json(files["summary"], summary)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(f"the disk is full while writing {files['summary']}: free some space and "
                                "run again: finished videos are kept") from None
        raise
    return summary


@dataclass
class _VideoTrack:
    """What extraction learns about one video's kept frames, in order."""

    meta: list[tuple[int, float]] = field(default_factory=list)  # (frame index, seconds)
    raw: list[np.ndarray] = field(default_factory=list)  # detected box or NaNs
    scores: list[float] = field(default_factory=list)
    evaluated: list[bool] = field(default_factory=list)  # did the detector run on this frame?
    smoothed: list[np.ndarray] = field(default_factory=list)  # track rows of the frames cropped so far

    @property
    def detected(self) -> np.ndarray:
        return ~np.isnan(np.asarray(self.raw, float).reshape(-1, 4)).any(axis=1)

    @property
    def detection_rate(self) -> float:
        return float(self.detected.sum() / max(1, sum(self.evaluated)))


def _decode_detect_crop(path: Path, config: ExtractionConfig, step: int, total_frames: int,
                        ) -> tuple[_VideoTrack, dict[str, list[np.ndarray]]]:
    """One pass over the video: detect on the kept frames, crop each frame as soon as its box is final."""
    detector = cached_detector(config)
    tracker = StreamingTracker(config)
    track = _VideoTrack()
    waiting: deque[np.ndarray] = deque()  # decoded frames whose box is not final yet (at most ~lookahead)
    crops: dict[str, list[np.ndarray]] = {kind: [] for kind in config.kinds}
    previous = None  # the last detected box: the next search starts near it

    def crop_ready(final: bool = False) -> None:
        for _, row in tracker.ready(final):
            for kind, crop in crops_for(waiting.popleft(), row, config).items():
                crops[kind].append(crop)
            track.smoothed.append(row)

    frames = video.iter_frames(path, config.window[0], config.window[1], step, total_frames=total_frames)
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
    return track, crops


def _extract_frames(path: Path, files: dict[str, Path], subject: Any, code: str, config: ExtractionConfig,
                    summary: dict[str, Any]) -> None:
    """Extract one video, filling ``summary`` in; writes the crops (if any face) and the frames table."""
    info = video.probe(path)
    step = config.step_for(info.fps)
    summary.update(fps=info.fps, step=step)
    track, crops = _decode_detect_crop(path, config, step, info.frames)
    if not track.meta:
        raise video.VideoReadError(path, f"no frames in the window {config.window[0]:.0%}-{config.window[1]:.0%}")
    evaluated, detected = np.asarray(track.evaluated), track.detected
    summary.update(frames=len(track.meta), evaluated=int(evaluated.sum()), detected=int(detected.sum()),
                   detection_rate=round(track.detection_rate, 4))
    if not detected.any() or track.detection_rate < config.min_detection_rate:
        summary.update(status="no_face", error=f"a face was found in {detected.sum()} of the {evaluated.sum()} "
                       f"frames the detector ran on ({path.name})")
        rows, sources = np.full((len(track.meta), 3), np.nan), np.full(len(track.meta), "fallback", dtype=object)
    else:
        rows, sources = np.asarray(track.smoothed), box_sources(evaluated, detected, config.detect_every)
        for kind, images in crops.items():
            save_array(files[kind], np.stack(images))
        summary.update(status="ok", tracked=int((sources == "tracked").sum()),
                       fell_back=int((sources == "fallback").sum()))
    table = _frames_table(subject, code, track.meta, np.asarray(track.raw), np.asarray(track.scores), evaluated,
                          rows, sources)
    save_table(files["frames"], table)


def is_finished(out_dir: str | Path, subject: Any, code: str, config: ExtractionConfig,
                path: str | Path | None = None) -> bool:
    """True when a video's summary says it was extracted with ``config`` (from a file of the same size
    as ``path``, when given: another dataset with the same names is not mistaken for this one) and its
    files are all there, with as many crops as the summary says (only the ``.npy`` headers are read)."""
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
            return all(_crop_count(files[kind]) == summary["frames"] for kind in config.kinds)
        return True
    except (OSError, ValueError, KeyError):
        return False


def _crop_count(path: Path) -> int:
    return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
