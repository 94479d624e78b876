"""What decides the crops (and landmarks): :class:`ExtractionConfig`, the frames it keeps, the errors of a run.

The configuration's :attr:`~ExtractionConfig.fingerprint` (every setting plus :data:`ALGORITHM_VERSION`)
names the folder of its crops and marks every video's summary; :func:`sampled_indices` is the sampling
arithmetic (window and step) that decoding follows frame for frame.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

#: Bump when the algorithm changes in a way that changes the crops: it is part of every config's hash.
ALGORITHM_VERSION = 1
DETECTORS = ("haar", "mtcnn")
KINDS = ("face", "context")
STATUSES = ("ok", "no_face", "error")
BOX_SOURCES = ("detected", "tracked", "fallback")


@dataclass(frozen=True)
class ExtractionConfig:
    """Everything that decides what the crops and landmarks are (and nothing else: not the number of workers)."""

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
    landmarks: bool = True  # fit dlib's 68 landmarks in every kept frame's box (needs dlib and its model)
    # the landmarks' box-follow check on every k-th kept frame at least (VideoLandmarks); > 1 is faster but
    # lets misfits between key frames pass (book/decisions.md, "Landmarks")
    landmark_keyframe_every: int = 1
    # also fit the landmarks in every frame of the whole video at its own rate (NIT-OVGU's series, 100 fps on
    # SASE-FE), stored beside the kept frames' (``<CODE>.whole.landmarks.npy``); the crops keep window and rate
    whole_video_landmarks: bool = False

    def __post_init__(self):
        # normalise types, so that 10 and 10.0 (or a list and a tuple) name the same configuration
        normalised = {"window": tuple(float(w) for w in self.window), "size": int(self.size),
                      "target_fps": None if self.target_fps is None else float(self.target_fps),
                      "context_scale": None if not self.context_scale else float(self.context_scale),
                      "landmarks": bool(self.landmarks), "whole_video_landmarks": bool(self.whole_video_landmarks)}
        for name in ("min_face", "margin", "smooth_sigma", "min_detection_rate", "mtcnn_threshold"):
            normalised[name] = float(getattr(self, name))
        for name in ("detect_every", "detect_max_side", "track_face_pixels", "median_window", "lookahead",
                     "landmark_keyframe_every"):
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
        if self.landmark_keyframe_every < 1:
            raise ValueError("landmark_keyframe_every must be >= 1 (1: every frame), "
                             f"got {self.landmark_keyframe_every}")
        if self.whole_video_landmarks and not self.landmarks:
            raise ValueError("whole_video_landmarks needs landmarks=True (they are fitted by the same dlib model)")
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
        # settings at their defaults as before they existed: the names, hashes and stored configurations of
        # earlier crops (and the identities of the runs trained on them) stay what they were
        for name, default in (("landmark_keyframe_every", 1), ("whole_video_landmarks", False)):
            if content[name] == default:
                del content[name]
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

    def whole_video(self) -> ExtractionConfig:
        """The configuration of the whole-video landmark pass: every frame of the whole video, no context."""
        return ExtractionConfig(**{**asdict(self), "window": (0.0, 1.0), "target_fps": None, "context_scale": None,
                                   "whole_video_landmarks": False})

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
