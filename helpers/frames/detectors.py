"""Face detectors and the search for the face in a frame.

Detectors are callables ``detector(rgb, min_size, max_size) -> (boxes N x 4 as x, y, w, h; scores N)``
that report the faces whose side lies between min_size and max_size pixels (max_size None: no limit):
:class:`HaarDetector` (the thesis baseline), :class:`MTCNNDetector` (facenet-pytorch, imported only when
used) or your own through :func:`make_detector`'s ``package.module:factory``. :func:`detect_face` searches
near the last face first (:func:`detect_near`), else the whole downscaled frame (:func:`detect_in_frame`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import contextmanager

import cv2
import numpy as np

from helpers.frames.config import ExtractionConfig
from helpers.frames.tracking import box_iou, boxes_to_track

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


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
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise RuntimeError(
                f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 dropped them), which the haar detector "
                "needs: run `pip install \"opencv-python-headless>=4.8,<5\"` and restart the runtime (installing "
                "this package does it), or extract with detector=\"mtcnn\"")
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
        (other workers) OpenMP's waiting threads make them many times slower (book/decisions.md)."""
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


def cached_detector(config: ExtractionConfig) -> Detector:
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
