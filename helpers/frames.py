"""Face crops from the videos: decode once, detect and track the face, store one packed file per video.

For every video this module

1. decodes the frames of a window of the video (default 40-90 %, as the thesis did) with PyAV
   (:mod:`helpers.video`), keeping every ``step``-th frame so that about ``target_fps`` frames per second
   are kept (SASE-FE records at 100 fps: ``target_fps=10`` keeps every 10th frame);
2. detects the face (OpenCV Haar, the thesis baseline, or MTCNN from facenet-pytorch) on a *downscaled
   copy* of the frame, optionally only on every ``detect_every``-th kept frame;
3. turns the detections into a smooth track: frames between detections are interpolated, a temporal
   median removes outlier detections and a Gaussian removes the jitter of the detector;
4. crops a square face (box plus a margin) and a wider *context* crop (``context_scale`` times the face
   box, for the fusion model) from the same decoded frame, both resized to ``size`` pixels;
5. writes ``<subject>/<CODE>.face.npy`` and ``<CODE>.context.npy`` (uint8 ``T x size x size x 3``, load
   them with ``np.load(path, mmap_mode="r")`` or :func:`load_crops`), ``<CODE>.frames.csv`` (one row per
   kept frame: raw and smoothed box, score, where the box came from) and ``<CODE>.summary.json``.

Frames without a face keep the nearest usable box: interpolated between the detections around them or,
past the first/last detection, copied from the nearest one. They are flagged (``box_source ==
"fallback"``, ``fell_back``), counted per video and reported. A video where the face is found in fewer
than ``min_detection_rate`` of the frames the detector ran on gets status ``no_face`` and no crops; a video
that cannot be decoded gets status ``error`` with a message naming the file; the run carries on with the
other videos in both cases.

Every file is written to a temporary name and renamed (``os.replace``), and the per-video summary is
written last, so it marks a finished video: a re-run skips finished videos and a killed run loses at most
the videos in progress. The outputs of one configuration live in their own folder,
``<crops root>/<config.name>/``, with its ``config.json``, so that crops of different configurations are
never mixed; ``videos.csv`` (one row per video) and ``manifest.csv`` (one row per crop) are assembled
from the per-video parts at the end of each run.

Command line: ``python -m helpers.frames --profile smoke`` or
``python -m helpers.frames --dataset DIR --out DIR [--detector haar|mtcnn --size 112 --target-fps 10
--window 0.4 0.9 --workers N]``.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import importlib
import io
import json
import math
import os
import sys
import tempfile
import time
from collections import deque
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, fields
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from helpers import results, video

#: Bump when the algorithm changes in a way that changes the crops: it is part of every config's hash.
ALGORITHM_VERSION = 1
DETECTORS = ("haar", "mtcnn")
KINDS = ("face", "context")
STATUSES = ("ok", "no_face", "error")
BOX_SOURCES = ("detected", "tracked", "fallback")
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
CONFIG_FILE = "config.json"
VIDEOS_FILE = "videos.csv"
MANIFEST_FILE = "manifest.csv"
_TEMPORARY_SUFFIX = ".tmp"
#: Columns of ``<CODE>.frames.csv`` and ``manifest.csv``: raw_* is the detector's box (NaN where it did not
#: run or found nothing), x/y/w/h the smoothed square box the crop is centred on (before the margin).
FRAME_COLUMNS = ("subject", "code", "position", "frame", "time_s", "evaluated", "detected", "score", "raw_x",
                 "raw_y", "raw_w", "raw_h", "x", "y", "w", "h", "box_source", "fell_back")


# --------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class ExtractionConfig:
    """Everything that decides what the crops look like (and nothing else: not the number of workers)."""

    detector: str = "haar"  # "haar" | "mtcnn" | "package.module:factory" (factory(config) -> detector)
    size: int = 112  # side of the face and context crops in pixels (112 / 160 / 224)
    window: tuple[float, float] = (0.4, 0.9)  # part of each video kept, as fractions of its length
    target_fps: float | None = 10.0  # keep at most this many frames per second; None keeps every frame
    detect_every: int = 2  # run the detector on every k-th kept frame; the others are tracked
    detect_max_side: int = 320  # a whole-frame search sees a copy downscaled to this longer side
    track_face_pixels: int = 64  # a search near the last face sees it rescaled to about this many pixels
    min_face: float = 0.2  # smallest face searched for, as a fraction of the frame's shorter side
    margin: float = 0.2  # added on each side of the face box, as a fraction of its side
    context_scale: float | None = 2.5  # side of the context crop / side of the face box; None: no context
    median_window: int = 5  # temporal median over this many kept frames (odd) removes outlier detections
    smooth_sigma: float = 1.5  # then a Gaussian with this sigma (in kept frames) removes jitter; 0: none
    lookahead: int = 24  # kept frames held in memory while waiting for later detections (bounds memory)
    min_detection_rate: float = 0.1  # below this share of detector runs finding a face: status "no_face"
    mtcnn_threshold: float = 0.9  # MTCNN face probability needed to accept a box

    def __post_init__(self):
        # normalise types, so that 10 and 10.0 (or a list and a tuple) name the same configuration
        normalised = {"window": tuple(float(w) for w in self.window), "size": int(self.size),
                      "target_fps": None if self.target_fps is None else float(self.target_fps),
                      "context_scale": None if not self.context_scale else float(self.context_scale)}
        for name in ("min_face", "margin", "smooth_sigma", "min_detection_rate", "mtcnn_threshold"):
            normalised[name] = float(getattr(self, name))
        for name in ("detect_every", "detect_max_side", "track_face_pixels", "median_window", "lookahead"):
            normalised[name] = int(getattr(self, name))
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        start, end = self.window
        if not 0.0 <= start < end <= 1.0:
            raise ValueError(f"window must satisfy 0 <= start < end <= 1, got {self.window}")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        if self.target_fps is not None and self.target_fps <= 0:
            raise ValueError(f"target_fps must be positive or None, got {self.target_fps}")
        if self.detect_every < 1 or self.median_window < 1 or self.median_window % 2 == 0:
            raise ValueError("detect_every must be >= 1 and median_window a positive odd number")
        if self.context_scale is not None and self.context_scale <= 0:
            raise ValueError(f"context_scale must be positive or None, got {self.context_scale}")
        if self.detector not in DETECTORS and ":" not in self.detector:
            raise ValueError(f"unknown detector {self.detector!r}: use one of {', '.join(DETECTORS)} "
                             "or 'package.module:factory'")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The crops stored per video: always the face, the context too unless disabled."""
        return KINDS if self.context_scale else ("face",)

    def to_dict(self) -> dict[str, Any]:
        content = asdict(self)
        content["window"] = list(self.window)
        return content

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> ExtractionConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in content.items() if key in known})

    @property
    def fingerprint(self) -> str:
        """Short hash of every setting and of the algorithm version."""
        payload = json.dumps({**self.to_dict(), "algorithm": ALGORITHM_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:8]

    @property
    def name(self) -> str:
        """Folder name of this configuration's crops, readable and unique
        (e.g. ``haar_112px_10fps_w40-90_1a2b3c4d``)."""
        detector = self.detector.rsplit(":", 1)[-1].replace(".", "-")
        fps = "allfps" if self.target_fps is None else f"{self.target_fps:g}fps"
        window = f"w{self.window[0] * 100:.0f}-{self.window[1] * 100:.0f}"
        return f"{detector}_{self.size}px_{fps}_{window}_{self.fingerprint}"

    def step_for(self, fps: float) -> int:
        """Keep every ``step``-th frame, the smallest step that keeps at most ``target_fps`` frames per
        second: 100 fps -> 10 for 10 fps; 25 fps -> 3 (8.3 fps); 30 fps -> 3."""
        if self.target_fps is None or not fps or fps <= self.target_fps:
            return 1
        return max(1, math.ceil(round(fps / self.target_fps, 6)))  # round: 29.97/9.99 is 3, not 4


def sampled_indices(total_frames: int, fps: float, config: ExtractionConfig) -> np.ndarray:
    """Indices of the frames that extraction keeps, exactly those :func:`helpers.video.iter_frames` yields."""
    first = int(round(config.window[0] * total_frames))
    stop = int(round(config.window[1] * total_frames))
    return np.arange(first, stop, config.step_for(fps))


class ConfigMismatchError(RuntimeError):
    """A crops folder holds crops made with another configuration."""


class DiskFullError(RuntimeError):
    """The disk filled up while writing crops (finished videos are kept)."""


# --------------------------------------------------------------------------------------------------
# Face detectors: callables ``detector(rgb, min_size, max_size) -> (boxes N x 4 as x, y, w, h; scores N)``
# that report the faces whose side lies between min_size and max_size pixels (max_size None: no limit).


Detections = tuple[np.ndarray, np.ndarray]
Detector = Callable[[np.ndarray, int, "int | None"], Detections]
_NO_FACES: Detections = (np.zeros((0, 4)), np.zeros(0))

# Tracking search: near the last detection the detector looks at a square region TRACK_REGION times the
# face's side (rescaled so that the face is ``config.track_face_pixels`` wide), for faces TRACK_SIZE_RANGE
# times its size. A whole-frame search sees the smallest face it looks for at SEARCH_MIN_FACE_PIXELS.
TRACK_REGION = 1.8
TRACK_SIZE_RANGE = (0.75, 1.33)
SEARCH_MIN_FACE_PIXELS = 24


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (the thesis baseline) on a histogram-equalised grey image.

    ``score`` is the cascade's level weight (higher: more confident). A search with a size range (near a
    known face) accepts a face confirmed by ``track_neighbors`` overlapping hits instead of
    ``min_neighbors``: the region and the scale already rule out most false positives, and a small
    face there gathers fewer hits.
    """

    WINDOW = 24  # the cascade's own window: it cannot find smaller faces

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, track_neighbors: int = 3,
                 track_scale_factor: float = 1.1):
        path = cv2.data.haarcascades + HAAR_CASCADE
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not load {path}: install opencv-python-headless<5 "
                               "(OpenCV 5 has no Haar cascades)")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.track_neighbors, self.track_scale_factor = track_neighbors, track_scale_factor

    def __call__(self, rgb: np.ndarray, min_size: int, max_size: int | None = None) -> Detections:
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        smallest = max(self.WINDOW, int(min_size))
        largest = int(max_size) if max_size else 0
        if largest and largest < smallest:
            return _NO_FACES
        boxes, _, weights = self.cascade.detectMultiScale3(
            grey, scaleFactor=self.track_scale_factor if largest else self.scale_factor,
            minNeighbors=self.track_neighbors if largest else self.min_neighbors,
            minSize=(smallest, smallest),
            maxSize=(largest, largest), outputRejectLevels=True)
        if len(boxes) == 0:
            return _NO_FACES
        return np.asarray(boxes, float).reshape(-1, 4), np.asarray(weights, float).reshape(-1)


class MTCNNDetector:
    """MTCNN from facenet-pytorch (its weights ship in the wheel), on the CPU or a GPU.

    ``score`` is MTCNN's face probability; boxes below ``threshold`` are dropped.
    """

    def __init__(self, threshold: float = 0.9, device: str | None = None):
        import torch
        from facenet_pytorch import MTCNN

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = MTCNN(keep_all=True, device=self.device, min_face_size=20)
        self.threshold = threshold

    def __call__(self, rgb: np.ndarray, min_size: int, max_size: int | None = None) -> Detections:
        # MTCNN's image pyramid starts at min_face_size: a larger minimum means fewer, cheaper levels
        self.model.min_face_size = max(12, int(min_size))
        with self._one_cpu_thread(), self.torch.inference_mode():
            corners, probabilities = self.model.detect(np.ascontiguousarray(rgb))
        if corners is None:
            return _NO_FACES
        corners, probabilities = np.asarray(corners, float), np.asarray(probabilities, float)
        boxes = np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]])
        sides = np.maximum(boxes[:, 2], boxes[:, 3])
        keep = (probabilities >= self.threshold) & (sides >= min_size) & (sides <= (max_size or np.inf))
        return boxes[keep], probabilities[keep]

    @contextmanager
    def _one_cpu_thread(self):
        """MTCNN's small convolutions gain nothing from threads on a CPU, and when the cores are busy
        (other workers) OpenMP's waiting threads make them 20x slower (measured: 550 ms vs 20 ms)."""
        if self.device != "cpu":
            yield
            return
        previous = self.torch.get_num_threads()
        self.torch.set_num_threads(1)
        try:
            yield
        finally:
            self.torch.set_num_threads(previous)


def make_detector(config: ExtractionConfig) -> Detector:
    """A new detector for ``config.detector``; a ``module:factory`` name plugs in your own
    (``factory(config)`` returns a callable following the protocol above)."""
    if config.detector == "haar":
        return HaarDetector()
    if config.detector == "mtcnn":
        return MTCNNDetector(config.mtcnn_threshold)
    module, _, factory = config.detector.partition(":")
    return getattr(importlib.import_module(module), factory)(config)


_DETECTORS: dict[str, Detector] = {}


def _cached_detector(config: ExtractionConfig) -> Detector:
    """One detector per process and configuration (loading MTCNN for every video would waste seconds)."""
    key = config.fingerprint
    if key not in _DETECTORS:
        _DETECTORS[key] = make_detector(config)
    return _DETECTORS[key]


def _downscaled(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _pick(boxes: np.ndarray, scores: np.ndarray, previous: np.ndarray | None) -> tuple[np.ndarray, float]:
    """The candidate overlapping the previous face most, else the largest (SASE-FE films one person)."""
    best = int(np.argmax(boxes[:, 2] * boxes[:, 3]))
    if previous is not None:
        overlaps = box_iou(boxes, previous[None, :])
        if np.nanmax(overlaps) > 0.3:
            best = int(np.nanargmax(overlaps))
    return boxes[best], float(scores[best])


def detect_in_frame(frame: np.ndarray, detector: Detector, max_side: int, min_face: float,
                    previous: np.ndarray | None = None) -> tuple[np.ndarray, float, float] | None:
    """Search the whole frame for faces of at least ``min_face`` times its shorter side.

    The detector sees a copy downscaled so that the smallest such face spans ``SEARCH_MIN_FACE_PIXELS``
    (just above the Haar window) and the longer side is at most ``max_side``: the cost of a search
    grows with the pixels, and the large faces of SASE-FE do not need them all. Returns the box, its
    score and the scale of the copy it was found in.
    """
    smallest = min_face * min(frame.shape[:2])
    largest_copy = min(1.0, max_side / max(frame.shape[:2]))
    for scale in sorted({min(largest_copy, SEARCH_MIN_FACE_PIXELS / max(smallest, 1.0)), largest_copy}):
        # the small copy finds nearly every face; only when it finds none is the larger copy searched
        boxes, scores = detector(_downscaled(frame, scale), int(smallest * scale), None)
        if len(boxes):
            return (*_pick(np.asarray(boxes, float) / scale, np.asarray(scores, float), previous), scale)
    return None


def detect_near(frame: np.ndarray, detector: Detector, previous: np.ndarray,
                face_pixels: int = 64) -> tuple[np.ndarray, float] | None:
    """Search only around the ``previous`` face, for faces of about its size (tracking by detection:
    a small region and a few scales cost a fraction of a whole-frame search)."""
    centre_x, centre_y, side = boxes_to_track(previous)[0]
    half = TRACK_REGION * side / 2
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(centre_x - half)), max(0, int(centre_y - half))
    x1, y1 = min(width, int(centre_x + half) + 1), min(height, int(centre_y + half) + 1)
    if x1 - x0 < side / 2 or y1 - y0 < side / 2:
        return None
    scale = min(1.0, face_pixels / side)
    region = _downscaled(frame[y0:y1, x0:x1], scale)
    low, high = TRACK_SIZE_RANGE
    boxes, scores = detector(region, int(low * side * scale), int(high * side * scale) + 1)
    if len(boxes) == 0:
        return None
    boxes = np.asarray(boxes, float) / scale + np.array([x0, y0, 0, 0])
    return _pick(boxes, np.asarray(scores, float), previous)


def detect_face(frame: np.ndarray, detector: Detector, config: ExtractionConfig,
                previous: np.ndarray | None = None) -> tuple[np.ndarray, float] | None:
    """The face box (x, y, w, h in ``frame``'s pixels) and its score, or None.

    With a ``previous`` face (the last detection) it first searches near it. When that fails, or
    without one, it searches the whole (downscaled) frame; when that copy showed the face smaller than
    the tracking resolution, a search near it refines the box.
    """
    if previous is not None:
        found = detect_near(frame, detector, previous, config.track_face_pixels)
        if found is not None:
            return found
    found = detect_in_frame(frame, detector, config.detect_max_side, config.min_face, previous)
    if found is None:
        return None
    box, score, scale = found
    if max(box[2], box[3]) * scale >= config.track_face_pixels:
        return box, score
    return detect_near(frame, detector, box, config.track_face_pixels) or (box, score)


# --------------------------------------------------------------------------------------------------
# Boxes and tracks


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``(..., 4)`` given as x, y, w, h (broadcasts; NaN stays NaN)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    left = np.maximum(a[..., 0], b[..., 0])
    top = np.maximum(a[..., 1], b[..., 1])
    right = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    bottom = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    intersection = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return intersection / union


def boxes_to_track(boxes: np.ndarray) -> np.ndarray:
    """x, y, w, h boxes -> square track rows (centre x, centre y, side = the larger of w and h)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return np.column_stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2,
                            np.maximum(boxes[:, 2], boxes[:, 3])])


def track_to_boxes(track: np.ndarray) -> np.ndarray:
    """Square track rows (centre x, centre y, side) -> x, y, w, h boxes."""
    track = np.asarray(track, float).reshape(-1, 3)
    half = track[:, 2] / 2
    return np.column_stack([track[:, 0] - half, track[:, 1] - half, track[:, 2], track[:, 2]])


def fill_track(raw: np.ndarray) -> np.ndarray:
    """Fill the rows without a detection (NaN): linear between detections, the nearest one at the ends."""
    raw = np.asarray(raw, float)
    found = ~np.isnan(raw).any(axis=1)
    if not found.any():
        raise ValueError("no detection to fill the track from")
    positions = np.arange(len(raw))
    return np.column_stack([np.interp(positions, positions[found], raw[found, c]) for c in range(raw.shape[1])])


def smooth_track(raw: np.ndarray, median_window: int = 5, sigma: float = 1.5) -> np.ndarray:
    """Fill, then median-filter (removes single wrong detections), then Gaussian-filter (removes jitter).

    Both filters are centred (no lag) and repeat the edge values at the ends of the track. (Plain numpy:
    scipy.ndimage's per-call overhead on tracks this short cost more than detecting the face.)
    """
    track = fill_track(raw)
    if median_window > 1 and len(track) > 1:
        track = np.median(_windows(track, median_window // 2), axis=1)
    if sigma > 0 and len(track) > 1:
        radius = _gaussian_radius(sigma)
        weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        track = np.einsum("nkc,k->nc", _windows(track, radius), weights / weights.sum())
    return track


def _gaussian_radius(sigma: float) -> int:
    return int(4 * sigma + 0.5) if sigma > 0 else 0  # the Gaussian's weights beyond 4 sigma are negligible


def _windows(track: np.ndarray, radius: int) -> np.ndarray:
    """``n x (2 radius + 1) x columns``: the centred window of every row, edges repeated."""
    padded = np.pad(track, ((radius, radius), (0, 0)), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=0).transpose(0, 2, 1)


def box_sources(evaluated: np.ndarray, detected: np.ndarray, reach: int) -> np.ndarray:
    """Where each frame's box comes from: ``detected``; ``tracked`` (the detector skipped the frame and
    a detection lies within ``reach`` kept frames); ``fallback`` (the detector found nothing, or no
    detection is near: the box is interpolated from, or copied from, the nearest detections)."""
    evaluated, detected = np.asarray(evaluated, bool), np.asarray(detected, bool)
    positions = np.arange(len(detected))
    found = positions[detected]
    if len(found):
        nearest = np.abs(positions[:, None] - found[None, :]).min(axis=1)
    else:
        nearest = np.full(len(positions), np.inf)
    return np.where(detected, "detected",
                    np.where(~evaluated & (nearest <= reach), "tracked", "fallback")).astype(object)


def jitter(track: np.ndarray) -> float:
    """Mean frame-to-frame movement of the box centre, in pixels (what smoothing should reduce)."""
    track = np.asarray(track, float)
    steps = np.diff(track[:, :2], axis=0)
    return float(np.nanmean(np.hypot(steps[:, 0], steps[:, 1]))) if len(steps) else 0.0


class StreamingTracker:
    """Smooths a box track while frames arrive, so that only ``lookahead`` frames wait in memory.

    The box of kept frame ``t`` is :func:`smooth_track` applied to the raw boxes of frames
    ``t - lookahead .. t + lookahead`` (only those), so the result does not depend on when it is asked.
    With no detection that close, the frame keeps the last box before it (or the first after it).
    Frames before the first detection wait until one arrives (a video with no face at all is held
    whole: it is rare, and the window bounds it).
    """

    def __init__(self, config: ExtractionConfig):
        self.config = config
        self.reach = max(config.lookahead, config.detect_every)
        self.raw: list[np.ndarray] = []
        self.next_ready = 0
        self.any_detection = False

    def push(self, box: np.ndarray | None) -> None:
        self.raw.append(boxes_to_track(box)[0] if box is not None else np.full(3, np.nan))
        self.any_detection |= box is not None

    def ready(self, final: bool = False) -> list[tuple[int, np.ndarray]]:
        """(position, smoothed track row) of every frame whose box is now known for good."""
        if not self.any_detection:
            return []
        last = len(self.raw) if final else len(self.raw) - self.reach
        out = []
        while self.next_ready < last:
            out.append((self.next_ready, self._smoothed(self.next_ready)))
            self.next_ready += 1
        return out

    def _smoothed(self, t: int) -> np.ndarray:
        low = max(0, t - self.reach)
        window = np.asarray(self.raw[low:t + self.reach + 1])
        if np.isnan(window).any(axis=1).all():
            return self._held(t)
        # interpolate over the whole reach, filter only the rows the filters at t can see (same result)
        filled = fill_track(window)
        support = self.config.median_window // 2 + _gaussian_radius(self.config.smooth_sigma)
        first = max(0, t - low - support)
        part = filled[first:t - low + support + 1]
        return smooth_track(part, self.config.median_window, self.config.smooth_sigma)[t - low - first]

    def _held(self, t: int) -> np.ndarray:
        """No detection within reach: the last box before ``t``, else the first one after it."""
        found = [i for i, row in enumerate(self.raw) if not np.isnan(row).any()]
        before = [i for i in found if i < t]
        return self.raw[before[-1] if before else found[0]].copy()


# --------------------------------------------------------------------------------------------------
# Crops


def crop_square(frame: np.ndarray, centre_x: float, centre_y: float, side: float, size: int) -> np.ndarray:
    """A ``size x size`` crop of the square centred on (centre_x, centre_y); outside the frame is black."""
    height, width = frame.shape[:2]
    side = max(1, int(round(side)))
    left, top = int(round(centre_x - side / 2)), int(round(centre_y - side / 2))
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
    if x0 >= x1 or y0 >= y1:
        return np.zeros((size, size, 3), np.uint8)
    region = frame[y0:y1, x0:x1]
    if (x0, y0, x1, y1) != (left, top, left + side, top + side):
        region = cv2.copyMakeBorder(region, y0 - top, top + side - y1, x0 - left, left + side - x1,
                                    cv2.BORDER_CONSTANT, value=(0, 0, 0))
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR  # AREA avoids aliasing when shrinking
    return cv2.resize(region, (size, size), interpolation=interpolation)


def crops_for(frame: np.ndarray, track_row: np.ndarray, config: ExtractionConfig) -> dict[str, np.ndarray]:
    """The face crop (box + margin) and the context crop of one frame, from the same decoded pixels."""
    centre_x, centre_y, side = track_row
    crops = {"face": crop_square(frame, centre_x, centre_y, side * (1 + 2 * config.margin), config.size)}
    if config.context_scale:
        crops["context"] = crop_square(frame, centre_x, centre_y, side * config.context_scale, config.size)
    return crops


# --------------------------------------------------------------------------------------------------
# One video


def video_files(out_dir: Path, subject: Any, code: str) -> dict[str, Path]:
    """Where one video's outputs go: ``<out>/<subject>/<CODE>.{face,context}.npy``, ``.frames.csv`` and
    ``.summary.json``."""
    folder = Path(out_dir) / str(subject)
    return {"face": folder / f"{code}.face.npy", "context": folder / f"{code}.context.npy",
            "frames": folder / f"{code}.frames.csv", "summary": folder / f"{code}.summary.json"}


def _write_atomically(path: Path, write: Callable[[Any], None]) -> None:
    """Write through ``write(file)`` into a temporary file next to ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMPORARY_SUFFIX)
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


def _save_table(path: Path, table: pd.DataFrame) -> None:
    # not results.write_csv: its fsync per file costs more than the rest of a small video's work, and
    # the rename alone already guarantees that a killed run leaves no half-written file behind
    _write_atomically(path, lambda file: file.write(table.to_csv(index=False).encode()))


def _save_json(path: Path, content: dict[str, Any]) -> None:
    _write_atomically(path, lambda file: file.write(json.dumps(content, indent=1, default=str).encode()))


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
                               "source_bytes": _file_size(path)}
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
        _save_json(files["summary"], summary)
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
    detector = _cached_detector(config)
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
    _save_table(files["frames"], table)


def _file_size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return -1


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
        if path is not None and summary.get("source_bytes") != _file_size(path):
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


# --------------------------------------------------------------------------------------------------
# A whole dataset


@dataclass
class Extraction:
    """The outcome of :func:`extract_dataset` (also on disk: ``config.json``, ``videos.csv``, ``manifest.csv``)."""

    root: Path  # the folder of this configuration's crops: pass it to load_crops
    config: ExtractionConfig
    videos: pd.DataFrame  # one row per video: status, frames, detection_rate, fell_back, error, seconds, ...
    manifest: pd.DataFrame  # one row per kept frame of the ok videos
    processed: int = 0  # videos extracted in this run (the others were finished before)
    skipped: int = 0
    seconds: float = 0.0  # wall-clock time of this run
    frames_per_second: float = float("nan")  # frames kept per wall-clock second in this run

    def summary(self) -> str:
        counts = self.videos["status"].value_counts().reindex(list(STATUSES), fill_value=0)
        ok = self.videos[self.videos["status"] == "ok"]
        lines = [
            f"{len(self.videos)} videos in {self.root}: {counts['ok']} ok, {counts['no_face']} without a face, "
            f"{counts['error']} unreadable ({self.processed} extracted now, {self.skipped} already done)",
            f"{int(ok['frames'].sum())} crops; face found in "
            f"{ok['detected'].sum() / max(1, ok['evaluated'].sum()):.1%} "
            f"of the frames the detector ran on; {int(ok['fell_back'].sum())} frames fell back to a nearby box",
        ]
        if self.processed:
            lines.append(f"{self.seconds:.1f} s for this run: {self.frames_per_second:.1f} frames/s")
        for row in self.videos[self.videos["status"] != "ok"].itertuples():
            lines.append(f"  {row.status}: {row.subject}/{row.code}: {row.error}")
        return "\n".join(lines)


def extraction_dir(crops_root: str | Path, config: ExtractionConfig) -> Path:
    """The folder of one configuration's crops: ``<crops_root>/<config.name>``."""
    return Path(crops_root) / config.name


def list_extractions(crops_root: str | Path) -> pd.DataFrame:
    """The configurations extracted under ``crops_root`` (one row per folder with a ``config.json``)."""
    rows = []
    for config_file in sorted(Path(crops_root).glob(f"*/{CONFIG_FILE}")):
        content = results.read_json(config_file)
        rows.append({"folder": str(config_file.parent), **content.get("config", {}),
                     "finished": (config_file.parent / VIDEOS_FILE).exists()})
    return pd.DataFrame(rows)


def prepare_output(out_dir: Path, config: ExtractionConfig, profile: str = "") -> None:
    """Create ``out_dir`` with its ``config.json``, refuse one made with another configuration, and
    remove temporary files left by a killed run (they are never mistaken for outputs: none ends in .npy)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config_file = out_dir / CONFIG_FILE
    if config_file.exists():
        stored = results.read_json(config_file).get("config", {})
        if stored != config.to_dict():
            changed = sorted(k for k in set(stored) | set(config.to_dict()) if stored.get(k) != config.to_dict().get(k))
            raise ConfigMismatchError(
                f"{out_dir} holds crops made with another configuration (different: {', '.join(changed)}). "
                f"Extract into extraction_dir(crops_root, config) (a folder named by the configuration) "
                "or into an empty folder, instead of mixing crops")
    else:
        results.write_json(config_file, {"config": config.to_dict(), "name": config.name,
                                         "fingerprint": config.fingerprint, "algorithm": ALGORITHM_VERSION,
                                         "provenance": results.provenance(profile)})
    for leftover in out_dir.rglob(f".*{_TEMPORARY_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _video_table(videos: pd.DataFrame | Any) -> pd.DataFrame:
    """Accept a Dataset (``.index``) or a DataFrame with subject, code and path columns."""
    table = videos if isinstance(videos, pd.DataFrame) else getattr(videos, "index", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError("videos must be a DataFrame with subject, code and path columns, or a Dataset")
    missing = {"subject", "code", "path"} - set(table.columns)
    if missing:
        raise ValueError(f"the video table lacks the column(s) {', '.join(sorted(missing))}")
    table = table[["subject", "code", "path"]].copy()
    table["subject"] = table["subject"].astype(str)
    table["code"] = table["code"].astype(str)
    return table.reset_index(drop=True)


def _worker_init() -> None:
    """Each worker process uses one OpenCV thread: the workers already fill the cores, and oversubscribed
    thread pools slow everything down (MTCNN limits PyTorch's threads itself)."""
    cv2.setNumThreads(1)


def _run(todo: pd.DataFrame, out_dir: Path, config: ExtractionConfig, workers: int,
         progress: bool) -> Iterable[dict[str, Any]]:
    """Extract the ``todo`` videos, yielding each summary as soon as it is done."""
    from tqdm.auto import tqdm

    jobs = [(row.path, out_dir, row.subject, row.code, config) for row in todo.itertuples()]
    summaries = (extract_video(*job) for job in jobs) if workers <= 1 or len(jobs) <= 1 else _in_pool(jobs, workers)
    with tqdm(total=len(jobs), desc=f"extracting ({config.detector}, {workers} worker{'s' * (workers > 1)})",
              unit="video", disable=not progress) as bar:
        for summary in summaries:
            bar.update()
            yield summary


def _in_pool(jobs: list[tuple], workers: int) -> Iterable[dict[str, Any]]:
    """Run ``extract_video`` over ``jobs`` in worker processes, yielding summaries as they finish."""
    # spawn, not fork: a notebook kernel that already runs torch/OpenMP threads can deadlock a fork
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        queue = iter(jobs)
        # keep every worker busy without queueing hundreds of futures (a stop then cancels little)
        pending: set[Future] = {pool.submit(extract_video, *job) for _, job in zip(range(2 * workers), queue)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    yield future.result()
                except BaseException:
                    for other in pending:
                        other.cancel()
                    raise
                following = next(queue, None)
                if following is not None:
                    pending.add(pool.submit(extract_video, *following))


def assemble(out_dir: str | Path, videos: pd.DataFrame | Any,
             config: ExtractionConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Collect the per-video summaries and frame tables into ``videos.csv`` and ``manifest.csv``."""
    out_dir, table = Path(out_dir), _video_table(videos)
    summaries, frame_files = [], []
    for row in table.itertuples():
        summary = _current_summary(out_dir, row.subject, row.code, row.path, config)
        if summary is None:
            continue
        summaries.append(summary)
        frames_file = video_files(out_dir, row.subject, row.code)["frames"]
        if summary["status"] == "ok" and frames_file.exists():
            frame_files.append(frames_file)
    videos_table = pd.DataFrame(summaries, columns=list(_SUMMARY_COLUMNS))
    manifest = _read_frame_tables(frame_files)
    results.write_csv(out_dir / VIDEOS_FILE, videos_table)
    results.write_csv(out_dir / MANIFEST_FILE, manifest)
    return videos_table, manifest


def _read_frame_tables(files: list[Path]) -> pd.DataFrame:
    """All per-video frame tables as one, parsed at once (one ``read_csv`` per file costs ~10 ms each)."""
    header = ",".join(FRAME_COLUMNS)
    bodies = []
    for path in files:
        first, _, body = path.read_text().partition("\n")
        if first.strip() != header:
            raise ValueError(f"{path} does not have the columns {header}: it was written by another version")
        bodies.append(body if body.endswith("\n") or not body else body + "\n")
    return pd.read_csv(io.StringIO(header + "\n" + "".join(bodies)), dtype={"subject": str, "code": str})


_SUMMARY_COLUMNS = ("subject", "code", "status", "frames", "evaluated", "detected", "detection_rate", "tracked",
                    "fell_back", "fps", "step", "seconds", "error", "path", "config", "source_bytes")


def extract_dataset(videos: pd.DataFrame | Any, crops_root: str | Path, config: ExtractionConfig | None = None,
                    workers: int = 1, progress: bool = True, retry_errors: bool = True,
                    exact_dir: bool = False, profile: str = "") -> Extraction:
    """Extract face (and context) crops of every video into ``<crops_root>/<config.name>/``.

    ``videos``: a ``helpers.data.Dataset`` or a DataFrame with ``subject``, ``code`` and ``path`` columns.
    ``exact_dir=True`` writes into ``crops_root`` itself (it must be empty or hold this configuration).
    Finished videos are skipped; videos that failed before are retried unless ``retry_errors=False``.
    Raises :class:`DiskFullError` (after saving the tables of what is done) when the disk fills up.
    ``profile`` is only recorded in ``config.json``'s provenance.
    """
    config = config or ExtractionConfig()
    table = _video_table(videos)
    out_dir = Path(crops_root) if exact_dir else extraction_dir(crops_root, config)
    prepare_output(out_dir, config, profile)
    done = np.array([is_finished(out_dir, row.subject, row.code, config, row.path) or
                     (not retry_errors and _failed_before(out_dir, row.subject, row.code, row.path, config))
                     for row in table.itertuples()], bool)
    todo = table[~done]
    started = time.perf_counter()
    processed_frames, processed = 0, 0
    try:
        for summary in _run(todo, out_dir, config, max(1, min(int(workers), len(todo))), progress):
            processed += 1
            processed_frames += summary["frames"] if summary["status"] == "ok" else 0
    except (DiskFullError, BrokenProcessPool, KeyboardInterrupt) as error:
        _assemble_what_is_done(out_dir, table, config)
        if isinstance(error, BrokenProcessPool):
            raise RuntimeError(f"a worker process died (out of memory?) after {processed} videos; the finished "
                               f"ones are kept in {out_dir}: run again (with fewer workers) to resume") from error
        raise
    seconds = time.perf_counter() - started
    videos_table, manifest = assemble(out_dir, table, config)
    return Extraction(out_dir, config, videos_table, manifest, processed=processed,
                      skipped=int(done.sum()), seconds=seconds,
                      frames_per_second=processed_frames / seconds if processed and seconds > 0 else float("nan"))


def _failed_before(out_dir: Path, subject: str, code: str, path: str, config: ExtractionConfig) -> bool:
    summary = _current_summary(out_dir, subject, code, path, config)
    return summary is not None and summary.get("status") == "error"


def _current_summary(out_dir: Path, subject: str, code: str, path: str, config: ExtractionConfig) -> dict | None:
    """A video's summary if it was made with ``config`` from this file (same size), else None."""
    try:
        summary = json.loads(video_files(out_dir, subject, code)["summary"].read_text())
    except (OSError, ValueError):
        return None
    if summary.get("config") != config.fingerprint or summary.get("source_bytes") != _file_size(path):
        return None
    return summary


def _assemble_what_is_done(out_dir: Path, table: pd.DataFrame, config: ExtractionConfig) -> None:
    try:
        assemble(out_dir, table, config)
    except OSError:
        pass  # the disk may still be full: the per-video summaries on disk are what a re-run relies on


# --------------------------------------------------------------------------------------------------
# Reading the crops back


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
    return np.load(files[kind], mmap_mode="r" if mmap else None, allow_pickle=False)


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


def jitter_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per video: how much the box centre moves between detections, raw vs smoothed.

    Both are measured on the same frames (those with a detection), in pixels and as a share of the box
    side, so that smoothing is judged on what it changes and not on the frames it interpolates.
    """
    rows = []
    for (subject, code), part in manifest.groupby(["subject", "code"], sort=False):
        found = part[part["detected"]]
        if len(found) < 3:
            continue
        raw = boxes_to_track(found[["raw_x", "raw_y", "raw_w", "raw_h"]].to_numpy(float))
        smoothed = boxes_to_track(found[["x", "y", "w", "h"]].to_numpy(float))
        side = float(np.median(raw[:, 2]))
        rows.append({"subject": subject, "code": code, "raw_px": jitter(raw), "smoothed_px": jitter(smoothed),
                     "raw_share": jitter(raw) / side, "smoothed_share": jitter(smoothed) / side})
    return pd.DataFrame(rows, columns=["subject", "code", "raw_px", "smoothed_px", "raw_share", "smoothed_share"])


def ground_truth_iou(manifest: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.DataFrame:
    """IoU of the raw detections and of the smoothed boxes with the true boxes (synthetic data only).

    ``ground_truth``: columns subject, code, frame, x, y, w, h (``ground_truth.csv`` of helpers.synthetic).
    """
    truth = ground_truth[["subject", "code", "frame", "x", "y", "w", "h"]].rename(
        columns={c: f"true_{c}" for c in "xywh"}).astype({"subject": str, "code": str})
    merged = manifest.astype({"subject": str, "code": str}).merge(truth, on=["subject", "code", "frame"], how="inner")
    true_boxes = merged[[f"true_{c}" for c in "xywh"]].to_numpy(float)
    merged["iou_raw"] = box_iou(merged[["raw_x", "raw_y", "raw_w", "raw_h"]].to_numpy(float), true_boxes)
    merged["iou_smoothed"] = box_iou(merged[["x", "y", "w", "h"]].to_numpy(float), true_boxes)
    return merged


# --------------------------------------------------------------------------------------------------
# Command line


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.frames", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="smoke | demo | full: the profile's dataset (generated if synthetic)")
    source.add_argument("--dataset", type=Path, help="a folder laid out as <subject>/<CODE>.MP4")
    parser.add_argument("--out", type=Path, help="crops root (default: the profile's work/<profile>/crops); "
                        "the crops go into a subfolder named by the configuration")
    defaults = ExtractionConfig()
    parser.add_argument("--detector", default=defaults.detector, help="haar | mtcnn | package.module:factory")
    parser.add_argument("--size", type=int, default=defaults.size, help="crop side in pixels (112/160/224)")
    parser.add_argument("--target-fps", type=float, default=defaults.target_fps,
                        help="frames kept per second (0: every frame)")
    parser.add_argument("--window", type=float, nargs=2, default=defaults.window, metavar=("START", "END"))
    parser.add_argument("--detect-every", type=int, default=defaults.detect_every)
    parser.add_argument("--context-scale", type=float, default=defaults.context_scale,
                        help="context crop side / face box side (0: no context crops)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def list_videos(dataset_dir: str | Path) -> pd.DataFrame:
    """Every ``<subject>/<name>.mp4`` under a folder (any case of the extension), as subject, code, path."""
    rows = [{"subject": p.parent.name, "code": p.stem, "path": str(p)}
            for p in sorted(Path(dataset_dir).glob("*/*")) if p.suffix.lower() == ".mp4" and not p.name.startswith(".")]
    if not rows:
        raise FileNotFoundError(f"no <subject>/<video>.mp4 files under {dataset_dir}")
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    config = ExtractionConfig(detector=args.detector, size=args.size, window=tuple(args.window),
                              target_fps=args.target_fps or None, detect_every=args.detect_every,
                              context_scale=args.context_scale or None)
    if args.profile:
        from helpers import data, profiles

        paths = profiles.paths_for(args.profile)
        videos = data.prepare_dataset(args.profile, paths).usable
        crops_root = args.out or paths.crops
    else:
        if args.out is None:
            sys.exit("--out is required with --dataset")
        videos, crops_root = list_videos(args.dataset), args.out
    try:
        extraction = extract_dataset(videos, crops_root, config, workers=args.workers, progress=not args.no_progress,
                                     profile=args.profile or "")
    except (DiskFullError, ConfigMismatchError) as error:
        print(error, file=sys.stderr)
        return 1
    print(extraction.summary())
    return 0 if (extraction.videos["status"] != "error").all() else 2


if __name__ == "__main__":
    sys.exit(main())
