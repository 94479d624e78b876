"""Boxes, tracks and crops: from the detector's boxes to a smooth square track, and the crops it cuts.

Box arithmetic (:func:`box_iou`, boxes <-> square track rows), filling and smoothing a track
(:func:`smooth_track`), where each frame's box came from (:func:`box_sources`), :func:`jitter`, the
:class:`StreamingTracker` that smooths while frames arrive, and the square crops (:func:`crop_square`,
:func:`crops_for`).
"""

from __future__ import annotations

import cv2
import numpy as np

from helpers.frames.config import ExtractionConfig


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
